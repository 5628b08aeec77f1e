import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { setImmediate as tick } from "node:timers/promises";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { getContext, JWTValidator, MCPServer, tool, type AuthEvent } from "../../src/index.js";
import { startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";
import { MCP_HEADERS, readRpc, toolCall } from "../helpers/mcp.js";

let issuer: LocalIssuer;
let server: MCPServer;
let url: string;
const events: AuthEvent[] = [];

before(async () => {
  issuer = await startLocalIssuer();
  const whoamiLater = tool(
    { name: "whoami_later", description: "Yields several times, then reports the caller" },
    async () => {
      const first = getContext().auth?.subject;
      for (let i = 0; i < 1 + Math.floor(Math.random() * 20); i++) await tick();
      return { first, last: getContext().auth?.subject, scopes: getContext().auth?.scopes };
    },
  );
  server = new MCPServer("ctx", {
    authorization: { enabled: true, authorization_servers: [issuer.issuer] },
    on_auth_event: (e) => events.push(e),
  });
  server.setAuthorizationProvider(new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }));
  server.collect(whoamiLater);
  ({ url } = await server.serve({ port: 0 }));
});
after(async () => {
  await server.close();
  await issuer.close();
});

async function connect(token: string) {
  const client = new Client({ name: "t", version: "1" });
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  return { client, transport };
}

test("getContext().auth is never mixed up between 60 interleaved requests from 6 principals", async () => {
  const subjects = ["alice", "bob", "carol", "dave", "erin", "frank"];
  const clients = await Promise.all(
    subjects.map(async (s) => ({ s, ...(await connect(await issuer.sign({ sub: s, aud: url, scope: `s:${s}` }))) })),
  );
  try {
    const calls = Array.from({ length: 60 }, (_, i) => clients[i % clients.length]!).map(async ({ s, client }) => {
      const r = await client.callTool({ name: "whoami_later", arguments: {} });
      return { s, out: r.structuredContent as { first: string; last: string; scopes: string[] } };
    });
    for (const { s, out } of await Promise.all(calls)) {
      assert.equal(out.first, s);
      assert.equal(out.last, s);
      assert.deepEqual(out.scopes, [`s:${s}`]);
    }
  } finally {
    await Promise.all(clients.map((c) => c.client.close()));
  }
});

test("a session is bound to its principal: another principal's token with that session id is refused as 404", async () => {
  const { client, transport } = await connect(await issuer.sign({ sub: "alice", aud: url }));
  try {
    const sessionId = transport.sessionId!;
    assert.ok(sessionId, "the client got a session id");
    const before = events.length;
    const res = await fetch(url, {
      method: "POST",
      headers: {
        ...MCP_HEADERS,
        "mcp-session-id": sessionId,
        "mcp-protocol-version": "2025-06-18",
        authorization: `Bearer ${await issuer.sign({ sub: "mallory", aud: url })}`,
      },
      body: toolCall("whoami_later"),
    });
    assert.equal(res.status, 404);
    assert.equal(res.headers.get("www-authenticate"), null);
    assert.deepEqual((await res.json()).error, { code: -32001, message: "Session not found" });
    // The client's own background requests may add "accepted" events; the refused one must be there, once.
    assert.deepEqual(
      events
        .slice(before)
        .filter((e) => e.type !== "accepted")
        .map((e) => e.type + ("code" in e ? `:${e.code}` : "")),
      ["refused:ERR_SESSION_MISMATCH"],
    );
    // The same subject from another client is another principal too.
    const other = await fetch(url, {
      method: "POST",
      headers: {
        ...MCP_HEADERS,
        "mcp-session-id": sessionId,
        "mcp-protocol-version": "2025-06-18",
        authorization: `Bearer ${await issuer.sign({ sub: "alice", aud: url, client_id: "other-app" })}`,
      },
      body: toolCall("whoami_later"),
    });
    assert.equal(other.status, 404);
    // A foreign and an unknown session id get byte-identical answers: status, headers, body.
    const answer = async (id: string) => {
      const res = await fetch(url, {
        method: "POST",
        headers: {
          ...MCP_HEADERS,
          "mcp-session-id": id,
          "mcp-protocol-version": "2025-06-18",
          authorization: `Bearer ${await issuer.sign({ sub: "mallory", aud: url })}`,
        },
        body: toolCall("whoami_later"),
      });
      const headers: [string, string][] = [];
      res.headers.forEach((v, k) => k !== "date" && headers.push([k, v]));
      return JSON.stringify({ status: res.status, headers, body: await res.text() });
    };
    const foreign = await answer(sessionId);
    assert.equal(foreign, await answer("00000000-0000-4000-8000-000000000000"));
    assert.match(foreign, /"cache-control","no-store"/);
    // The owner still can use it, with a fresh token.
    const ok = await fetch(url, {
      method: "POST",
      headers: {
        ...MCP_HEADERS,
        "mcp-session-id": sessionId,
        "mcp-protocol-version": "2025-06-18",
        authorization: `Bearer ${await issuer.sign({ sub: "alice", aud: url, jti: "fresh" })}`,
      },
      body: toolCall("whoami_later"),
    });
    assert.equal(ok.status, 200);
    assert.equal((await readRpc(ok)).result.structuredContent.first, "alice");
  } finally {
    await client.close();
  }
});

test("every request is authorized, not only initialize: a session id without a token is 401", async () => {
  const { client, transport } = await connect(await issuer.sign({ sub: "alice", aud: url }));
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { ...MCP_HEADERS, "mcp-session-id": transport.sessionId!, "mcp-protocol-version": "2025-06-18" },
      body: toolCall("whoami_later"),
    });
    assert.equal(res.status, 401);
    const get = await fetch(url, { headers: { accept: "text/event-stream", "mcp-session-id": transport.sessionId! } });
    assert.equal(get.status, 401);
    const del = await fetch(url, { method: "DELETE", headers: { "mcp-session-id": transport.sessionId! } });
    assert.equal(del.status, 401);
  } finally {
    await client.close();
  }
});

test("events carry codes and identifiers, never the token", async () => {
  const token = await issuer.sign({ sub: "alice", aud: url });
  const { client } = await connect(token);
  await client.close();
  await fetch(url, {
    method: "POST",
    headers: { ...MCP_HEADERS, authorization: `Bearer ${token}x` },
    body: toolCall("x"),
  });
  const dump = JSON.stringify(events);
  assert.ok(!dump.includes(token.slice(0, 40)), "the token is not in the dump");
  assert.ok(
    events.some((e) => e.type === "accepted" && e.subject === "alice"),
    "an accepted event for alice",
  );
  assert.ok(
    events.some((e) => e.type === "refused" && e.code === "ERR_INVALID_TOKEN" && e.status === 401),
    "a refused event with ERR_INVALID_TOKEN and 401",
  );
});
