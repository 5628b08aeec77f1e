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
import { createHash, randomUUID } from "node:crypto";
import { getContext, runWithContext } from "../context/storage.js";
import { type RequestContext } from "../context/types.js";

import { sessionRequired } from "../protect/responses.js";
import type { SessionLimits } from "./sessions.js";
import type { McpBackend, AuthorizedRequest } from "./backend.js";
import { boundSessions } from "./bound-sessions.js";

/**
 * The shape of what `createMcpHandler()` (SDK v2) returns, as far as `protect()` needs it. Structural,
 * so this package's types do not depend on the optional peer.
 */
export interface McpHttpHandlerLike {
  /** Serve one request; `authInfo` and `parsedBody` are passed through by the SDK. */
  fetch(request: Request, options?: { authInfo?: unknown; parsedBody?: unknown }): Promise<Response>;
  /** Tear down in-flight requests. */
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
export function createV2Backend(
  handler: McpHttpHandlerLike | (() => Promise<McpHttpHandlerLike>),
  feed?: ChangeFeed,
): McpBackend {
  let built: McpHttpHandlerLike | undefined = typeof handler === "function" ? undefined : handler;
  let building: Promise<McpHttpHandlerLike> | undefined;
  const serve = (h: McpHttpHandlerLike, authorized: AuthorizedRequest): Promise<Response> => {
    const { req, authInfo, parsedBody, context } = authorized;
    feed?.enter(authorized);
    return runWithContext(context, () => h.fetch(req, { authInfo, parsedBody }));
  };
  return {
    handle(authorized: AuthorizedRequest): Promise<Response> {
      if (built) return serve(built, authorized);
      building ??= (handler as () => Promise<McpHttpHandlerLike>)().then((h) => (built = h));
      return building.then((h) => serve(h, authorized));
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
export function createDualBackend(
  modern: () => Promise<McpHttpHandlerLike>,
  legacy: McpBackend,
  feed?: ChangeFeed,
): McpBackend {
  const v2 = createV2Backend(modern, feed);
  return {
    findSession: legacy.findSession?.bind(legacy),
    async handle(authorized: AuthorizedRequest): Promise<Response> {
      const sdk = await loadSdkV2();
      const isLegacy = await sdk.isLegacyRequest(authorized.req, authorized.parsedBody);
      return isLegacy ? legacy.handle(authorized) : v2.handle(authorized);
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
 * With a {@link ChangeFeed}, each session's server publishes its list changes for its principal, and
 * gets those published elsewhere (see {@link createChangeFeed}).
 *
 * @param transportOptions - the user's SDK transport options (camelCase, already checked).
 */
export function createV2SessionBackend(
  factory: V2Factory,
  limits: SessionLimits,
  transportOptions: Readonly<Record<string, unknown>> = {},
  feed?: ChangeFeed,
): McpBackend {
  const closeSession = (s: V2Session): void => {
    void s.transport.close().catch(() => {});
    void s.server.close().catch(() => {});
  };
  const sessions = boundSessions<V2Session>(limits, closeSession);
  return {
    findSession: (req, principal) => sessions.findSession(req, principal),

    async handle(authorized: AuthorizedRequest): Promise<Response> {
      const inSession = sessions.serve(authorized);
      if (inSession) return inSession;
      const { req, authInfo, parsedBody, context, principal } = authorized;
      const sdk = await loadSdkV2();
      const isInit = Array.isArray(parsedBody)
        ? parsedBody.some((m) => sdk.isInitializeRequest(m))
        : sdk.isInitializeRequest(parsedBody);
      if (!isInit) return sessionRequired();
      const server = (await factory({
        era: "legacy",
        ...(authInfo !== undefined && { authInfo }),
        requestInfo: req,
      })) as V2ServerLike;
      feed?.attachSession(server, principal);
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
      feed?.close();
    },
  };
}

// ---------------------------------------------------------------- list changes of the user's servers

/** The notifications a server sends when its lists change, and the bus event each one is. */
const CHANGE_KINDS: Readonly<Record<string, ServerEventLike["kind"]>> = {
  "notifications/tools/list_changed": "tools_list_changed",
  "notifications/prompts/list_changed": "prompts_list_changed",
  "notifications/resources/list_changed": "resources_list_changed",
  "notifications/resources/updated": "resource_updated",
};

/** The capability that says a server emits each list's changes (`capabilities.<list>.listChanged`). */
const LIST_OF: Readonly<Partial<Record<ServerEventLike["kind"], "tools" | "prompts" | "resources">>> = {
  tools_list_changed: "tools",
  prompts_list_changed: "prompts",
  resources_list_changed: "resources",
};

const METHOD_OF: Readonly<Record<ServerEventLike["kind"], string>> = {
  tools_list_changed: "notifications/tools/list_changed",
  prompts_list_changed: "notifications/prompts/list_changed",
  resources_list_changed: "notifications/resources/list_changed",
  resource_updated: "notifications/resources/updated",
};

/**
 * The property of a bus event published for one principal's clients only (a server's own list change).
 * A plain string-keyed object, so that it survives a bus that serializes events across processes: the
 * principal travels as a SHA-256 digest of its key, never as issuer and subject.
 */
export const EVENT_SCOPE_KEY = "protected_mcp_scope";

/** Who a scoped event is for, and which server sent it. */
interface EventScope {
  /** Digest of the principal's key. */
  principal: string;
  /** The server instance that emitted it (a session's server already told its own client). */
  origin: string;
}

type ScopedEvent = ServerEventLike & { [EVENT_SCOPE_KEY]?: EventScope };

/** A JSON-RPC notification as the SDKs' `Protocol.notification` takes it. */
interface NotificationLike {
  method: string;
  params?: Record<string, unknown>;
}

/** The low-level server (`Server` of either SDK) behind what a factory returns, as far as list changes need it. */
interface LowLevelServerLike {
  notification: (this: LowLevelServerLike, notification: NotificationLike, options?: unknown) => Promise<void>;
  getCapabilities?(): Record<string, { listChanged?: boolean } | undefined> | undefined;
  onclose?: (() => void) | undefined;
}

const digest = (principal: string): string => createHash("sha256").update(principal).digest("base64url");

/** `McpServer` → its `.server`; a low-level `Server` → itself; anything else → `undefined`. */
function lowLevelServer(product: unknown): LowLevelServerLike | undefined {
  if (typeof product !== "object" || product === null) return undefined;
  const inner = (product as { server?: unknown }).server;
  const low = typeof inner === "object" && inner !== null ? inner : product;
  return typeof (low as LowLevelServerLike).notification === "function" ? (low as LowLevelServerLike) : undefined;
}

/**
 * Make `server` report every list-change notification it sends (`registerTool` after connect,
 * `sendToolListChanged()`, enabling, disabling, removing or updating a tool, prompt or resource,
 * `sendResourceUpdated`) to `onChange`, before sending it as it would have. Returns the unwrapped
 * `notification` bound to the server, to send without reporting.
 */
function reportChanges(
  server: LowLevelServerLike,
  onChange: (event: ServerEventLike) => void,
): (n: NotificationLike) => Promise<void> {
  const send = server.notification;
  server.notification = function (
    this: LowLevelServerLike,
    notification: NotificationLike,
    options?: unknown,
  ): Promise<void> {
    const kind = typeof notification?.method === "string" ? CHANGE_KINDS[notification.method] : undefined;
    if (kind) onChange(toEvent(kind, notification.params));
    return send.call(this, notification, options);
  };
  return (n) => send.call(server, n);
}

function toEvent(kind: ServerEventLike["kind"], params: Record<string, unknown> | undefined): ServerEventLike {
  if (kind === "resource_updated") {
    const uri = params?.["uri"];
    return { kind, uri: typeof uri === "string" ? uri : "", ...(params && { params }) };
  }
  return { kind, ...(params && { params }) };
}

/**
 * One change feed for everything `protect()` serves from a v2 factory: the list changes the user's
 * servers emit reach the clients of the same principal in both eras, with no call to `handler.notify`.
 *
 * - A server `protect()` made for principal P (a 2026-07-28 request's, or a 2025-era session's) that
 *   sends `notifications/{tools,prompts,resources}/list_changed` or `notifications/resources/updated`
 *   publishes it on the bus **for P only**: P's open `subscriptions/listen` streams get it (filtered
 *   by their own subscription filter, as the SDK does), and so do P's other 2025-era sessions (list
 *   changes only, and only where the session's server declares `listChanged` for that list; the
 *   session that sent it told its own client already). Another principal's streams and sessions do not:
 *   a server is built per principal (the factory gets its `authInfo`), and what it says about its lists
 *   is about what that principal is served. To tell every client, use `handler.notify`.
 * - An event published on the bus without a scope (`handler.notify.*`, or your own publisher on a
 *   `v2_handler_options.bus`) reaches every listen stream, as before, and every 2025-era session whose
 *   server declares `listChanged` for that list (`resource_updated` only reaches listen streams that
 *   asked for that URI: a 2025 session's subscriptions are the server's own to track).
 */
export interface ChangeFeed {
  /** The bus to give `createMcpHandler`: its subscribers see unscoped events and those of their own principal. */
  readonly bus: ServerEventBusLike;
  /** Wrap a v2 server factory: each server it returns publishes its list changes for the principal of the request. */
  watch(factory: V2Factory): V2Factory;
  /** Record the principal of a request about to reach the handler (read back in `watch` and `bus.subscribe`). */
  enter(authorized: AuthorizedRequest): void;
  /** A 2025-era session's server: publishes its changes for `principal`, and gets the changes published elsewhere. */
  attachSession(server: unknown, principal: string): void;
  /** Stop delivering to sessions. */
  close(): void;
}

/** A 2025-era session on the change feed: whose it is, which server sent what it says itself, how to tell it. */
interface SessionSink {
  /** Digest of the session's principal. */
  principal: string;
  /** Tags the events its own server published (its client was told already). */
  origin: string;
  server: LowLevelServerLike;
  send: (n: NotificationLike) => Promise<void>;
}

/** Whether a session's server declares `listChanged` for `list` (a throwing server does not). */
function declaresListChanged(server: LowLevelServerLike, list: string): boolean {
  try {
    return server.getCapabilities?.()?.[list]?.listChanged === true;
  } catch {
    return false;
  }
}

/**
 * Deliver a list change to the 2025-era sessions that should see it: every session for an unscoped event,
 * else the principal's other sessions; only where the session's server declares `listChanged` for the list.
 */
function deliverToSessions(sinks: Iterable<SessionSink>, event: ScopedEvent, onerror?: (error: Error) => void): void {
  const list = LIST_OF[event.kind];
  if (!list) return;
  const scope = event[EVENT_SCOPE_KEY];
  for (const sink of sinks) {
    if (scope && (scope.origin === sink.origin || scope.principal !== sink.principal)) continue;
    if (!declaresListChanged(sink.server, list)) continue;
    const params = event.params;
    sink.send({ method: METHOD_OF[event.kind], ...(params && { params }) }).catch((e: unknown) => {
      onerror?.(e instanceof Error ? e : new Error(String(e)));
    });
  }
}

/** Build the {@link ChangeFeed} over `inner` (the user's `v2_handler_options.bus`, or an in-process bus). */
export function createChangeFeed(inner: ServerEventBusLike, onerror?: (error: Error) => void): ChangeFeed {
  const principals = new WeakMap<RequestContext, string>();
  const current = (): string | undefined => principals.get(getContext());
  const publishFor = (principal: string, origin: string, event: ServerEventLike): void => {
    const scoped: ScopedEvent = { ...event, [EVENT_SCOPE_KEY]: { principal: digest(principal), origin } };
    inner.publish(scoped);
  };
  const visibleTo = (event: ScopedEvent, principalDigest: string | undefined): boolean => {
    const scope = event[EVENT_SCOPE_KEY];
    return scope === undefined || (principalDigest !== undefined && scope.principal === principalDigest);
  };

  const sinks = new Set<SessionSink>();
  let unsubscribe: (() => void) | undefined;

  return {
    bus: {
      publish: (event) => inner.publish(event),
      subscribe(listener) {
        // Called by the SDK's listen router while it serves a request: the principal is that request's.
        const mine = current();
        const principalDigest = mine === undefined ? undefined : digest(mine);
        return inner.subscribe((event: ScopedEvent) => {
          if (visibleTo(event, principalDigest)) listener(event);
        });
      },
    },
    watch(factory) {
      return async (ctx) => {
        const principal = current();
        const product = await factory(ctx);
        const server = principal === undefined ? undefined : lowLevelServer(product);
        if (server && principal !== undefined) {
          // Drawn on the first change only: most requests' servers change nothing.
          let origin: string | undefined;
          reportChanges(server, (event) => publishFor(principal, (origin ??= randomUUID()), event));
        }
        return product;
      };
    },
    enter(authorized) {
      principals.set(authorized.context, authorized.principal);
    },
    attachSession(product, principal) {
      const server = lowLevelServer(product);
      if (!server) return;
      const origin = randomUUID();
      const sink: SessionSink = {
        principal: digest(principal),
        origin,
        server,
        send: reportChanges(server, (event) => publishFor(principal, origin, event)),
      };
      sinks.add(sink);
      const onclose = server.onclose;
      server.onclose = () => {
        sinks.delete(sink);
        onclose?.();
      };
      unsubscribe ??= inner.subscribe((event: ScopedEvent) => deliverToSessions(sinks, event, onerror));
    },
    close() {
      sinks.clear();
      unsubscribe?.();
      unsubscribe = undefined;
    },
  };
}
