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
import type { CryptoKey, FetchImplementation, JWK, JWTPayload } from "jose";
import { LRUCache } from "lru-cache";
import { z } from "zod";
import { createAuthContext, type AuthContext } from "../context.js";
import { AuthError, AuthorizationUnavailable, InvalidToken, TokenExpired } from "../errors.js";
import { Backoff, type BackoffWindow } from "../lib/backoff.js";
import { extractScopes } from "./jwt.js";
import type { AuthorizationProvider, VerifyContext } from "./provider.js";
import { fetchJson, isSecureOrLoopback, RemoteFetchFailed } from "./remote-json.js";
import { backoffWindowSchema, parseOptions } from "../lib/options.js";
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
  /** The authorization server's RFC 7662 endpoint. `https:` (plain `http:` only on loopback). Tokens are sent here and nowhere else; redirects are not followed. */
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
  /** `aud` of the client assertion. Default: `issuer` when set (as RFC 7523bis asks), else the introspection endpoint. */
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
  /** Response members holding scopes, in order (string split on spaces, or array). Default `["scope"]`. */
  scope_claims?: string[];
  /** Clock skew tolerated for `exp` / `nbf`, in seconds. Default 30; at most 300. */
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
  negative_cache_ttl?: number;
  /** Refused tokens remembered. Default 10000. */
  negative_cache_max?: number;
  /** Timeout of one introspection call (body included), in milliseconds. Default 5000. */
  timeout?: number;
  /**
   * Back-off after a failed call (network error, timeout, non-200, non-JSON, oversized), in
   * milliseconds: `initial_ms` (default 1000) doubling up to `max_ms` (default 30000), 20 % jitter.
   * While it runs, tokens that are not cached are answered 503 with `Retry-After` at once.
   */
  backoff?: BackoffWindow;
  /** Custom fetch (tests, proxies). */
  fetch?: FetchImplementation;
  /** Clock in epoch milliseconds, for tests. Default `Date.now`. */
  now?: () => number;
}

const OptionsSchema = z
  .strictObject({
    introspection_endpoint: z
      .url({ protocol: /^https?$/ })
      .refine((u) => isSecureOrLoopback(new URL(u)), { error: "must be https (plain http only on loopback)" }),
    ...clientCredentialShape,
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    allow_missing_aud: z.boolean().optional(),
    issuer: z.string().min(1).optional(),
    scope_claims: z.array(z.string().min(1)).min(1).optional(),
    clock_tolerance: z.number().min(0).max(300).optional(),
    cache_ttl: z.number().int().positive().max(86_400).optional(),
    cache_max: z.number().int().min(0).max(1_000_000).optional(),
    negative_cache_ttl: z.number().int().min(0).max(30).optional(),
    negative_cache_max: z.number().int().positive().max(1_000_000).optional(),
    timeout: z.number().int().positive().max(60_000).optional(),
    backoff: backoffWindowSchema.optional(),
    fetch: z.custom<FetchImplementation>((v) => typeof v === "function").optional(),
    now: z.custom<() => number>((v) => typeof v === "function").optional(),
  })
  .superRefine(refineClientCredentials);

/** RFC 7662 §2.2 response, as far as we read it; other members are kept in `claims`. */
const ResponseSchema = z.looseObject({
  active: z.boolean(),
  scope: z.string().nullish(),
  client_id: z.string().nullish(),
  sub: z.string().nullish(),
  exp: z.number().nullish(),
  nbf: z.number().nullish(),
  aud: z.union([z.string(), z.array(z.string())]).nullish(),
  iss: z.string().nullish(),
  token_type: z.string().nullish(),
  cnf: z.looseObject({ jkt: z.string().nullish() }).nullish(),
});
type IntrospectionResponse = z.infer<typeof ResponseSchema>;

/** An accepted introspection result, before the per-resource audience check. */
interface Active {
  auth: AuthContext;
  aud: readonly string[] | undefined;
}
/** What a call (or a cache hit) yields. Refusals are kept as a message so each request gets a fresh error. */
type Outcome = { active: Active } | { refused: string; expired?: boolean };

const NOT_ACTIVE = "The access token is not active";
const ACCEPTED_TOKEN_TYPES = new Set(["bearer", "dpop"]);

/**
 * Validates access tokens by RFC 7662 introspection at the authorization server: for opaque tokens
 * (Google, Auth0 without an audience, Keycloak/Okta/oidc-provider opaque formats), or whenever
 * revocation must be seen within seconds.
 *
 * - **Audience**: the response's `aud` must name this resource (default: the server's `resource`);
 *   a response with no `aud` is refused unless `allow_missing_aud` is set.
 * - **Mapping**: `sub` (else `client_id`) → `subject`, `scope` → `scopes`, `client_id`, `iss`,
 *   `exp`, `cnf.jkt` → `jkt` (so DPoP-bound opaque tokens need a proof, and a bearer downgrade is
 *   refused by the server). A token bound some other way (`cnf` without `jkt`, e.g. mTLS) is refused.
 * - **Cache**: active results keyed by SHA-256 of the token, bounded by `cache_max`, never kept past
 *   the token's `exp` nor `cache_ttl` — so a revoked token is refused at most `cache_ttl` seconds
 *   after revocation. Refusals are kept at most 30 s in a separate bounded cache.
 * - **One call per token at a time**: concurrent requests with the same token share one call.
 * - **Outages** (network error, timeout, non-200, non-JSON, oversized answer) become
 *   {@link AuthorizationUnavailable} (503 + `Retry-After`, or anonymous under `fail_open`), and the
 *   calls back off exponentially; cached tokens keep working meanwhile.
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
  readonly #now: () => number;
  readonly #backoff: Backoff;
  readonly #positive: LRUCache<string, Active> | undefined;
  readonly #negative: LRUCache<string, { refused: string; expired?: boolean }> | undefined;
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
    this.#now = o.now ?? Date.now;
    // RFC 7523bis: the assertion's audience is the issuer when known, else the endpoint.
    this.#clientAuth = new ClientAuthentication(o, o.issuer ?? o.introspection_endpoint, this.#now);
    this.#backoff = new Backoff({ now: this.#now, ...o.backoff });
    const perf = { now: this.#now };
    const max = o.cache_max ?? 10_000;
    // Entries get their own ttl (never beyond exp nor cache_ttl); the constructor ttl switches TTL tracking on.
    this.#positive = max > 0 ? new LRUCache<string, Active>({ max, ttl: 86_400_000, ttlAutopurge: false, ttlResolution: 0, perf }) : undefined;
    const negTtl = (o.negative_cache_ttl ?? 30) * 1000;
    this.#negative = negTtl > 0 ? new LRUCache({ max: o.negative_cache_max ?? 10_000, ttl: negTtl, ttlAutopurge: false, ttlResolution: 0, perf }) : undefined;
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
      if ("refused" in outcome) throw outcome.expired ? new TokenExpired() : new InvalidToken(outcome.refused);
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
    if (active && active.auth.expires_at !== undefined && active.auth.expires_at * 1000 <= this.#now()) {
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
      return new InvalidToken("The access token is not intended for this resource", { cause: new Error("the introspection response has no aud") });
    }
    return active.aud.some((a) => wanted.includes(a)) ? undefined : new InvalidToken("The access token is not intended for this resource");
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
    return new AuthorizationUnavailable({ cause, retry_after: this.#backoff.ready() ? 1 : this.#backoff.retryAfterSeconds() });
  }

  async #introspect(key: string, token: string): Promise<Outcome> {
    let response: IntrospectionResponse;
    try {
      response = await this.#call(token);
      this.#backoff.succeeded();
    } catch (e) {
      if (e instanceof AuthError) throw e;
      this.#backoff.failed();
      throw this.#unavailable(e);
    }
    const outcome = this.#judge(response, token);
    if ("active" in outcome) {
      const exp = outcome.active.auth.expires_at;
      const ttl = Math.min(this.#cacheTtlMs ?? 300_000, exp !== undefined ? exp * 1000 - this.#now() : Number.POSITIVE_INFINITY);
      if (ttl > 0) this.#positive?.set(key, outcome.active, { ttl });
    } else {
      this.#negative?.set(key, outcome);
    }
    return outcome;
  }

  /** Turn a well-formed response into an accepted principal or a refusal (audience aside). */
  #judge(r: IntrospectionResponse, token: string): Outcome {
    const o = this.#o;
    if (!r.active) return { refused: NOT_ACTIVE };
    const now = this.#now() / 1000;
    const skew = o.clock_tolerance ?? 30;
    if (typeof r.exp === "number" && r.exp <= now - skew) return { refused: "", expired: true };
    if (typeof r.nbf === "number" && r.nbf > now + skew) return { refused: "The access token is not yet valid" };
    if (o.issuer !== undefined && r.iss !== o.issuer) return { refused: "The access token issuer is not trusted" };
    if (typeof r.token_type === "string" && !ACCEPTED_TOKEN_TYPES.has(r.token_type.toLowerCase())) return { refused: "The access token type is not accepted" };
    const jkt = typeof r.cnf?.jkt === "string" && r.cnf.jkt.length > 0 ? r.cnf.jkt : undefined;
    // A token bound to something we cannot check (mTLS `x5t#S256`, …) must not pass as a bearer token.
    if (!jkt && (r.cnf != null || r.token_type?.toLowerCase() === "dpop")) return { refused: "The access token is bound to a key this resource cannot check" };
    const client_id = typeof r.client_id === "string" && r.client_id.length > 0 ? r.client_id : undefined;
    const subject = (typeof r.sub === "string" && r.sub.length > 0 ? r.sub : undefined) ?? client_id;
    if (!subject) return { refused: "The access token lacks the required sub claim" };
    const claims = Object.freeze(structuredClone(r)) as unknown as Readonly<JWTPayload>;
    const auth = createAuthContext(
      {
        subject,
        scopes: Object.freeze(extractScopes(claims as JWTPayload, o.scope_claims ?? ["scope"])),
        claims,
        client_id,
        issuer: typeof r.iss === "string" ? r.iss : undefined,
        expires_at: typeof r.exp === "number" ? r.exp : undefined,
        jkt,
      },
      token,
    );
    const aud = r.aud == null ? undefined : Object.freeze(([] as string[]).concat(r.aud));
    return { active: { auth, aud } };
  }

  /** One POST to the endpoint. Throws {@link RemoteFetchFailed} for anything but a well-formed 200. */
  async #call(token: string): Promise<IntrospectionResponse> {
    const o = this.#o;
    const headers = new Headers({ "content-type": "application/x-www-form-urlencoded", accept: "application/json" });
    const body = new URLSearchParams({ token, token_type_hint: "access_token" });
    await this.#clientAuth.apply(headers, body);
    const res = await fetchJson(o.fetch ?? ((url, init) => fetch(url, init)), o.introspection_endpoint, { method: "POST", headers, body: body.toString() }, {
      timeout_ms: o.timeout ?? 5000,
      max_bytes: MAX_INTROSPECTION_RESPONSE_BYTES,
    });
    if (res.status !== 200) throw new RemoteFetchFailed(`status ${res.status}`);
    const parsed = ResponseSchema.safeParse(res.json);
    if (!parsed.success) throw new RemoteFetchFailed("not an introspection response");
    return parsed.data;
  }
}
