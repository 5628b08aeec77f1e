import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { JWTValidator, protect } from "../../src/index.js";
import { startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";
import { MCP_HEADERS, initialize, toolCall } from "../helpers/mcp.js";
import { SessionRegistry } from "../../src/serving/sessions.js";

const post = (handler: (r: Request) => Promise<Response>, body: string, sessionId?: string) =>
  handler(
    new Request("http://localhost/mcp", {
      method: "POST",
      headers: {
        ...MCP_HEADERS,
        ...(sessionId ? { "mcp-session-id": sessionId, "mcp-protocol-version": "2025-06-18" } : {}),
      },
      body,
    }),
  );

test("DELETE ends a session; the session table is bounded by max_sessions (LRU)", async () => {
  let created = 0;
  const handler = protect(
    () => {
      created++;
      return new McpServer({ name: "s", version: "1" });
    },
    { authorization: {}, max_sessions: 2 },
  );
  const open = async () => (await post(handler, initialize())).headers.get("mcp-session-id")!;
  const a = await open();
  const del = await handler(
    new Request("http://localhost/mcp", {
      method: "DELETE",
      headers: { "mcp-session-id": a, "mcp-protocol-version": "2025-06-18" },
    }),
  );
  assert.equal(del.status, 200);
  assert.equal((await post(handler, toolCall("x"), a)).status, 404);

  const b = await open();
  await open();
  const d = await open();
  assert.equal((await post(handler, toolCall("x"), b)).status, 404, "the least recently used session was closed");
  assert.equal((await post(handler, toolCall("x"), d)).status, 200);
  assert.equal(created, 4);
  await handler.close();
});

test("a request without a session id must be initialize", async () => {
  const handler = protect(() => new McpServer({ name: "s", version: "1" }), { authorization: {} });
  const res = await post(handler, toolCall("x"));
  assert.equal(res.status, 400);
  const bad = await post(handler, "{not json");
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.code, -32700);
  await handler.close();
});

describe("with authorization: one registry lookup per request", () => {
  let issuer: LocalIssuer;
  before(async () => {
    issuer = await startLocalIssuer();
  });
  after(() => issuer.close());
  const protectedHandler = () =>
    protect(() => new McpServer({ name: "s", version: "1" }), {
      authorization: { enabled: true, authorization_servers: [issuer.issuer], resource: "http://localhost/mcp" },
      provider: new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer, audience: "http://localhost/mcp" }),
    });
  const headers = async (sessionId?: string) => ({
    ...MCP_HEADERS,
    authorization: `Bearer ${await issuer.sign({ sub: "alice", aud: "http://localhost/mcp" })}`,
    ...(sessionId ? { "mcp-session-id": sessionId, "mcp-protocol-version": "2025-06-18" } : {}),
  });

  test("a request on a session looks the session registry up once", async () => {
    const handler = protectedHandler();
    const opened = await handler(
      new Request("http://localhost/mcp", { method: "POST", headers: await headers(), body: initialize() }),
    );
    const id = opened.headers.get("mcp-session-id")!;
    const call = new Request("http://localhost/mcp", {
      method: "POST",
      headers: await headers(id),
      body: toolCall("x"),
    });
    const proto = SessionRegistry.prototype as unknown as Record<"get" | "peek", (...a: unknown[]) => unknown>;
    const original = { get: proto.get, peek: proto.peek };
    let lookups = 0;
    for (const name of ["get", "peek"] as const)
      proto[name] = function (this: unknown, ...a: unknown[]) {
        lookups++;
        return original[name].apply(this, a);
      };
    try {
      assert.equal((await handler(call)).status, 200);
    } finally {
      Object.assign(proto, original);
    }
    assert.equal(lookups, 1);
    await handler.close();
  });

  test("a session closed while a request's body is read answers that request 404", async () => {
    const handler = protectedHandler();
    const opened = await handler(
      new Request("http://localhost/mcp", { method: "POST", headers: await headers(), body: initialize() }),
    );
    const id = opened.headers.get("mcp-session-id")!;
    let send!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({ start: (c) => void (send = c) });
    const pending = handler(
      new Request("http://localhost/mcp", {
        method: "POST",
        headers: await headers(id),
        body,
        duplex: "half",
      } as RequestInit),
    );
    await new Promise((r) => setTimeout(r, 20));
    const { "content-type": _ct, ...deleteHeaders } = await headers(id);
    const del = await handler(new Request("http://localhost/mcp", { method: "DELETE", headers: deleteHeaders }));
    assert.equal(del.status, 200);
    send.enqueue(new TextEncoder().encode(toolCall("x")));
    send.close();
    const res = await pending;
    assert.equal(res.status, 404);
    assert.equal(res.headers.get("cache-control"), "no-store", "our answer, not the closed transport's");
    assert.equal((await res.json()).error.code, -32001);
    await handler.close();
  });
});
