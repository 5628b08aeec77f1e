/**
 * `protect()`: an SDK `McpServer` (or a factory for one) behind OAuth, as a Web-standard handler.
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { LRUCache } from "lru-cache";
import { authenticate, type DpopCheck } from "./authenticate.js";
import { challengeResponse, type ChallengeOptions } from "./challenges.js";
import { createDpopCheck, type DpopOptions } from "./dpop/check.js";
import { parseAuthorizationConfig, type AuthorizationConfig, type ResolvedAuthorizationConfig } from "./config.js";
import { runWithContext, toAuthInfo, type AuthContext } from "./context.js";
import { AuthError, SessionMismatch } from "./errors.js";
import { emitSafely, type AuthEventListener } from "./events.js";
import { buildProtectedResourceMetadata, metadataPaths, resourceMetadataUrl, type ProtectedResourceMetadata } from "./metadata.js";
import type { AuthorizationProvider } from "./validators/provider.js";

/** A Web-standard request handler, usable with Hono, Bun, Deno, workers, or {@link toNodeHandler}. */
export type FetchHandler = (req: Request) => Promise<Response>;

/** The handler returned by {@link protect}: a {@link FetchHandler} with a few extras. */
export interface ProtectedHandler extends FetchHandler {
  /** The canonical resource URI the handler protects. */
  readonly resource: string;
  /** The RFC 9728 document it serves. */
  readonly metadata: ProtectedResourceMetadata;
  /** Whether a path is served by this handler (the MCP endpoint or a metadata path). */
  handles(path: string): boolean;
  /** Close every open session. */
  close(): Promise<void>;
}

/** Something that yields an SDK server: an instance, or a factory called once per session (stateful) or per request (stateless). */
export type McpServerSource = McpServer | (() => McpServer | Promise<McpServer>);

/** Options of {@link protect}. */
export interface ProtectOptions {
  /** The authorization config (validated here; the caller's object is not kept or mutated). */
  authorization: AuthorizationConfig;
  /** The token checker. Required when `authorization.enabled` is true. */
  provider?: AuthorizationProvider | undefined;
  /**
   * `stateful` (default): `Mcp-Session-Id` sessions, each bound to the principal that opened it.
   * `stateless`: a fresh server per request (needs a factory); every request is self-contained.
   */
  session_mode?: "stateful" | "stateless";
  /** Most concurrent sessions; the least recently used is closed beyond it. Default 1000. */
  max_sessions?: number;
  /** Seconds an idle session is kept. Default 1800. */
  session_idle_timeout?: number;
  /** CORS origins allowed on the MCP endpoint: `"*"` (default; tokens are not cookies) or a list. */
  cors_origins?: "*" | string[];
  /** Scopes used by tools, advertised in the metadata when `scopes_supported` is not configured. */
  tool_scopes?: readonly string[];
  /**
   * DPoP (RFC 9449). Default: on, with {@link createDpopCheck}'s defaults (in-memory replay store),
   * so tokens bound with `cnf.jkt` are verified and DPoP is advertised in challenges and metadata.
   * Pass options (e.g. a shared `replay_store`, nonces), a ready {@link DpopCheck}, or `false` to
   * accept bearer tokens only (bound tokens are then refused).
   */
  dpop?: DpopOptions | DpopCheck | false | undefined;
  /** Receives every auth decision (no token material). */
  onAuthEvent?: AuthEventListener | undefined;
}

function resolveDpop(o: ProtectOptions["dpop"]): DpopCheck | undefined {
  if (o === false) return undefined;
  if (o && typeof (o as DpopCheck).verify === "function") return o as DpopCheck;
  return createDpopCheck((o ?? {}) as DpopOptions);
}

interface Session {
  transport: WebStandardStreamableHTTPServerTransport;
  server: McpServer;
  principal: string;
}

const CORS_ALLOW_HEADERS = "Authorization, Content-Type, DPoP, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID";
const CORS_EXPOSE_HEADERS = "WWW-Authenticate, Mcp-Session-Id, DPoP-Nonce, Retry-After";

/** Who may use a session: issuer, subject and client together. */
function principalOf(auth: AuthContext | null): string {
  return auth ? JSON.stringify([auth.issuer ?? "", auth.subject, auth.client_id ?? ""]) : "anonymous";
}

/**
 * Put an MCP server behind OAuth 2.1 resource-server checks.
 *
 * Every request to the MCP endpoint is authorized (not only `initialize`); the RFC 9728 metadata is
 * served at `metadata_path` and at the path-inserted form for the endpoint. The endpoint path is the
 * path of `authorization.resource` (e.g. `/mcp`).
 *
 * Pass a factory when more than one client connects: an SDK `McpServer` talks to one transport at a
 * time, so a single instance serves one session at a time (a second `initialize` is refused while the
 * first session is open).
 *
 * @example
 * ```ts
 * const handler = protect(() => buildMyMcpServer(), {
 *   authorization: { enabled: true, authorization_servers: ["https://auth.example.com"],
 *                    resource: "https://mcp.example.com/mcp" },
 *   provider: new JWTValidator({ jwks_uri, issuer, audience: "https://mcp.example.com/mcp" }),
 * });
 * http.createServer(toNodeHandler(handler)).listen(8000);
 * ```
 */
export function protect(source: McpServerSource, options: ProtectOptions): ProtectedHandler {
  const config = parseAuthorizationConfig(options.authorization);
  if (config.enabled && !config.resource) {
    throw new TypeError('protect(): "authorization.resource" (the canonical URL of the MCP endpoint) is required when enabled');
  }
  if (config.enabled && !options.provider) {
    throw new TypeError('protect(): "provider" is required when authorization is enabled');
  }
  if (config.dpop_required && options.dpop === false) {
    throw new TypeError('protect(): "authorization.dpop_required" needs DPoP, but "dpop" is false');
  }
  const mode = options.session_mode ?? "stateful";
  if (mode === "stateless" && source instanceof McpServer) {
    throw new TypeError('protect(): session_mode "stateless" needs a factory, not an McpServer instance');
  }
  return createHandler(source, config, options, mode);
}

function createHandler(
  source: McpServerSource,
  config: Readonly<ResolvedAuthorizationConfig>,
  options: ProtectOptions,
  mode: "stateful" | "stateless",
): ProtectedHandler {
  const resource = config.resource ?? "http://localhost/mcp";
  const endpointPath = new URL(resource).pathname;
  const dpop = resolveDpop(options.dpop);
  const metadata = buildProtectedResourceMetadata(config, {
    resource,
    toolScopes: options.tool_scopes ?? [],
    ...(dpop ? { dpopAlgorithms: dpop.algorithms } : {}),
  });
  const metadataBody = JSON.stringify(metadata);
  // With authorization disabled there is nothing to advertise: no metadata is served.
  const wellKnown = new Set(config.enabled ? metadataPaths(config.metadata_path, resource) : []);
  const challenge: ChallengeOptions = {
    resourceMetadataUrl: resourceMetadataUrl(config.metadata_path, resource),
    scopes: config.required_scopes,
    ...(dpop ? { dpopAlgorithms: dpop.algorithms, dpopRequired: config.dpop_required } : {}),
  };
  const corsOrigins = options.cors_origins ?? "*";
  const emit = options.onAuthEvent;

  let instanceInUse = false;
  const acquireServer = async (): Promise<McpServer | undefined> => {
    if (!(source instanceof McpServer)) return source();
    if (instanceInUse) return undefined;
    instanceInUse = true;
    return source;
  };
  const releaseServer = async (server: McpServer): Promise<void> => {
    if (server === source) instanceInUse = false;
    else await server.close().catch(() => {});
  };

  const sessions = new LRUCache<string, Session>({
    max: options.max_sessions ?? 1000,
    ttl: (options.session_idle_timeout ?? 1800) * 1000,
    updateAgeOnGet: true,
    dispose: (session) => {
      void session.transport.close().catch(() => {});
      void releaseServer(session.server);
    },
  });

  const corsHeaders = (req: Request, publicDocument: boolean): Headers => {
    const h = new Headers();
    const origin = req.headers.get("origin");
    if (publicDocument || corsOrigins === "*") h.set("Access-Control-Allow-Origin", "*");
    else if (origin && corsOrigins.includes(origin)) {
      h.set("Access-Control-Allow-Origin", origin);
      h.set("Vary", "Origin");
    }
    h.set("Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
    return h;
  };

  /** Add `extra` to the transport's response: in place when its headers are mutable (the usual case), else on a copy. */
  const withHeaders = (res: Response, extra: Headers): Response => {
    try {
      extra.forEach((v, k) => res.headers.set(k, v));
      return res;
    } catch {
      // Immutable headers (e.g. a Response.error() or a fetched response): re-wrap.
      const headers = new Headers(res.headers);
      extra.forEach((v, k) => headers.set(k, v));
      return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
    }
  };

  const refuse = (err: AuthError, req: Request): Response => {
    const res = challengeResponse(err, challenge, corsHeaders(req, false));
    emitSafely(emit, { type: "refused", code: err.code, status: res.status });
    return res;
  };

  const serveMetadata = (req: Request): Response => {
    const h = corsHeaders(req, true);
    if (req.method === "OPTIONS") {
      h.set("Access-Control-Allow-Methods", "GET, OPTIONS");
      h.set("Access-Control-Allow-Headers", "MCP-Protocol-Version, Content-Type");
      h.set("Access-Control-Max-Age", "86400");
      return new Response(null, { status: 204, headers: h });
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      h.set("Allow", "GET, HEAD, OPTIONS");
      return new Response(null, { status: 405, headers: h });
    }
    h.set("Content-Type", "application/json");
    h.set("Cache-Control", `public, max-age=${config.cache_ttl}`);
    return new Response(req.method === "HEAD" ? null : metadataBody, { status: 200, headers: h });
  };

  const handleMcp = async (req: Request, auth: AuthContext | null): Promise<Response> => {
    const handleOptions = auth ? { authInfo: toAuthInfo(auth, resource) } : {};
    const context = { auth, authorization_enabled: config.enabled };

    if (mode === "stateless") {
      const server = (await acquireServer()) as McpServer;
      const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      await server.connect(transport);
      try {
        return await runWithContext(context, () => transport.handleRequest(req, handleOptions));
      } finally {
        void transport.close().catch(() => {});
        void releaseServer(server);
      }
    }

    const sessionId = req.headers.get("mcp-session-id");
    const principal = principalOf(auth);
    if (sessionId) {
      // Ownership was checked by assertSessionOwner before the request was accepted.
      const session = sessions.get(sessionId);
      if (!session) {
        return Response.json({ jsonrpc: "2.0", error: { code: -32001, message: "Session not found" }, id: null }, { status: 404 });
      }
      return runWithContext(context, () => session.transport.handleRequest(req, handleOptions));
    }

    // No session: only an initialize request may open one. Parse the body once and hand it on.
    let body: unknown;
    if (req.method === "POST") {
      try {
        body = await req.json();
      } catch {
        return Response.json({ jsonrpc: "2.0", error: { code: -32700, message: "Parse error" }, id: null }, { status: 400 });
      }
    }
    const isInit = Array.isArray(body) ? body.some((m) => isInitializeRequest(m)) : isInitializeRequest(body);
    if (!isInit) {
      return Response.json(
        { jsonrpc: "2.0", error: { code: -32000, message: "Bad Request: Mcp-Session-Id header is required" }, id: null },
        { status: 400 },
      );
    }
    const server = await acquireServer();
    if (!server) {
      return Response.json(
        { jsonrpc: "2.0", error: { code: -32000, message: "This server serves one session at a time" }, id: null },
        { status: 409 },
      );
    }
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, server, principal });
      },
      onsessionclosed: (id) => {
        sessions.delete(id);
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    const res = await runWithContext(context, () => transport.handleRequest(req, { ...handleOptions, parsedBody: body }));
    if (!transport.sessionId) {
      void transport.close().catch(() => {});
      void releaseServer(server);
    }
    return res;
  };

  /** Session ids are not credentials: a session may only be used by the principal that opened it. */
  const assertSessionOwner = (req: Request, auth: AuthContext | null): void => {
    const sessionId = req.headers.get("mcp-session-id");
    const session = sessionId ? sessions.peek(sessionId) : undefined;
    if (session && session.principal !== principalOf(auth)) throw new SessionMismatch();
  };

  const handler = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    if (wellKnown.has(path)) return serveMetadata(req);
    if (path !== endpointPath) return new Response("Not Found", { status: 404, headers: { "Content-Type": "text/plain" } });

    const cors = corsHeaders(req, false);
    if (req.method === "OPTIONS") {
      cors.set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
      cors.set("Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
      cors.set("Access-Control-Max-Age", "86400");
      return new Response(null, { status: 204, headers: cors });
    }

    try {
      let auth: AuthContext | null = null;
      if (config.enabled) {
        auth = await authenticate(req, { config, provider: options.provider as AuthorizationProvider, resource, dpop, onAuthEvent: emit });
        if (mode === "stateful") assertSessionOwner(req, auth);
        if (auth) emitSafely(emit, { type: "accepted", subject: auth.subject, client_id: auth.client_id, scopes: auth.scopes, jkt: auth.jkt });
      }
      return withHeaders(await handleMcp(req, auth), cors);
    } catch (e) {
      if (e instanceof AuthError) return refuse(e, req);
      throw e;
    }
  };

  return Object.assign(handler, {
    resource,
    metadata,
    handles: (path: string) => path === endpointPath || wellKnown.has(path),
    async close() {
      sessions.clear();
    },
  });
}
