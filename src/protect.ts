/**
 * `protect()`: an SDK `McpServer` (or a factory for one) behind OAuth, as a Web-standard handler.
 *
 * @module
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ConfigError } from "./errors.js";
import type { ProtectedResourceMetadata } from "./metadata.js";
import { createHandler } from "./protect/handler.js";
import { resolveProtectOptions, type ProtectOptions, type ResolvedProtectOptions } from "./protect/options.js";
import type { HandlerExtras, McpBackend } from "./serving/backend.js";
import { createV1Backend, type McpServerSource } from "./serving/v1.js";
import { createDualBackend, createV2Backend, isMcpHttpHandler, loadSdkV2, type McpHttpHandlerLike } from "./serving/v2.js";

export type { DnsRebindingOptions, ProtectOptions, TrustProxyOptions } from "./protect/options.js";
export type { HandlerExtras } from "./serving/backend.js";
export type { McpServerSource } from "./serving/v1.js";
export type { McpHttpHandlerLike } from "./serving/v2.js";

/**
 * A Web-standard request handler, usable with Hono, Bun, Deno, workers, or {@link toNodeHandler}.
 * `extras` is for adapters (see {@link HandlerExtras}); callers with a plain `Request` omit it.
 */
export type FetchHandler = (req: Request, extras?: HandlerExtras) => Promise<Response>;

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
export function protect(source: McpServerSource | McpHttpHandlerLike | V2ServerFactory, options: ProtectOptions): ProtectedHandler {
  const o = resolveProtectOptions(options);
  let backend: McpBackend;
  if (isMcpHttpHandler(source)) {
    // A handler from the SDK v2's createMcpHandler(): it serves both eras itself.
    backend = createV2Backend(source);
  } else if (o.engine === "v2") {
    if (source instanceof McpServer) {
      throw new ConfigError("protect()", [
        { key: "engine", message: '"v2" needs a v2 server factory or createMcpHandler(...), not a v1 McpServer' },
      ]);
    }
    const factory = source as (ctx: unknown) => unknown;
    backend = createV2Backend(async () => (await loadSdkV2()).createMcpHandler(factory));
  } else {
    backend = v1BackendFor(source as McpServerSource, o);
  }
  return createHandler(backend, o);
}

/**
 * A factory of SDK v2 servers (`@modelcontextprotocol/server`'s `McpServerFactory`), for
 * `engine: "v2"`. Typed loosely so this package does not depend on the optional peer's types.
 */
export type V2ServerFactory = (ctx: { era: "legacy" | "modern"; authInfo?: unknown; requestInfo?: Request }) => unknown;

function v1BackendFor(source: McpServerSource, options: ResolvedProtectOptions): McpBackend {
  const mode = options.session_mode ?? "stateful";
  if (mode === "stateless" && source instanceof McpServer) {
    throw new ConfigError("protect()", [{ key: "session_mode", message: '"stateless" needs a factory, not an McpServer instance' }]);
  }
  return createV1Backend(source, mode, {
    max_sessions: options.max_sessions,
    max_sessions_per_principal: options.max_sessions_per_principal,
    max_anonymous_sessions: options.max_anonymous_sessions,
    idle_timeout_ms: (options.session_idle_timeout ?? 1800) * 1000,
  });
}

/**
 * Both eras on one endpoint, for {@link MCPServer}'s `engine: "v2"`: 2026-07-28 requests through a v2
 * server from `modernFactory`, 2025-era requests through v1 servers from `legacyFactory` (stateful
 * sessions, bound to their principal, unless `session_mode` is `stateless`).
 *
 * @internal
 */
export function protectBothEras(
  modernFactory: (ctx: unknown) => unknown,
  legacyFactory: () => McpServer | Promise<McpServer>,
  options: ProtectOptions,
): ProtectedHandler {
  const o = resolveProtectOptions(options, "MCPServer");
  const modern = async () => (await loadSdkV2()).createMcpHandler(modernFactory, { legacy: "reject" });
  return createHandler(createDualBackend(modern, v1BackendFor(legacyFactory, o)), o);
}
