/**
 * From verified claims to a principal, one way for every validator: the token shape checks of
 * RFC 9068 §2.2 / §4 that jose does not make (`iat` not in the future, an optional maximum age, a
 * subject, a `cnf` this resource can check), the client id, the scopes, and the verified-token cache
 * of the JWT validators.
 *
 * `JWTValidator` and `EntraMultiTenantValidator` use all of it; `IntrospectionValidator` uses the
 * shape checks on the introspection response, so an opaque token is held to the same rules.
 *
 * @module
 */
import type { JWTPayload } from "jose";
import { LRUCache } from "lru-cache";
import { createAuthContext } from "../context/request-context.js";
import { type AuthContext } from "../context/types.js";
import { InvalidToken } from "../errors.js";

/** Walk a dotted claim path, e.g. `realm_access.roles`. */
export function claimAt(payload: JWTPayload, path: string): unknown {
  let v: unknown = payload;
  for (const part of path.split(".")) {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/**
 * Scopes from the configured claims: a space-separated string or an array of strings.
 *
 * @example
 * ```ts
 * extractScopes({ scope: "read write", scp: ["admin"] }); // ["read", "write", "admin"]
 * ```
 */
export function extractScopes(payload: JWTPayload, claims: readonly string[] = ["scope", "scp"]): string[] {
  const out = new Set<string>();
  for (const c of claims) {
    const v = claimAt(payload, c);
    const items = typeof v === "string" ? v.split(" ") : Array.isArray(v) ? v : [];
    for (const s of items) if (typeof s === "string" && s.length > 0) out.add(s);
  }
  return [...out];
}

/** The first of `claims` holding a non-empty string. */
export function firstString(payload: JWTPayload, claims: readonly string[]): string | undefined {
  for (const c of claims) {
    const v = claimAt(payload, c);
    if (typeof v === "string" && v.length > 0) return v;
  }
  return undefined;
}

/** The sentence of a `binding_unsupported` refusal. */
export const BINDING_UNSUPPORTED = "The access token is bound by a method this resource does not support";

/**
 * The DPoP key thumbprint a token is bound to (RFC 9449 §6: `cnf.jkt`), `undefined` for an unbound
 * token. A `cnf` that is present but is not an object with a non-empty string `jkt` (mTLS
 * `x5t#S256`, `jkt: 123`, `cnf: "x"`) names a binding this resource cannot check: accepting it as a
 * bearer token would drop the sender constraint the authorization server asked for, so it is refused.
 *
 * @throws {@link InvalidToken} with reason `binding_unsupported`.
 */
export function bindingOf(cnf: unknown): string | undefined {
  if (cnf === undefined) return undefined;
  const jkt =
    typeof cnf === "object" && cnf !== null && !Array.isArray(cnf) ? (cnf as { jkt?: unknown }).jkt : undefined;
  if (typeof jkt === "string" && jkt.length > 0) return jkt;
  throw new InvalidToken(BINDING_UNSUPPORTED, { reason: "binding_unsupported" });
}

/**
 * `iat` checks jose does not make without `maxTokenAge`: a token issued more than the clock
 * tolerance in the future is refused (`issued_in_future`: a clock gone wrong at the issuer, or a
 * token minted to outlive its key), and with `maxAge` one issued longer ago is refused (`too_old`).
 * An absent `iat` passes unless `maxAge` is set (the age cannot be known without it).
 *
 * @param nowMs - the validator's clock, epoch milliseconds.
 * @param tolerance - clock skew tolerated, seconds.
 * @param maxAge - oldest accepted token, seconds since `iat`.
 * @throws {@link InvalidToken} (`claim_missing`, `claim_invalid`, `issued_in_future`, `too_old`).
 */
export function checkIssuedAt(iat: unknown, nowMs: number, tolerance: number, maxAge?: number): void {
  if (iat === undefined || iat === null) {
    if (maxAge !== undefined)
      throw new InvalidToken("The access token lacks the required iat claim", { reason: "claim_missing" });
    return;
  }
  if (typeof iat !== "number" || !Number.isFinite(iat))
    throw new InvalidToken("The access token iat claim is invalid", { reason: "claim_invalid" });
  const now = Math.floor(nowMs / 1000);
  if (iat > now + tolerance)
    throw new InvalidToken("The access token was issued in the future", { reason: "issued_in_future" });
  if (maxAge !== undefined && now - iat > maxAge + tolerance)
    throw new InvalidToken("The access token is too old", { reason: "too_old" });
}

/** How a validator reads the subject: the claim, and whether a token without it is accepted. */
export interface SubjectRule {
  /** Claim holding the subject. Default `"sub"` (RFC 9068 §2.2). */
  subject_claim?: string | undefined;
  /**
   * Accept a token without the subject claim; its subject is then its client id (a client acting
   * for itself, as RFC 9068 §2.2 has client-credentials tokens say). Default `false`.
   */
  allow_missing_subject?: boolean | undefined;
}

/**
 * The subject of a token: the subject claim (a non-empty string), else — only when
 * `allow_missing_subject` — the client id. Never a silent fallback: without the option a token
 * lacking the claim is refused.
 *
 * @throws {@link InvalidToken} with reason `claim_missing` (absent) or `claim_invalid` (not a non-empty string).
 */
export function subjectOf(claims: JWTPayload, rule: SubjectRule, client_id: string | undefined): string {
  const name = rule.subject_claim ?? "sub";
  const v = claimAt(claims, name);
  if (typeof v === "string" && v.length > 0) return v;
  if ((v === undefined || v === null) && rule.allow_missing_subject && client_id) return client_id;
  if (v === undefined || v === null)
    throw new InvalidToken(`The access token lacks the required ${name} claim`, { reason: "claim_missing" });
  throw new InvalidToken(`The access token ${name} claim is invalid`, { reason: "claim_invalid" });
}

/** How a verified JWT payload becomes a principal. Built once per validator. */
export interface PrincipalProfile extends SubjectRule {
  /** Claims holding scopes, in order. */
  scope_claims: readonly string[];
  /** Claims holding the client id, first present wins. */
  client_id_claims: readonly string[];
  /** Clock skew tolerated, seconds. */
  clock_tolerance: number;
  /** Oldest accepted token, seconds since `iat`. */
  max_token_age?: number | undefined;
  /** Stand-in for `aud` (Cognito): the client id must be one of these. */
  allowed_client_ids?: readonly string[] | undefined;
  /** Claims that must have exactly these values (`token_use: "access"`). */
  required_claims?: Readonly<Record<string, string | number | boolean>> | undefined;
}

/** A `required_claims` mismatch: `token_use` is the token type (Cognito ID vs access tokens). */
function requiredClaimRefusal(claim: string, present: boolean): InvalidToken {
  return new InvalidToken(`The access token ${claim} claim is invalid`, {
    reason: claim === "token_use" ? "token_type" : present ? "claim_invalid" : "claim_missing",
  });
}

/**
 * The principal of a payload whose signature, issuer, audience and times jose (or the fast path)
 * has verified: the shape checks (`iat`, required claims, client allowlist, subject, `cnf`), then the
 * {@link AuthContext}. The payload must be the verifier's own object (it is frozen, not copied).
 *
 * @param nowMs - the validator's clock, epoch milliseconds.
 * @throws {@link InvalidToken} with the reason of the first failed check.
 */
export function principalFromClaims(
  payload: JWTPayload,
  token: string,
  profile: PrincipalProfile,
  nowMs: number,
): AuthContext {
  checkIssuedAt(payload.iat, nowMs, profile.clock_tolerance, profile.max_token_age);
  for (const [claim, expected] of Object.entries(profile.required_claims ?? {})) {
    if (payload[claim] !== expected) throw requiredClaimRefusal(claim, payload[claim] !== undefined);
  }
  const client_id = firstString(payload, profile.client_id_claims);
  if (profile.allowed_client_ids && (!client_id || !profile.allowed_client_ids.includes(client_id))) {
    throw new InvalidToken("The access token was issued to a client that is not accepted", {
      reason: "audience_mismatch",
    });
  }
  const subject = subjectOf(payload, profile, client_id);
  const jkt = bindingOf(payload.cnf);
  return createAuthContext(
    {
      subject,
      scopes: Object.freeze(extractScopes(payload, profile.scope_claims)),
      claims: Object.freeze(payload),
      client_id,
      issuer: payload.iss,
      expires_at: payload.exp,
      jkt,
    },
    token,
  );
}

/** A verified-token cache entry: the principal and the audience it was verified for. */
interface CachedPrincipal {
  /** The audience option the token was checked against (the same object or string each time). */
  audience: unknown;
  auth: AuthContext;
}

/**
 * Verified tokens of a JWT validator, keyed by the token itself, bounded by `max`; an entry never
 * outlives the token's `exp` nor `cache_ttl`, and answers only for the audience it was verified for.
 *
 * The key is the token, not a hash of it: the cached principal holds the token anyway (for
 * `getContext().auth.token`), so a hash would hide nothing, and it cost more than the rest of a
 * cache hit (≈ 5 µs a request, measured in the bench's server).
 */
export class VerifiedTokenCache {
  readonly #cache: LRUCache<string, CachedPrincipal>;
  readonly #clock: () => number;

  /**
   * @param max - entries kept (at least 1).
   * @param clock - epoch milliseconds; a custom one also drives the cache's own ttl.
   */
  constructor(max: number, clock?: () => number) {
    this.#clock = clock ?? Date.now;
    // Every entry is set with its own ttl (never beyond exp nor cache_ttl); the constructor ttl only
    // switches TTL tracking on and is the largest cache_ttl allowed.
    // ttlResolution 0: read the clock on each lookup. With the default (1 ms), lru-cache arms a 1 ms
    // timer whenever it reads the clock: under load a timer every millisecond, which cost the bench
    // server ~10–30 µs per request (more than the rest of a cache hit).
    this.#cache = new LRUCache<string, CachedPrincipal>({
      max,
      ttl: 86_400_000,
      ttlAutopurge: false,
      ttlResolution: 0,
      ...(clock ? { perf: { now: clock } } : {}),
    });
  }

  /**
   * The principal of a token verified before for `audience` and not expired since; drops an expired entry. Synchronous
   * and cheap.
   */
  get(token: string, audience: unknown): AuthContext | undefined {
    // A hit is a string equal to a token verified before, so no shape check is needed for it.
    const cached = this.#cache.get(token);
    // The entry is for this audience only: a validator shared by two resources never mixes them up.
    if (!cached || cached.audience !== audience) return undefined;
    const { auth } = cached;
    if (auth.expires_at !== undefined && auth.expires_at * 1000 > this.#clock()) return auth;
    this.#cache.delete(token);
    return undefined;
  }

  /** Remember `auth` for `audience` until its `exp`, at most `ttlMs`. A token without `exp` is not cached. */
  set(token: string, audience: unknown, auth: AuthContext, ttlMs: number): void {
    if (auth.expires_at === undefined) return;
    const remaining = auth.expires_at * 1000 - this.#clock();
    if (remaining > 0) this.#cache.set(token, { audience, auth }, { ttl: Math.min(remaining, ttlMs) });
  }
}
