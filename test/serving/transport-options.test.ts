/**
 * The user's SDK transport options pass through protect() (`transport`, `v2_handler_options`), the
 * ones protect() takes over are refused, and an interrupted SSE stream resumes with `Last-Event-ID`
 * (the event store) — only for the principal that owns the session — in both engines.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { InMemoryEventStore } from "@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js";
import { McpServer as McpServerV2 } from "@modelcontextprotocol/server";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { ConfigError, JWTValidator, MCPServer, protect, type ProtectedHandler } from "../../src/index.js";
import { startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";
import { MCP_HEADERS, initialize, toolCall } from "../helpers/mcp.js";
import { readEvents } from "../helpers/sse.js";

const URL_ = "http://localhost/mcp";
let issuer: LocalIssuer;
before(async () => {
  issuer = await startLocalIssuer();
});
after(() => issuer.close());

/** A tool that logs, then waits for `release` before answering: the stream can be cut in between. */
function gate() {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  return { release, released };
}

function v1Server(g: { released: Promise<void> }) {
  const s = new McpServer({ name: "r", version: "1" }, { capabilities: { logging: {} } });
  s.registerTool("slow", { description: "slow", inputSchema: {} }, async (_a, extra) => {
    await extra.sendNotification({ method: "notifications/message", params: { level: "info", data: "started" } });
    await g.released;
    return { content: [{ type: "text", text: "finished" }] };
  });
  return s;
}

function v2Server(g: { released: Promise<void> }) {
  const s = new McpServerV2({ name: "r", version: "1" }, { capabilities: { logging: {} } });
  s.registerTool("slow", { description: "slow", inputSchema: z.object({}) }, async (_a, ctx) => {
    await ctx.mcpReq.notify({ method: "notifications/message", params: { level: "info", data: "started" } });
    await g.released;
    return { content: [{ type: "text", text: "finished" }] };
  });
  return s;
}

/** The SDK's in-memory event store, keeping a copy of what it stored: a test waits for the event it needs. */
class RecordingEventStore extends InMemoryEventStore {
  readonly stored: JSONRPCMessage[] = [];
  override storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    this.stored.push(message);
    return super.storeEvent(streamId, message);
  }
}

/** Wait (polling, at most 5 s) until `cond()` holds: for something the server does, not for time to pass. */
async function until(what: string, cond: () => boolean) {
  const deadline = performance.now() + 5000;
  while (!cond()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

for (const engine of ["v1", "v2"] as const) {
  describe(`engine ${engine}: transport.event_store through protect()`, () => {
    let handler: ProtectedHandler;
    let g: ReturnType<typeof gate>;
    let store: RecordingEventStore;
    before(() => {
      g = gate();
      store = new RecordingEventStore();
      handler = protect(engine === "v1" ? () => v1Server(g) : () => v2Server(g), {
        authorization: { enabled: true, authorization_servers: [issuer.issuer], resource: URL_ },
        provider: new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer, audience: URL_ }),
        engine,
        transport: { event_store: store, retry_interval_ms: 250 },
      });
    });
    after(() => handler.close());

    test("an interrupted tool-call stream resumes with Last-Event-ID; another principal gets 404", async () => {
      const auth = async (sub: string) => ({ authorization: `Bearer ${await issuer.sign({ sub, aud: URL_ })}` });
      const init = await handler(
        new Request(URL_, {
          method: "POST",
          headers: { ...MCP_HEADERS, ...(await auth("alice")) },
          body: initialize(),
        }),
      );
      assert.equal(init.status, 200);
      const sid = init.headers.get("mcp-session-id")!;
      assert.ok(sid, "initialize answers with an Mcp-Session-Id");
      await init.text();
      const session = { "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25" };
      const initialized = await handler(
        new Request(URL_, {
          method: "POST",
          headers: { ...MCP_HEADERS, ...session, ...(await auth("alice")) },
          body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
        }),
      );
      assert.equal(initialized.status, 202);

      const call = await handler(
        new Request(URL_, {
          method: "POST",
          headers: { ...MCP_HEADERS, ...session, ...(await auth("alice")) },
          body: toolCall("slow", {}, 5),
        }),
      );
      assert.equal(call.status, 200);
      assert.match(call.headers.get("content-type") ?? "", /text\/event-stream/);
      const reader = call.body!.getReader();
      const first = await readEvents(reader, (evs) => evs.some((e) => e.data.includes("started")));
      // The priming event (SEP-1699): an id and no data, before anything else.
      assert.ok(first[0]?.id && first[0].data === "", `priming event first: ${JSON.stringify(first)}`);
      const lastId = first[first.length - 1]!.id!;
      assert.ok(lastId, "the last event has an id");
      // The client goes away mid-call; the tool then finishes.
      await reader.cancel();
      g.release();
      await until("the tool's result in the event store", () =>
        store.stored.some((m) => "id" in m && m.id === 5 && "result" in m),
      );

      // Another principal with the session id and the event id: the same 404 as an unknown session.
      const stolen = await handler(
        new Request(URL_, {
          method: "GET",
          headers: { accept: "text/event-stream", ...session, "last-event-id": lastId, ...(await auth("mallory")) },
        }),
      );
      assert.equal(stolen.status, 404);
      assert.deepEqual((await stolen.json()).error, { code: -32001, message: "Session not found" });

      const resumed = await handler(
        new Request(URL_, {
          method: "GET",
          headers: { accept: "text/event-stream", ...session, "last-event-id": lastId, ...(await auth("alice")) },
        }),
      );
      assert.equal(resumed.status, 200);
      const replay = await readEvents(resumed.body!.getReader(), (evs) => evs.some((e) => e.data.includes('"id":5')));
      const result = replay.find((e) => e.data.includes('"id":5'));
      assert.ok(result, `the missed result is replayed: ${JSON.stringify(replay)}`);
      assert.match(result.data, /finished/);
      await resumed.body?.cancel().catch(() => {});
    });
  });
}

describe("options protect() takes over are refused with a ConfigError", () => {
  const base = { authorization: {} };
  const issues = (fn: () => unknown): string[] => {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      return e.issues.map((i) => `${i.key}: ${i.message}`);
    }
    return assert.fail("expected a ConfigError");
  };

  test("session ids and callbacks, host checks, body size, protocol versions — in any spelling", () => {
    const got = issues(() =>
      protect(() => new McpServer({ name: "s", version: "1" }), {
        ...base,
        transport: {
          sessionIdGenerator: () => "x",
          onsessioninitialized: () => {},
          allowed_hosts: ["a"],
          enableDnsRebindingProtection: true,
          max_request_body_size: 1,
          supportedProtocolVersions: [],
        } as never,
      }),
    );
    assert.deepEqual(
      got.map((l) => l.split(":")[0]),
      [
        "transport.sessionIdGenerator",
        "transport.onsessioninitialized",
        "transport.allowed_hosts",
        "transport.enableDnsRebindingProtection",
        "transport.max_request_body_size",
        "transport.supportedProtocolVersions",
      ],
    );
    assert.ok(
      got.every((l) => l.includes("set by protect(), not configurable")),
      "every warning says the option is set by protect()",
    );
    assert.match(got[2]!, /dns_rebinding_protection/);
  });

  test("unknown transport keys get the usual suggestion; wrong types are named", () => {
    assert.deepEqual(
      issues(() =>
        protect(() => new McpServer({ name: "s", version: "1" }), { ...base, transport: { event_stor: {} } as never }),
      ),
      ['transport.event_stor: unknown key (did you mean "event_store"?)'],
    );
    assert.deepEqual(
      issues(() =>
        protect(() => new McpServer({ name: "s", version: "1" }), { ...base, transport: { event_store: {} } as never }),
      ),
      ["transport.event_store: must be an object with storeEvent() and replayEventsAfter()"],
    );
  });

  test("transport with session_mode stateless, v2_handler_options without engine v2, legacy in v2_handler_options", () => {
    assert.deepEqual(
      issues(() =>
        protect(() => new McpServer({ name: "s", version: "1" }), {
          ...base,
          session_mode: "stateless",
          transport: { json_response: true },
        }),
      ).map((l) => l.split(":")[0]),
      ["transport"],
    );
    assert.deepEqual(
      issues(() =>
        protect(() => new McpServer({ name: "s", version: "1" }), {
          ...base,
          v2_handler_options: { response_mode: "sse" },
        }),
      ).map((l) => l.split(":")[0]),
      ["v2_handler_options"],
    );
    assert.deepEqual(
      issues(() =>
        protect(() => ({}), { ...base, engine: "v2", v2_handler_options: { legacy: "stateless" } as never }),
      ).map((l) => l.split(":")[0]),
      ["v2_handler_options.legacy"],
    );
  });

  test("MCPServer refuses them at construction", () => {
    assert.deepEqual(
      issues(() => new MCPServer("s", { transport: { onsessionclosed: () => {} } as never })).map(
        (l) => l.split(":")[0],
      ),
      ["transport.onsessionclosed"],
    );
  });
});
