/**
 * Connected accounts on 2026-07-28 with the SDK v2 client: a tool without a usable credential answers an
 * `InputRequiredResult` (URL-mode `elicitation/create`, sealed `requestState`); the client's elicitation
 * handler opens the link (here: walks the connect pages) and accepts; the retry waits for the account and
 * completes with the third party's answer. A decline, a forged or foreign `requestState`, and a client
 * without URL mode are answered too.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { McpServer } from "@modelcontextprotocol/server";
import { acmeWhoami, startConnectedServer, type ConnectedServer } from "../helpers/connected-server.js";

const MODERN = "2026-07-28";

function v2Server(): McpServer {
  const s = new McpServer({ name: "connected-v2", version: "1.0.0" });
  acmeWhoami.register(s);
  return s;
}

async function modernClient(
  s: ConnectedServer,
  subject: string,
  o: { url_mode: boolean; on_url?: (url: string, message: string) => Promise<"accept" | "decline"> },
): Promise<Client> {
  const client = new Client(
    { name: "modern", version: "1.0.0" },
    {
      versionNegotiation: { mode: { pin: MODERN } },
      capabilities: o.url_mode ? { elicitation: { url: {} } } : {},
    },
  );
  if (o.on_url)
    client.setRequestHandler("elicitation/create", async (request) => {
      const params = request.params as { mode?: string; url?: string; message: string };
      assert.equal(params.mode, "url", "a URL-mode elicitation");
      return { action: await o.on_url!(params.url!, params.message) };
    });
  const token = await s.token(subject);
  await client.connect(
    new StreamableHTTPClientTransport(new URL(s.url), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

const textOf = (r: unknown): string =>
  ((r as { content?: { type: string; text?: string }[] }).content ?? []).map((c) => c.text ?? "").join("");

test("2026-07-28: InputRequiredResult, the user connects in the browser, the retry completes", async () => {
  const s = await startConnectedServer({ factory: v2Server, engine: "v2" });
  try {
    const links: string[] = [];
    let flow: Promise<Response> | undefined;
    const client = await modernClient(s, "dana", {
      url_mode: true,
      on_url: async (url, message) => {
        links.push(url);
        assert.match(message, /Acme/, "the message names the provider");
        // The person finishes in the browser while the client retries (the retry waits for them).
        flow = new Promise((r) => setTimeout(r, 50)).then(() => s.connect(url, "dana", "dana-at-acme"));
        return "accept";
      },
    });
    const result = await client.callTool({ name: "acme_whoami", arguments: {} });
    assert.equal(links.length, 1, "one elicitation");
    assert.match(links[0]!, new RegExp(`^${s.origin}/connect/start\\?handle=[A-Za-z0-9_-]{43}$`), "an opaque link");
    assert.equal((await flow!).status, 200, "the connect flow finished");
    assert.ok(!(result as { isError?: boolean }).isError, `the retry completes: ${textOf(result)}`);
    assert.equal(
      (JSON.parse(textOf(result)) as { subject: string }).subject,
      "dana-at-acme",
      "as the connected account",
    );
    await client.close();
  } finally {
    await s.close();
  }
});

test("2026-07-28: a declined elicitation is the tool's error result, and nothing is connected", async () => {
  const s = await startConnectedServer({ factory: v2Server, engine: "v2" });
  try {
    const client = await modernClient(s, "erin", { url_mode: true, on_url: async () => "decline" });
    const result = await client.callTool({ name: "acme_whoami", arguments: {} });
    assert.equal((result as { isError?: boolean }).isError, true, "an error result");
    assert.equal(textOf(result), 'Tool "acme_whoami": connecting Acme was declined.', "naming the provider");
    assert.ok(!s.events.some((e) => e.type === "account_connected"), "nothing connected");
    await client.close();
  } finally {
    await s.close();
  }
});

test("2026-07-28 without URL mode: the isError fallback with the link", async () => {
  const s = await startConnectedServer({ factory: v2Server, engine: "v2" });
  try {
    const client = await modernClient(s, "fred", { url_mode: false });
    const result = await client.callTool({ name: "acme_whoami", arguments: {} });
    assert.equal((result as { isError?: boolean }).isError, true, "an error result");
    assert.match(
      textOf(result),
      /^Tool "acme_whoami": Connect your Acme account to continue: http:\/\/127\.0\.0\.1:\d+\/connect\/start\?handle=[A-Za-z0-9_-]{43}$/,
      "names the provider and the link",
    );
    await client.close();
  } finally {
    await s.close();
  }
});

/** A raw 2026-07-28 tools/call with the given `requestState` and accept response. */
async function rawCall(s: ConnectedServer, subject: string, extra: Record<string, unknown>): Promise<unknown> {
  const res = await fetch(s.url, {
    method: "POST",
    headers: {
      authorization: `Bearer ${await s.token(subject)}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": MODERN,
      "mcp-method": "tools/call",
      "mcp-name": "acme_whoami",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: {
        name: "acme_whoami",
        arguments: {},
        _meta: {
          "io.modelcontextprotocol/protocolVersion": MODERN,
          "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
          "io.modelcontextprotocol/clientCapabilities": { elicitation: { url: {} } },
        },
        ...extra,
      },
    }),
  });
  const text = await res.text();
  const json = text.startsWith("{") ? text : /^data: (.*)$/m.exec(text)?.[1];
  return (JSON.parse(json ?? "null") as { result?: unknown; error?: unknown }).result;
}

test("2026-07-28: requestState is bound to the principal and cannot be forged", async () => {
  const s = await startConnectedServer({ factory: v2Server, engine: "v2" });
  try {
    const first = (await rawCall(s, "gina", {})) as { resultType: string; requestState: string; inputRequests: object };
    assert.equal(first.resultType, "input_required", "input required");
    assert.match(first.requestState, /^pmcp1\./, "a sealed state");
    assert.doesNotMatch(first.requestState, /gina|handle/, "opaque");
    const key = Object.keys(first.inputRequests)[0]!;
    const accept = { inputResponses: { [key]: { action: "accept" } } };
    const refusal = 'Tool "acme_whoami": the request state is invalid; call the tool again.';
    // Another principal presenting Gina's state.
    const stolen = await rawCall(s, "hank", { ...accept, requestState: first.requestState });
    assert.equal(textOf(stolen), refusal, "another principal's state is refused");
    // A tampered state.
    const flipped = first.requestState.slice(0, -2) + (first.requestState.endsWith("A") ? "BB" : "AA");
    assert.equal(textOf(await rawCall(s, "gina", { ...accept, requestState: flipped })), refusal, "a tampered state");
    assert.ok(!s.events.some((e) => e.type === "account_connected"), "nothing connected");
  } finally {
    await s.close();
  }
});
