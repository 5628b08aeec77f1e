/**
 * The handler `protect()` returns, as a type: the Web-standard {@link FetchHandler} and what
 * {@link ProtectedHandler} adds to it.
 *
 * @module
 */
import type { HandlerExtras } from "../adapters/contract.js";
import type { ServerNotifierLike } from "../serving/v2.js";
import type { ProtectedResourceMetadata } from "./metadata.js";

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
  /**
   * Under `engine: "v2"` (or for a `createMcpHandler(...)` handler that has one): publishes
   * list-changed events to every client, e.g. `handler.notify.toolsChanged()` — every open
   * `subscriptions/listen` stream (2026-07-28) and, under `engine: "v2"`, every 2025-era session whose
   * server declares `listChanged` for that list. Not needed for the changes a server makes itself
   * (`registerTool` after connect, `sendToolListChanged()`, enable / disable / remove): those reach the
   * same principal's streams and sessions by themselves. Undefined on the v1 path.
   */
  readonly notify?: ServerNotifierLike | undefined;
}
