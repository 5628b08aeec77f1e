/**
 * The SDK options `protect()` passes through to what serves MCP behind it: the Streamable HTTP
 * transport of stateful sessions (`transport`) and the SDK v2's `createMcpHandler` (`v2_handler_options`),
 * snake_case here like every other option, mapped once to the SDKs' camelCase when the handler is built.
 *
 * Some SDK options are taken over by `protect()` and refused with an {@link ConfigError} naming why.
 *
 * @module
 */
import { z } from "zod";
import type { ConfigIssue } from "../errors.js";
import { functionSchema, optionsSchema, withMethods } from "../lib/options.js";

/** A change-event bus given to {@link V2HandlerOptions.bus}: the SDK v2's `ServerEventBus`, or your pub/sub. */
export interface EventBusOption {
  /** Deliver an event to every listener. */
  publish(event: unknown): void;
  /** Add a listener; returns the function that removes it. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a bus of any SDK event type must fit (listener parameters are contravariant)
  subscribe(listener: (event: any) => void): () => void;
}

/**
 * An SDK event store (`EventStore` of `@modelcontextprotocol/sdk` and `@modelcontextprotocol/server`,
 * the same shape), e.g. `InMemoryEventStore` from `@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js`.
 */
export interface EventStoreLike {
  /** Store one message of a stream; resolves to its event id. */
  storeEvent(streamId: string, message: unknown): Promise<string>;
  /** The stream an event id belongs to (optional). */
  getStreamIdForEventId?(eventId: string): Promise<string | undefined>;
  /** Replay the events after `lastEventId` through `send`; resolves to their stream id. */
  replayEventsAfter(
    lastEventId: string,
    opts: { send: (eventId: string, message: unknown) => Promise<void> },
  ): Promise<string>;
}

/**
 * Options of the SDK's Streamable HTTP server transport for stateful sessions (`protect()`'s
 * `transport`): the v1 `WebStandardStreamableHTTPServerTransport`, and under `engine: "v2"` the v2 one
 * serving 2025-era sessions.
 *
 * Taken over by `protect()`, and refused here:
 * - `sessionIdGenerator`, `onsessioninitialized`, `onsessionclosed`: sessions are created, bound to
 *   the principal that opened them, bounded and expired by `protect()` (`max_sessions`,
 *   `session_idle_timeout`, …); the ids are random UUIDs.
 * - `allowedHosts`, `allowedOrigins`, `enableDnsRebindingProtection`: `protect()` checks `Host` and
 *   `Origin` itself, before authorization, for every path (`dns_rebinding_protection`).
 * - `maxRequestBodySize`: `protect()` reads the body itself, after authorization (`max_body_bytes`).
 * - `supportedProtocolVersions`: the server passes its own when it connects.
 */
export interface TransportOptions {
  /**
   * Resumability (SEP-1699): SSE events are stored, a priming event opens each stream, and a client
   * reconnecting with `Last-Event-ID` gets what it missed. Default: none.
   *
   * One store may serve every session: each session's transport gets its own view of it, under its
   * own stream ids, and the event ids clients see are bound to the session (an HMAC only that view can
   * make). An event id of another session, of one's own closed session, or a guessed one is answered
   * as an unknown id and never reaches the store.
   */
  event_store?: EventStoreLike | undefined;
  /** Milliseconds suggested to clients in the SSE `retry` field (priming events). SDK `retryInterval`. */
  retry_interval_ms?: number | undefined;
  /** @deprecated Use `retry_interval_ms`. Removed in 0.3. */
  retry_interval?: number | undefined;
  /** Answer with a JSON body instead of an SSE stream. SDK `enableJsonResponse`. Default false. */
  json_response?: boolean | undefined;
  /** Milliseconds between SSE keep-alive comments; 0 disables. SDK `keepAliveMs`. Default 15,000. */
  keep_alive_ms?: number | undefined;
}

/**
 * Options of the SDK v2's `createMcpHandler` serving 2026-07-28 requests (`protect()`'s
 * `v2_handler_options`, `engine: "v2"` only).
 *
 * Taken over by `protect()`, and refused here: `legacy` (2025-era clients get stateful sessions, or
 * the SDK's stateless fallback with `session_mode: "stateless"`) and `maxRequestBodySize`
 * (`max_body_bytes`: `protect()` reads the body).
 */
export interface V2HandlerOptions {
  /**
   * The change-event bus `subscriptions/listen` streams subscribe to (a `ServerEventBus`, e.g. over
   * your pub/sub across processes). Default: an in-process bus. Either way `handler.notify` publishes
   * onto it.
   */
  bus?: EventBusOption | undefined;
  /** `"auto"` (default), `"sse"` or `"json"`. SDK `responseMode`. */
  response_mode?: "auto" | "sse" | "json" | undefined;
  /** Most open `subscriptions/listen` streams. SDK `maxSubscriptions`. Default 1024. */
  max_subscriptions?: number | undefined;
  /** Milliseconds between SSE keep-alive comments; 0 disables. SDK `keepAliveMs`. Default 15,000. */
  keep_alive_ms?: number | undefined;
  /** Out-of-band errors and rejected requests (reporting only). SDK `onerror`. */
  on_error?: ((error: Error) => void) | undefined;
}

/** SDK transport options protect() sets itself, by the names a caller might use, with the reason. */
const TRANSPORT_TAKEN_OVER: Record<string, string> = {
  session_id_generator: "sessions are created and bound to their principal by protect()",
  on_session_initialized: "sessions are created and bound to their principal by protect()",
  on_session_closed: "sessions are closed by protect() (DELETE, max_sessions, session_idle_timeout_seconds)",
  allowed_hosts: "protect() checks Host and Origin itself: use dns_rebinding_protection",
  allowed_origins: "protect() checks Host and Origin itself: use dns_rebinding_protection",
  enable_dns_rebinding_protection: "protect() checks Host and Origin itself: use dns_rebinding_protection",
  max_request_body_size: "protect() reads the body itself: use max_body_bytes",
  supported_protocol_versions: "the server passes its own when it connects",
};
const HANDLER_TAKEN_OVER: Record<string, string> = {
  legacy:
    'protect() serves 2025-era clients itself: stateful sessions, or session_mode: "stateless" for the SDK\'s stateless fallback',
  max_request_body_size: "protect() reads the body itself: use max_body_bytes",
};
const camel = (k: string) => k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
/** Each taken-over key under its snake_case name, its camelCase name, and the SDK's own spelling. */
const withSdkNames = (m: Record<string, string>, sdkNames: Record<string, string> = {}) =>
  Object.fromEntries(
    Object.entries(m).flatMap(([k, why]) =>
      [k, camel(k), sdkNames[k] ?? camel(k)].map((n) => [n, why] as [string, string]),
    ),
  );
const TRANSPORT_REFUSED = withSdkNames(TRANSPORT_TAKEN_OVER, {
  on_session_initialized: "onsessioninitialized",
  on_session_closed: "onsessionclosed",
});
const HANDLER_REFUSED = withSdkNames(HANDLER_TAKEN_OVER);

/** Accept the taken-over keys in the schema, so the cross-key check reports them with their reason. */
const refusedKeys = (m: Record<string, string>) =>
  Object.fromEntries(Object.keys(m).map((k) => [k, z.unknown().optional()]));
const ms = z.number().int().min(0).max(3_600_000);

/** `protect()`'s `transport` key. */
export const TransportOptionsSchema = optionsSchema(
  "protect() transport",
  z.strictObject({
    event_store: withMethods<EventStoreLike>("storeEvent", "replayEventsAfter").optional(),
    retry_interval_ms: ms.optional(),
    json_response: z.boolean().optional(),
    keep_alive_ms: ms.optional(),
    ...refusedKeys(TRANSPORT_REFUSED),
  }),
  { retry_interval: "retry_interval_ms" },
);

/** `protect()`'s `v2_handler_options` key. */
export const V2HandlerOptionsSchema = optionsSchema(
  "protect() v2_handler_options",
  z.strictObject({
    bus: withMethods<NonNullable<V2HandlerOptions["bus"]>>("publish", "subscribe").optional(),
    response_mode: z.enum(["auto", "sse", "json"]).optional(),
    max_subscriptions: z.number().int().positive().optional(),
    keep_alive_ms: ms.optional(),
    on_error: functionSchema.optional(),
    ...refusedKeys(HANDLER_REFUSED),
  }),
);

/** The taken-over keys present in `transport` / `v2_handler_options`, each with its reason. */
export function takenOverIssues(transport: unknown, handler: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const check = (value: unknown, refused: Record<string, string>, key: string) => {
    if (value === null || typeof value !== "object") return;
    for (const k of Object.keys(value)) {
      const why = refused[k];
      if (why !== undefined) issues.push({ key: `${key}.${k}`, message: `set by protect(), not configurable: ${why}` });
    }
  };
  check(transport, TRANSPORT_REFUSED, "transport");
  check(handler, HANDLER_REFUSED, "v2_handler_options");
  return issues;
}

/** The SDK transport's camelCase options (only those set), computed once per handler. */
export function sdkTransportOptions(options: TransportOptions | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!options) return out;
  if (options.event_store !== undefined) out["eventStore"] = options.event_store;
  if (options.retry_interval_ms !== undefined) out["retryInterval"] = options.retry_interval_ms;
  if (options.json_response !== undefined) out["enableJsonResponse"] = options.json_response;
  if (options.keep_alive_ms !== undefined) out["keepAliveMs"] = options.keep_alive_ms;
  return out;
}

/** `createMcpHandler`'s camelCase options (only those set; `bus` always: see {@link createEventBus}). */
export function sdkHandlerOptions(options: V2HandlerOptions | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!options) return out;
  if (options.bus !== undefined) out["bus"] = options.bus;
  if (options.response_mode !== undefined) out["responseMode"] = options.response_mode;
  if (options.max_subscriptions !== undefined) out["maxSubscriptions"] = options.max_subscriptions;
  if (options.keep_alive_ms !== undefined) out["keepAliveMs"] = options.keep_alive_ms;
  if (options.on_error !== undefined) out["onerror"] = options.on_error;
  return out;
}
