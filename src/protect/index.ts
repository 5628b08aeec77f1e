/**
 * `protect()`: an SDK `McpServer` (or a factory for one) behind OAuth, as a Web-standard handler.
 *
 * @module
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ConfigError } from "../errors.js";
import { createHandler } from "./handler.js";
import type { ProtectedHandler } from "./types.js";
import { resolveProtectOptions, type ProtectOptions, type ResolvedProtectOptions } from "./options.js";
import type { McpBackend } from "../serving/backend.js";
import { createV1Backend, type McpServerSource } from "../serving/v1.js";
import { DEFAULT_MAX_BODY_BYTES } from "../serving/backend.js";
import { sdkHandlerOptions, sdkTransportOptions } from "../serving/transport-options.js";
import {
  createChangeFeed,
  createDualBackend,
  createEventBus,
  createV2Backend,
  createV2SessionBackend,
  isMcpHttpHandler,
  loadSdkV2,
  notifierFor,
  type McpHttpHandlerLike,
  type ServerNotifierLike,
  type V2Factory,
} from "../serving/v2.js";

export type { DnsRebindingOptions, ProtectOptions, TrustProxyOptions } from "./options.js";
export type { FetchHandler, ProtectedHandler } from "./types.js";
export type { HandlerExtras, HeaderPair } from "../adapters/contract.js";
export type { McpServerSource } from "../serving/v1.js";
export type {
  ListChangedEvent,
  McpHttpHandlerLike,
  ResourceUpdatedEvent,
  ServerEventBusLike,
  ServerEventLike,
  ServerNotifierLike,
} from "../serving/v2.js";
export type {
  EventBusOption,
  EventStoreLike,
  TransportOptions,
  V2HandlerOptions,
} from "../serving/transport-options.js";

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
export function protect(
  source: McpServerSource | McpHttpHandlerLike | V2ServerFactory,
  options: ProtectOptions,
): ProtectedHandler {
  const resolved = resolveProtectOptions(options);
  let backend: McpBackend;
  let notify: ServerNotifierLike | undefined;
  if (isMcpHttpHandler(source)) {
    // A handler from the SDK v2's createMcpHandler(): it serves both eras itself, as it was built.
    backend = createV2Backend(source);
    notify = (source as { notify?: ServerNotifierLike }).notify;
  } else if (resolved.engine === "v2") {
    if (source instanceof McpServer) {
      throw new ConfigError("protect()", [
        { key: "engine", message: '"v2" needs a v2 server factory or createMcpHandler(...), not a v1 McpServer' },
      ]);
    }
    const v2 = v2Serving(source, resolved);
    backend = v2.backend;
    notify = v2.notify;
  } else {
    backend = v1BackendFor(source as McpServerSource, resolved);
  }
  const handler = createHandler(backend, resolved);
  return notify ? Object.assign(handler, { notify }) : handler;
}

/**
 * A v2 server factory behind `protect()`: 2026-07-28 requests through `createMcpHandler` (with the
 * user's `v2_handler_options` and a bus `notify` publishes onto), 2025-era clients through stateful
 * v2 sessions bound to their principal — or, with `session_mode: "stateless"`, the handler's own
 * stateless fallback (no server→client requests).
 */
function v2Serving(
  factory: V2Factory,
  options: ResolvedProtectOptions,
): { backend: McpBackend; notify: ServerNotifierLike } {
  const bus = options.v2_handler_options?.bus ?? createEventBus(options.v2_handler_options?.on_error);
  // The list changes the user's servers emit reach the same principal's listen streams and sessions.
  const feed = createChangeFeed(bus, options.v2_handler_options?.on_error);
  const handlerOptions = {
    ...sdkHandlerOptions(options.v2_handler_options),
    bus: feed.bus,
    maxRequestBodySize: options.max_body_bytes ?? DEFAULT_MAX_BODY_BYTES,
  };
  const notify = notifierFor(bus);
  const watched = feed.watch(factory);
  if (options.session_mode === "stateless") {
    return {
      backend: createV2Backend(
        async () => (await loadSdkV2()).createMcpHandler(watched, { ...handlerOptions, legacy: "stateless" }),
        feed,
      ),
      notify,
    };
  }
  const modern = async () => (await loadSdkV2()).createMcpHandler(watched, { ...handlerOptions, legacy: "reject" });
  return {
    backend: createDualBackend(
      modern,
      createV2SessionBackend(factory, sessionLimits(options), sdkTransportOptions(options.transport), feed),
      feed,
    ),
    notify,
  };
}

/**
 * A factory of SDK v2 servers (`@modelcontextprotocol/server`'s `McpServerFactory`), for
 * `engine: "v2"`. Typed loosely so this package does not depend on the optional peer's types.
 */
export type V2ServerFactory = (ctx: { era: "legacy" | "modern"; authInfo?: unknown; requestInfo?: Request }) => unknown;

function v1BackendFor(source: McpServerSource, options: ResolvedProtectOptions): McpBackend {
  const mode = options.session_mode ?? "stateful";
  if (mode === "stateless" && source instanceof McpServer) {
    throw new ConfigError("protect()", [
      { key: "session_mode", message: '"stateless" needs a factory, not an McpServer instance' },
    ]);
  }
  return createV1Backend(source, mode, sessionLimits(options), sdkTransportOptions(options.transport));
}

function sessionLimits(options: ResolvedProtectOptions) {
  return {
    max_sessions: options.max_sessions,
    max_sessions_per_principal: options.max_sessions_per_principal,
    max_anonymous_sessions: options.max_anonymous_sessions,
    idle_timeout_ms: (options.session_idle_timeout_seconds ?? 1800) * 1000,
  };
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
  const resolved = resolveProtectOptions(options, "MCPServer");
  const bus = resolved.v2_handler_options?.bus ?? createEventBus(resolved.v2_handler_options?.on_error);
  const feed = createChangeFeed(bus, resolved.v2_handler_options?.on_error);
  const handlerOptions = {
    ...sdkHandlerOptions(resolved.v2_handler_options),
    bus: feed.bus,
    maxRequestBodySize: resolved.max_body_bytes ?? DEFAULT_MAX_BODY_BYTES,
    legacy: "reject",
  };
  const modern = async () => (await loadSdkV2()).createMcpHandler(feed.watch(modernFactory), handlerOptions);
  return Object.assign(
    createHandler(createDualBackend(modern, v1BackendFor(legacyFactory, resolved), feed), resolved),
    {
      notify: notifierFor(bus),
    },
  );
}
