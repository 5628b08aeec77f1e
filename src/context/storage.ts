/**
 * `getContext()`: who is calling, from anywhere inside a tool, without threading arguments.
 *
 * Backed by `AsyncLocalStorage`, so concurrent requests never see each other's principal.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { createRequestContext } from "./request-context.js";
import type { RequestContext } from "./types.js";

const storage = new AsyncLocalStorage<RequestContext>();
const OUTSIDE: RequestContext = createRequestContext(null, true);

/**
 * The context of the request being handled.
 *
 * Outside a request (or on a server this library does not protect) it returns
 * `{ auth: null, authorization_enabled: true }`: anonymous and enforced, so a scoped tool refuses.
 *
 * @example
 * ```ts
 * const whoami = tool({ name: "whoami", description: "Who am I" }, async () => {
 *   const { auth } = getContext();
 *   return { subject: auth?.subject ?? null, scopes: auth?.scopes ?? [] };
 * });
 * ```
 */
export function getContext(): RequestContext {
  return storage.getStore() ?? OUTSIDE;
}

/** Run `fn` with `context` as the current request context. */
export function runWithContext<T>(context: RequestContext, fn: () => T): T {
  return storage.run(context, fn);
}
