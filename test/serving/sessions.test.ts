import { test } from "node:test";
import assert from "node:assert/strict";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { protect } from "../../src/index.js";
import { MCP_HEADERS, initialize, toolCall } from "../helpers/mcp.js";

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
