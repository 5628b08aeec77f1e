/**
 * `IntrospectionValidator`: opaque (or any) access tokens checked by asking the authorization server
 * (RFC 7662 token introspection).
 *
 * @see RFC 7662 (OAuth 2.0 Token Introspection), RFC 8707 (audience = this resource),
 *   RFC 7523 (private_key_jwt client authentication), RFC 9449 §6.2 (`cnf.jkt` in introspection)
 * @module
 */
import type { KeyObject } from "node:crypto";
import { sha256 } from "../lib/hash.js";
import type { CryptoKey, JWK, JWTPayload } from "jose";
import { LRUCache } from "lru-cache";
import { z } from "zod";
import { createAuthContext } from "../context/request-context.js";
import { type AuthContext } from "../context/types.js";
import { AuthError, AuthorizationUnavailable, InvalidToken, TokenExpired, type RefusalReason } from "../errors.js";
import { Backoff, type BackoffWindow } from "../lib/backoff.js";
import type { Clock } from "../lib/clock.js";
import type { Fetch } from "../lib/fetch.js";
import { bindingOf, checkIssuedAt, extractScopes, subjectOf } from "./jwt-principal.js";
import type { AuthorizationProvider, VerifyContext } from "./provider.js";
import { fetchJson, RemoteFetchFailed } from "./remote-json.js";
import {
  backoffWindowSchema,
  optionsSchema,
  parseOptions,
  principalOptionsShape,
  principalRenamed,
  urlOption,
} from "../lib/options.js";
import { ClientAuthentication, clientCredentialShape, refineClientCredentials } from "../lib/client-auth.js";

/** Largest introspection response accepted, in bytes. Real ones are well under 4 KB. */
export const MAX_INTROSPECTION_RESPONSE_BYTES = 64 * 1024;

/** Client authentication methods {@link IntrospectionValidator} can use at the introspection endpoint. */
export type IntrospectionClientAuthMethod = "client_secret_basic" | "client_secret_post" | "private_key_jwt";

/**
 * Options of {@link IntrospectionValidator}.
 *
 * @example
 * ```ts
 * new IntrospectionValidator({
 *   introspection_endpoint: "https://auth.example.com/oauth2/introspect",
 *   client_id: "mcp-resource-server",
 *   client_secret: process.env.INTROSPECTION_SECRET!,
 *   issuer: "https://auth.example.com",
 * });
 * ```
 */
export interface IntrospectionValidatorOptions {
  /**
   * The authorization server's RFC 7662 endpoint. `https:` (plain `http:` only on loopback), neither userinfo nor
   * fragment. Tokens are sent here and nowhere else; redirects are not followed.
   */
  introspection_endpoint: string;
  /** This resource server's client id at the authorization server. */
  client_id: string;
  /**
   * How to authenticate to the endpoint. Default `private_key_jwt` when `private_key` is given,
   * else `client_secret_basic`.
   */
  client_auth_method?: IntrospectionClientAuthMethod;
  /** Secret for `client_secret_basic` / `client_secret_post`. */
  client_secret?: string;
  /** Private key for `private_key_jwt`: a private JWK, a `CryptoKey` or a Node `KeyObject`. */
  private_key?: JWK | CryptoKey | KeyObject;
  /** JWS algorithm of the client assertion (e.g. `ES256`, `RS256`). Default: the JWK's `alg`. */
  private_key_alg?: string;
  /** `kid` header of the client assertion. Default: the JWK's `kid`, if any. */
  private_key_kid?: string;
  /**
   * `aud` of the client assertion. Default: `issuer` when set (as RFC 7523bis asks), else the introspection endpoint.
   */
  client_assertion_audience?: string;
  /**
   * Audiences this resource answers to: the response's `aud` (string or array) must contain one.
   * Default: the server's `resource`, as with {@link JWTValidator}.
   */
  audience?: string | string[];
  /**
   * Accept an active response that carries **no** `aud` at all. Default `false`: such a response is
   * refused, because without an audience a token issued for any other resource of the same
   * authorization server would be accepted here (token passthrough, RFC 8707). Only set it for an
   * authorization server known not to return `aud` *and* that issues tokens for this resource only.
   * A response that does carry `aud` is always checked.
   */
  allow_missing_aud?: boolean;
  /** Expected `iss` of the response, compared exactly. When set, a response without `iss` is refused. */
  issuer?: string;
  /** Response members holding scopes, in order (string split on spaces, or array of strings). Default `["scope"]`. */
  scope_claims?: string[];
  /** Response member holding the subject. Default `"sub"`: a response without it is refused (`claim_missing`). */
  subject_claim?: string;
  /**
   * Accept a response without the subject member; the subject is then the response's `client_id`.
   * For client-credentials tokens, whose introspection often has no `sub` (RFC 7662 makes it
   * optional). Default `false`.
   */
  allow_missing_subject?: boolean;
  /**
   * Refuse a token issued (`iat`) more than this many seconds ago (`too_old`); a response without `iat` is then
   * refused. Default: not checked.
   */
  max_token_age_seconds?: number;
  /** @deprecated Use `max_token_age_seconds`. Removed in 0.3. */
  max_token_age?: number;
  /** Clock skew tolerated for `exp` / `nbf` / `iat`, in seconds. Default 30; at most 300. */
  clock_tolerance_seconds?: number;
  /** @deprecated Use `clock_tolerance_seconds`. Removed in 0.3. */
  clock_tolerance?: number;
  /** Seconds an active result is cached (never beyond the token's `exp`). Default: the server's `cache_ttl` (300). */
  cache_ttl?: number;
  /** Active results kept in memory, keyed by SHA-256 of the token. 0 disables the cache. Default 10000. */
  cache_max?: number;
  /**
   * Seconds a refused token (`active: false`, wrong issuer, expired) is remembered, so a replayed
   * bad token costs no call. Default 30, at most 30; 0 disables. Kept apart from active results, so a
   * flood of garbage tokens cannot evict them.
   */
  negative_cache_ttl_seconds?: number;
  /** @deprecated Use `negative_cache_ttl_seconds`. Removed in 0.3. */
  negative_cache_ttl?: number;
  /** Refused tokens remembered. Default 10000. */
  negative_cache_max?: number;
  /** Timeout of one introspection call (body included), in milliseconds. Default 5000. */
  timeout_ms?: number;
  /** @deprecated Use `timeout_ms`. Removed in 0.3. */
  timeout?: number;
  /**
   * Back-off after an outage (network error, timeout, 5xx, 429, a body that is not JSON or too
   * large), in milliseconds: `initial_ms` (default 1000) doubling up to `max_ms` (default 30000),
   * 20 % jitter. While it runs, tokens that are not cached are answered 503 with `Retry-After` at
   * once. Any other answer (another status, a JSON body of the wrong shape) is about the token
   * asked for: that token is refused, and nobody else is affected.
   */
  backoff?: BackoffWindow;
  /** Custom fetch (tests, proxies). */
  fetch?: Fetch;
  /**
   * Clock in epoch milliseconds, like `Date.now` (the default): `exp`/`nbf`/`iat`, caches, back-off, client assertions.
   */
  clock?: Clock;
}

const OptionsSchema = optionsSchema(
  "IntrospectionValidator",
  z
    .strictObject({
      introspection_endpoint: urlOption({ https: true }),
      ...clientCredentialShape,
      audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
      allow_missing_aud: z.boolean().optional(),
      issuer: z.string().min(1).optional(),
      scope_claims: z.array(z.string().min(1)).min(1).optional(),
      ...principalOptionsShape,
      clock_tolerance_seconds: z.number().min(0).max(300).optional(),
      cache_ttl: z.number().int().positive().max(86_400).optional(),
      cache_max: z.number().int().min(0).max(1_000_000).optional(),
      negative_cache_ttl_seconds: z.number().int().min(0).max(30).optional(),
      negative_cache_max: z.number().int().positive().max(1_000_000).optional(),
      timeout_ms: z.number().int().positive().max(60_000).optional(),
      backoff: backoffWindowSchema.optional(),
      fetch: z.custom<Fetch>((v) => typeof v === "function").optional(),
      clock: z.custom<Clock>((v) => typeof v === "function").optional(),
    })
    .superRefine(refineClientCredentials),
  {
    ...principalRenamed,
    clock_tolerance: "clock_tolerance_seconds",
    negative_cache_ttl: "negative_cache_ttl_seconds",
    timeout: "timeout_ms",
  },
);

/**
 * RFC 7662 §2.2 response, as far as we read it (checked by {@link judgeResponse}); other members are kept in `claims`.
 */
interface IntrospectionResponse {
  active: true;
  client_id?: string;
  exp?: number;
  nbf?: number;
  iat?: number;
  aud?: string | string[];
  iss?: string;
  token_type?: string;
  cnf?: unknown;
  [member: string]: unknown;
}

/** An accepted introspection result, before the per-resource audience check. */
interface Active {
  auth: AuthContext;
  aud: readonly string[] | undefined;
}
/** A refusal, kept as data so each request gets a fresh error. Never holds token material. */
interface Refusal {
  refused: string;
  reason: RefusalReason;
  expired?: boolean;
  /** Internal detail (e.g. the endpoint's status); never sent to a client. */
  detail?: string;
}
/** What a call (or a cache hit) yields. */
type Outcome = { active: Active } | Refusal;

/** The error for a refusal (fresh each time, so no request shares a stack or a cause). */
function refusalError(r: Refusal): InvalidToken {
  const cause = r.detail === undefined ? undefined : new Error(`introspection: ${r.detail}`);
  return r.expired ? new TokenExpired({ cause }) : new InvalidToken(r.refused, { cause, reason: r.reason });
}

const NOT_ACTIVE = "The access token is not active";
const ACCEPTED_TOKEN_TYPES = new Set(["bearer", "dpop"]);

/** A response member of the wrong type: that token is refused, as a JWT with a mistyped claim is. */
const invalidMember = (m: string): Refusal => ({
  refused: `The access token ${m} claim is invalid`,
  reason: "claim_invalid",
});
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === "string");
/** Member types of RFC 7662 §2.2 (null counts as absent); `scope` may be a string or an array of strings. */
const MEMBER_TYPES: readonly [string, (v: unknown) => boolean][] = [
  ["scope", (v) => typeof v === "string" || isStringArray(v)],
  ["client_id", (v) => typeof v === "string"],
  ["username", (v) => typeof v === "string"],
  ["token_type", (v) => typeof v === "string"],
  ["exp", (v) => typeof v === "number" && Number.isFinite(v)],
  ["iat", (v) => typeof v === "number" && Number.isFinite(v)],
  ["nbf", (v) => typeof v === "number" && Number.isFinite(v)],
  ["sub", (v) => typeof v === "string"],
  ["aud", (v) => typeof v === "string" || isStringArray(v)],
  ["iss", (v) => typeof v === "string"],
];

/**
 * Check the shape of a 200 answer. `active` is true only as the JSON boolean `true` (`"true"`, `1`
 * are not); a member of the wrong type refuses the token. Null members are dropped, as absent.
 */
function responseShape(json: unknown): { response: IntrospectionResponse } | Refusal {
  if (typeof json !== "object" || json === null || Array.isArray(json))
    return { refused: NOT_ACTIVE, reason: "inactive", detail: "not a JSON object" };
  const r: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) if (v !== null) r[k] = v;
  if (r.active !== true) return { refused: NOT_ACTIVE, reason: "inactive" };
  for (const [member, ok] of MEMBER_TYPES) if (r[member] !== undefined && !ok(r[member])) return invalidMember(member);
  return { response: r as IntrospectionResponse };
}

/**
 * Validates access tokens by RFC 7662 introspection at the authorization server: for opaque tokens
 * (Google, Auth0 without an audience, Keycloak/Okta/oidc-provider opaque formats), or whenever
 * revocation must be seen within seconds.
 *
 * - **Audience**: the response's `aud` must name this resource (default: the server's `resource`);
 *   a response with no `aud` is refused unless `allow_missing_aud` is set.
 * - **Mapping**: `sub` → `subject` (required unless `allow_missing_subject`, which makes it the
 *   `client_id`), `scope` (string or array) → `scopes`, `client_id`, `iss`, `exp`, `cnf.jkt` → `jkt`
 *   (so DPoP-bound opaque tokens need a proof, and a bearer downgrade is refused by the server). A
 *   token bound some other way (`cnf` without a string `jkt`, e.g. mTLS) is refused.
 * - **Shape**: `active` is true only as the JSON boolean `true`; a member of the wrong type (`exp`
 *   as a string) refuses the token; `iat` must not be in the future (nor older than `max_token_age`).
 * - **Cache**: active results keyed by SHA-256 of the token, bounded by `cache_max`, never kept past
 *   the token's `exp` nor `cache_ttl` — so a revoked token is refused at most `cache_ttl` seconds
 *   after revocation. Refusals are kept at most 30 s in a separate bounded cache.
 * - **One call per token at a time**: concurrent requests with the same token share one call.
 * - **Outages** (network error, timeout, 5xx, 429, non-JSON, oversized answer) become
 *   {@link AuthorizationUnavailable} (503 + `Retry-After`, or anonymous under `fail_open`), and the
 *   calls back off exponentially; cached tokens keep working meanwhile. Any other answer (3xx, 4xx, a
 *   200 of the wrong shape) refuses the token asked about (401, negatively cached) and no other.
 *
 * The token is only ever sent to `introspection_endpoint` (redirects are not followed) and never
 * appears in errors.
 *
 * @example
 * ```ts
 * server.setAuthorizationProvider(new IntrospectionValidator({
 *   introspection_endpoint: "https://auth.example.com/oauth2/introspect",
 *   client_id: "mcp-rs",
 *   client_secret: process.env.MCP_RS_SECRET!,
 * }));
 * ```
 * @see RFC 7662 §2
 */
export class IntrospectionValidator implements AuthorizationProvider {
  readonly #o: Readonly<IntrospectionValidatorOptions>;
  readonly #clock: () => number;
  readonly #backoff: Backoff;
  readonly #positive: LRUCache<string, Active> | undefined;
  readonly #negative: LRUCache<string, Refusal> | undefined;
  readonly #inflight = new Map<string, Promise<Outcome>>();
  readonly #clientAuth: ClientAuthentication;
  #cacheTtlMs: number | undefined;

  /**
   * @param options - see {@link IntrospectionValidatorOptions}.
   * @throws {@link ConfigError} naming each bad option.
   */
  constructor(options: IntrospectionValidatorOptions) {
    const parsed = parseOptions(OptionsSchema, options, "IntrospectionValidator");
    const o = (this.#o = Object.freeze({ ...parsed }) as IntrospectionValidatorOptions);
    this.#clock = o.clock ?? Date.now;
    // RFC 7523bis: the assertion's audience is the issuer when known, else the endpoint.
    this.#clientAuth = new ClientAuthentication(
      o,
      o.client_assertion_audience ?? o.issuer ?? o.introspection_endpoint,
      this.#clock,
    );
    this.#backoff = new Backoff({ clock: this.#clock, ...o.backoff });
    const perf = { now: this.#clock };
    const max = o.cache_max ?? 10_000;
    // Entries get their own ttl (never beyond exp nor cache_ttl); the constructor ttl switches TTL tracking on.
    this.#positive =
      max > 0
        ? new LRUCache<string, Active>({ max, ttl: 86_400_000, ttlAutopurge: false, ttlResolution: 0, perf })
        : undefined;
    const negTtl = (o.negative_cache_ttl_seconds ?? 30) * 1000;
    this.#negative =
      negTtl > 0
        ? new LRUCache({
            max: o.negative_cache_max ?? 10_000,
            ttl: negTtl,
            ttlAutopurge: false,
            ttlResolution: 0,
            perf,
          })
        : undefined;
  }

  /**
   * The authorization server this validator trusts, for RFC 9728 `authorization_servers`: `[issuer]`
   * when the `issuer` option is set, else empty.
   */
  get issuers(): readonly string[] {
    return this.#o.issuer ? [this.#o.issuer] : [];
  }

  /**
   * Verify `token` for `context.resource` by introspection (or from the cache).
   *
   * Does not check scopes (the server does) nor the DPoP proof (the server does, for a token whose
   * response carries `cnf.jkt`).
   *
   * @throws {@link InvalidToken}, {@link TokenExpired}, {@link AuthorizationUnavailable}
   */
  async verify(token: string, context: VerifyContext): Promise<AuthContext> {
    this.#cacheTtlMs ??= (this.#o.cache_ttl ?? context.cache_ttl ?? 300) * 1000;
    const key = sha256(token);
    let active = this.#cachedActive(key);
    if (!active) {
      const refused = this.#negative?.get(key);
      const outcome = refused ?? (await this.#introspectOnce(key, token));
      if ("refused" in outcome) throw refusalError(outcome);
      active = outcome.active;
    }
    const refusal = this.#audienceRefusal(active, context);
    if (refusal) throw refusal;
    return active.auth;
  }

  /**
   * The principal of `token` when an earlier introspection found it active (for an audience this
   * context accepts) and it has not expired since; `undefined` otherwise, refusals included (those
   * are `verify`'s to throw). Synchronous, never throws, never calls the authorization server.
   */
  verifyCached(token: string, context: VerifyContext): AuthContext | undefined {
    if (!this.#positive) return undefined;
    const active = this.#cachedActive(sha256(token));
    return active && !this.#audienceRefusal(active, context) ? active.auth : undefined;
  }

  /** A cached active result that has not expired since; drops an expired one. */
  #cachedActive(key: string): Active | undefined {
    const active = this.#positive?.get(key);
    if (active && active.auth.expires_at !== undefined && active.auth.expires_at * 1000 <= this.#clock()) {
      this.#positive?.delete(key);
      return undefined;
    }
    return active;
  }

  /** Why `active` is not for this resource, or `undefined` when it is. */
  #audienceRefusal(active: Active, context: VerifyContext): InvalidToken | undefined {
    const wanted = ([] as string[]).concat(this.#o.audience ?? context.resource);
    if (active.aud === undefined) {
      if (this.#o.allow_missing_aud) return undefined;
      return new InvalidToken("The access token is not intended for this resource", {
        cause: new Error("the introspection response has no aud"),
        reason: "claim_missing",
      });
    }
    return active.aud.some((a) => wanted.includes(a))
      ? undefined
      : new InvalidToken("The access token is not intended for this resource", { reason: "audience_mismatch" });
  }

  /** Single flight: concurrent requests for the same token hash share one call. */
  #introspectOnce(key: string, token: string): Promise<Outcome> {
    const running = this.#inflight.get(key);
    if (running) return running;
    if (!this.#backoff.ready()) return Promise.reject(this.#unavailable());
    const promise = this.#introspect(key, token).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, promise);
    return promise;
  }

  #unavailable(cause?: unknown): AuthorizationUnavailable {
    return new AuthorizationUnavailable({
      cause,
      retry_after: this.#backoff.ready() ? 1 : this.#backoff.retryAfterSeconds(),
    });
  }

  async #introspect(key: string, token: string): Promise<Outcome> {
    let answer: { response: IntrospectionResponse } | Refusal;
    try {
      answer = await this.#call(token);
      // The endpoint answered: whatever it said is about this token alone, never an outage.
      this.#backoff.succeeded();
    } catch (e) {
      if (e instanceof AuthError) throw e;
      this.#backoff.failed();
      throw this.#unavailable(e);
    }
    const outcome = "refused" in answer ? answer : this.#judge(answer.response, token);
    if ("active" in outcome) {
      const exp = outcome.active.auth.expires_at;
      const ttl = Math.min(
        this.#cacheTtlMs ?? 300_000,
        exp !== undefined ? exp * 1000 - this.#clock() : Number.POSITIVE_INFINITY,
      );
      if (ttl > 0) this.#positive?.set(key, outcome.active, { ttl });
    } else {
      this.#negative?.set(key, outcome);
    }
    return outcome;
  }

  /** Turn a well-shaped active response into an accepted principal or a refusal (audience aside). */
  #judge(r: IntrospectionResponse, token: string): Outcome {
    const o = this.#o;
    const nowMs = this.#clock();
    const now = nowMs / 1000;
    const skew = o.clock_tolerance_seconds ?? 30;
    if (r.exp !== undefined && r.exp <= now - skew) return { refused: "", reason: "expired", expired: true };
    if (r.nbf !== undefined && r.nbf > now + skew)
      return { refused: "The access token is not yet valid", reason: "not_yet_valid" };
    if (o.issuer !== undefined && r.iss !== o.issuer)
      return {
        refused: "The access token issuer is not trusted",
        reason: r.iss === undefined ? "claim_missing" : "issuer_untrusted",
      };
    if (r.token_type !== undefined && !ACCEPTED_TOKEN_TYPES.has(r.token_type.toLowerCase()))
      return { refused: "The access token type is not accepted", reason: "token_type" };
    let auth: AuthContext;
    try {
      checkIssuedAt(r.iat, nowMs, skew, o.max_token_age_seconds);
      const jkt = bindingOf(r.cnf);
      // `token_type: DPoP` without a `cnf.jkt` is bound to a key we were not told: no bearer use either.
      if (!jkt && r.token_type?.toLowerCase() === "dpop") bindingOf(null);
      const client_id = r.client_id !== undefined && r.client_id.length > 0 ? r.client_id : undefined;
      const claims = Object.freeze(structuredClone(r)) as unknown as Readonly<JWTPayload>;
      const subject = subjectOf(
        claims,
        { subject_claim: o.subject_claim, allow_missing_subject: o.allow_missing_subject },
        client_id,
      );
      auth = createAuthContext(
        {
          subject,
          scopes: Object.freeze(extractScopes(claims as JWTPayload, o.scope_claims ?? ["scope"])),
          claims,
          client_id,
          issuer: r.iss,
          expires_at: r.exp,
          jkt,
        },
        token,
      );
    } catch (e) {
      if (e instanceof InvalidToken) return { refused: e.message, reason: e.reason };
      throw e;
    }
    const aud = r.aud === undefined ? undefined : Object.freeze(([] as string[]).concat(r.aud));
    return { active: { auth, aud } };
  }

  /**
   * One POST to the endpoint: the response, or a refusal of this token when the endpoint answered
   * something else than a well-shaped active response. Throws {@link RemoteFetchFailed} only for an
   * outage: network error, timeout, 5xx, 429, a body that is not JSON or too large.
   */
  async #call(token: string): Promise<{ response: IntrospectionResponse } | Refusal> {
    const o = this.#o;
    const headers = new Headers({ "content-type": "application/x-www-form-urlencoded", accept: "application/json" });
    const body = new URLSearchParams({ token, token_type_hint: "access_token" });
    await this.#clientAuth.apply(headers, body);
    const res = await fetchJson(
      o.fetch ?? ((url, init) => fetch(url, init)),
      o.introspection_endpoint,
      { method: "POST", headers, body: body.toString() },
      {
        timeout_ms: o.timeout_ms ?? 5000,
        max_bytes: MAX_INTROSPECTION_RESPONSE_BYTES,
      },
    );
    if (res.status >= 500 || res.status === 429) throw new RemoteFetchFailed(`status ${res.status}`);
    // 3xx (redirects are not followed) and 4xx: refuse this token, fail closed. Even when the cause
    // is ours (a wrong client secret), an anonymous pass under fail_open would be worse.
    if (res.status !== 200)
      return {
        refused: "The access token was not accepted by the authorization server",
        reason: "token_invalid",
        detail: `status ${res.status}`,
      };
    return responseShape(res.json);
  }
}
