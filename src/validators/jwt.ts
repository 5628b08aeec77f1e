/**
 * `JWTValidator`: RFC 9068 JWT access tokens checked against a JWKS (or an HMAC secret).
 *
 * @see RFC 9068 §4 (validating JWT access tokens), RFC 8707 (audience = this resource), RFC 8725 (JWT BCP)
 * @module
 */
import {
  decodeJwt,
  jwtVerify,
  type FetchImplementation,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
} from "jose";
import { LRUCache } from "lru-cache";
import { z } from "zod";
import { createAuthContext, type AuthContext } from "../context.js";
import { AuthorizationUnavailable, InvalidToken } from "../errors.js";
import { emitSafely, type AuthEventListener } from "../events.js";
import type { BackoffWindow } from "../lib/backoff.js";
import { checkClaimsSet, fastHeader, fastJwsAvailable, nodeKeyFor, verifyCompactSignature, type FastClaimsOptions } from "../lib/fast-jws.js";
import { JWS_COMPACT, refuseByUnverifiedClaims, toAuthError } from "./jwt-checks.js";
import { RemoteKeySet } from "./key-set.js";
import type { AuthorizationProvider, VerifyContext } from "./provider.js";
import { backoffWindowSchema, parseOptions } from "../lib/options.js";

/** Asymmetric JWS algorithms accepted by default. `none` and HMAC are never in this list. */
export const DEFAULT_ASYMMETRIC_ALGORITHMS = Object.freeze(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"]);
const HMAC_ALGORITHMS = ["HS256", "HS384", "HS512"];

/**
 * Options of {@link JWTValidator}. Build them by hand or with a {@link JWTValidatorConfig} preset.
 *
 * @example
 * ```ts
 * new JWTValidator({
 *   jwks_uri: "https://auth.example.com/.well-known/jwks.json",
 *   issuer: "https://auth.example.com/",
 *   audience: "https://mcp.example.com/mcp",
 * });
 * ```
 */
export interface JWTValidatorOptions {
  /** URL of the issuer's JSON Web Key Set. Required unless `secret` is given. */
  jwks_uri?: string;
  /** Expected `iss`, compared exactly (no trailing-slash normalisation). An array allows several. */
  issuer: string | string[];
  /**
   * Expected `aud` (any one must be present). Default: the server's `resource`. Set it when the IdP
   * uses another identifier (Entra app ID GUID, Okta `api://default`).
   */
  audience?: string | string[];
  /** Allowed JWS algorithms. Default {@link DEFAULT_ASYMMETRIC_ALGORITHMS}; `["HS256"]` with `secret`. */
  algorithms?: string[];
  /** Clock skew tolerated for `exp`/`nbf`/`iat`, in seconds. Default 30; at most 300. */
  clock_tolerance?: number;
  /** Required JWT header `typ`, e.g. `"at+jwt"` (RFC 9068 §2.1). Default: not checked. */
  required_typ?: string;
  /**
   * Shared HMAC secret (at least 32 bytes). Only then are HS* algorithms accepted, and never
   * together with asymmetric algorithms, so a public key can never be used as an HMAC secret.
   */
  secret?: string | Uint8Array;
  /** Claims holding scopes, in order. A string is split on spaces; an array is used as is. Dotted paths reach nested claims. Default `["scope", "scp"]`. */
  scope_claims?: string[];
  /** Claims holding the client id, first present wins. Default `["client_id", "azp"]`. */
  client_id_claims?: string[];
  /** Claim holding the subject. Default `"sub"`; falls back to the client id for client-credentials tokens without `sub`. */
  subject_claim?: string;
  /**
   * For IdPs whose access tokens carry no `aud` (Cognito): accept a token whose client id is in this
   * list instead of checking `aud`. Only used when `audience` is not set.
   */
  allowed_client_ids?: string[];
  /** Claims that must have exactly these values, e.g. `{ token_use: "access" }` for Cognito. */
  required_claims?: Record<string, string | number | boolean>;
  /** Seconds the key set (and a verified token) is cached. Default: the protected server's `cache_ttl` (300). */
  cache_ttl?: number;
  /** Minimum seconds between two key set fetches triggered by an unknown `kid`. Default 30. */
  jwks_cooldown?: number;
  /** Key set fetch timeout in milliseconds. Default 5000. Only the request that starts a fetch waits this long. */
  jwks_timeout?: number;
  /**
   * Longest, in milliseconds, a request waits for a key set fetch that another request started.
   * Default 1000. Past it the request is answered 503 with `Retry-After` at once, so a hanging
   * identity provider holds up one request, not all of them.
   */
  jwks_max_wait?: number;
  /**
   * Seconds the last good key set stays in use while refreshes fail (stale-if-error). Default 86400
   * (24 h); a `jwks_stale` event is emitted on each failed refresh. 0 drops the keys at `cache_ttl`.
   */
  jwks_stale_if_error?: number;
  /**
   * Back-off between failed key set fetches, in milliseconds: `initial_ms` (default 1000) doubling
   * up to `max_ms` (default 30000), with 20 % jitter. While it runs, requests needing a fetch are
   * refused at once (503, `Retry-After`).
   */
  jwks_backoff?: JwksBackoffOptions;
  /** Verified tokens kept in memory (keyed by the token itself, see {@link JWTValidator}). 0 disables the cache. Default 10000. */
  token_cache_max?: number;
  /** Sentence used when an opaque (non-JWT) token arrives; presets explain IdP-specific causes. */
  opaque_token_hint?: string;
  /** Custom fetch for the key set (tests, proxies). */
  fetch?: FetchImplementation;
  /**
   * Check ES256 (P-256), EdDSA (Ed25519) and RS256 signatures with a one-shot `node:crypto` verify
   * and a `KeyObject` cached per key, instead of WebCrypto (see {@link JWTValidator}). Default `true`.
   *
   * The trade-off: a second implementation of the signature and claims-set steps of
   * `jose.jwtVerify`, held to jose's decisions by a differential test, for a cheaper uncached token
   * (about 1.15–1.25× the rate of `jwtVerify` alone on Node 24). The signature is checked on libuv's
   * thread pool, as WebCrypto's is. Keys are still selected and
   * imported by jose; tokens with other algorithms or header members, HMAC secrets, and runtimes
   * whose `node:crypto` cannot do it always go to jose. `false` sends every token through
   * `jose.jwtVerify`, the reference.
   */
  fast_path?: boolean;
}

/** Back-off between failed key set fetches, in milliseconds (`initial_ms` default 1000, `max_ms` default 30000). */
export type JwksBackoffOptions = BackoffWindow;

const OptionsSchema = z
  .strictObject({
    jwks_uri: z.url({ protocol: /^https?$/ }).optional(),
    issuer: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    algorithms: z.array(z.string().min(1)).min(1).optional(),
    clock_tolerance: z.number().min(0).max(300).optional(),
    required_typ: z.string().min(1).optional(),
    secret: z.union([z.string(), z.instanceof(Uint8Array)]).optional(),
    scope_claims: z.array(z.string().min(1)).min(1).optional(),
    client_id_claims: z.array(z.string().min(1)).min(1).optional(),
    subject_claim: z.string().min(1).optional(),
    allowed_client_ids: z.array(z.string().min(1)).min(1).optional(),
    required_claims: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
    cache_ttl: z.number().int().positive().max(86_400).optional(),
    jwks_cooldown: z.number().min(0).max(3600).optional(),
    jwks_timeout: z.number().int().positive().max(60_000).optional(),
    jwks_max_wait: z.number().int().min(0).max(60_000).optional(),
    jwks_stale_if_error: z.number().int().min(0).max(7 * 86_400).optional(),
    jwks_backoff: backoffWindowSchema.optional(),
    token_cache_max: z.number().int().min(0).max(1_000_000).optional(),
    opaque_token_hint: z.string().max(200).optional(),
    fetch: z.custom<FetchImplementation>((v) => typeof v === "function").optional(),
    fast_path: z.boolean().optional(),
  })
  .superRefine((o, ctx) => {
    const add = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
    if (!o.jwks_uri && o.secret === undefined) add("jwks_uri", "jwks_uri or secret is required");
    if (o.jwks_uri && o.secret !== undefined) add("secret", "use either jwks_uri or secret, not both");
    if (o.secret !== undefined) {
      const len = typeof o.secret === "string" ? Buffer.byteLength(o.secret) : o.secret.byteLength;
      if (len < 32) add("secret", "an HMAC secret must be at least 32 bytes");
      if (o.algorithms?.some((a) => !HMAC_ALGORITHMS.includes(a))) add("algorithms", "only HS256/HS384/HS512 with a secret");
    } else if (o.algorithms?.some((a) => a === "none" || HMAC_ALGORITHMS.includes(a))) {
      add("algorithms", "'none' and HMAC algorithms are refused without a secret");
    }
    if (o.allowed_client_ids && o.audience) add("allowed_client_ids", "use audience or allowed_client_ids, not both");
  });

/** A verified-token cache entry: the principal and the audience it was verified for. */
interface CachedPrincipal {
  /** The audience option the token was checked against (the same object or string each time). */
  audience: string | string[] | undefined;
  auth: AuthContext;
}

/** Walk a dotted claim path, e.g. `realm_access.roles`. */
function claimAt(payload: JWTPayload, path: string): unknown {
  let v: unknown = payload;
  for (const part of path.split(".")) {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** Scopes from the configured claims: a space-separated string or an array of strings. */
export function extractScopes(payload: JWTPayload, claims: readonly string[] = ["scope", "scp"]): string[] {
  const out = new Set<string>();
  for (const c of claims) {
    const v = claimAt(payload, c);
    const items = typeof v === "string" ? v.split(" ") : Array.isArray(v) ? v : [];
    for (const s of items) if (typeof s === "string" && s.length > 0) out.add(s);
  }
  return [...out];
}

function firstString(payload: JWTPayload, claims: readonly string[]): string | undefined {
  for (const c of claims) {
    const v = claimAt(payload, c);
    if (typeof v === "string" && v.length > 0) return v;
  }
  return undefined;
}

/** Header members the fast path knows; a token with any other (`crit`, `b64`, `jku`, `x5c`, `jwk`, …) goes to jose. */
const FAST_HEADER_MEMBERS: ReadonlySet<string> = new Set(["alg", "kid", "typ"]);
/** Algorithms on the fast path: what identity providers sign access tokens with. */
const FAST_ALGORITHMS: ReadonlySet<string> = new Set(["ES256", "EdDSA", "Ed25519", "RS256"]);

/**
 * `jwtVerify(token, getKey, o)` with the signature checked by `node:crypto` (src/lib/fast-jws.ts)
 * when the token qualifies: a header of only `alg`, `kid` and `typ`, an allowed fast-path `alg`, and
 * a key that jose's resolver returns and jose would use as is. The resolver is called exactly as
 * `jwtVerify` calls it; once it has answered, a key that does not qualify goes to `jwtVerify` with
 * that key, so nothing is resolved twice. `undefined` when the token does not qualify (the caller
 * then asks jose). test/jwt-differential.test.ts holds it to jose's decisions.
 */
async function fastJwtVerify(token: string, getKey: JWTVerifyGetKey, o: JWTVerifyOptions): Promise<JWTPayload | undefined> {
  const first = token.indexOf(".");
  const header = fastHeader(token.slice(0, first), FAST_HEADER_MEMBERS);
  if (!header || !FAST_ALGORITHMS.has(header.alg) || (o.algorithms !== undefined && !o.algorithms.includes(header.alg))) return undefined;
  const last = token.lastIndexOf(".");
  const key = await getKey(header, { protected: token.slice(0, first), payload: token.slice(first + 1, last), signature: token.slice(last + 1) });
  const nodeKey = nodeKeyFor(key, header.alg, FAST_ALGORITHMS);
  const payloadBytes = nodeKey ? await verifyCompactSignature(token, header.alg, nodeKey) : undefined;
  if (!payloadBytes) return (await jwtVerify(token, key, o)).payload;
  return checkClaimsSet(header, payloadBytes, o as FastClaimsOptions);
}

/** `refuseByUnverifiedClaims` on the token's own (unverified) payload; a token that does not decode is malformed. */
function refuseByTokenClaims(token: string, o: JWTVerifyOptions, audience: string | string[] | undefined): void {
  let p: JWTPayload;
  try {
    p = decodeJwt(token);
  } catch (e) {
    throw new InvalidToken("The access token is malformed", { cause: e });
  }
  refuseByUnverifiedClaims(p, { clockTolerance: Number(o.clockTolerance ?? 0), issuer: o.issuer, audience });
}

/**
 * Validates JWT access tokens: signature against the issuer's JWKS (or an HMAC secret), explicit
 * algorithm allowlist, exact `iss`, `aud` naming this resource, `exp` required, `nbf`, optional
 * `typ`, scopes from `scope`/`scp`.
 *
 * Keys come from a `RemoteKeySet` (`src/validators/key-set.ts`): cached for `cache_ttl` and refreshed in the background,
 * refetched on an unknown `kid` at most once per `jwks_cooldown`, one fetch in flight at a time; when
 * the identity provider fails, the last good keys stay in use (up to `jwks_stale_if_error`) and
 * fetches back off, so an outage neither hangs requests nor hammers the provider.
 *
 * Verified tokens are cached (keyed by the whole token, bounded by `token_cache_max`), so a repeated
 * token costs one map lookup instead of a signature check. The key is the token itself, not a hash
 * of it: the cached principal holds the token anyway (for `getContext().auth.token`), so a hash
 * would hide nothing, and it cost more than the rest of a cache hit (≈ 5 µs a request, measured in
 * the bench's server). Each entry remembers the audience it was verified for; a validator shared by
 * two resources never answers one from the other's entry. An entry never outlives the
 * token's `exp`, nor `cache_ttl`: a key removed from the JWKS stops validating within the same
 * `cache_ttl` that bounds the key set cache itself. That is the trade-off: revocation of a *key* is
 * seen after at most `cache_ttl` seconds, exactly as without the token cache.
 *
 * Signatures: `jose.jwtVerify` is the reference. For ES256 (P-256), EdDSA (Ed25519) and RS256 tokens
 * whose header holds only `alg`, `kid` and `typ`, a narrow fast path checks the signature with a
 * one-shot `node:crypto` verify and a `KeyObject` cached per key (the key still selected and
 * imported by jose), then makes `jwtVerify`'s claims-set checks itself; a differential test runs
 * 20,000+ generated and mutated tokens through both and requires the same accept or refuse, with the
 * same error. An uncached token then verifies at about 1.2–1.3× the rate of `jwtVerify` alone
 * (bench/micro.ts, one at a time, Node 20 and 24). The verify runs on libuv's thread pool (the
 * callback form of `crypto.verify`), as WebCrypto's does, so signature checks of tokens in flight
 * spread over spare cores. Any other token, an HMAC `secret`, or a runtime without a usable
 * `node:crypto` goes to jose; `fast_path: false` turns it off.
 *
 * @example
 * ```ts
 * server.setAuthorizationProvider(new JWTValidator(JWTValidatorConfig.keycloak({
 *   base_url: "https://kc.example.com", realm: "mcp", audience: "mcp-server",
 * })));
 * ```
 * @see RFC 9068 §4
 */
export class JWTValidator implements AuthorizationProvider {
  readonly #options: Readonly<JWTValidatorOptions>;
  readonly #verifyOptions: JWTVerifyOptions;
  readonly #optionsByAudience = new Map<string, JWTVerifyOptions>();
  #key: JWTVerifyGetKey | Uint8Array | undefined;
  readonly #cache: LRUCache<string, CachedPrincipal> | undefined;
  /** The `fast_path` option: signatures by `node:crypto` where the token qualifies. */
  readonly #fastPath: boolean;
  /** Set on first use: the option, else the server's `cache_ttl` (from the verify context), else 300 s. */
  #cacheTtlMs: number | undefined;
  /** Where key set events go: the listener of the latest verify context. */
  #emit: AuthEventListener | undefined;

  /**
   * @param options - see {@link JWTValidatorOptions}.
   * @throws {@link ConfigError} naming each bad option.
   */
  constructor(options: JWTValidatorOptions) {
    const parsed = parseOptions(OptionsSchema, options, "JWTValidator");
    const o = (this.#options = Object.freeze({ ...parsed }) as JWTValidatorOptions);
    this.#verifyOptions = {
      issuer: o.issuer,
      algorithms: o.algorithms ?? (o.secret !== undefined ? ["HS256"] : [...DEFAULT_ASYMMETRIC_ALGORITHMS]),
      clockTolerance: o.clock_tolerance ?? 30,
      requiredClaims: ["exp", "iss"],
      ...(o.required_typ ? { typ: o.required_typ } : {}),
    };
    this.#fastPath = o.fast_path !== false;
    const max = o.token_cache_max ?? 10_000;
    // Every entry is set with its own ttl (never beyond exp nor cache_ttl); the constructor ttl only
    // switches TTL tracking on and is the largest cache_ttl allowed.
    // ttlResolution 0: read the clock on each lookup. With the default (1 ms), lru-cache arms a 1 ms
    // timer whenever it reads the clock: under load a timer every millisecond, which cost the bench
    // server ~10–30 µs per request (more than the rest of a cache hit).
    this.#cache = max > 0 ? new LRUCache<string, CachedPrincipal>({ max, ttl: 86_400_000, ttlAutopurge: false, ttlResolution: 0 }) : undefined;
  }

  /** jwtVerify options for one audience, built once per audience (a validator serves one or a few resources). */
  #optionsFor(audience: string | string[] | undefined): JWTVerifyOptions {
    const key = audience === undefined ? "" : typeof audience === "string" ? audience : JSON.stringify(audience);
    let options = this.#optionsByAudience.get(key);
    if (!options) {
      options = Object.freeze({ ...this.#verifyOptions, ...(audience !== undefined ? { audience } : {}) });
      // Audiences come from configuration (the option or the server's resource), not from requests;
      // the bound is belt and braces.
      if (this.#optionsByAudience.size >= 16) this.#optionsByAudience.clear();
      this.#optionsByAudience.set(key, options);
    }
    return options;
  }

  /** The key (or key resolver), built on first use so the server's `cache_ttl` can apply. */
  #keyFor(context: VerifyContext): JWTVerifyGetKey | Uint8Array {
    if (this.#key) return this.#key;
    const o = this.#options;
    this.#cacheTtlMs = (o.cache_ttl ?? context.cache_ttl ?? 300) * 1000;
    if (o.secret !== undefined) {
      this.#key = typeof o.secret === "string" ? new TextEncoder().encode(o.secret) : o.secret;
    } else {
      const keySet = new RemoteKeySet({
        url: o.jwks_uri as string,
        cache_ttl_ms: this.#cacheTtlMs,
        cooldown_ms: (o.jwks_cooldown ?? 30) * 1000,
        timeout_ms: o.jwks_timeout ?? 5000,
        max_wait_ms: o.jwks_max_wait ?? 1000,
        stale_if_error_ms: (o.jwks_stale_if_error ?? 86_400) * 1000,
        ...(o.jwks_backoff ? { backoff: o.jwks_backoff } : {}),
        fetch: o.fetch ?? ((url, init) => fetch(url, init)),
        onEvent: (e) => emitSafely(this.#emit, e),
      });
      this.#key = keySet.getKey as JWTVerifyGetKey;
    }
    return this.#key as JWTVerifyGetKey | Uint8Array;
  }

  /** The audience a token must name for `context`: none when `allowed_client_ids` decides instead. */
  #audienceFor(context: VerifyContext): string | string[] | undefined {
    const o = this.#options;
    return o.allowed_client_ids ? undefined : (o.audience ?? context.resource);
  }

  /** The principal of a token verified before for `audience` and not expired since; drops an expired entry. */
  #cachedFor(token: string, audience: string | string[] | undefined): AuthContext | undefined {
    // A hit is a string equal to a token verified before, so no shape check is needed for it.
    const cached = this.#cache?.get(token);
    // The entry is for this audience only: a validator shared by two resources never mixes them up.
    if (!cached || cached.audience !== audience) return undefined;
    const { auth } = cached;
    if (auth.expires_at !== undefined && auth.expires_at * 1000 > Date.now()) return auth;
    this.#cache?.delete(token);
    return undefined;
  }

  /**
   * The principal of `token` when this validator verified it before (for the same audience) and it
   * has not expired since; `undefined` otherwise. Synchronous, never throws: the server asks it
   * before {@link JWTValidator.verify}, which answers a hit the same way.
   */
  verifyCached(token: string, context: VerifyContext): AuthContext | undefined {
    return this.#cachedFor(token, this.#audienceFor(context));
  }

  /**
   * Verify a token for `context.resource`.
   *
   * Does not check scopes (the server does, against `required_scopes` and per tool) nor DPoP binding
   * (the server does, when a proof or `cnf.jkt` is present).
   *
   * @throws {@link InvalidToken}, {@link TokenExpired}, {@link AuthorizationUnavailable}
   */
  async verify(token: string, context: VerifyContext): Promise<AuthContext> {
    const o = this.#options;
    const audience = this.#audienceFor(context);
    const cached = this.#cachedFor(token, audience);
    if (cached) return cached;
    if (!JWS_COMPACT.test(token)) {
      const hint = o.opaque_token_hint ?? "The access token is not a signed JWT";
      throw new InvalidToken(token.split(".").length === 5 ? `The access token is encrypted or opaque. ${hint}`.trim() : hint);
    }

    // No header pre-check: jose checks `alg` against the allowlist (which never holds `none`, nor
    // HMAC without a secret) before it resolves a key, and a malformed header fails the same way.
    if (context.emit) this.#emit = context.emit;
    let payload: JWTPayload;
    try {
      const key = this.#keyFor(context);
      const options = this.#optionsFor(audience);
      payload =
        (this.#fastPath && typeof key === "function" && fastJwsAvailable() && (await fastJwtVerify(token, key, options))) ||
        (await jwtVerify(token, key as JWTVerifyGetKey, options)).payload;
    } catch (e) {
      if (e instanceof AuthorizationUnavailable) refuseByTokenClaims(token, this.#verifyOptions, audience);
      throw toAuthError(e);
    }

    for (const [claim, expected] of Object.entries(o.required_claims ?? {})) {
      if (payload[claim] !== expected) throw new InvalidToken(`The access token ${claim} claim is invalid`);
    }
    const client_id = firstString(payload, o.client_id_claims ?? ["client_id", "azp"]);
    if (o.allowed_client_ids && (!client_id || !o.allowed_client_ids.includes(client_id))) {
      throw new InvalidToken("The access token was issued to a client that is not accepted");
    }
    const subject = firstString(payload, [o.subject_claim ?? "sub"]) ?? client_id;
    if (!subject) throw new InvalidToken("The access token lacks the required sub claim");
    const cnf = payload.cnf as { jkt?: unknown } | undefined;

    const auth = createAuthContext(
      {
        subject,
        scopes: Object.freeze(extractScopes(payload, o.scope_claims)),
        claims: Object.freeze(payload), // jose's result is ours alone: no copy needed
        client_id,
        issuer: payload.iss,
        expires_at: payload.exp,
        jkt: typeof cnf?.jkt === "string" ? cnf.jkt : undefined,
      },
      token,
    );
    if (this.#cache && payload.exp !== undefined) {
      const remaining = payload.exp * 1000 - Date.now();
      if (remaining > 0) this.#cache.set(token, { audience, auth }, { ttl: Math.min(remaining, this.#cacheTtlMs ?? 300_000) });
    }
    return auth;
  }
}
