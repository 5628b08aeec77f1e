/**
 * `EntraMultiTenantValidator`: Microsoft Entra ID (v2) access tokens from several tenants of one
 * multi-tenant application.
 *
 * @see https://learn.microsoft.com/entra/identity-platform/access-tokens#validate-tokens
 * @module
 */
import { decodeJwt, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from "jose";
import { z } from "zod";
import type { AuthContext } from "../context/types.js";
import { AuthorizationUnavailable, InvalidToken } from "../errors.js";
import { emitSafely, type AuthEventListener } from "../events.js";
import type { IssuerFamily } from "./issuer-router.js";
import { RemoteKeySet } from "./key-set.js";
import type { VerifyContext } from "./provider.js";
import { JWS_COMPACT, verifyJwt } from "./jwt-checks.js";
import { principalFromClaims, VerifiedTokenCache, type PrincipalProfile } from "./jwt-principal.js";
import {
  backoffWindowSchema,
  optionsSchema,
  parseOptions,
  principalOptionsShape,
  principalRenamed,
  urlOption,
} from "../lib/options.js";
import type { BackoffWindow } from "../lib/backoff.js";
import type { Clock } from "../lib/clock.js";
import type { Fetch } from "../lib/fetch.js";

/** Where Entra ID signs in, world-wide cloud. National clouds use another host (`authority_host`). */
export const ENTRA_AUTHORITY_HOST = "login.microsoftonline.com";

/**
 * The tenant of Microsoft personal accounts (MSA: outlook.com, xbox.com, …). Its tokens carry this
 * `tid`; `any_tenant` excludes it unless `allow_personal_accounts` is set, because "any work or
 * school tenant" is what multi-tenant apps usually mean, and anyone can create a personal account.
 */
export const ENTRA_PERSONAL_ACCOUNTS_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad";

/**
 * Options of {@link EntraMultiTenantValidator}. Exactly one of `tenants` or `any_tenant: true`.
 *
 * @example
 * ```ts
 * new EntraMultiTenantValidator({
 *   tenants: ["72f988bf-86f1-41af-91ab-2d7cd011db47", "f8cdef31-a31e-4b4a-93e4-5f571e91255a"],
 *   audience: "api://mcp-files",            // or the application (client) ID GUID
 * });
 * ```
 */
export interface EntraMultiTenantOptions {
  /** Tenant IDs (GUIDs) whose tokens are accepted. Required unless `any_tenant` is `true`. */
  tenants?: string[];
  /**
   * Accept tokens from **every** Entra tenant (anyone with a Microsoft work or school account whose
   * tenant consented to your app; personal accounts only with `allow_personal_accounts`). Only for apps that authorize
   * per user or per tenant themselves;
   * a warning is logged once, through `log`.
   */
  any_tenant?: boolean;
  /**
   * With `any_tenant`, also accept Microsoft personal accounts (tenant
   * `9188040d-6c67-4c5b-b112-36a304b66dad`). Default `false`: anyone can create one.
   */
  allow_personal_accounts?: boolean;
  /** The application (client) ID GUID, or its `api://…` App ID URI. Required: Entra never uses the resource URL. */
  audience: string | string[];
  /** Sign-in host. Default `login.microsoftonline.com`; e.g. `login.microsoftonline.us` for US Government. */
  authority_host?: string;
  /**
   * Key set (neither userinfo nor fragment). Default `https://{authority_host}/common/discovery/v2.0/keys` (shared by
   * all tenants).
   */
  jwks_uri?: string;
  /** Allowed JWS algorithms. Default `["RS256"]` (what Entra signs with). */
  algorithms?: string[];
  /** Clock skew tolerated, seconds. Default 30; at most 300. */
  clock_tolerance_seconds?: number;
  /** @deprecated Use `clock_tolerance_seconds`. Removed in 0.3. */
  clock_tolerance?: number;
  /** Scope claims. Default `["scp", "roles"]`: delegated scopes and application permissions. */
  scope_claims?: string[];
  /** Client id claims. Default `["azp", "appid"]`. */
  client_id_claims?: string[];
  /**
   * Claim holding the subject. Default `"sub"` (Entra always sets it; app-only tokens carry the service principal's
   * id).
   */
  subject_claim?: string;
  /** Accept a token without the subject claim (its subject is then its client id). Default `false`. */
  allow_missing_subject?: boolean;
  /** Refuse a token issued (`iat`) more than this many seconds ago (`too_old`). Default: not checked. */
  max_token_age_seconds?: number;
  /** @deprecated Use `max_token_age_seconds`. Removed in 0.3. */
  max_token_age?: number;
  /** Seconds keys and verified tokens are cached. Default: the server's `cache_ttl` (300). */
  cache_ttl?: number;
  /** Verified tokens kept in memory. 0 disables. Default 10000. */
  token_cache_max?: number;
  /** Key set fetch timeout, ms. Default 5000. */
  jwks_timeout_ms?: number;
  /** @deprecated Use `jwks_timeout_ms`. Removed in 0.3. */
  jwks_timeout?: number;
  /** Back-off between failed key set fetches, ms. */
  jwks_backoff?: BackoffWindow;
  /** Receives the one-time `any_tenant` warning. Default `console.warn`. */
  on_warning?: (message: string) => void;
  /** @deprecated Use `on_warning`. Removed in 0.3. */
  log?: (message: string) => void;
  /** Custom fetch for the key set (tests, proxies). */
  fetch?: Fetch;
  /** Clock in epoch milliseconds, like `Date.now` (the default): `exp`/`nbf`/`iat`, the token cache, the key set. */
  clock?: Clock;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const OptionsSchema = optionsSchema(
  "EntraMultiTenantValidator",
  z
    .strictObject({
      tenants: z
        .array(z.string().toLowerCase().regex(GUID, { error: "must be tenant ID GUIDs" }))
        .min(1)
        .optional(),
      any_tenant: z.boolean().optional(),
      allow_personal_accounts: z.boolean().optional(),
      audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
      authority_host: z
        .string()
        .regex(/^[a-z0-9.-]+(?::\d+)?$/i, { error: "must be a host name" })
        .optional(),
      jwks_uri: urlOption().optional(),
      algorithms: z
        .array(
          z.string().regex(/^(?!none$)(?!HS\d+$)[A-Za-z0-9]+$/, { error: "'none' and HMAC algorithms are refused" }),
        )
        .min(1)
        .optional(),
      clock_tolerance_seconds: z.number().min(0).max(300).optional(),
      scope_claims: z.array(z.string().min(1)).min(1).optional(),
      client_id_claims: z.array(z.string().min(1)).min(1).optional(),
      ...principalOptionsShape,
      cache_ttl: z.number().int().positive().max(86_400).optional(),
      token_cache_max: z.number().int().min(0).max(1_000_000).optional(),
      jwks_timeout_ms: z.number().int().positive().max(60_000).optional(),
      jwks_backoff: backoffWindowSchema.optional(),
      on_warning: z.custom<(m: string) => void>((v) => typeof v === "function").optional(),
      fetch: z.custom<Fetch>((v) => typeof v === "function").optional(),
      clock: z.custom<Clock>((v) => typeof v === "function").optional(),
    })
    .superRefine((o, ctx) => {
      if (o.any_tenant === true && o.tenants)
        ctx.addIssue({ code: "custom", path: ["tenants"], message: "use tenants or any_tenant: true, not both" });
      if (o.any_tenant !== true && !o.tenants)
        ctx.addIssue({
          code: "custom",
          path: ["tenants"],
          message: "a tenant allowlist is required (or an explicit any_tenant: true)",
        });
      if (o.allow_personal_accounts !== undefined && o.any_tenant !== true) {
        ctx.addIssue({
          code: "custom",
          path: ["allow_personal_accounts"],
          message: "only with any_tenant: true (list the personal-accounts tenant in tenants instead)",
        });
      }
    }),
  {
    ...principalRenamed,
    clock_tolerance: "clock_tolerance_seconds",
    jwks_timeout: "jwks_timeout_ms",
    log: "on_warning",
  },
);

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/**
 * Entra ID v2 access tokens of a **multi-tenant** application: the issuer is
 * `https://login.microsoftonline.com/{tenantid}/v2.0`, one per tenant, all signed with the keys of
 * the common key set (`…/common/discovery/v2.0/keys`).
 *
 * Checks, in order: the token's `iss` has that exact form with a tenant on the allowlist (or any
 * tenant with `any_tenant: true`) — *before* any key is fetched; the signature against the common
 * key set (RS256 by default; `none`/HMAC never); `iss` again, now verified; `aud` is the configured
 * application ID / App ID URI; `exp` (required), `nbf`; and **`tid` equals the tenant in `iss`**
 * (Microsoft's rule for multi-tenant validation: a token cannot claim one tenant in `iss` and
 * another in `tid`); then the shape checks every JWT validator makes (`iat` not in the future,
 * `sub` present, `cnf` absent or a DPoP `jkt`, surfaced as `jkt` so the server demands a proof).
 * Scopes come from `scp` (delegated) and `roles` (application permissions), the client from
 * `azp` / `appid`.
 *
 * It is an {@link IssuerFamily}: put it in an {@link IssuerRouter}'s `families` next to other
 * issuers, or use it alone as the provider. v1 tokens (`https://sts.windows.net/{tid}/`) are not
 * accepted: set `accessTokenAcceptedVersion: 2` in the app manifest.
 *
 * Key set behaviour (caching, stale-if-error, back-off, 503 + `Retry-After`) is that of
 * {@link JWTValidator}; verified tokens are cached the same way (bounded, never past `exp` nor
 * `cache_ttl`).
 *
 * @example
 * ```ts
 * server.setAuthorizationProvider(new EntraMultiTenantValidator({
 *   tenants: [contosoTenantId, fabrikamTenantId],
 *   audience: "api://mcp-files",
 * }));
 * ```
 */
export class EntraMultiTenantValidator implements IssuerFamily {
  readonly #o: Readonly<EntraMultiTenantOptions>;
  readonly #issuerPattern: RegExp;
  readonly #tenants: ReadonlySet<string> | undefined;
  readonly #host: string;
  readonly #profile: PrincipalProfile;
  readonly #clock: () => number;
  readonly #cache: VerifiedTokenCache | undefined;
  #keySet: RemoteKeySet | undefined;
  #cacheTtlMs = 300_000;
  #emit: AuthEventListener | undefined;

  /**
   * @param options - see {@link EntraMultiTenantOptions}.
   * @throws {@link ConfigError} naming each bad option.
   */
  constructor(options: EntraMultiTenantOptions) {
    const parsed = parseOptions(OptionsSchema, options, "EntraMultiTenantValidator");
    const o = (this.#o = Object.freeze({ ...parsed }) as EntraMultiTenantOptions);
    this.#host = (o.authority_host ?? ENTRA_AUTHORITY_HOST).toLowerCase();
    this.#issuerPattern = new RegExp(
      `^https://${escapeRegExp(this.#host)}/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/v2\\.0$`,
    );
    this.#tenants = o.tenants ? new Set(o.tenants) : undefined;
    this.#clock = o.clock ?? Date.now;
    this.#profile = Object.freeze({
      scope_claims: o.scope_claims ?? ["scp", "roles"],
      client_id_claims: o.client_id_claims ?? ["azp", "appid"],
      subject_claim: o.subject_claim,
      allow_missing_subject: o.allow_missing_subject,
      clock_tolerance: o.clock_tolerance_seconds ?? 30,
      max_token_age: o.max_token_age_seconds,
    });
    const max = o.token_cache_max ?? 10_000;
    this.#cache = max > 0 ? new VerifiedTokenCache(max, o.clock) : undefined;
    if (o.any_tenant) {
      (o.on_warning ?? console.warn)(
        "[protected-mcp] EntraMultiTenantValidator: any_tenant is on — access tokens from EVERY Entra ID tenant are accepted when their audience matches; list the tenants you trust unless your tools authorize each tenant themselves",
      );
    }
  }

  /**
   * The issuers to advertise (RFC 9728 `authorization_servers`): one per allowed tenant; with
   * `any_tenant`, the `organizations` authority (`common` when personal accounts are allowed too;
   * Entra's metadata there names a `{tenantid}` template as issuer, which strict RFC 8414 clients
   * reject — list explicit tenants where you can).
   */
  get issuers(): readonly string[] {
    return this.#tenants
      ? Object.freeze([...this.#tenants].map((t) => `https://${this.#host}/${t}/v2.0`))
      : Object.freeze([`https://${this.#host}/${this.#o.allow_personal_accounts ? "common" : "organizations"}/v2.0`]);
  }

  /** Whether `iss` is an Entra v2 issuer of an accepted tenant. No I/O. */
  matchesIssuer(iss: string): boolean {
    return this.#tenantOf(iss) !== undefined;
  }

  #tenantOf(iss: unknown): string | undefined {
    if (typeof iss !== "string") return undefined;
    const tenant = this.#issuerPattern.exec(iss)?.[1];
    if (!tenant) return undefined;
    if (this.#tenants) return this.#tenants.has(tenant) ? tenant : undefined;
    return tenant !== ENTRA_PERSONAL_ACCOUNTS_TENANT || this.#o.allow_personal_accounts ? tenant : undefined;
  }

  #keys(context: VerifyContext): JWTVerifyGetKey {
    if (!this.#keySet) {
      const o = this.#o;
      this.#cacheTtlMs = (o.cache_ttl ?? context.cache_ttl ?? 300) * 1000;
      this.#keySet = new RemoteKeySet({
        url: o.jwks_uri ?? `https://${this.#host}/common/discovery/v2.0/keys`,
        cache_ttl_ms: this.#cacheTtlMs,
        cooldown_ms: 30_000,
        timeout_ms: o.jwks_timeout_ms ?? 5000,
        ...(o.jwks_backoff ? { backoff: o.jwks_backoff } : {}),
        fetch: o.fetch ?? ((url, init) => fetch(url, init)),
        onEvent: (e) => emitSafely(this.#emit, e),
        clock: this.#clock,
      });
    }
    return this.#keySet.getKey;
  }

  /**
   * The principal of `token` when this validator verified it before and it has not expired since;
   * `undefined` otherwise. Synchronous, never throws. Only tokens from accepted tenants are ever
   * cached (the tenants are fixed at construction), so a hit needs no issuer check.
   */
  verifyCached(token: string, _context: VerifyContext): AuthContext | undefined {
    return this.#cache?.get(token, this.#o.audience);
  }

  /**
   * Verify an Entra v2 access token from an accepted tenant.
   *
   * @throws {@link InvalidToken}, {@link TokenExpired}, {@link AuthorizationUnavailable}
   */
  async verify(token: string, context: VerifyContext): Promise<AuthContext> {
    const o = this.#o;
    const cached = this.#cache?.get(token, o.audience);
    if (cached) return cached;
    if (!JWS_COMPACT.test(token))
      throw new InvalidToken("The access token is not a signed JWT", { reason: "malformed" });
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(token);
    } catch (e) {
      throw new InvalidToken("The access token is malformed", { cause: e, reason: "malformed" });
    }
    const tenant = this.#tenantOf(unverified.iss);
    // Before any key is fetched: an issuer (or tenant) we do not trust costs nothing.
    if (!tenant)
      throw new InvalidToken("The access token issuer is not trusted", {
        reason: unverified.iss === undefined ? "claim_missing" : "issuer_untrusted",
      });

    if (context.emit) this.#emit = context.emit;
    const options: JWTVerifyOptions = {
      issuer: unverified.iss,
      audience: o.audience,
      algorithms: o.algorithms ?? ["RS256"],
      clockTolerance: o.clock_tolerance_seconds ?? 30,
      requiredClaims: ["exp", "iss", "tid"],
    };
    const nowMs = this.#clock();
    let payload: JWTPayload;
    try {
      payload = await verifyJwt(token, {
        key: this.#keys(context),
        options,
        fast: false,
        nowMs,
        unverified: { audience: o.audience, maxTokenAge: o.max_token_age_seconds },
      });
    } catch (e) {
      // While keys cannot be had, a tenant-mismatched token is refused too (never let in by fail_open).
      if (e instanceof AuthorizationUnavailable && unverified.tid !== tenant) throw tenantMismatch();
      throw e;
    }
    if (payload.tid !== tenant) throw tenantMismatch();
    const auth = principalFromClaims(payload, token, this.#profile, nowMs);
    this.#cache?.set(token, o.audience, auth, this.#cacheTtlMs);
    return auth;
  }
}

/** Microsoft's rule for multi-tenant validation: a token cannot claim one tenant in `iss` and another in `tid`. */
const tenantMismatch = (): InvalidToken =>
  new InvalidToken("The access token tenant does not match its issuer", { reason: "claim_invalid" });
