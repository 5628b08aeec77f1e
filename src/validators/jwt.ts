/**
 * `JWTValidator`: RFC 9068 JWT access tokens checked against a JWKS (or an HMAC secret).
 *
 * @see RFC 9068 §4 (validating JWT access tokens), RFC 8707 (audience = this resource), RFC 8725 (JWT BCP)
 * @module
 */
import type { JWTVerifyGetKey, JWTVerifyOptions } from "jose";
import { z } from "zod";
import type { AuthContext } from "../context/types.js";
import { InvalidToken } from "../errors.js";
import { emitSafely, type AuthEventListener } from "../events.js";
import type { BackoffWindow } from "../lib/backoff.js";
import type { Clock } from "../lib/clock.js";
import type { Fetch } from "../lib/fetch.js";
import { JWS_COMPACT, verifyJwt } from "./jwt-checks.js";
import { principalFromClaims, VerifiedTokenCache, type PrincipalProfile } from "./jwt-principal.js";
import { RemoteKeySet } from "./key-set.js";
import type { AuthorizationProvider, VerifyContext } from "./provider.js";
import {
  backoffWindowSchema,
  optionsSchema,
  parseOptions,
  principalOptionsShape,
  principalRenamed,
  urlOption,
} from "../lib/options.js";

export { extractScopes } from "./jwt-principal.js";

/** Asymmetric JWS algorithms accepted by default. `none` and HMAC are never in this list. */
export const DEFAULT_ASYMMETRIC_ALGORITHMS = Object.freeze([
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
]);
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
  /** URL of the issuer's JSON Web Key Set (neither userinfo nor fragment). Required unless `secret` is given. */
  jwks_uri?: string;
  /** Expected `iss`, compared exactly (no trailing-slash normalisation). An array allows several. */
  issuer: string | string[];
  /**
   * Expected `aud` (any one must be present). Default: the server's `resource`. Set it when the IdP
   * uses another identifier (Entra app ID GUID, Okta `api://default`).
   */
  audience?: string | string[];
  /** Allowed JWS algorithms. Default: RS256-512, PS256-512, ES256-512, EdDSA and Ed25519; `["HS256"]` with `secret`. */
  algorithms?: string[];
  /** Clock skew tolerated for `exp`/`nbf`/`iat`, in seconds. Default 30; at most 300. */
  clock_tolerance_seconds?: number;
  /** @deprecated Use `clock_tolerance_seconds`. Removed in 0.3. */
  clock_tolerance?: number;
  /** Required JWT header `typ`, e.g. `"at+jwt"` (RFC 9068 §2.1). Default: not checked. */
  required_typ?: string;
  /**
   * Shared HMAC secret (at least 32 bytes). Only then are HS* algorithms accepted, and never
   * together with asymmetric algorithms, so a public key can never be used as an HMAC secret.
   */
  secret?: string | Uint8Array;
  /**
   * Claims holding scopes, in order. A string is split on spaces; an array is used as is. Dotted paths reach nested
   * claims. Default `["scope", "scp"]`.
   */
  scope_claims?: string[];
  /** Claims holding the client id, first present wins. Default `["client_id", "azp"]`. */
  client_id_claims?: string[];
  /** Claim holding the subject. Default `"sub"` (RFC 9068 §2.2): a token without it is refused (`claim_missing`). */
  subject_claim?: string;
  /**
   * Accept a token without the subject claim; its subject is then its client id. Only for
   * client-credentials tokens from an issuer that omits `sub` (most put the client id there).
   * Default `false`.
   */
  allow_missing_subject?: boolean;
  /**
   * Refuse a token issued (`iat`) more than this many seconds ago (`too_old`); a token without `iat` is then refused.
   * Default: not checked.
   */
  max_token_age_seconds?: number;
  /** @deprecated Use `max_token_age_seconds`. Removed in 0.3. */
  max_token_age?: number;
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
  jwks_cooldown_seconds?: number;
  /** @deprecated Use `jwks_cooldown_seconds`. Removed in 0.3. */
  jwks_cooldown?: number;
  /** Key set fetch timeout in milliseconds. Default 5000. Only the request that starts a fetch waits this long. */
  jwks_timeout_ms?: number;
  /** @deprecated Use `jwks_timeout_ms`. Removed in 0.3. */
  jwks_timeout?: number;
  /**
   * Longest, in milliseconds, a request waits for a key set fetch that another request started.
   * Default 1000. Past it the request is answered 503 with `Retry-After` at once, so a hanging
   * identity provider holds up one request, not all of them.
   */
  jwks_max_wait_ms?: number;
  /** @deprecated Use `jwks_max_wait_ms`. Removed in 0.3. */
  jwks_max_wait?: number;
  /**
   * Seconds the last good key set stays in use while refreshes fail (stale-if-error). Default 86400
   * (24 h); a `jwks_stale` event is emitted on each failed refresh. 0 drops the keys at `cache_ttl`.
   */
  jwks_stale_if_error_seconds?: number;
  /** @deprecated Use `jwks_stale_if_error_seconds`. Removed in 0.3. */
  jwks_stale_if_error?: number;
  /**
   * Back-off between failed key set fetches, in milliseconds: `initial_ms` (default 1000) doubling
   * up to `max_ms` (default 30000), with 20 % jitter. While it runs, requests needing a fetch are
   * refused at once (503, `Retry-After`).
   */
  jwks_backoff?: JwksBackoffOptions;
  /**
   * Verified tokens kept in memory (keyed by the token itself, see {@link JWTValidator}). 0 disables the cache. Default
   * 10000.
   */
  token_cache_max?: number;
  /** Sentence used when an opaque (non-JWT) token arrives; presets explain IdP-specific causes. */
  opaque_token_hint?: string;
  /** Custom fetch for the key set (tests, proxies). */
  fetch?: Fetch;
  /**
   * Clock in epoch milliseconds, like `Date.now` (the default). Every time decision uses it:
   * `exp`/`nbf`/`iat`, the verified-token cache, the key set's freshness and back-off.
   */
  clock?: Clock;
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

/**
 * The schema of every {@link JWTValidatorOptions} key, one by one (the rules across keys are
 * the constructor's). The `JWTValidatorConfig` presets check their overrides with it.
 *
 * @internal
 */
export const jwtOptionsShape = {
  jwks_uri: urlOption().optional(),
  issuer: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  algorithms: z.array(z.string().min(1)).min(1).optional(),
  clock_tolerance_seconds: z.number().min(0).max(300).optional(),
  required_typ: z.string().min(1).optional(),
  secret: z.union([z.string(), z.instanceof(Uint8Array)]).optional(),
  scope_claims: z.array(z.string().min(1)).min(1).optional(),
  client_id_claims: z.array(z.string().min(1)).min(1).optional(),
  ...principalOptionsShape,
  allowed_client_ids: z.array(z.string().min(1)).min(1).optional(),
  required_claims: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  cache_ttl: z.number().int().positive().max(86_400).optional(),
  jwks_cooldown_seconds: z.number().min(0).max(3600).optional(),
  jwks_timeout_ms: z.number().int().positive().max(60_000).optional(),
  jwks_max_wait_ms: z.number().int().min(0).max(60_000).optional(),
  jwks_stale_if_error_seconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 86_400)
    .optional(),
  jwks_backoff: backoffWindowSchema.optional(),
  token_cache_max: z.number().int().min(0).max(1_000_000).optional(),
  opaque_token_hint: z.string().max(200).optional(),
  fetch: z.custom<Fetch>((v) => typeof v === "function").optional(),
  fast_path: z.boolean().optional(),
  clock: z.custom<Clock>((v) => typeof v === "function").optional(),
};

/** The keys renamed in 0.2 (old → new), accepted with a deprecation warning; the presets take them too. @internal */
export const jwtRenamed = {
  ...principalRenamed,
  jwks_timeout: "jwks_timeout_ms",
  jwks_cooldown: "jwks_cooldown_seconds",
  jwks_max_wait: "jwks_max_wait_ms",
  jwks_stale_if_error: "jwks_stale_if_error_seconds",
  clock_tolerance: "clock_tolerance_seconds",
} as const;

const OptionsSchema = optionsSchema(
  "JWTValidator",
  z.strictObject(jwtOptionsShape).superRefine((o, ctx) => {
    const add = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
    if (!o.jwks_uri && o.secret === undefined) add("jwks_uri", "jwks_uri or secret is required");
    if (o.jwks_uri && o.secret !== undefined) add("secret", "use either jwks_uri or secret, not both");
    if (o.secret !== undefined) {
      const len = typeof o.secret === "string" ? Buffer.byteLength(o.secret) : o.secret.byteLength;
      if (len < 32) add("secret", "an HMAC secret must be at least 32 bytes");
      if (o.algorithms?.some((a) => !HMAC_ALGORITHMS.includes(a)))
        add("algorithms", "only HS256/HS384/HS512 with a secret");
    } else if (o.algorithms?.some((a) => a === "none" || HMAC_ALGORITHMS.includes(a))) {
      add("algorithms", "'none' and HMAC algorithms are refused without a secret");
    }
    if (o.allowed_client_ids && o.audience) add("allowed_client_ids", "use audience or allowed_client_ids, not both");
  }),
  jwtRenamed,
);

/**
 * Validates JWT access tokens: signature against the issuer's JWKS (or an HMAC secret), explicit
 * algorithm allowlist, exact `iss`, `aud` naming this resource, `exp` required, `nbf`, `iat` not in
 * the future (and not older than `max_token_age` when set), optional `typ`, a `sub` (RFC 9068 §2.2,
 * unless `allow_missing_subject`), a `cnf` that is absent or a DPoP `jkt` (any other binding is
 * refused), scopes from `scope`/`scp`. Every refusal carries a precise `reason` for operators.
 *
 * Keys come from a `RemoteKeySet` (`src/validators/key-set.ts`): cached for `cache_ttl` and refreshed in the
 * background,
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
  readonly #profile: PrincipalProfile;
  readonly #clock: () => number;
  #key: JWTVerifyGetKey | Uint8Array | undefined;
  readonly #cache: VerifiedTokenCache | undefined;
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
    this.#clock = o.clock ?? Date.now;
    this.#verifyOptions = {
      issuer: o.issuer,
      algorithms: o.algorithms ?? (o.secret !== undefined ? ["HS256"] : [...DEFAULT_ASYMMETRIC_ALGORITHMS]),
      clockTolerance: o.clock_tolerance_seconds ?? 30,
      requiredClaims: ["exp", "iss"],
      ...(o.required_typ ? { typ: o.required_typ } : {}),
    };
    this.#profile = Object.freeze({
      scope_claims: o.scope_claims ?? ["scope", "scp"],
      client_id_claims: o.client_id_claims ?? ["client_id", "azp"],
      subject_claim: o.subject_claim,
      allow_missing_subject: o.allow_missing_subject,
      clock_tolerance: o.clock_tolerance_seconds ?? 30,
      max_token_age: o.max_token_age_seconds,
      allowed_client_ids: o.allowed_client_ids,
      required_claims: o.required_claims,
    });
    this.#fastPath = o.fast_path !== false;
    const max = o.token_cache_max ?? 10_000;
    this.#cache = max > 0 ? new VerifiedTokenCache(max, o.clock) : undefined;
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
        cooldown_ms: (o.jwks_cooldown_seconds ?? 30) * 1000,
        timeout_ms: o.jwks_timeout_ms ?? 5000,
        max_wait_ms: o.jwks_max_wait_ms ?? 1000,
        stale_if_error_ms: (o.jwks_stale_if_error_seconds ?? 86_400) * 1000,
        ...(o.jwks_backoff ? { backoff: o.jwks_backoff } : {}),
        fetch: o.fetch ?? ((url, init) => fetch(url, init)),
        onEvent: (e) => emitSafely(this.#emit, e),
        clock: this.#clock,
      });
      this.#key = keySet.getKey;
    }
    return this.#key;
  }

  /** The audience a token must name for `context`: none when `allowed_client_ids` decides instead. */
  #audienceFor(context: VerifyContext): string | string[] | undefined {
    const o = this.#options;
    return o.allowed_client_ids ? undefined : (o.audience ?? context.resource);
  }

  /**
   * The principal of `token` when this validator verified it before (for the same audience) and it
   * has not expired since; `undefined` otherwise. Synchronous, never throws: the server asks it
   * before {@link JWTValidator.verify}, which answers a hit the same way.
   */
  verifyCached(token: string, context: VerifyContext): AuthContext | undefined {
    return this.#cache?.get(token, this.#audienceFor(context));
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
    const cached = this.#cache?.get(token, audience);
    if (cached) return cached;
    if (!JWS_COMPACT.test(token)) {
      const hint = o.opaque_token_hint ?? "The access token is not a signed JWT";
      throw new InvalidToken(
        token.split(".").length === 5 ? `The access token is encrypted or opaque. ${hint}`.trim() : hint,
        {
          reason: "malformed",
        },
      );
    }

    // No header pre-check: jose checks `alg` against the allowlist (which never holds `none`, nor
    // HMAC without a secret) before it resolves a key, and a malformed header fails the same way.
    if (context.emit) this.#emit = context.emit;
    const key = this.#keyFor(context);
    const nowMs = this.#clock();
    const payload = await verifyJwt(token, {
      key,
      options: this.#optionsFor(audience),
      fast: this.#fastPath,
      nowMs,
      unverified: { issuer: o.issuer, audience, maxTokenAge: o.max_token_age_seconds },
    });
    // jose's result is ours alone: frozen as the principal's claims, no copy needed.
    const auth = principalFromClaims(payload, token, this.#profile, nowMs);
    this.#cache?.set(token, audience, auth, this.#cacheTtlMs ?? 300_000);
    return auth;
  }
}
