/**
 * The contract between an adapter (a server that turns its own request into a Web `Request`, such as
 * {@link toNodeHandler}) and a handler `protect()` built. Everything the two exchange is in these
 * types: what the adapter passes besides the `Request` ({@link HandlerExtras}) and whether a handler
 * takes it ({@link readsBodyLazily}). Nothing rides on the `Request` or the `Response` as a hidden
 * property, and neither side casts.
 *
 * A leaf: it imports nothing of the package.
 *
 * @module
 */

/** One header to write: name and value. */
export type HeaderPair = readonly [name: string, value: string];

/**
 * What an adapter may hand a handler besides the `Request`. Adapters use it to avoid Web streams (the
 * Node adapter passes `readBody`, which reads the socket directly; Express passes the body its JSON
 * parser already produced), to say what the request target named, and to write headers themselves.
 * The handler reads the body only after the request is authorized.
 */
export interface HandlerExtras {
  /** Read the whole request body, throwing `BodyTooLarge` past `limit` bytes (used instead of `request.body`). */
  readBody?: ((limit: number) => Promise<Uint8Array>) | undefined;
  /** A body a framework already parsed (e.g. `express.json()`). */
  parsedBody?: unknown;
  /** Size in bytes of the body behind `parsedBody`, when known. */
  parsedBodyBytes?: number | undefined;
  /**
   * For an absolute-form request target (`POST http://host/mcp`), its authority exactly as sent: the
   * DNS-rebinding guard checks it instead of `Host` (RFC 9112 §3.2.2: the server MUST ignore `Host`
   * then). A `Request` cannot say which form its target had, so only the adapter knows.
   */
  targetAuthority?: string | undefined;
  /**
   * Given by an adapter that writes the `Response` out itself (the Node adapter): the handler hands
   * it the headers to add, each replacing any of the same name on the `Response`, instead of setting
   * them on the transport's `Response` (a `Headers.set` on undici's `Headers` validates name and
   * value and makes the next iteration sort the list again: about 1.5 µs per request for two
   * headers, measured). Called at most once per request, before the handler's promise settles.
   */
  addHeaders?: ((pairs: readonly HeaderPair[]) => void) | undefined;
}

/** Handlers that take {@link HandlerExtras} and read the body themselves. */
const lazyBodyReaders = new WeakSet<object>();

/** Mark `handler` as one that reads its body itself, from {@link HandlerExtras} (a `protect()` handler). */
export function markReadsBodyLazily<H extends object>(handler: H): H {
  lazyBodyReaders.add(handler);
  return handler;
}

/**
 * Whether `handler` reads its body itself, so an adapter may hand it a body reader instead of a
 * streamed `Request` body. A handler of another copy of this package answers `false`: it then gets
 * a streamed body, which is slower but equally correct.
 */
export function readsBodyLazily(handler: object): boolean {
  return lazyBodyReaders.has(handler);
}
