/**
 * A v2 server factory behind protect() (`engine: "v2"`) keeps each era's features: 2025-era clients get
 * stateful sessions bound to their principal (so server→client requests — sampling, elicitation —
 * come back), and 2026-07-28 `subscriptions/listen` streams get list-changed events from `handler.notify`.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { McpServer as McpServerV2 } from "@modelcontextprotocol/server";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CreateMessageRequestSchema, ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { getContext, type ProtectedHandler } from "../../src/index.js";
import type { LocalIssuer } from "../helpers/issuer.js";
import { startProtectedV2, type ProtectedV2 } from "../helpers/protected-v2.js";
import { MCP_HEADERS, toolCall } from "../helpers/mcp.js";

const MODERN = "2026-07-28";

/** The v2 fixture: tools that ask the client (2025 era) and report who called. */
function v2Server(): McpServerV2 {
  const server = new McpServerV2(
    { name: "v2-sessions", version: "1.0.0" },
    { capabilities: { tools: { listChanged: true } } },
  );
  server.registerTool(
    "ask_model",
    { description: "sampling", inputSchema: z.object({ prompt: z.string() }) },
    async ({ prompt }, ctx) => {
      const r = (await ctx.mcpReq.send({
        method: "sampling/createMessage",
        params: { messages: [{ role: "user", content: { type: "text", text: prompt } }], maxTokens: 10 },
      })) as { content: { text: string } };
      return { content: [{ type: "text", text: `model said ${r.content.text} to ${getContext().auth?.subject}` }] };
    },
  );
  server.registerTool("ask_user", { description: "elicitation", inputSchema: z.object({}) }, async (_args, ctx) => {
    const r = (await ctx.mcpReq.send({
      method: "elicitation/create",
      params: {
        mode: "form",
        message: "name?",
        requestedSchema: { type: "object", properties: { name: { type: "string" } } },
      },
    })) as { action: string; content?: { name?: string } };
    return { content: [{ type: "text", text: `${r.action}:${r.content?.name}` }] };
  });
  return server;
}

let setup: ProtectedV2;
let issuer: LocalIssuer;
let url: string;
let handler: ProtectedHandler;

before(async () => {
  setup = await startProtectedV2(() => v2Server());
  ({ issuer, url, handler } = setup);
});
after(() => setup.close());

async function connect(sub: string) {
  const client = new Client(
    { name: "legacy", version: "1" },
    { capabilities: { sampling: {}, elicitation: { form: {} } } },
  );
  client.setRequestHandler(CreateMessageRequestSchema, async () => ({
    role: "assistant",
    content: { type: "text", text: "42" },
    model: "m",
  }));
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: "accept", content: { name: "Ada" } }));
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { authorization: `Bearer ${await issuer.sign({ sub, aud: url })}` } },
  });
  await client.connect(transport);
  return { client, transport };
}

const text = (r: unknown) => ((r as { content: { text: string }[] }).content ?? []).map((c) => c.text).join("");

describe("engine v2, 2025-era clients: stateful sessions bound to the principal", () => {
  test("a session id is issued, and sampling and elicitation round trips complete", async () => {
    const { client, transport } = await connect("alice");
    try {
      assert.match(transport.sessionId ?? "", /^[0-9a-f-]{36}$/);
      assert.equal(
        text(await client.callTool({ name: "ask_model", arguments: { prompt: "hi" } })),
        "model said 42 to alice",
      );
      assert.equal(text(await client.callTool({ name: "ask_user", arguments: {} })), "accept:Ada");
    } finally {
      await client.close();
    }
  });

  test("another principal's session id gets the same 404 as an unknown one; the owner keeps the session", async () => {
    const { client, transport } = await connect("alice");
    try {
      const sessionId = transport.sessionId!;
      const answer = async (id: string, sub: string) => {
        const res = await fetch(url, {
          method: "POST",
          headers: {
            ...MCP_HEADERS,
            "mcp-session-id": id,
            "mcp-protocol-version": "2025-11-25",
            authorization: `Bearer ${await issuer.sign({ sub, aud: url })}`,
          },
          body: toolCall("ask_user"),
        });
        const headers: [string, string][] = [];
        res.headers.forEach((v, k) => k !== "date" && headers.push([k, v]));
        return { status: res.status, all: JSON.stringify({ status: res.status, headers, body: await res.text() }) };
      };
      const foreign = await answer(sessionId, "mallory");
      const unknown = await answer("00000000-0000-4000-8000-000000000000", "mallory");
      assert.equal(foreign.status, 404);
      assert.equal(foreign.all, unknown.all);
      assert.match(foreign.all, /Session not found/);
      // The owner still uses it.
      assert.equal(text(await client.callTool({ name: "ask_user", arguments: {} })), "accept:Ada");
    } finally {
      await client.close();
    }
  });

  test("a 2025-era request without a session that is not initialize is refused 400", async () => {
    const res = await fetch(url, {
      method: "POST",
      headers: { ...MCP_HEADERS, authorization: `Bearer ${await issuer.sign({ sub: "alice", aud: url })}` },
      body: toolCall("ask_user"),
    });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error.code, -32000);
  });

  test("DELETE closes the session: it is then unknown (404)", async () => {
    const { client, transport } = await connect("bob");
    const sessionId = transport.sessionId!;
    await transport.terminateSession();
    const res = await fetch(url, {
      method: "POST",
      headers: {
        ...MCP_HEADERS,
        "mcp-session-id": sessionId,
        "mcp-protocol-version": "2025-11-25",
        authorization: `Bearer ${await issuer.sign({ sub: "bob", aud: url })}`,
      },
      body: toolCall("ask_user"),
    });
    assert.equal(res.status, 404);
    await client.close();
  });
});

describe("engine v2, 2026-07-28: subscriptions/listen through protect()", () => {
  test("handler.notify.toolsChanged() reaches an open listen stream", async () => {
    assert.ok(handler.notify, "engine v2 exposes notify");
    const meta = {
      "io.modelcontextprotocol/protocolVersion": MODERN,
      "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
      "io.modelcontextprotocol/clientCapabilities": {},
    };
    const ac = new AbortController();
    const res = await fetch(url, {
      method: "POST",
      signal: ac.signal,
      headers: {
        ...MCP_HEADERS,
        "mcp-protocol-version": MODERN,
        "mcp-method": "subscriptions/listen",
        authorization: `Bearer ${await issuer.sign({ sub: "alice", aud: url })}`,
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 7,
        method: "subscriptions/listen",
        params: { notifications: { toolsListChanged: true }, _meta: meta },
      }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let seen = "";
    const until = async (needle: string) => {
      while (!seen.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${needle}: ${seen}`);
        seen += decoder.decode(value, { stream: true });
      }
    };
    await until("notifications/subscriptions/acknowledged");
    handler.notify.toolsChanged();
    await until("notifications/tools/list_changed");
    ac.abort();
    await reader.cancel().catch(() => {});
  });
});
