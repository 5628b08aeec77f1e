/**
 * Serve the conformance fixture for `@modelcontextprotocol/conformance server --url …`.
 *
 *   tsx conformance/serve.ts --sdk v1|v2 --mode plain|protect|mcpserver --port N
 *   tsx conformance/serve.ts --fixture sdk-v2|suite-v1 --mode plain|protect --port N
 *
 * - `plain`: no protected-mcp at all, the SDK's own transports (the baseline). v1: stateful
 *   `StreamableHTTPServerTransport` sessions. v2: `createMcpHandler` for 2026-07-28 requests and
 *   stateful `WebStandardStreamableHTTPServerTransport` sessions for the 2025 era.
 * - `protect`: the same factory through `protect()` (authorization enabled, an event store as
 *   `transport.event_store`) — v1 as a factory, v2 as a factory with `engine: "v2"` (2025-era
 *   clients in stateful v2 sessions; the listen triggers publish through `handler.notify`).
 * - `mcpserver`: `MCPServer({ engine: "v2" })` serving both eras (v1 sessions for 2025, v2 for 2026),
 *   with the event store, the fixture's v2 `ServerOptions` (`v2_server_options`) and `server.notify`.
 *
 * `--fixture` serves a vendored third-party fixture (conformance/vendor/, unchanged but for `export`s)
 * instead of the project's own: `sdk-v2` (the SDK v2 repository's conformance everything-server) or
 * `suite-v1` (the suite's own v1 everything-server). `plain` runs the fixture's own HTTP wiring as its
 * file does it (it listens on `PORT` itself); `protect` puts its `createMcpServer` factory through
 * `protect()` with the fixture's transport options (its event store, `retry_interval: 5000`; `sdk-v2`
 * with `engine: "v2"`), see {@link vendoredFixture}.
 *
 * With authorization, tokens come from the development authorization server and a small proxy on
 * `--port` adds `Authorization: Bearer …` (the suite sends none); Host and Origin pass untouched, so
 * the DNS-rebinding scenario sees the protected server itself.
 *
 * Prints `READY http://127.0.0.1:N/mcp` when listening.
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { connect, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { JWTValidator, MCPServer, protect, toNodeHandler } from "../src/index.js";
import { startDevAuthorizationServer } from "../src/dev-authorization-server/index.js";
import { createV1Server, registerV1 } from "./server-v1.js";
import type { ServerNotifier } from "@modelcontextprotocol/server";
import { createV2Server, registerV2, v2ServerOptions } from "./server-v2.js";
import { SERVER_INFO } from "./fixture.js";

const { values } = parseArgs({
  options: {
    sdk: { type: "string", default: "v1" },
    fixture: { type: "string" },
    mode: { type: "string", default: "plain" },
    port: { type: "string", default: "3000" },
  },
});
const sdk = values.sdk as "v1" | "v2";
const mode = values.mode as "plain" | "protect" | "mcpserver";
const fixture = values.fixture as "sdk-v2" | "suite-v1" | undefined;
const port = Number(values.port);
if (!["v1", "v2"].includes(sdk) || !["plain", "protect", "mcpserver"].includes(mode) || !Number.isInteger(port)) {
  console.error(
    "usage: serve.ts --sdk v1|v2 --mode plain|protect|mcpserver --port N | --fixture sdk-v2|suite-v1 --mode plain|protect --port N",
  );
  process.exit(2);
}
if (fixture !== undefined && (!["sdk-v2", "suite-v1"].includes(fixture) || mode === "mcpserver")) {
  console.error("--fixture sdk-v2|suite-v1 with --mode plain|protect");
  process.exit(2);
}
if (mode === "mcpserver" && sdk !== "v2") {
  console.error("--mode mcpserver serves both SDKs (engine v2): use --sdk v2");
  process.exit(2);
}

const HOST = "127.0.0.1";
const resource = `http://${HOST}:${port}/mcp`;
const localHosts = [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`];
const quiet = () => {};

function listen(server: Server, p: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(p, HOST, () => resolve((server.address() as AddressInfo).port));
  });
}

const jsonRpcError = (status: number, code: number, message: string) =>
  Response.json({ jsonrpc: "2.0", error: { code, message }, id: null }, { status });

/** In-memory event store (SEP-1699 resumability): events per stream, replayed after a Last-Event-ID. */
function createEventStore() {
  const events: { id: string; stream: string; message: unknown }[] = [];
  let seq = 0;
  return {
    async storeEvent(stream: string, message: unknown): Promise<string> {
      const id = `${stream}_${String(++seq).padStart(10, "0")}`;
      events.push({ id, stream, message });
      if (events.length > 10_000) events.shift();
      return id;
    },
    async replayEventsAfter(
      lastEventId: string,
      { send }: { send: (id: string, message: unknown) => Promise<void> },
    ): Promise<string> {
      const at = events.findIndex((e) => e.id === lastEventId);
      const stream = at >= 0 ? events[at]!.stream : lastEventId.slice(0, lastEventId.lastIndexOf("_"));
      for (const e of events.slice(at + 1)) if (e.stream === stream) await send(e.id, e.message);
      return stream;
    },
  };
}

// ---------------------------------------------------------------- plain v1
async function plainV1(): Promise<void> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- node:http ignores the handler's promise; errors are answered inside
  const http = createServer(async (req, res) => {
    if (new URL(req.url ?? "/", "http://x").pathname !== "/mcp") return void res.writeHead(404).end();
    const sid = req.headers["mcp-session-id"] as string | undefined;
    let body: unknown;
    if (req.method === "POST") {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        return void sendJson(res, 400, { jsonrpc: "2.0", error: { code: -32700, message: "Parse error" }, id: null });
      }
    }
    const existing = sid ? sessions.get(sid) : undefined;
    if (existing) return void (await existing.handleRequest(req, res, body));
    if (sid)
      return void sendJson(res, 404, {
        jsonrpc: "2.0",
        error: { code: -32001, message: "Session not found" },
        id: null,
      });
    if (req.method !== "POST" || !isInitializeRequest(body)) {
      return void sendJson(res, 400, {
        jsonrpc: "2.0",
        error: { code: -32000, message: "Bad Request: Mcp-Session-Id header is required" },
        id: null,
      });
    }
    const server = createV1Server();
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      eventStore: createEventStore(),
      enableDnsRebindingProtection: true,
      allowedHosts: localHosts,
      onsessioninitialized: (id) => void sessions.set(id, transport),
      onsessionclosed: (id) => void sessions.delete(id),
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
      void server.close();
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  });
  await listen(http, port);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

// ---------------------------------------------------------------- plain v2
async function plainV2(): Promise<void> {
  const v2 = await import("@modelcontextprotocol/server");
  let modern: ReturnType<typeof v2.createMcpHandler> | undefined = undefined;
  modern = v2.createMcpHandler(() => createV2Server({ notifier: () => modern?.notify }), {
    legacy: "reject",
    onerror: quiet,
  });
  const sessions = new Map<string, InstanceType<typeof v2.WebStandardStreamableHTTPServerTransport>>();
  const allowedHostnames = ["127.0.0.1", "localhost", "[::1]", "::1"];

  const handler = async (req: Request): Promise<Response> => {
    const refused = v2.hostHeaderValidationResponse(req, allowedHostnames);
    if (refused) return refused;
    if (new URL(req.url).pathname !== "/mcp") return new Response("Not Found", { status: 404 });
    let parsedBody: unknown;
    if (req.method === "POST") {
      try {
        parsedBody = await req.json();
      } catch {
        return jsonRpcError(400, -32700, "Parse error");
      }
    }
    const inbound = v2.classifyInboundRequest({
      httpMethod: req.method,
      protocolVersionHeader: req.headers.get("mcp-protocol-version") ?? undefined,
      mcpMethodHeader: req.headers.get("mcp-method") ?? undefined,
      body: parsedBody,
    });
    if (inbound.kind !== "legacy") return modern.fetch(req, { parsedBody });

    const sid = req.headers.get("mcp-session-id");
    const existing = sid ? sessions.get(sid) : undefined;
    if (existing) return existing.handleRequest(req, { parsedBody });
    if (sid) return jsonRpcError(404, -32001, "Session not found");
    if (req.method !== "POST" || !v2.isInitializeRequest(parsedBody))
      return jsonRpcError(400, -32000, "Bad Request: Mcp-Session-Id header is required");
    const server = createV2Server();
    const transport: InstanceType<typeof v2.WebStandardStreamableHTTPServerTransport> =
      new v2.WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        eventStore: createEventStore(),
        onsessioninitialized: (id: string) => void sessions.set(id, transport),
        onsessionclosed: (id: string) => void sessions.delete(id),
      });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
      void server.close();
    };
    await server.connect(transport);
    return transport.handleRequest(req, { parsedBody });
  };
  await listen(createServer(toNodeHandler(handler, { origin: `http://${HOST}:${port}` })), port);
}

// ---------------------------------------------------------------- protected
/** Start the dev AS, mint a token for `resource`, and return a validator trusting it. */
async function authorization() {
  const as = await startDevAuthorizationServer({ resources: [resource], on_warning: quiet });
  const { access_token } = await as.server.issueAccessToken({ subject: "conformance", resource });
  const provider = new JWTValidator({ issuer: as.issuer, audience: resource, jwks_uri: as.server.metadata.jwks_uri });
  return { issuer: as.issuer, token: access_token, provider };
}

/** The front proxy: forwards everything to `target`, adding the bearer token; Host and Origin untouched. */
async function frontProxy(targetPort: number, token: string): Promise<void> {
  const proxy = createServer((req: IncomingMessage, res: ServerResponse) => {
    const headers = { ...req.headers, authorization: `Bearer ${token}` };
    const upstream = httpRequest({ host: HOST, port: targetPort, method: req.method, path: req.url, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
      res.on("close", () => up.destroy());
    });
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    req.pipe(upstream);
    res.on("close", () => upstream.destroy());
  });
  await listen(proxy, port);
}

async function protectedServer(): Promise<void> {
  const { issuer, token, provider } = await authorization();
  const authz = { enabled: true, authorization_servers: [issuer], resource };
  let backendPort: number;
  // Resumability (SEP-1699) in the protected modes too: the user's transport options pass through.
  const transport = { event_store: createEventStore() };
  if (mode === "mcpserver") {
    const server = new MCPServer(SERVER_INFO.name, {
      version: SERVER_INFO.version,
      engine: "v2",
      authorization: authz,
      on_warning: quiet,
      transport,
      v2_server_options: v2ServerOptions(),
    });
    server.setAuthorizationProvider(provider);
    server.configure((s) => void registerV1(s));
    server.configureV2(
      (s) => void registerV2(s as Parameters<typeof registerV2>[0], { notifier: () => server.notify }),
    );
    const { address } = await server.serve({ port: 0, host: HOST });
    backendPort = Number(new URL(address).port);
  } else {
    // eslint-disable-next-line prefer-const -- read by the factory closure before the handler exists
    let notify: ServerNotifier | undefined;
    const handler =
      sdk === "v1"
        ? protect(() => createV1Server(), { authorization: authz, provider, transport })
        : protect(() => createV2Server({ notifier: () => notify }), {
            authorization: authz,
            provider,
            engine: "v2",
            transport,
          });
    notify = handler.notify;
    backendPort = await listen(createServer(toNodeHandler(handler, { origin: `http://${HOST}:${port}` })), 0);
  }
  await frontProxy(backendPort, token);
}

// ---------------------------------------------------------------- vendored fixtures
/** What conformance/vendor's fixtures export (their `export` edits, conformance/vendor/README.md). */
interface VendoredFixture {
  /** The fixture's own factory: a new `McpServer` (SDK v1 or v2) per session or request. */
  createMcpServer(): { server: FixtureLowLevelServer; connect(transport: unknown): Promise<void> };
  /** The fixture's event store factory (SEP-1699), as its own wiring uses it. */
  createEventStore(): {
    storeEvent(streamId: string, message: unknown): Promise<string>;
    replayEventsAfter(...args: never[]): Promise<string>;
  };
  /** Session id → transport: filled by the fixture's own wiring, read by its `test_reconnection` tool. */
  transports: Record<string, unknown>;
  /** `sdk-v2` only: the fixture's own `createMcpHandler(...)`, whose `notify` its listen triggers call. */
  modernHandler?: { bus: { publish(event: unknown): void; subscribe(listener: (event: never) => void): () => void } };
}
interface FixtureLowLevelServer {
  readonly transport?: { sessionId?: string | undefined } | undefined;
  oninitialized?: (() => void) | undefined;
  onclose?: (() => void) | undefined;
}

const VENDORED = {
  "sdk-v2": "sdk-v2-everything-server.ts",
  "suite-v1": "conformance-v1-everything-server.ts",
} as const;

/** Resolves once something accepts connections on 127.0.0.1:`p`. */
async function waitForPort(p: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const open = await new Promise<boolean>((resolve) => {
      const s = connect(p, HOST);
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the fixture did not listen on ${p} within 60 s`);
}

/**
 * A vendored fixture. Its module starts its own Express app on `PORT` when imported (as its file does):
 * - `plain`: on `--port` — the fixture exactly as its authors run it (its own sessions, event store,
 *   `retryInterval: 5000`, and for `sdk-v2` its own `createMcpHandler` for 2026-07-28);
 * - `protect`: on a Unix socket in a temporary directory (nothing listens on TCP but protect()), and
 *   its `createMcpServer` goes through `protect()` with the same transport options.
 *
 * Two things the fixtures do through their own HTTP wiring, which `protect()` replaces, are wired the
 * way a user of `protect()` would:
 * - their `test_reconnection` tool (SEP-1699) closes the SSE stream through the session's transport
 *   looked up in their `transports` map, filled by their wiring when a session initializes; here it is
 *   filled from the server's own connected transport when the session initializes (the SDKs give
 *   tools the same control directly: `extra.closeSSEStream` in v1, `ctx.http.closeSSE` in v2);
 * - `sdk-v2`'s listen triggers publish on its own handler's bus (`modernHandler.notify`): that bus is
 *   handed to `protect()` as `v2_handler_options.bus`.
 */
async function vendoredFixture(name: keyof typeof VENDORED): Promise<void> {
  const here = dirname(fileURLToPath(import.meta.url));
  process.env.PORT =
    mode === "plain" ? String(port) : join(mkdtempSync(join(tmpdir(), "conformance-fixture-")), "unused.sock");
  // A computed specifier: the fixture is loaded, not type-checked against this project's settings.
  const mod = (await import(pathToFileURL(join(here, "vendor", VENDORED[name])).href)) as VendoredFixture;
  if (mode === "plain") return waitForPort(port);

  const { issuer, token, provider } = await authorization();
  const authz = { enabled: true, authorization_servers: [issuer], resource };
  const transport = { event_store: mod.createEventStore(), retry_interval_ms: 5000 };
  const factory = () => {
    const server = mod.createMcpServer();
    const low = server.server;
    let sessionId: string | undefined;
    const { oninitialized, onclose } = low;
    low.oninitialized = () => {
      sessionId = low.transport?.sessionId;
      if (sessionId) mod.transports[sessionId] = low.transport;
      oninitialized?.();
    };
    low.onclose = () => {
      if (sessionId) delete mod.transports[sessionId];
      onclose?.();
    };
    return server;
  };
  const handler =
    name === "suite-v1"
      ? protect(factory, { authorization: authz, provider, transport })
      : protect(factory, {
          authorization: authz,
          provider,
          engine: "v2",
          transport,
          ...(mod.modernHandler && { v2_handler_options: { bus: mod.modernHandler.bus } }),
        });
  const backendPort = await listen(createServer(toNodeHandler(handler, { origin: `http://${HOST}:${port}` })), 0);
  await frontProxy(backendPort, token);
}

if (fixture) await vendoredFixture(fixture);
else if (mode === "plain") await (sdk === "v1" ? plainV1() : plainV2());
else await protectedServer();
console.log(`READY ${resource}`);
