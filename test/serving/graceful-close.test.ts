/** MCPServer.close({ grace_ms }): requests in flight finish, new connections are refused, nothing is cut. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MCPServer, tool } from "../../src/index.js";
import { MCP_HEADERS, readRpc, toolCall } from "../helpers/mcp.js";

test("a graceful close lets requests in flight finish with Connection: close, then refuses new ones", async () => {
  let release!: () => void;
  const slow = new Promise<void>((r) => (release = r));
  let started!: () => void;
  const inTool = new Promise<void>((r) => (started = r));
  const server = new MCPServer("g", { session_mode: "stateless", log: () => {} });
  server.collect(tool({ name: "slow", description: "" }, async () => (started(), await slow, "done")));
  const { url } = await server.serve({ port: 0 });
  const inflight = fetch(url, { method: "POST", headers: MCP_HEADERS, body: toolCall("slow") });
  await inTool;
  const closing = server.close({ grace_ms: 5000 });
  // The listener is closed: a new connection is refused.
  await assert.rejects(
    fetch(url, { method: "POST", headers: { ...MCP_HEADERS, connection: "close" }, body: toolCall("slow") }),
  );
  // The server is closing (its listener refused the connection above): the tool may finish now.
  release();
  const res = await inflight;
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("connection"), "close");
  assert.equal((await readRpc(res)).result.content[0].text, "done");
  await closing;
});

test("close() without grace is immediate; grace_ms is validated", async () => {
  const server = new MCPServer("g", { session_mode: "stateless", log: () => {} });
  const { url } = await server.serve({ port: 0 });
  await assert.rejects(server.close({ grace_ms: -1 }), /grace_ms/);
  await server.close();
  await assert.rejects(fetch(url, { method: "POST", headers: MCP_HEADERS, body: toolCall("x") }));
});
