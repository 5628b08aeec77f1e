/**
 * SDK 1.x's Web-standard transport leaks one stream entry per JSON-mode response on a session
 * (modelcontextprotocol/typescript-sdk#2559). Through protect() a session's transport keeps only the
 * entries of calls made since its latest call began, also under concurrent calls, and every call is
 * still answered.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { z } from "zod";
import { protect } from "../../src/index.js";
import { releaseSettledJsonStreams } from "../../src/serving/sdk-v1-json-streams.js";
import { MCP_HEADERS, initialize } from "../helpers/mcp.js";

/** An echo server whose `slow` tool answers after `ms` milliseconds. */
function echoServer(): McpServer {
  const s = new McpServer({ name: "echo", version: "1" });
  s.registerTool("slow", { inputSchema: { ms: z.number() } }, async ({ ms }) => {
    await new Promise((r) => setTimeout(r, ms));
    return { content: [{ type: "text", text: `slept ${ms}` }] };
  });
  return s;
}

const streamsOf = (server: McpServer): Map<unknown, unknown> =>
  (server.server.transport as unknown as { _streamMapping: Map<unknown, unknown> })._streamMapping;

const call = (id: number, ms: number) =>
  JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "slow", arguments: { ms } } });

test("the SDK 1.x transport alone still keeps an entry per JSON response (the guard is still needed)", async () => {
  const server = echoServer();
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: () => crypto.randomUUID(),
    enableJsonResponse: true,
  });
  await server.connect(transport);
  const opened = await transport.handleRequest(
    new Request("http://localhost/mcp", { method: "POST", headers: MCP_HEADERS, body: initialize() }),
  );
  const headers = {
    ...MCP_HEADERS,
    "mcp-session-id": opened.headers.get("mcp-session-id")!,
    "mcp-protocol-version": "2025-06-18",
  };
  for (let id = 1; id <= 20; id++)
    await transport.handleRequest(new Request("http://localhost/mcp", { method: "POST", headers, body: call(id, 0) }));
  assert.equal(
    streamsOf(server).size,
    21,
    "if this fails, the SDK no longer leaks: sdk-v1-json-streams.ts and this file can go",
  );
  releaseSettledJsonStreams(transport);
  assert.equal(streamsOf(server).size, 0);
  await transport.close();
});

test("through protect(), a JSON-mode session keeps only its latest calls' entries, concurrent ones included", async () => {
  let server: McpServer | undefined;
  const handler = protect(() => (server = echoServer()), {
    authorization: {},
    session_mode: "stateful",
    transport: { json_response: true },
  });
  const opened = await handler(
    new Request("http://localhost/mcp", { method: "POST", headers: MCP_HEADERS, body: initialize() }),
  );
  assert.equal(opened.status, 200);
  const headers = {
    ...MCP_HEADERS,
    "mcp-session-id": opened.headers.get("mcp-session-id")!,
    "mcp-protocol-version": "2025-06-18",
  };
  assert.ok(streamsOf(server!).size <= 1, "at most the initialize response's own entry, until the next request");
  let id = 1;
  for (let round = 0; round < 20; round++) {
    // Ten calls in flight at once, finishing in a different order than they started: releasing one
    // call's entry must never drop another's that is still waiting.
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) => {
        const n = id++;
        return handler(
          new Request("http://localhost/mcp", { method: "POST", headers, body: call(n, (i * 7) % 5) }),
        ).then(async (r) => ({ status: r.status, body: (await r.json()) as { id: number; result?: unknown }, n }));
      }),
    );
    for (const a of answers) {
      assert.equal(a.status, 200);
      assert.equal(a.body.id, a.n);
      assert.ok(a.body.result, `call ${a.n} answered with a result`);
    }
    // Only the entries of this round's calls: each request released those answered before it began.
    assert.ok(streamsOf(server!).size <= 10, `after round ${round}: ${streamsOf(server!).size} entries`);
  }
  const last = await handler(new Request("http://localhost/mcp", { method: "POST", headers, body: call(id, 0) }));
  assert.equal(last.status, 200);
  assert.equal(streamsOf(server!).size, 1, "201 calls later, only the latest call's entry is left");
  await handler.close();
});

test("the guard leaves transports it does not recognise alone", () => {
  for (const t of [undefined, null, {}, { _streamMapping: [], _requestToStreamMapping: new Map() }])
    assert.doesNotThrow(() => releaseSettledJsonStreams(t));
  const sse = new Map<unknown, unknown>([["s", { controller: {}, resolveJson: undefined }]]);
  releaseSettledJsonStreams({ _streamMapping: sse, _requestToStreamMapping: new Map() });
  assert.equal(sse.size, 1, "an SSE stream entry is never touched");
  const waiting = new Map<unknown, unknown>([["j", { resolveJson: () => {} }]]);
  releaseSettledJsonStreams({ _streamMapping: waiting, _requestToStreamMapping: new Map([[7, "j"]]) });
  assert.equal(waiting.size, 1, "an entry a pending request maps to is kept");
});

/** `promise`, or a rejection naming `what` after `ms`: a hung call fails the test instead of stalling it. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe("a JSON-mode call in flight when its session ends is answered 404, not left hanging", () => {
  const open = async (handler: ReturnType<typeof protect>) => {
    const opened = await handler(
      new Request("http://localhost/mcp", { method: "POST", headers: MCP_HEADERS, body: initialize() }),
    );
    assert.equal(opened.status, 200);
    const sid = opened.headers.get("mcp-session-id")!;
    return { sid, headers: { ...MCP_HEADERS, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" } };
  };
  /** A JSON-mode stateful server with one session whose 400 ms call is in flight. */
  const inFlight = async (limits: { max_sessions?: number } = {}) => {
    const handler = protect(echoServer, {
      authorization: {},
      session_mode: "stateful",
      transport: { json_response: true },
      ...limits,
    });
    const { sid, headers } = await open(handler);
    const pending = handler(new Request("http://localhost/mcp", { method: "POST", headers, body: call(1, 400) }));
    await new Promise((r) => setTimeout(r, 50));
    return { handler, sid, pending };
  };
  const assertSessionGone = async (pending: Promise<Response>) => {
    const res = await within(pending, 2000, "the in-flight call");
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { error: { code: number } }).error.code, -32001);
  };

  test("the client DELETEs the session", async () => {
    const { handler, sid, pending } = await inFlight();
    const del = await handler(
      new Request("http://localhost/mcp", {
        method: "DELETE",
        headers: { "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" },
      }),
    );
    assert.equal(del.status, 200);
    await assertSessionGone(pending);
    await handler.close();
  });

  test("a new session evicts it (max_sessions)", async () => {
    const { handler, pending } = await inFlight({ max_sessions: 1 });
    await open(handler);
    await assertSessionGone(pending);
    await handler.close();
  });

  test("the server shuts down (handler.close())", async () => {
    const { handler, pending } = await inFlight();
    await handler.close();
    await assertSessionGone(pending);
  });
});
