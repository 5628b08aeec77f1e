/**
 * Connected accounts end to end, with real clients: the SDK v1 client declaring URL elicitation
 * (-32042, `notifications/elicitation/complete`, retry), the same client without URL mode (the
 * `isError` fallback naming the provider and the link), and the phishing case through the runtime.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  ElicitationCompleteNotificationSchema,
  ErrorCode,
  McpError,
  type CallToolResult,
} from "@modelcontextprotocol/sdk/types.js";
import { startConnectedServer, type ConnectedServer } from "../helpers/connected-server.js";

async function connectClient(s: ConnectedServer, subject: string, urlMode: boolean): Promise<Client> {
  const client = new Client(
    { name: "elicitation-test", version: "1.0.0" },
    { capabilities: urlMode ? { elicitation: { url: {} } } : {} },
  );
  const token = await s.token(subject);
  await client.connect(
    new StreamableHTTPClientTransport(new URL(s.url), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

const textOf = (r: CallToolResult): string => r.content.map((c) => (c.type === "text" ? c.text : "")).join("");

test("SDK v1 client with URL mode: -32042, the connect flow, the completion notification, the retry succeeds", async () => {
  const s = await startConnectedServer();
  try {
    const client = await connectClient(s, "alice", true);
    const completed: string[] = [];
    client.setNotificationHandler(ElicitationCompleteNotificationSchema, (n) => {
      completed.push(n.params.elicitationId);
    });
    const err = await client.callTool({ name: "acme_whoami", arguments: {} }).then(
      () => assert.fail("the first call must need a connection"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof McpError, `an McpError, not ${String(err)}`);
    assert.equal(err.code, ErrorCode.UrlElicitationRequired, "code -32042");
    const elicitations = (err.data as { elicitations: Record<string, string>[] }).elicitations;
    assert.equal(elicitations.length, 1, "one elicitation");
    const e = elicitations[0]!;
    assert.equal(e.mode, "url", "URL mode");
    assert.match(e.url!, new RegExp(`^${s.origin}/connect/start\\?handle=[A-Za-z0-9_-]{43}$`), "an opaque link");
    assert.doesNotMatch(e.url!, /alice/, "no subject in the link");
    assert.match(e.message!, /Acme/, "the message names the provider");

    const done = await s.connect(e.url!, "alice", "alice-at-acme");
    assert.equal(done.status, 200, "the done page");
    assert.match(await done.text(), /Connected/, "it says so");
    for (let i = 0; i < 100 && completed.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(completed, [e.elicitationId], "notifications/elicitation/complete for that elicitation");

    const retried = (await client.callTool({ name: "acme_whoami", arguments: {} })) as CallToolResult;
    assert.ok(!retried.isError, `the retry succeeds: ${textOf(retried)}`);
    const seen = JSON.parse(textOf(retried)) as { subject: string; client_id: string };
    assert.equal(seen.subject, "alice-at-acme", "the third party saw the connected account");
    assert.equal(seen.client_id, "mcp-server", "as the MCP server's client");
    assert.doesNotMatch(JSON.stringify(retried), /eyJ/, "no token in the result");
    const types = s.events.map((ev) => ev.type);
    assert.ok(types.includes("connection_required"), "connection_required reported");
    assert.ok(types.includes("account_connected"), "account_connected reported");
    assert.doesNotMatch(JSON.stringify(s.events), /eyJ|handle=/, "no token or link in events");
    await client.close();
  } finally {
    await s.close();
  }
});

test("a client without URL mode gets an isError result naming the provider and the connect link", async () => {
  const s = await startConnectedServer();
  try {
    const client = await connectClient(s, "carol", false);
    const r = (await client.callTool({ name: "acme_whoami", arguments: {} })) as CallToolResult;
    assert.equal(r.isError, true, "an error result");
    const text = textOf(r);
    assert.match(
      text,
      /^Tool "acme_whoami": Connect your Acme account to continue: http:\/\/127\.0\.0\.1:\d+\/connect\/start\?handle=[A-Za-z0-9_-]{43}$/,
      text,
    );
    // A person can open it: the flow works from the fallback's link too.
    const link = /(http:\S+)$/.exec(text)![1]!;
    assert.equal((await s.connect(link, "carol", "carol-at-acme")).status, 200, "connected from the fallback link");
    const again = (await client.callTool({ name: "acme_whoami", arguments: {} })) as CallToolResult;
    assert.equal((JSON.parse(textOf(again)) as { subject: string }).subject, "carol-at-acme", "then the tool works");
    await client.close();
  } finally {
    await s.close();
  }
});

test("phishing: Alice's link opened by Bob is refused (403), nothing is stored for either, the link is burnt", async () => {
  const s = await startConnectedServer();
  try {
    const alice = await connectClient(s, "alice", false);
    const bob = await connectClient(s, "bob", false);
    const link = /(http:\S+)$/.exec(textOf((await alice.callTool({ name: "acme_whoami" })) as CallToolResult))![1]!;
    const refused = await s.connect(link, "bob", "bob-at-acme");
    assert.equal(refused.status, 403, "another identity is refused");
    assert.equal(await refused.text().then((t) => /another account/.test(t)), true, "with the fixed text");
    for (const [client, who] of [
      [alice, "alice"],
      [bob, "bob"],
    ] as const) {
      const r = (await client.callTool({ name: "acme_whoami" })) as CallToolResult;
      assert.equal(r.isError, true, `${who} still has no account`);
    }
    const again = await s.connect(link, "alice", "alice-at-acme");
    assert.notEqual(again.status, 200, "the burnt link does not work for Alice either");
    assert.ok(!s.events.some((e) => e.type === "account_connected"), "nothing connected");
    await alice.close();
    await bob.close();
  } finally {
    await s.close();
  }
});

test("a fleet: the connect flow ends on another instance, the session's completion notification still comes (via the vault)", async () => {
  const s = await startConnectedServer({ connect_on_second_instance: true });
  try {
    const client = await connectClient(s, "ivy", true);
    const completed: string[] = [];
    client.setNotificationHandler(ElicitationCompleteNotificationSchema, (n) => {
      completed.push(n.params.elicitationId);
    });
    const err = await client.callTool({ name: "acme_whoami", arguments: {} }).then(
      () => assert.fail("the first call must need a connection"),
      (e: unknown) => e as McpError,
    );
    const e = (err.data as { elicitations: Record<string, string>[] }).elicitations[0]!;
    assert.equal((await s.connect(e.url!, "ivy", "ivy-at-acme")).status, 200, "connected on the other instance");
    assert.ok(
      !s.events.some((ev) => ev.type === "account_connected" && ev.subject !== "ivy"),
      "only Ivy's account is connected",
    );
    // The other instance stored the credential in the shared vault; this one sees it within a watch period.
    for (let i = 0; i < 150 && completed.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(completed, [e.elicitationId], "the notification for that elicitation, once");
    const retried = (await client.callTool({ name: "acme_whoami", arguments: {} })) as CallToolResult;
    assert.equal((JSON.parse(textOf(retried)) as { subject: string }).subject, "ivy-at-acme", "the retry works");
    await new Promise((r) => setTimeout(r, 2100));
    assert.equal(completed.length, 1, "never notified twice");
    await client.close();
  } finally {
    await s.close();
  }
});

test("a confidential sign-in client at the MCP authorization server: connects; a wrong secret refuses the sign-in, nothing stored", async () => {
  const secret = "connect-page-secret-0123456789";
  const good = await startConnectedServer({ sign_in_secret: secret });
  try {
    const client = await connectClient(good, "jade", false);
    const link = /(http:\S+)$/.exec(textOf((await client.callTool({ name: "acme_whoami" })) as CallToolResult))![1]!;
    assert.equal((await good.connect(link, "jade", "jade-at-acme")).status, 200, "connected with client_secret_basic");
    const r = (await client.callTool({ name: "acme_whoami" })) as CallToolResult;
    assert.equal((JSON.parse(textOf(r)) as { subject: string }).subject, "jade-at-acme", "the tool works");
    await client.close();
  } finally {
    await good.close();
  }
  const bad = await startConnectedServer({ sign_in_secret: secret, sign_in_secret_sent: "not-the-secret-0123456789" });
  try {
    const client = await connectClient(bad, "kai", false);
    const link = /(http:\S+)$/.exec(textOf((await client.callTool({ name: "acme_whoami" })) as CallToolResult))![1]!;
    const refused = await bad.connect(link, "kai", "kai-at-acme");
    // The authorization server refused this server's own credentials: a gateway failure, not the user's.
    assert.equal(refused.status, 502, "the sign-in is refused");
    const text = await refused.text();
    assert.match(text, /The sign-in could not be completed\. Nothing was connected\./, "with the fixed text");
    assert.doesNotMatch(text, /not-the-secret|connect-page-secret/, "no secret on the page");
    assert.ok(!bad.events.some((e) => e.type === "account_connected"), "nothing connected");
    const r = (await client.callTool({ name: "acme_whoami" })) as CallToolResult;
    assert.equal(r.isError, true, "still not connected");
    await client.close();
  } finally {
    await bad.close();
  }
});

test("the confirm form's size limit through protect(): 16 KiB is read, one byte more is 413 — Node adapter (length or chunked) and Web-standard handler alike", async () => {
  const s = await startConnectedServer();
  try {
    const flowMissing = /not part of a connect flow in this browser/;
    const tooLarge = /The form is too large\. Nothing was connected\./;
    const form = (n: number) => "csrf_token=" + "a".repeat(n - "csrf_token=".length);
    const headers = { "content-type": "application/x-www-form-urlencoded", origin: s.origin };
    const send = async (n: number, how: "length" | "chunked" | "web") => {
      if (how === "web")
        return s.handler(new Request(`${s.origin}/connect/confirm`, { method: "POST", headers, body: form(n) }));
      const init: RequestInit & { duplex?: "half" } = {
        method: "POST",
        headers,
        body: how === "chunked" ? new Blob([form(n)]).stream() : form(n),
      };
      if (how === "chunked") init.duplex = "half";
      return fetch(`${s.origin}/connect/confirm`, init);
    };
    for (const how of ["length", "chunked", "web"] as const) {
      const at = await send(16 * 1024, how);
      assert.equal(at.status, 400, `${how}: 16 KiB is read (then the missing flow is refused)`);
      assert.match(await at.text(), flowMissing, `${how}: the flow text`);
      const over = await send(16 * 1024 + 1, how);
      assert.equal(over.status, 413, `${how}: one byte more is too large`);
      assert.match(await over.text(), tooLarge, `${how}: the fixed text`);
    }
  } finally {
    await s.close();
  }
});
