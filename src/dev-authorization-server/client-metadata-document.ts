/**
 * OAuth Client ID Metadata Documents (CIMD): a client names itself with an https URL as its
 * `client_id`, and this server fetches the JSON client metadata from that URL instead of requiring a
 * registration. MCP 2025-11-25 prefers it to dynamic client registration, which stays available.
 *
 * What is checked, in order (any failure is `invalid_client`, and no code or token is issued):
 * 1. The URL: `https` (or `http` on a loopback host, a development convenience that can be turned
 *    off), in normalized form (the comparison below is exact, nothing is normalized), with a path,
 *    without fragment or userinfo.
 * 2. Where it points: the host is resolved first (`node:dns`, or the literal IP address taken as is),
 *    and every address must be globally routable: private (10/8, 172.16/12, 192.168/16), CGNAT
 *    (100.64/10), link-local (169.254/16, fe80::/10: where cloud instance metadata lives), unique
 *    local (fc00::/7), unspecified, multicast, documentation and other special-purpose ranges are
 *    refused, in IPv4 and in every IPv6 form that carries an IPv4 address (mapped, NAT64, 6to4).
 *    Loopback (127/8, ::1) is refused unless `allow_loopback` is set (local testing); an `http` URL
 *    must resolve to loopback only.
 * 3. The fetch connects to the addresses just checked, never resolving the name again (so DNS
 *    rebinding between check and connection is not possible), with the URL's hostname as `Host` and
 *    TLS server name. Redirects are not followed (a 3xx is a refusal), only `200` counts, at most
 *    `max_bytes` (5 KB) are read and everything (resolution, fetch, body) must finish within
 *    `timeout_ms` (3 s).
 * 4. The document: a JSON object whose `client_id` equals the URL exactly, with a `client_name`
 *    and `redirect_uris`, no `client_secret`, `token_endpoint_auth_method` absent or `"none"` (public
 *    clients only), and the same redirect-URI / `application_type` rules as registration.
 *
 * Valid documents are cached in a bounded `lru-cache`, for the response's `Cache-Control: max-age`
 * capped at `max_cache_ttl_seconds` (1 h), `default_cache_ttl_seconds` (5 min) without one, and not at all with
 * `no-store` / `no-cache`. Concurrent requests for one URL share one fetch.
 *
 * A custom `fetch` option receives the checked addresses as its third argument; one that resolves the
 * name again itself (the global `fetch` does) reopens the DNS-rebinding window, so only inject one
 * for tests or behind an egress proxy that enforces the same policy.
 *
 * @see draft-ietf-oauth-client-id-metadata-document; MCP 2025-11-25 authorization, client registration
 * @module
 */
import { isIP } from "node:net";
import { LRUCache } from "lru-cache";
import { isForbiddenAddress, isLoopbackAddress, unbracket } from "./lib/address.js";
import { isLoopbackHost } from "./lib/http.js";
import { OAuthError } from "./errors.js";
import type { ResolvedOptions } from "./options.js";
import type { LookupAddress, ResolvedClientIdMetadataDocumentOptions } from "./types.js";
import { publicClient, validateClientMetadata } from "./registration.js";
import { staticClientRecord } from "./clients.js";
import type { RegisteredClient } from "./storage.js";

/**
 * Looks a client up by `client_id`: a registered client, or a metadata document. Throws {@link OAuthError}
 * `invalid_client`.
 */
export type ClientLookup = (clientId: string) => Promise<RegisteredClient>;

/** Whether a `client_id` is URL-shaped, i.e. names a Client ID Metadata Document. */
export function isClientIdUrl(clientId: string): boolean {
  return /^https?:\/\//i.test(clientId);
}

function refuse(description: string): OAuthError {
  return new OAuthError("invalid_client", description);
}

const TIMED_OUT = "The client metadata document did not arrive in time";

/** Step 1: the URL itself. */
function parseClientIdUrl(clientId: string, c: ResolvedClientIdMetadataDocumentOptions): URL {
  if (clientId.length > 2000 || !URL.canParse(clientId)) throw refuse("The client_id is not a valid URL");
  const u = new URL(clientId);
  if (u.href !== clientId || clientId.includes("#"))
    throw refuse("The client_id URL must be in normalized form, without a fragment or dot segments");
  if (u.username || u.password) throw refuse("The client_id URL must not contain userinfo");
  if (u.protocol === "http:") {
    if (!c.allow_http_loopback || !isLoopbackHost(u.hostname)) throw refuse("The client_id URL must use https");
  } else if (u.protocol !== "https:") {
    throw refuse("The client_id URL must use https");
  }
  if (u.pathname === "/") throw refuse("The client_id URL must have a path");
  return u;
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(refuse(TIMED_OUT));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(refuse(TIMED_OUT));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/** Step 2: where the URL points. Returns the checked addresses, the only ones the fetch may connect to. */
async function checkAddresses(
  u: URL,
  c: ResolvedClientIdMetadataDocumentOptions,
  signal: AbortSignal,
): Promise<LookupAddress[]> {
  const host = unbracket(u.hostname);
  let addresses: LookupAddress[];
  const literal = isIP(host);
  if (literal) {
    addresses = [{ address: host, family: literal }];
  } else {
    try {
      // The family is taken from the address itself: the connection must not trust the resolver's label.
      addresses = (await abortable(c.lookup(host), signal)).map((a) => ({
        address: a.address,
        family: isIP(a.address),
      }));
    } catch (err) {
      if (err instanceof OAuthError) throw err;
      throw refuse("The client_id URL's host could not be resolved");
    }
  }
  if (addresses.length === 0) throw refuse("The client_id URL's host could not be resolved");
  const problem = addressPolicy(
    addresses.map((a) => a.address),
    u.protocol === "http:",
    c.allow_loopback,
  );
  if (problem) throw refuse(problem);
  return addresses;
}

/**
 * Why these resolved addresses may not be fetched from, or `undefined` when every one may. Every
 * address counts (not only the first): the connection may go to any of them.
 */
export function addressPolicy(addresses: readonly string[], http: boolean, allowLoopback: boolean): string | undefined {
  if (addresses.some(isForbiddenAddress)) {
    return "The client_id URL points to a forbidden address (private, link-local, unique-local, CGNAT or another special-purpose range)";
  }
  if (!allowLoopback && addresses.some(isLoopbackAddress)) {
    return "The client_id URL points to a loopback address (dev authorization server option `client_id_metadata_documents.allow_loopback` allows it for local testing)";
  }
  if (http && !addresses.every(isLoopbackAddress)) return "The client_id URL must use https";
  return undefined;
}

/** Step 3: the fetch, bounded in size and time, redirects not followed. */
async function fetchDocument(
  u: URL,
  addresses: readonly LookupAddress[],
  c: ResolvedClientIdMetadataDocumentOptions,
  signal: AbortSignal,
): Promise<{ text: string; cacheControl: string | null }> {
  let res: Response;
  try {
    res = await abortable(
      c.fetch(
        u.href,
        { method: "GET", redirect: "manual", signal, headers: { accept: "application/json" } },
        addresses,
      ),
      signal,
    );
  } catch (err) {
    if (err instanceof OAuthError) throw err;
    throw refuse(signal.aborted ? TIMED_OUT : "The client metadata document could not be fetched");
  }
  const discard = () => res.body?.cancel().catch(() => {});
  if (res.type === "opaqueredirect" || (res.status >= 300 && res.status < 400)) {
    await discard();
    throw refuse("The client metadata document URL answered with a redirect, which is not followed");
  }
  if (res.status !== 200) {
    await discard();
    throw refuse(`The client metadata document could not be fetched (HTTP ${res.status})`);
  }
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > c.max_bytes) {
    await discard();
    throw refuse("The client metadata document is too large");
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (res.body) {
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await abortable(reader.read(), signal);
        if (done) break;
        size += value.byteLength;
        if (size > c.max_bytes) throw refuse("The client metadata document is too large");
        chunks.push(value);
      }
    } catch (err) {
      await reader.cancel().catch(() => {});
      if (err instanceof OAuthError) throw err;
      throw refuse(signal.aborted ? TIMED_OUT : "The client metadata document could not be fetched");
    }
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw refuse("The client metadata document is not JSON");
  }
  return { text, cacheControl: res.headers.get("cache-control") };
}

/** Seconds to cache a document for, from its `Cache-Control` (0: do not cache). */
export function cacheLifetime(
  cacheControl: string | null,
  c: Pick<ResolvedClientIdMetadataDocumentOptions, "default_cache_ttl_seconds" | "max_cache_ttl_seconds">,
): number {
  let maxAge: number | undefined;
  for (const part of (cacheControl ?? "").split(",")) {
    const directive = part.trim().toLowerCase();
    if (directive === "no-store" || directive === "no-cache") return 0;
    const m = /^max-age\s*=\s*"?(\d{1,10})"?$/.exec(directive);
    if (m) maxAge = Number(m[1]);
  }
  return Math.min(maxAge ?? c.default_cache_ttl_seconds, c.max_cache_ttl_seconds);
}

/** Step 4: the document. */
function clientFromDocument(
  clientId: string,
  text: string,
  o: Pick<ResolvedOptions, "scopes_supported" | "clock">,
): RegisteredClient {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw refuse("The client metadata document is not JSON");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc))
    throw refuse("The client metadata document is not a JSON object");
  const d = doc as Record<string, unknown>;
  if (d.client_id !== clientId) throw refuse("The client metadata document's client_id does not match its URL");
  if (d.client_secret !== undefined || d.client_secret_expires_at !== undefined)
    throw refuse("A client metadata document must not contain a client secret");
  if (typeof d.client_name !== "string" || d.client_name.trim() === "")
    throw refuse("The client metadata document has no client_name");
  let m;
  try {
    m = validateClientMetadata(d, o);
  } catch (err) {
    if (err instanceof OAuthError) throw refuse(`The client metadata document is invalid: ${err.description}`);
    throw err;
  }
  return publicClient(clientId, m, o.clock());
}

interface Cached {
  client: RegisteredClient;
  cacheable: boolean;
}

/**
 * Build the client lookup of the server: clients of the `clients` option first, then URL-shaped
 * `client_id`s through their metadata document (when enabled), every other one through the storage.
 */
export function createClientLookup(o: ResolvedOptions): ClientLookup {
  const c = o.client_id_metadata_documents;
  const cache = c
    ? new LRUCache<string, Cached>({
        max: c.max_cached,
        ttl: c.max_cache_ttl_seconds * 1000,
        ttlResolution: 0,
        perf: { now: o.clock },
        fetchMethod: async (clientId, _stale, { signal, options }) => {
          const deadline = new AbortController();
          const timer = setTimeout(() => deadline.abort(), c.timeout_ms);
          const onEvict = () => deadline.abort();
          signal.addEventListener("abort", onEvict, { once: true });
          try {
            const u = parseClientIdUrl(clientId, c);
            const addresses = await checkAddresses(u, c, deadline.signal);
            const { text, cacheControl } = await fetchDocument(u, addresses, c, deadline.signal);
            const client = clientFromDocument(clientId, text, o);
            const seconds = cacheLifetime(cacheControl, c);
            // lru-cache reads ttl 0 as "forever": an uncacheable document is deleted after use instead.
            options.ttl = Math.max(1, seconds) * 1000;
            return { client, cacheable: seconds > 0 };
          } finally {
            clearTimeout(timer);
            signal.removeEventListener("abort", onEvict);
          }
        },
      })
    : undefined;

  const configured = new Map((o.clients ?? []).map((d) => [d.client_id, staticClientRecord(d)]));
  return async (clientId) => {
    const known = configured.get(clientId);
    if (known) return known;
    if (cache && isClientIdUrl(clientId)) {
      const entry = await cache.fetch(clientId);
      if (!entry) throw refuse("The client metadata document could not be fetched");
      if (!entry.cacheable) cache.delete(clientId);
      return entry.client;
    }
    const client = clientId ? await o.storage.getClient(clientId) : undefined;
    if (!client) throw refuse("Unknown client. Register the client first.");
    return client;
  };
}
