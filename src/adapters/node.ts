/**
 * Node `http` (and Express) adapter around a Web-standard {@link FetchHandler}.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { readNodeBodyBounded } from "../lib/body.js";
import { nodeRequestView } from "./node-request.js";
import { readsBodyLazily, type HandlerExtras, type HeaderPair } from "./contract.js";
import { internalError } from "../protect/responses.js";
import { z } from "zod";
import { ConfigError } from "../errors.js";
import { optionsSchema, parseOptions } from "../lib/options.js";
import type { FetchHandler, ProtectedHandler } from "../protect/types.js";

/** Options of {@link toNodeHandler}. */
export interface NodeHandlerOptions {
  /**
   * Origin used to build the `Request` URL, e.g. `http://127.0.0.1:8000`. Only the path and query
   * of the incoming request are used; the `Host` header never decides the origin, so it cannot
   * influence anything security-relevant, and neither does the authority of an absolute-form target
   * (`POST http://host/mcp`), which a handler from `protect()` checks like `Host` instead
   * (DNS-rebinding protection). Default `http://localhost`.
   */
  origin?: string;
  /**
   * Give each `Request` a `signal` that aborts when the client goes away. Default `true`. Setting it
   * to `false` saves a few percent of CPU per request (measured in `bench/`), at the price that a
   * provider or handler reading `request.signal` no longer sees client disconnects.
   */
  request_signal?: boolean;
}

const NodeHandlerOptionsSchema = optionsSchema(
  "toNodeHandler",
  z.strictObject({
    origin: z
      .url({ protocol: /^https?$/ })
      .refine((o) => new URL(o).origin === o, { error: "an origin: scheme://host[:port]" })
      .optional(),
    request_signal: z.boolean().optional(),
  }),
);

/** A Node request with whatever a framework may have attached (Express's `body`). */
export type NodeRequest = IncomingMessage & {
  /** A body already parsed by a framework (e.g. `express.json()`). */
  body?: unknown;
};

/**
 * Convert a Node request to a Web `Request`. Repeated headers are kept (Node itself drops a second
 * `Authorization` header; we read `rawHeaders` so two credentials are seen, and refused).
 *
 * `signal` (default true): give the `Request` a signal that aborts when the client goes away before
 * the request is complete. Following an outside signal costs undici a dependent controller and a
 * finalization-registry entry per request.
 *
 * {@link toNodeHandler} does not use this for a handler from `protect()`: that one gets a lazily
 * built view of the Node request instead (see `src/adapters/node-request.ts`), and its body is read
 * from the socket directly.
 */
export function toWebRequest(req: NodeRequest, origin = "http://localhost", signal = true): Request {
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string);
  }
  const method = req.method ?? "GET";
  const target = requestTarget(req.url, origin);
  if (!target) throw new TypeError("The request target is not a path or an http(s) URL");
  const url = target.url;
  const init: RequestInit & { duplex?: "half" } = { method, headers };
  if (signal) {
    const controller = new AbortController();
    req.once("close", () => {
      if (!req.complete) controller.abort();
    });
    init.signal = controller.signal;
  }
  if (method !== "GET" && method !== "HEAD") {
    if (hasParsedBody(req)) {
      // Express (or another framework) already parsed the body: hand the parsed value on as JSON.
      init.body =
        typeof req.body === "string"
          ? req.body
          : req.body instanceof Uint8Array
            ? new Uint8Array(req.body)
            : JSON.stringify(req.body);
    } else {
      init.body = Readable.toWeb(req) as ReadableStream<Uint8Array>;
      init.duplex = "half";
    }
  }
  return new Request(url, init);
}

/** An absolute-form target (RFC 9112 §3.2.2): `http(s)://`, the authority as sent, then the path and query. */
const ABSOLUTE_FORM = /^https?:\/\/([^/?#\\]*)([/?][^#\\]*)?$/i;

/** A request target taken apart: the URL on the adapter's origin, and the authority an absolute-form target named. */
export interface RequestTarget {
  /** The request URL on `origin`: only the target's path and query count. */
  url: URL;
  /**
   * For an absolute-form target, its authority exactly as sent (`evil.example`, `localhost:8000`,
   * `user@host`): what the DNS-rebinding guard checks instead of `Host` (RFC 9112 §3.2.2: the
   * server MUST ignore `Host` then). `undefined` for an origin-form target.
   */
  authority: string | undefined;
}

/**
 * The request URL on `origin`, from the request target: an origin-form path (`/mcp?x`, also `//x`,
 * which is a path here, never a host) or an absolute-form `http(s)://authority[/path][?query]`, of
 * which the path and query make the URL and the authority is kept apart for the guard. `undefined`
 * when the target is neither (`*`, another scheme, `http:evil.example/mcp` without `//`, a
 * backslash or a fragment in an absolute-form target, a path the URL parser refuses): the caller
 * answers 400.
 */
export function requestTarget(target: string | undefined, origin: string): RequestTarget | undefined {
  const t = target ?? "/";
  try {
    if (t.startsWith("/")) return { url: new URL(origin + t), authority: undefined };
    const absolute = ABSOLUTE_FORM.exec(t);
    if (!absolute) return undefined;
    const rest = absolute[2] ?? "";
    return { url: new URL(origin + (rest.startsWith("/") ? rest : `/${rest}`)), authority: absolute[1] ?? "" };
  } catch {
    return undefined;
  }
}

/** Whether a framework already consumed and parsed the body. */
const hasParsedBody = (req: NodeRequest): boolean => req.body !== undefined && req.readableEnded;

/**
 * Write a Web `Response` to a Node response.
 *
 * - `text/event-stream`: headers are flushed at once and events streamed as they come (SSE);
 * - JSON (`application/json`, `+json`): read whole and sent in one write with `Content-Length` — a
 *   JSON document is of no use to a client before it is complete, and this is the common MCP reply;
 * - anything else: streamed chunk by chunk, headers going out with the first chunk.
 */
export async function writeWebResponse(
  res: ServerResponse,
  response: Response,
  extra?: readonly HeaderPair[],
): Promise<void> {
  // One writeHead with a flat list instead of a setHeader per header; repeated headers (Set-Cookie)
  // stay separate, and headers a framework set earlier on `res` are still merged (ours win).
  const headers: string[] = [];
  let contentType = "";
  let hasLength = false;
  // `extra`: headers a protect() handler gave this adapter to write (HandlerExtras.addHeaders); they replace any of the
  // same name.
  // `forEach` yields each Set-Cookie on its own (never joined), so they stay separate lines here.
  response.headers.forEach((value, key) => {
    if (extra && extra.some(([name]) => name.length === key.length && name.toLowerCase() === key)) return;
    if (key === "content-type") contentType = value;
    else if (key === "content-length") hasLength = true;
    headers.push(key, value);
  });
  if (extra) for (const [name, value] of extra) headers.push(name, value);

  if (!response.body) {
    res.writeHead(response.status, headers);
    res.end();
    return;
  }
  if (isJson(contentType)) {
    let body: Buffer;
    try {
      body = await readWhole(response.body);
    } catch {
      res.destroy();
      return;
    }
    if (!hasLength) headers.push("content-length", String(body.byteLength));
    res.writeHead(response.status, headers);
    res.end(body);
    return;
  }
  res.writeHead(response.status, headers);
  if (contentType.startsWith("text/event-stream")) res.flushHeaders();
  const reader = response.body.getReader();
  res.once("close", () => void reader.cancel().catch(() => {}));
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) await new Promise<void>((resolve) => res.once("drain", resolve));
    }
  } catch {
    // The client went away or the stream was cancelled: nothing more to write.
  }
  res.end();
}

/**
 * A response body read whole. The reader directly rather than `arrayBuffer()`: undici's body mixin
 * adds its own promises on top of the same reads, and on Node 20 every promise pays for the
 * `AsyncLocalStorage` hooks. A body in one chunk (the SDK's JSON reply) is not copied.
 */
async function readWhole(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    // As arrayBuffer() would: a body stream must yield bytes.
    if (!(value instanceof Uint8Array))
      throw new TypeError("The response body yielded a chunk that is not a Uint8Array");
    chunks.push(value);
    total += value.byteLength;
  }
  const only = chunks.length === 1 ? chunks[0] : undefined;
  return only ? Buffer.from(only.buffer, only.byteOffset, only.byteLength) : Buffer.concat(chunks, total);
}

const isJson = (contentType: string): boolean => {
  // What the SDK transports send: no split, trim or lower-casing for it.
  if (contentType === "application/json") return true;
  const type = (contentType.split(";", 1)[0] ?? "").trim().toLowerCase();
  return type === "application/json" || type.endsWith("+json");
};

/**
 * Serve a {@link FetchHandler} from Node's `http` module or Express.
 *
 * An unexpected error becomes a bare 500: no message, no stack trace is sent.
 *
 * For a handler from `protect()` the body never goes through Web streams: the handler is given a
 * reader over the Node request (bounded by its `max_body_bytes`, called only once the request is
 * authorized) or, under Express with a body parser, the parsed body. Other handlers get a `Request`
 * with a streamed body.
 *
 * @example
 * ```ts
 * http.createServer(toNodeHandler(handler)).listen(8000);
 * app.use(toNodeHandler(handler));            // Express: mount before any body parser, or after; both work
 * ```
 */
export function toNodeHandler(handler: FetchHandler, options: NodeHandlerOptions = {}) {
  if (typeof handler !== "function")
    throw new ConfigError("toNodeHandler", [
      { key: "handler", message: "must be a function (Request) => Promise<Response>" },
    ]);
  parseOptions(NodeHandlerOptionsSchema, options, "toNodeHandler");
  const routed = handler as Partial<ProtectedHandler>;
  const origin = options.origin ?? (routed.resource ? new URL(routed.resource).origin : "http://localhost");
  const signal = options.request_signal ?? true;
  return (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void => {
    // Under Express, paths the protected handler does not own go on to the next middleware.
    const target = requestTarget(req.url, origin);
    if (!target) {
      // Not a path nor an http(s) URL (e.g. `//[` or `*`): nothing here can serve it.
      res.writeHead(400, { "content-type": "text/plain", connection: "close" }).end("Bad Request");
      return;
    }
    const { url } = target;
    if (next && routed.handles && !routed.handles(url.pathname)) return next();
    void (async () => {
      let response: Response;
      let extra: readonly HeaderPair[] | undefined;
      try {
        if (readsBodyLazily(handler)) {
          const nodeReq = req as NodeRequest;
          const extras: HandlerExtras = hasParsedBody(nodeReq)
            ? {
                parsedBody: nodeReq.body,
                targetAuthority: target.authority,
                addHeaders: (pairs) => void (extra = pairs),
              }
            : {
                readBody: (limit) => readNodeBodyBounded(req, limit),
                targetAuthority: target.authority,
                addHeaders: (pairs) => void (extra = pairs),
              };
          response = await handler(nodeRequestView(req, url, signal), extras);
        } else {
          response = await handler(
            toWebRequest(req, origin, signal),
            target.authority === undefined ? undefined : { targetAuthority: target.authority },
          );
        }
      } catch (err) {
        if (next) return next(err);
        response = internalError();
      }
      await writeWebResponse(res, response, extra);
    })();
  };
}
