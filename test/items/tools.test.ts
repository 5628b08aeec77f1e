import { test } from "node:test";
import assert from "node:assert/strict";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { z } from "zod";
import { getContext, MCPServer, protect, registerTools, tool } from "../../src/index.js";
import { MCP_HEADERS, initialize } from "../helpers/mcp.js";

test("tool() validates its definition", () => {
  assert.throws(() => tool({ name: "", description: "x" }, () => 1), /name/);
  assert.throws(() => tool({ name: "x", description: "x", required_scopes: ["a b"] }, () => 1), /invalid scope/);
  assert.throws(() => tool({ name: "x", description: "x" }, undefined as never), /handler/);
  assert.throws(
    () =>
      new MCPServer("s").collect(
        tool({ name: "a", description: "" }, () => 1),
        tool({ name: "a", description: "" }, () => 2),
      ),
    /duplicate/,
  );
});

test("results: strings become text, objects JSON + structuredContent, CallToolResults pass through", async () => {
  const mcp = new McpServer({ name: "t", version: "1" });
  registerTools(
    mcp,
    tool({ name: "s", description: "" }, () => "hi"),
    tool({ name: "o", description: "", input: { n: z.number() } }, ({ n }) => ({ n })),
    tool({ name: "a", description: "" }, () => [1, 2]),
    tool({ name: "r", description: "" }, () => ({ content: [{ type: "text" as const, text: "raw" }], isError: true })),
  );
  const [ct, st] = InMemoryTransport.createLinkedPair();
  await mcp.connect(st);
  const client = new Client({ name: "c", version: "1" });
  await client.connect(ct);
  assert.deepEqual(await client.callTool({ name: "s", arguments: {} }), { content: [{ type: "text", text: "hi" }] });
  assert.deepEqual(await client.callTool({ name: "o", arguments: { n: 2 } }), {
    content: [{ type: "text", text: '{"n":2}' }],
    structuredContent: { n: 2 },
  });
  assert.deepEqual(await client.callTool({ name: "a", arguments: {} }), { content: [{ type: "text", text: "[1,2]" }] });
  assert.deepEqual(await client.callTool({ name: "r", arguments: {} }), {
    content: [{ type: "text", text: "raw" }],
    isError: true,
  });
  // Outside any protected request the caller is anonymous and enforced: a scoped tool refuses.
  registerTools(
    mcp,
    tool({ name: "scoped", description: "", required_scopes: ["x"] }, () => "ran"),
  );
  await client.close();
});

test("a scoped tool on an unprotected transport refuses anonymous callers (secure default)", async () => {
  const mcp = new McpServer({ name: "t", version: "1" });
  let ran = false;
  registerTools(
    mcp,
    tool({ name: "scoped", description: "", required_scopes: ["x"] }, () => ((ran = true), "ran")),
  );
  const [ct, st] = InMemoryTransport.createLinkedPair();
  await mcp.connect(st);
  const client = new Client({ name: "c", version: "1" });
  await client.connect(ct);
  const r = await client.callTool({ name: "scoped", arguments: {} });
  assert.equal(r.isError, true);
  assert.equal(ran, false);
  assert.equal(getContext().auth, null);
  await client.close();
});

test("an McpServer instance (not a factory) serves one session at a time", async () => {
  const handler = protect(new McpServer({ name: "single", version: "1" }), { authorization: {} });
  const first = await handler(
    new Request("http://localhost/mcp", { method: "POST", headers: MCP_HEADERS, body: initialize() }),
  );
  assert.equal(first.status, 200);
  assert.ok(first.headers.get("mcp-session-id"), "the first initialize gets an Mcp-Session-Id");
  const second = await handler(
    new Request("http://localhost/mcp", { method: "POST", headers: MCP_HEADERS, body: initialize() }),
  );
  assert.equal(second.status, 409);
  await handler.close();
});

test("tools on a server authorized by the SDK's own middleware see the SDK's AuthInfo", async () => {
  const { StreamableHTTPServerTransport } = await import("@modelcontextprotocol/sdk/server/streamableHttp.js");
  const { requireBearerAuth } = await import("@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js");
  const express = (await import("express")).default;
  const app = express();
  app.use(express.json());
  app.post(
    "/mcp",
    requireBearerAuth({
      verifier: {
        verifyAccessToken: async (token) => ({
          token,
          clientId: "sdk-client",
          scopes: token === "good" ? ["files:delete"] : [],
          expiresAt: Math.floor(Date.now() / 1000) + 60,
        }),
      },
    }),
    async (req, res) => {
      const mcp = new McpServer({ name: "sdk", version: "1" });
      registerTools(
        mcp,
        tool({ name: "rm", description: "", required_scopes: ["files:delete"] }, () => ({
          by: getContext().auth?.client_id,
        })),
      );
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      await mcp.connect(transport);
      await transport.handleRequest(req, res, req.body);
    },
  );
  const http = app.listen(0, "127.0.0.1");
  await new Promise((r) => http.once("listening", r));
  const url = `http://127.0.0.1:${(http.address() as { port: number }).port}/mcp`;
  try {
    const call = async (token: string) =>
      (
        await (
          await fetch(url, {
            method: "POST",
            headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` },
            body: JSON.stringify({
              jsonrpc: "2.0",
              id: 1,
              method: "tools/call",
              params: { name: "rm", arguments: {} },
            }),
          })
        ).json()
      ).result;
    assert.deepEqual((await call("good")).structuredContent, { by: "sdk-client" });
    assert.equal((await call("weak")).isError, true);
  } finally {
    http.close();
  }
});
