/**
 * Serving through the SDK v2 (`@modelcontextprotocol/server` ≥ 2.4, protocol revision 2026-07-28
 * with its 2025-era fallback) once the request has been authorized.
 *
 * The v2 handler "performs no token verification: `authInfo` given to `fetch` is passed through" —
 * that is exactly the seam: `protect()` verifies, then hands the handler the principal as `authInfo`
 * and the body it already read and parsed.
 *
 * Nothing here imports the v2 packages at load time: a handler you built is used as it is (it is
 * only called), and the package is imported on first use only where this module has to build one
 * (`engine: "v2"`). The v1 path never loads v2.
 *
 * @module
 */
import { runWithContext } from "../context.js";

import { sessionRequired } from "../responses.js";
import type { SessionLimits } from "../sessions.js";
import type { McpBackend, McpExchange } from "./backend.js";
import { boundSessions } from "./bound-sessions.js";

/**
 * The shape of what `createMcpHandler()` (SDK v2) returns, as far as `protect()` needs it. Structural,
 * so this package's types do not depend on the optional peer.
 */
export interface McpHttpHandlerLike {
  /** Serve one request; `authInfo` and `parsedBody` are passed through by the SDK. */
  fetch(request: Request, options?: { authInfo?: unknown; parsedBody?: unknown }): Promise<Response>;
  /** Tear down in-flight exchanges. */
  close(): Promise<void>;
}

/** Whether a value is an SDK v2 handler (`{ fetch, close }`), as opposed to a v1 server or factory. */
export function isMcpHttpHandler(v: unknown): v is McpHttpHandlerLike {
  return (
    typeof v === "object" &&
    v !== null &&
    typeof (v as McpHttpHandlerLike).fetch === "function" &&
    typeof (v as McpHttpHandlerLike).close === "function"
  );
}

/** The parts of `@modelcontextprotocol/server` this module uses. */
export interface SdkV2Module {
  /** `createMcpHandler(factory, options)`. */
  createMcpHandler(factory: V2Factory, options?: Record<string, unknown>): McpHttpHandlerLike;
  /** `isLegacyRequest(request, parsedBody)`. */
  isLegacyRequest(request: Request, parsedBody?: unknown): Promise<boolean>;
  /** The v2 `McpServer` class. */
  McpServer: new (info: { name: string; version: string }, options?: Record<string, unknown>) => object;
  /** `isInitializeRequest(message)`. */
  isInitializeRequest(message: unknown): boolean;
  /** The v2 stateful Streamable HTTP transport (2025-era sessions). */
  WebStandardStreamableHTTPServerTransport: new (options: Record<string, unknown>) => V2TransportLike;
}

/** The parts of the v2 `WebStandardStreamableHTTPServerTransport` used here. */
export interface V2TransportLike {
  readonly sessionId?: string | undefined;
  onclose?: (() => void) | undefined;
  handleRequest(request: Request, options?: { authInfo?: unknown; parsedBody?: unknown }): Promise<Response>;
  close(): Promise<void>;
}

/** What a v2 server factory yields (an `McpServer` or a low-level `Server`), as far as sessions need it. */
interface V2ServerLike {
  connect(transport: V2TransportLike): Promise<void>;
  close(): Promise<void>;
}

/** A v2 server factory (`McpServerFactory`), loosely typed. */
export type V2Factory = (ctx: { era: "legacy" | "modern"; authInfo?: unknown; requestInfo?: Request }) => unknown;

/** A change event for `subscriptions/listen` streams (the SDK v2's `ServerEvent`). */
export type ServerEventLike = ListChangedEvent | ResourceUpdatedEvent;

/** A list of tools, prompts or resources changed. */
export interface ListChangedEvent {
  /** Which list. */
  kind: "tools_list_changed" | "prompts_list_changed" | "resources_list_changed";
  /** Extra notification params, if any. */
  params?: Record<string, unknown>;
}

/** One resource changed. */
export interface ResourceUpdatedEvent {
  /** Discriminator. */
  kind: "resource_updated";
  /** The resource's URI. */
  uri: string;
  /** Extra notification params, if any. */
  params?: Record<string, unknown>;
}

/** A change-event bus (the SDK v2's `ServerEventBus`). */
export interface ServerEventBusLike {
  /** Deliver an event to every listener. */
  publish(event: ServerEventLike): void;
  /** Add a listener; returns the function that removes it. */
  subscribe(listener: (event: ServerEventLike) => void): () => void;
}

/**
 * Publishes list-changed events to the open `subscriptions/listen` streams (2026-07-28) of a v2
 * handler: the same methods as the SDK v2's `ServerNotifier` (`handler.notify`).
 */
export interface ServerNotifierLike {
  /** `notifications/tools/list_changed`. */
  toolsChanged(): void;
  /** `notifications/prompts/list_changed`. */
  promptsChanged(): void;
  /** `notifications/resources/list_changed`. */
  resourcesChanged(): void;
  /** `notifications/resources/updated` for `uri`. */
  resourceUpdated(uri: string): void;
}

/**
 * An in-process event bus, built without loading the SDK v2 so that `notify` exists before the first
 * request (the handler itself is built on first use). A throwing listener does not stop the others.
 */
export function createEventBus(onerror?: (error: Error) => void): ServerEventBusLike {
  const listeners = new Set<(event: ServerEventLike) => void>();
  return {
    publish(event) {
      for (const listener of [...listeners]) {
        try {
          listener(event);
        } catch (e) {
          onerror?.(e instanceof Error ? e : new Error(String(e)));
        }
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}

/** The `notify` facade over `bus`. */
export function notifierFor(bus: ServerEventBusLike): ServerNotifierLike {
  return {
    toolsChanged: () => bus.publish({ kind: "tools_list_changed" }),
    promptsChanged: () => bus.publish({ kind: "prompts_list_changed" }),
    resourcesChanged: () => bus.publish({ kind: "resources_list_changed" }),
    resourceUpdated: (uri: string) => bus.publish({ kind: "resource_updated", uri }),
  };
}

let sdkV2: Promise<SdkV2Module> | undefined;

/** Import the optional peer `@modelcontextprotocol/server` once, with a clear error when it is missing. */
export function loadSdkV2(): Promise<SdkV2Module> {
  sdkV2 ??= import("@modelcontextprotocol/server").then(
    (m) => m as SdkV2Module,
    (e: unknown) => {
      sdkV2 = undefined;
      throw new Error(
        'protected-mcp: engine "v2" needs the optional peer dependency "@modelcontextprotocol/server" (>= 2.4): npm install @modelcontextprotocol/server',
        { cause: e },
      );
    },
  );
  return sdkV2;
}

/**
 * Serve every authorized request through a v2 handler (modern requests and its own 2025-era
 * fallback). Once the handler exists it is called directly: no await of a settled promise per request.
 */
export function createV2Backend(handler: McpHttpHandlerLike | (() => Promise<McpHttpHandlerLike>)): McpBackend {
  let built: McpHttpHandlerLike | undefined = typeof handler === "function" ? undefined : handler;
  let building: Promise<McpHttpHandlerLike> | undefined;
  const serve = (h: McpHttpHandlerLike, { req, authInfo, parsedBody, context }: McpExchange): Promise<Response> =>
    runWithContext(context, () => h.fetch(req, { authInfo, parsedBody }));
  return {
    handle(exchange: McpExchange): Promise<Response> {
      if (built) return serve(built, exchange);
      building ??= (handler as () => Promise<McpHttpHandlerLike>)().then((h) => (built = h));
      return building.then((h) => serve(h, exchange));
    },
    async close() {
      const h = built ?? (building ? await building : undefined);
      if (h) await h.close();
    },
  };
}

/**
 * Both eras on one endpoint with sessions kept for 2025-era clients: modern (2026-07-28) requests go
 * to the v2 handler (built with `legacy: "reject"`), 2025-era requests to the v1 backend (stateful
 * sessions bound to their principal). The split uses the SDK's own `isLegacyRequest`, on the body
 * already parsed, so the two can never disagree.
 */
export function createDualBackend(modern: () => Promise<McpHttpHandlerLike>, legacy: McpBackend): McpBackend {
  const v2 = createV2Backend(modern);
  return {
    checkSession: legacy.checkSession?.bind(legacy),
    async handle(exchange: McpExchange): Promise<Response> {
      const sdk = await loadSdkV2();
      const isLegacy = await sdk.isLegacyRequest(exchange.req, exchange.parsedBody);
      return isLegacy ? legacy.handle(exchange) : v2.handle(exchange);
    },
    async close() {
      await Promise.all([v2.close(), legacy.close()]);
    },
  };
}

interface V2Session {
  transport: V2TransportLike;
  server: V2ServerLike;
}

/**
 * 2025-era clients of a v2 server factory, served like the SDK v2's own stateful wiring: a server from
 * `factory({ era: "legacy" })` per `Mcp-Session-Id` session, over the v2
 * `WebStandardStreamableHTTPServerTransport`, so server→client requests (sampling, elicitation) come
 * back on the session. Sessions are bound (`bound-sessions.ts`) to the principal that opened
 * them exactly like the v1 backend's: another principal's session id is a `SessionMismatch`
 * (answered like an unknown session).
 *
 * @param transportOptions - the user's SDK transport options (camelCase, already checked).
 */
export function createV2SessionBackend(
  factory: V2Factory,
  limits: SessionLimits,
  transportOptions: Readonly<Record<string, unknown>> = {},
): McpBackend {
  const closeSession = (s: V2Session): void => {
    void s.transport.close().catch(() => {});
    void s.server.close().catch(() => {});
  };
  const sessions = boundSessions<V2Session>(limits, closeSession);
  return {
    checkSession: (req, principal) => sessions.checkSession(req, principal),

    async handle(exchange: McpExchange): Promise<Response> {
      const inSession = sessions.serve(exchange);
      if (inSession) return inSession;
      const { req, authInfo, parsedBody, context, principal } = exchange;
      const sdk = await loadSdkV2();
      const isInit = Array.isArray(parsedBody) ? parsedBody.some((m) => sdk.isInitializeRequest(m)) : sdk.isInitializeRequest(parsedBody);
      if (!isInit) return sessionRequired();
      const server = (await factory({ era: "legacy", ...(authInfo !== undefined && { authInfo }), requestInfo: req })) as V2ServerLike;
      const transport: V2TransportLike = new sdk.WebStandardStreamableHTTPServerTransport(
        sessions.transportOptions(transportOptions, principal, () => ({ transport, server })),
      );
      sessions.forgetOnClose(transport);
      await server.connect(transport);
      const res = await runWithContext(context, () => transport.handleRequest(req, { authInfo, parsedBody }));
      if (!transport.sessionId) closeSession({ transport, server });
      return res;
    },

    async close() {
      sessions.clear();
    },
  };
}
