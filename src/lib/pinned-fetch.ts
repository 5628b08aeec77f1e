/**
 * `fetch` pinned to a set of origins with a credential the library attaches: what both kinds of
 * connection handle (token exchange, connected accounts) give tool code, so that code never holds
 * the credential and never sends it anywhere else — not even by following a redirect.
 *
 * @internal
 * @module
 */
import type { Fetch } from "./fetch.js";

/** Redirects followed within the origins, at most. */
const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** What can be refused before anything is sent. */
export type PinnedFetchRefusal = "origin_mismatch" | "redirect_off_origin" | "too_many_redirects";

/**
 * What a pinned fetch needs. `T` is what `authorize` attached (e.g. the credential), handed back to
 * `on_unauthorized` for that same request: concurrent requests on one handle never mix theirs up.
 */
export interface PinnedFetchParts<T = void> {
  /** The origins requests may go to; the first resolves relative paths. */
  origins: readonly string[];
  fetch: Fetch;
  /** Set the credential on the outgoing headers (called again before a retry); answers what it attached. */
  authorize(headers: Headers): Promise<T>;
  /**
   * Called once when the API answers 401, with what `authorize` attached to that request: `true` when the
   * credential was renewed and the request is to be sent again (once), `false` to hand the 401 to the
   * caller. May throw instead.
   */
  on_unauthorized?: ((attached: T) => Promise<boolean>) | undefined;
  /** Build the refusal to throw. */
  refuse(reason: PinnedFetchRefusal): Error;
}

/** `fetch(input, init)` with the credential attached, refusing any URL or redirect outside `origins`. */
export function pinnedFetch<T>(
  p: PinnedFetchParts<T>,
): (input: string | URL | Request, init?: RequestInit) => Promise<Response> {
  const allowed = new Set(p.origins);
  const resolve = (input: string | URL | Request): string => {
    if (input instanceof URL) return input.href;
    if (typeof input === "object") return input.url;
    // A path is relative to the first origin; anything else must parse as an absolute URL of one.
    return new URL(input, `${p.origins[0]}/`).href;
  };
  return async (input, init) => {
    const url = resolve(input);
    if (!allowed.has(new URL(url).origin)) throw p.refuse("origin_mismatch");
    const template = input instanceof Request ? new Request(input, init) : new Request(url, init);
    const body = template.body ? await template.arrayBuffer() : undefined;
    const request = {
      url,
      method: template.method,
      headers: new Headers(template.headers),
      body,
      signal: template.signal,
    };
    const attached = await p.authorize(request.headers);
    const res = await follow(request, allowed, p);
    if (res.status !== 401 || !p.on_unauthorized) return res;
    if (!(await p.on_unauthorized(attached))) return res;
    void res.body?.cancel().catch(() => {});
    const retry = { ...request, headers: new Headers(template.headers) };
    await p.authorize(retry.headers);
    return follow(retry, allowed, p);
  };
}

interface Outgoing {
  url: string;
  method: string;
  headers: Headers;
  body: ArrayBuffer | undefined;
  signal: AbortSignal;
}

/** Send, following redirects only within `allowed`, by fetch's method rules. */
async function follow(
  start: Outgoing,
  allowed: ReadonlySet<string>,
  p: Pick<PinnedFetchParts<unknown>, "fetch" | "refuse">,
): Promise<Response> {
  let { url, method, body } = start;
  const { headers, signal } = start;
  for (let hop = 0; ; hop++) {
    const res = await p.fetch(url, { method, headers, body: body ?? null, redirect: "manual", signal });
    const location = REDIRECT_STATUSES.has(res.status) ? res.headers.get("location") : null;
    if (location === null) return res;
    void res.body?.cancel().catch(() => {});
    const next = new URL(location, url);
    // Never let the credential follow a redirect to another origin (nor to another scheme or port).
    if (!allowed.has(next.origin)) throw p.refuse("redirect_off_origin");
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
}
