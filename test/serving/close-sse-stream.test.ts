/**
 * The per-request transport controls the SDKs give a tool keep working through protect() (SEP-1699
 * polling): `extra.closeSSEStream()` / `extra.closeStandaloneSSEStream()` (SDK v1) and
 * `ctx.http.closeSSE()` / `ctx.http.closeStandaloneSSE()` (SDK v2, 2025-era sessions under
 * `engine: "v2"`), with `transport: { event_store, retry_interval }`: the tool closes its own POST
 * stream mid-call, the client reconnects with `Last-Event-ID` on its session and gets the result; the
 * tool closes the session's GET stream and the client sees it end.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { McpServer as McpServerV1 } from "@modelcontextprotocol/sdk/server/mcp.js";
import { InMemoryEventStore } from "@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js";
import { McpServer as McpServerV2 } from "@modelcontextprotocol/server";
import { z } from "zod";
import { JWTValidator, protect, toNodeHandler, type ProtectedHandler } from "../../src/index.js";
import { startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";
import { MCP_HEADERS, toolCall } from "../helpers/mcp.js";

const VERSION = "2025-11-25";
const LIMIT = { timeout: 15_000 };

/** A tool's promise the test settles once it has seen the stream end (no clock involved). */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
}

interface Controls {
  closeSSE?: (() => void) | undefined;
  closeStandalone?: (() => void) | undefined;
}

/** The tools, written against either SDK's way of handing the controls over. */
function tools(register: (name: string, run: (c: Controls) => Promise<string>) => void, release: () => Promise<void>) {
  register("close_my_stream", async ({ closeSSE }) => {
    if (!closeSSE) return "no closeSSE control";
    closeSSE();
    await release();
    return "result after the reconnect";
  });
  register("close_get_stream", async ({ closeStandalone }) => {
    if (!closeStandalone) return "no closeStandalone control";
    closeStandalone();
    return "closed the GET stream";
  });
}

const text = (s: string) => ({ content: [{ type: "text" as const, text: s }] });

function v1Server(release: () => Promise<void>): McpServerV1 {
  const server = new McpServerV1({ name: "close-sse-v1", version: "1" });
  tools(
    (name, run) =>
      server.registerTool(name, { inputSchema: {} }, async (_args, extra) =>
        text(await run({ closeSSE: extra.closeSSEStream, closeStandalone: extra.closeStandaloneSSEStream })),
      ),
    release,
  );
  return server;
}

function v2Server(release: () => Promise<void>): McpServerV2 {
  const server = new McpServerV2({ name: "close-sse-v2", version: "1" });
  tools(
    (name, run) =>
      server.registerTool(name, { inputSchema: z.object({}) }, async (_args, ctx) =>
        text(await run({ closeSSE: ctx.http?.closeSSE, closeStandalone: ctx.http?.closeStandaloneSSE })),
      ),
    release,
  );
  return server;
}

let issuer: LocalIssuer;
before(async () => {
  issuer = await startLocalIssuer();
});
after(async () => {
  await issuer.close();
});

/** One SSE event as the client sees it. */
interface SseEvent {
  id?: string;
  data: string;
}
function parseSse(body: string): SseEvent[] {
  return body
    .split(/\n\n/)
    .filter((block) => block.trim() && !block.startsWith(":"))
    .map((block) => {
      const lines = block.split("\n");
      const id = lines
        .find((l) => l.startsWith("id:"))
        ?.slice(3)
        .trim();
      const data = lines
        .filter((l) => l.startsWith("data:"))
        .map((l) => l.slice(5).trimStart())
        .join("\n");
      return { ...(id !== undefined && { id }), data };
    });
}

for (const engine of ["v1", "v2"] as const) {
  describe(`engine ${engine}: a tool's SSE stream controls through protect()`, () => {
    let http: Server;
    let url: string;
    let handler: ProtectedHandler;
    let released = gate();
    let auth: string;

    before(async () => {
      http = createServer();
      await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
      url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
      const options = {
        authorization: { enabled: true, authorization_servers: [issuer.issuer], resource: url },
        provider: new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer, audience: url }),
        transport: { event_store: new InMemoryEventStore(), retry_interval_ms: 1000 },
      };
      const release = () => released.opened;
      handler =
        engine === "v1"
          ? protect(() => v1Server(release), options)
          : protect(() => v2Server(release), { ...options, engine: "v2" });
      http.on("request", toNodeHandler(handler));
      auth = `Bearer ${await issuer.sign({ sub: "alice", aud: url })}`;
    });
    after(async () => {
      await handler.close();
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    });

    const headers = (sid?: string, extra: Record<string, string> = {}) => ({
      ...MCP_HEADERS,
      authorization: auth,
      "mcp-protocol-version": VERSION,
      ...(sid && { "mcp-session-id": sid }),
      ...extra,
    });

    async function openSession(): Promise<string> {
      const init = await fetch(url, {
        method: "POST",
        headers: headers(),
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 0,
          method: "initialize",
          params: { protocolVersion: VERSION, capabilities: {}, clientInfo: { name: "raw", version: "1" } },
        }),
      });
      assert.equal(init.status, 200, "initialize accepted");
      const sid = init.headers.get("mcp-session-id");
      assert.ok(sid, "a session id");
      await init.text();
      const note = await fetch(url, {
        method: "POST",
        headers: headers(sid),
        body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
      });
      assert.equal(note.status, 202, "initialized accepted");
      return sid;
    }

    test("closeSSE: the POST stream ends before the result; Last-Event-ID on the session gets it", LIMIT, async () => {
      released = gate();
      const sid = await openSession();
      const call = await fetch(url, {
        method: "POST",
        headers: headers(sid),
        body: toolCall("close_my_stream", {}, 7),
      });
      assert.equal(call.status, 200, "the call is answered on an SSE stream");
      const first = parseSse(await call.text()); // resolves only because the tool closed the stream
      assert.ok(
        first.length >= 1 && first[0]!.id,
        `a priming event with an id opens the stream: ${JSON.stringify(first)}`,
      );
      assert.ok(
        !first.some((e) => e.data.includes('"id":7')),
        `no result on the closed stream: ${JSON.stringify(first)}`,
      );
      released.open();

      const resumed = await fetch(url, {
        method: "GET",
        headers: headers(sid, { accept: "text/event-stream", "last-event-id": first[0]!.id }),
      });
      assert.equal(resumed.status, 200, "the reconnect is accepted");
      const reader = resumed.body!.getReader();
      const decoder = new TextDecoder();
      let body = "";
      while (!body.includes('"id":7')) {
        const { value, done } = await reader.read();
        if (done) break;
        body += decoder.decode(value, { stream: true });
      }
      await reader.cancel().catch(() => {});
      const result = parseSse(body).find((e) => e.data.includes('"id":7'));
      assert.ok(result, `the result is replayed on the reconnect: ${body}`);
      assert.match(result.data, /result after the reconnect/, "the tool's own result");
    });

    test("closeStandaloneSSE: the session's GET stream ends", LIMIT, async () => {
      const sid = await openSession();
      const get = await fetch(url, { method: "GET", headers: headers(sid, { accept: "text/event-stream" }) });
      assert.equal(get.status, 200, "the GET stream opens");
      const call = await fetch(url, {
        method: "POST",
        headers: headers(sid),
        body: toolCall("close_get_stream", {}, 8),
      });
      assert.match(await call.text(), /closed the GET stream/, "the tool had the control");
      const rest = await get.text(); // resolves only because the tool closed the GET stream
      assert.ok(!rest.includes('"id":8'), "the GET stream carried no result of the call");
    });
  });
}
