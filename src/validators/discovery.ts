/**
 * Authorization server discovery (RFC 8414, falling back to OpenID Connect Discovery) and validators
 * built from it: `discoverValidator` (JWT, from `jwks_uri`) and `discoverIntrospectionValidator`
 * (RFC 7662, from `introspection_endpoint`).
 *
 * @see RFC 8414 §3 (metadata URL, path insertion) and §3.3 (issuer must be identical),
 *   OpenID Connect Discovery 1.0 §4
 * @module
 */
import { LRUCache } from "lru-cache";
import { AuthorizationUnavailable, InvalidAuthorizationServerMetadata } from "../errors.js";
import { Backoff, type BackoffWindow } from "../lib/backoff.js";
import type { Clock } from "../lib/clock.js";
import type { Fetch } from "../lib/fetch.js";
import { backoffWindowSchema, functionSchema, optionsSchema, parseOptions, withNewNames } from "../lib/options.js";
import { z } from "zod";
import { IntrospectionValidator, type IntrospectionValidatorOptions } from "./introspection.js";
import { JWTValidator, type JWTValidatorOptions } from "./jwt.js";
import { fetchJson, isSecureOrLoopback, RemoteFetchFailed } from "./remote-json.js";

/** Largest metadata document accepted, in bytes. */
export const MAX_METADATA_BYTES = 256 * 1024;

/**
 * RFC 8414 authorization server metadata as discovery found it (the members used here; the rest is
 * kept as is). Not the document the development authorization server serves
 * (`DevAuthorizationServerMetadata` in `protected-mcp/dev-authorization-server`).
 */
export interface DiscoveredAuthorizationServerMetadata {
  /** The issuer identifier; identical to the one discovery started from. */
  readonly issuer: string;
  /** The JSON Web Key Set URL. */
  readonly jwks_uri?: string;
  /** The RFC 7662 introspection endpoint. */
  readonly introspection_endpoint?: string;
  /** Any other member. */
  readonly [member: string]: unknown;
}

/** @deprecated Use {@link DiscoveredAuthorizationServerMetadata}. Removed in 0.3. */
export type AuthorizationServerMetadata = DiscoveredAuthorizationServerMetadata;

/** Options of {@link AuthorizationServerDiscovery}. */
export interface DiscoveryOptions {
  /** Seconds a document is cached. Default 3600. */
  cache_ttl?: number;
  /** Documents cached (one per issuer). Default 100. */
  cache_max?: number;
  /** Timeout of one document fetch, ms. Default 5000. */
  timeout_ms?: number;
  /** @deprecated Use `timeout_ms`. Removed in 0.3. */
  timeout?: number;
  /** Back-off per issuer after a failed discovery, ms (default 1 s doubling up to 30 s). */
  backoff?: BackoffWindow;
  /** Custom fetch (tests, proxies). */
  fetch?: Fetch;
  /** Clock in epoch milliseconds, like `Date.now` (the default): the document cache and the back-off. */
  clock?: Clock;
}

/**
 * The metadata URLs to try for `issuer`, in order: RFC 8414 (path inserted after
 * `/.well-known/oauth-authorization-server`), then OpenID Connect (path inserted, then appended —
 * the order the MCP authorization spec has clients use).
 */
export function metadataUrls(issuer: string): string[] {
  const u = new URL(issuer);
  const path = u.pathname.replace(/\/+$/, "");
  if (!path)
    return [`${u.origin}/.well-known/oauth-authorization-server`, `${u.origin}/.well-known/openid-configuration`];
  return [
    `${u.origin}/.well-known/oauth-authorization-server${path}`,
    `${u.origin}/.well-known/openid-configuration${path}`,
    `${u.origin}${path}/.well-known/openid-configuration`,
  ];
}

const DiscoveryOptionsSchema = optionsSchema(
  "AuthorizationServerDiscovery",
  z.strictObject({
    cache_ttl: z.number().int().positive().max(86_400).optional(),
    cache_max: z.number().int().positive().max(10_000).optional(),
    timeout_ms: z.number().int().positive().max(60_000).optional(),
    backoff: backoffWindowSchema.optional(),
    fetch: functionSchema.optional(),
    clock: functionSchema.optional(),
  }),
  { timeout: "timeout_ms" },
);

/**
 * Fetches and caches authorization server metadata.
 *
 * - `https:` only (plain `http:` on loopback, for development); redirects are not followed;
 *   documents over 256 KB are refused.
 * - The document's `issuer` must equal the issuer asked for, character for character, or it is
 *   refused (RFC 8414 §3.3: this is what stops one server impersonating another).
 * - Cached per issuer (bounded, `cache_ttl`); one fetch per issuer at a time.
 * - A server that cannot be reached (network error, timeout, 5xx) yields
 *   {@link AuthorizationUnavailable} with `retry_after`, and further attempts for that issuer back
 *   off exponentially (failing fast meanwhile).
 *
 * @example
 * ```ts
 * const discovery = new AuthorizationServerDiscovery({ cache_ttl: 3600 });
 * const meta = await discovery.metadata("https://kc.example.com/realms/mcp");
 * ```
 */
export class AuthorizationServerDiscovery {
  readonly #o: Readonly<DiscoveryOptions>;
  readonly #now: () => number;
  readonly #cache: LRUCache<string, DiscoveredAuthorizationServerMetadata>;
  readonly #backoffs: LRUCache<string, Backoff>;
  readonly #inflight = new Map<string, Promise<DiscoveredAuthorizationServerMetadata>>();

  /** @param options - see {@link DiscoveryOptions}; bad values throw an `ConfigError` naming every problem. */
  constructor(options: DiscoveryOptions = {}) {
    parseOptions(DiscoveryOptionsSchema, options, "AuthorizationServerDiscovery");
    const ttl = options.cache_ttl ?? 3600;
    const max = options.cache_max ?? 100;
    this.#o = Object.freeze({ ...withNewNames(DiscoveryOptionsSchema, options) });
    this.#now = options.clock ?? Date.now;
    const perf = { now: this.#now };
    this.#cache = new LRUCache({ max, ttl: ttl * 1000, ttlResolution: 0, perf });
    // One back-off per issuer, bounded like the cache (issuers come from configuration anyway).
    this.#backoffs = new LRUCache({ max });
    new Backoff(options.backoff); // validate now, naming the option, rather than on first failure
  }

  /**
   * The metadata of `issuer`, from the cache or the server.
   *
   * @throws {@link InvalidAuthorizationServerMetadata} (not https, not found, malformed, issuer mismatch),
   *   {@link AuthorizationUnavailable} (unreachable; `retry_after` set).
   */
  async metadata(issuer: string): Promise<DiscoveredAuthorizationServerMetadata> {
    let u: URL;
    try {
      u = new URL(issuer);
    } catch (e) {
      throw new InvalidAuthorizationServerMetadata("invalid", "The issuer is not a URL", { cause: e });
    }
    if (!isSecureOrLoopback(u))
      throw new InvalidAuthorizationServerMetadata(
        "insecure",
        "The issuer must be an https URL (http only on loopback)",
      );
    if (u.search || u.hash)
      throw new InvalidAuthorizationServerMetadata("invalid", "The issuer must not have a query or fragment");
    const cached = this.#cache.get(issuer);
    if (cached) return cached;
    const running = this.#inflight.get(issuer);
    if (running) return running;
    const backoff = this.#backoffFor(issuer);
    if (!backoff.ready()) throw new AuthorizationUnavailable({ retry_after: backoff.retryAfterSeconds() });
    const promise = this.#discover(issuer, backoff).finally(() => this.#inflight.delete(issuer));
    this.#inflight.set(issuer, promise);
    return promise;
  }

  #backoffFor(issuer: string): Backoff {
    let b = this.#backoffs.get(issuer);
    if (!b) this.#backoffs.set(issuer, (b = new Backoff({ clock: this.#now, ...this.#o.backoff })));
    return b;
  }

  async #discover(issuer: string, backoff: Backoff): Promise<DiscoveredAuthorizationServerMetadata> {
    const fetchImpl = this.#o.fetch ?? ((url, init) => fetch(url, init));
    const unreachable: unknown[] = [];
    try {
      for (const url of metadataUrls(issuer)) {
        let res;
        try {
          res = await fetchJson(
            fetchImpl,
            url,
            { method: "GET", headers: new Headers({ accept: "application/json" }) },
            { timeout_ms: this.#o.timeout_ms ?? 5000, max_bytes: MAX_METADATA_BYTES },
          );
        } catch (e) {
          unreachable.push(e);
          continue;
        }
        if (res.status !== 200) {
          if (res.status >= 500 || res.status === 429) unreachable.push(new RemoteFetchFailed(`status ${res.status}`));
          continue;
        }
        const doc = res.json;
        if (typeof doc !== "object" || doc === null || Array.isArray(doc))
          throw new InvalidAuthorizationServerMetadata(
            "invalid",
            "The authorization server metadata is not a JSON object",
          );
        if ((doc as { issuer?: unknown }).issuer !== issuer) {
          throw new InvalidAuthorizationServerMetadata(
            "issuer_mismatch",
            "The authorization server metadata names another issuer",
          );
        }
        for (const member of ["jwks_uri", "introspection_endpoint"] as const) {
          const v = (doc as Record<string, unknown>)[member];
          if (v === undefined) continue;
          if (typeof v !== "string" || !URL.canParse(v) || !isSecureOrLoopback(new URL(v))) {
            throw new InvalidAuthorizationServerMetadata(
              "invalid",
              `The authorization server metadata ${member} is not an https URL`,
            );
          }
        }
        const metadata = Object.freeze({ ...(doc as DiscoveredAuthorizationServerMetadata) });
        this.#cache.set(issuer, metadata);
        backoff.succeeded();
        return metadata;
      }
    } catch (e) {
      backoff.failed();
      throw e;
    }
    backoff.failed();
    if (unreachable.length > 0)
      throw new AuthorizationUnavailable({ cause: unreachable[0], retry_after: backoff.retryAfterSeconds() });
    throw new InvalidAuthorizationServerMetadata(
      "not_found",
      "No authorization server metadata was found for the issuer",
    );
  }
}

let shared: AuthorizationServerDiscovery | undefined;
/** The process-wide discovery cache used when none is passed (created on first use). */
function sharedDiscovery(): AuthorizationServerDiscovery {
  return (shared ??= new AuthorizationServerDiscovery());
}

/** Options of {@link discoverValidator}: the discovery to use, and validator options besides `issuer` / `jwks_uri`. */
export interface DiscoverValidatorOptions extends Omit<JWTValidatorOptions, "issuer" | "jwks_uri" | "secret"> {
  /** Discovery (and its cache) to use. Default: one shared by the process, with default options. */
  discovery?: AuthorizationServerDiscovery;
}

/**
 * Build a {@link JWTValidator} for `issuer` from its published metadata: `issuer` (verified identical)
 * and `jwks_uri`. Other validator options are passed through.
 *
 * @example
 * ```ts
 * server.setAuthorizationProvider(await discoverValidator("https://kc.example.com/realms/mcp", { audience: "mcp-server" }));
 * ```
 * @throws {@link InvalidAuthorizationServerMetadata} (`reason` says why; `missing_endpoint` without `jwks_uri`),
 *   {@link AuthorizationUnavailable}, {@link ConfigError}
 */
export async function discoverValidator(issuer: string, options: DiscoverValidatorOptions = {}): Promise<JWTValidator> {
  const { discovery, ...validator } = options;
  const meta = await (discovery ?? sharedDiscovery()).metadata(issuer);
  if (!meta.jwks_uri)
    throw new InvalidAuthorizationServerMetadata(
      "missing_endpoint",
      "The authorization server metadata has no jwks_uri",
    );
  return new JWTValidator({ ...validator, issuer: meta.issuer, jwks_uri: meta.jwks_uri });
}

/**
 * Options of {@link discoverIntrospectionValidator}: client credentials and other options besides the endpoint and
 * issuer.
 */
export interface DiscoverIntrospectionValidatorOptions extends Omit<
  IntrospectionValidatorOptions,
  "introspection_endpoint" | "issuer"
> {
  /** Discovery (and its cache) to use. Default: one shared by the process, with default options. */
  discovery?: AuthorizationServerDiscovery;
}

/**
 * Build an {@link IntrospectionValidator} for `issuer` from its published metadata:
 * `introspection_endpoint`, and `issuer` (verified identical), which the introspection response's
 * `iss` must then match and which `private_key_jwt` assertions are addressed to.
 *
 * @example
 * ```ts
 * const v = await discoverIntrospectionValidator("https://as.example.com", { client_id: "mcp-rs", client_secret: process.env.RS_SECRET! });
 * ```
 * @throws {@link InvalidAuthorizationServerMetadata}, {@link AuthorizationUnavailable}, {@link ConfigError}
 */
export async function discoverIntrospectionValidator(
  issuer: string,
  options: DiscoverIntrospectionValidatorOptions,
): Promise<IntrospectionValidator> {
  const { discovery, ...validator } = options;
  const meta = await (discovery ?? sharedDiscovery()).metadata(issuer);
  if (!meta.introspection_endpoint)
    throw new InvalidAuthorizationServerMetadata(
      "missing_endpoint",
      "The authorization server metadata has no introspection_endpoint",
    );
  return new IntrospectionValidator({
    ...validator,
    issuer: meta.issuer,
    introspection_endpoint: meta.introspection_endpoint,
  });
}
