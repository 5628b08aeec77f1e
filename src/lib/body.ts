/**
 * Bounded body reading: stop at the limit, never buffer past it.
 *
 * One reader for Web streams (the `protect()` handler, fetched key sets) and one for Node requests
 * (the Node adapter's fast path); both refuse as soon as the running total passes `limit`.
 *
 * @module
 */
import type { IncomingMessage } from "node:http";

/** Thrown when a body is larger than the limit. Carries no body bytes. */
export class BodyTooLarge extends Error {
  /** The limit that was exceeded, in bytes. */
  readonly limit: number;
  /** @param limit - the limit in bytes. */
  constructor(limit: number) {
    super(`Body larger than ${limit} bytes`);
    this.name = "BodyTooLarge";
    this.limit = limit;
  }
}

/** A `Content-Length` larger than `limit` (malformed values are left to the reader, which counts). */
export function declaredTooLarge(contentLength: string | null | undefined, limit: number): boolean {
  if (!contentLength) return false;
  const n = Number(contentLength);
  return Number.isFinite(n) && n > limit;
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * Read a Web stream whole, up to `limit` bytes. Past the limit the stream is cancelled (the rest is
 * never read) and {@link BodyTooLarge} is thrown.
 */
export async function readStreamBounded(stream: ReadableStream<Uint8Array> | null, limit: number): Promise<Uint8Array> {
  if (!stream) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        void reader.cancel().catch(() => {});
        throw new BodyTooLarge(limit);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return concat(chunks, size);
}

/**
 * Read a Node request body whole, up to `limit` bytes. Past the limit reading stops (the request is
 * paused and its data listener removed, so nothing more is buffered) and {@link BodyTooLarge} is
 * thrown; the caller answers 413 and closes the connection.
 */
export function readNodeBodyBounded(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  return new Promise<Uint8Array>((resolve, reject) => {
    if (req.readableEnded) return resolve(new Uint8Array(0));
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > limit) {
        cleanup();
        req.pause();
        chunks.length = 0;
        reject(new BodyTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      if (req.complete) return;
      cleanup();
      reject(new Error("The client closed the connection before the body was complete"));
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

/**
 * Reads a request's body whole, at most `limit` bytes (rejecting with {@link BodyTooLarge} past it): the
 * shape of `HandlerExtras.readBody`, which an adapter passes when it hands the body over itself.
 */
export type BodyReader = (limit: number) => Promise<Uint8Array>;

/** Why {@link readFormBody} found no form. */
export type FormProblem = "not_form" | "too_large" | "repeated";

/**
 * An `application/x-www-form-urlencoded` body, read whole up to `limit` bytes (a larger one refused
 * without reading it all), with no parameter given twice (RFC 6749 §3.1) — or what was wrong with it.
 * `read` reads the body instead of `req.body` when an adapter hands it over that way (see
 * `HandlerExtras.readBody`). Other read errors are thrown as they are.
 */
export async function readFormBody(
  req: Request,
  limit: number,
  read?: BodyReader,
): Promise<{ form: URLSearchParams } | { problem: FormProblem }> {
  const type = (req.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") return { problem: "not_form" };
  if (declaredTooLarge(req.headers.get("content-length"), limit)) return { problem: "too_large" };
  let bytes: Uint8Array;
  try {
    bytes = await (read ? read(limit) : readStreamBounded(req.body, limit));
  } catch (e) {
    if (e instanceof BodyTooLarge) return { problem: "too_large" };
    throw e;
  }
  const form = new URLSearchParams(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
  const keys = [...form.keys()];
  return new Set(keys).size === keys.length ? { form } : { problem: "repeated" };
}
