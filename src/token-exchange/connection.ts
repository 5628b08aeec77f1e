/**
 * Connection handles: `fetch` to one origin with the exchanged token attached by the library, so tool
 * code never holds the downstream token, and never sends it anywhere else.
 *
 * @internal
 * @module
 */
import type { TokenExchangeError, TokenExchangeFailureReason } from "./errors.js";
import type { Fetch } from "../lib/fetch.js";
import type { Connection } from "./types.js";

/** Redirects followed within the origin, at most. */
const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** What a connection needs from its exchanger. */
export interface ConnectionParts {
  audience: string;
  /** The only origin requests may go to. */
  origin: string;
  fetch: Fetch;
  /** The exchanged token (cached by the exchanger). */
  token(): Promise<string>;
  /** Build (and report) a refusal. */
  refuse(reason: TokenExchangeFailureReason): TokenExchangeError;
}

/** A frozen {@link Connection}: its only state is the audience and origin; the token lives in `fetch`'s frame. */
export function createConnection(p: ConnectionParts): Connection {
  const resolve = (input: string | URL | Request): string => {
    if (input instanceof URL) return input.href;
    if (typeof input === "object") return input.url;
    // A path is relative to the origin; anything else must parse as an absolute URL of it.
    return new URL(input, `${p.origin}/`).href;
  };

  const send = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    let url = resolve(input);
    if (new URL(url).origin !== p.origin) throw p.refuse("origin_mismatch");
    const template = input instanceof Request ? new Request(input, init) : new Request(url, init);
    let method = template.method;
    const headers = new Headers(template.headers);
    let body: ArrayBuffer | undefined = template.body ? await template.arrayBuffer() : undefined;
    headers.set("authorization", `Bearer ${await p.token()}`);
    for (let hop = 0; ; hop++) {
      const res = await p.fetch(url, {
        method,
        headers,
        body: body ?? null,
        redirect: "manual",
        signal: template.signal,
      });
      const location = REDIRECT_STATUSES.has(res.status) ? res.headers.get("location") : null;
      if (location === null) return res;
      void res.body?.cancel().catch(() => {});
      const next = new URL(location, url);
      // Never let the token follow a redirect to another origin (nor to another scheme or port).
      if (next.origin !== p.origin) throw p.refuse("redirect_off_origin");
      if (hop + 1 > MAX_REDIRECTS) throw p.refuse("too_many_redirects");
      // Fetch's rules: 303 (and 301/302 after a POST) continue as a GET without a body.
      if (res.status === 303 ? method !== "HEAD" : (res.status === 301 || res.status === 302) && method === "POST") {
        method = "GET";
        body = undefined;
        headers.delete("content-type");
        headers.delete("content-length");
      }
      url = next.href;
    }
  };

  return Object.freeze({ audience: p.audience, origin: p.origin, fetch: send });
}
