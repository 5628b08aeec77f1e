/**
 * Internal: bounded, timed JSON fetches from an authorization server (introspection, discovery).
 *
 * Never follows redirects (a token or a client secret must only ever go to the configured URL), reads
 * at most `max_bytes`, and gives up after `timeout_ms`, body included.
 *
 * @internal
 * @module
 */
import type { Fetch } from "../lib/fetch.js";
import { BodyTooLarge, declaredTooLarge, readStreamBounded } from "../lib/body.js";

/** Why a remote answer was not usable; kept as `cause`, never sent to a client and never holding a token. */
export class RemoteFetchFailed extends Error {
  override name = "RemoteFetchFailed";
  /** `true` when the answer came but was larger than allowed (not an outage of the peer's network). */
  readonly too_large: boolean;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.too_large = message === "too large";
  }
}

/** The outcome of {@link fetchJson}: `json` for a 200 (and, with `error_json`, for a 4xx answering JSON). */
export interface RemoteJson {
  status: number;
  json?: unknown;
  headers: Headers;
}

/** Hostnames that never leave the machine: plain `http` is tolerated for them only. */
export function isLoopback(url: URL): boolean {
  const h = url.hostname;
  return h === "localhost" || h === "[::1]" || /^127(?:\.\d{1,3}){3}$/.test(h);
}

/** `https:`, or `http:` on a loopback address. */
export function isSecureOrLoopback(url: URL): boolean {
  return url.protocol === "https:" || (url.protocol === "http:" && isLoopback(url));
}

/**
 * Fetch `url` and parse a 200 answer as JSON — or with `parse`, which sees the bytes and the content type
 * (a token endpoint that may answer form-encoded) and answers `undefined` for what it cannot read.
 *
 * @throws {@link RemoteFetchFailed} on a network error, a timeout, an oversized body or non-JSON 200.
 */
export async function fetchJson(
  fetchImpl: Fetch,
  url: string,
  init: { method: "GET" | "POST" | "DELETE"; headers: Headers; body?: string },
  o: {
    timeout_ms: number;
    max_bytes: number;
    error_json?: boolean;
    parse?: (bytes: Uint8Array, content_type: string | null) => unknown;
  },
): Promise<RemoteJson> {
  const parse = o.parse ?? ((bytes: Uint8Array) => JSON.parse(utf8(bytes)) as unknown);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), o.timeout_ms);
  try {
    let res: Response;
    try {
      res = await fetchImpl(url, { ...init, redirect: "manual", signal: controller.signal });
    } catch (e) {
      throw new RemoteFetchFailed(controller.signal.aborted ? "timeout" : "network error", { cause: e });
    }
    if (res.status !== 200) {
      // An OAuth error answer (RFC 6749 §5.2) is JSON on a 4xx: read it, bounded, when asked to.
      if (o.error_json && res.status >= 400 && res.status < 500)
        return { status: res.status, json: await errorJson(res, o.max_bytes, parse), headers: res.headers };
      void res.body?.cancel().catch(() => {});
      return { status: res.status, headers: res.headers };
    }
    if (declaredTooLarge(res.headers.get("content-length"), o.max_bytes)) {
      void res.body?.cancel().catch(() => {});
      throw new RemoteFetchFailed("too large");
    }
    let bytes: Uint8Array;
    try {
      bytes = await readStreamBounded(res.body, o.max_bytes);
    } catch (e) {
      if (e instanceof BodyTooLarge) throw new RemoteFetchFailed("too large", { cause: e });
      throw new RemoteFetchFailed(controller.signal.aborted ? "timeout" : "network error", { cause: e });
    }
    try {
      return { status: 200, json: parse(bytes, res.headers.get("content-type")), headers: res.headers };
    } catch {
      throw new RemoteFetchFailed("not JSON");
    }
  } finally {
    clearTimeout(timer);
  }
}

const utf8 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");

/** The parsed body of an error answer, or `undefined` when it is missing, too large or unreadable. */
async function errorJson(
  res: Response,
  maxBytes: number,
  parse: (bytes: Uint8Array, content_type: string | null) => unknown,
): Promise<unknown> {
  if (declaredTooLarge(res.headers.get("content-length"), maxBytes)) {
    void res.body?.cancel().catch(() => {});
    return undefined;
  }
  try {
    return parse(await readStreamBounded(res.body, maxBytes), res.headers.get("content-type"));
  } catch {
    return undefined;
  }
}
