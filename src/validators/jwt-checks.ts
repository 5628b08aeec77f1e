/**
 * The verification step shared by the JWT validators (`JWTValidator`, `EntraMultiTenantValidator`):
 * signature and claims set (jose, or the narrow `node:crypto` fast path), jose errors mapped to ours
 * with a precise {@link RefusalReason}, and the refusal by unverified claims used while keys cannot
 * be had. What a verified payload then means (subject, client, binding, scopes) is
 * `jwt-principal.ts`.
 *
 * @module
 */
import { decodeJwt, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from "jose";
import { AuthError, AuthorizationUnavailable, InvalidToken, TokenExpired, type RefusalReason } from "../errors.js";
import {
  checkClaimsSet,
  fastHeader,
  fastJwsAvailable,
  nodeKeyFor,
  verifyCompactSignature,
  type FastClaimsOptions,
} from "../lib/fast-jws.js";
import { bindingOf, checkIssuedAt } from "./jwt-principal.js";

/** A compact JWS: three base64url parts (the signature may be empty, and is then refused by jose). */
export const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** The claim-specific sentence and reason of a failed jose claim check. Sentences never hold claim values. */
function claimRefusal(claim: string, missing: boolean): [string, RefusalReason] {
  if (claim === "aud")
    return ["The access token is not intended for this resource", missing ? "claim_missing" : "audience_mismatch"];
  if (claim === "iss")
    return ["The access token issuer is not trusted", missing ? "claim_missing" : "issuer_untrusted"];
  if (claim === "nbf") return ["The access token is not yet valid", missing ? "claim_missing" : "not_yet_valid"];
  if (claim === "typ") return ["The access token type is not accepted", "token_type"];
  return missing
    ? [`The access token lacks the required ${claim} claim`, "claim_missing"]
    : [`The access token ${claim} claim is invalid`, "claim_invalid"];
}

/**
 * Map a jose error from verification to ours. Descriptions (what the client sees) are fixed
 * sentences, never claim values; the `reason` (what operators see) names the failed check.
 */
export function toAuthError(e: unknown): AuthError {
  if (e instanceof AuthError) return e;
  if (e instanceof errors.JWTExpired) return new TokenExpired({ cause: e });
  if (e instanceof errors.JWTClaimValidationFailed) {
    // A wrongly typed iat/nbf/exp is "invalid"; jose's nbf check failing is "check_failed".
    const [message, reason] = claimRefusal(e.claim, e.reason === "missing");
    return new InvalidToken(message, {
      cause: e,
      reason: e.claim === "nbf" && e.reason === "invalid" ? "claim_invalid" : reason,
    });
  }
  if (e instanceof errors.JOSEAlgNotAllowed)
    return new InvalidToken("The access token algorithm is not accepted", {
      cause: e,
      reason: "algorithm_not_allowed",
    });
  if (e instanceof errors.JWKSNoMatchingKey)
    return new InvalidToken("The access token signing key is unknown", { cause: e, reason: "key_unknown" });
  if (e instanceof errors.JWSSignatureVerificationFailed)
    return new InvalidToken("The access token signature is invalid", { cause: e, reason: "signature_invalid" });
  return new InvalidToken("The access token is malformed", { cause: e, reason: "malformed" });
}

/** What {@link refuseByUnverifiedClaims} checks against. */
export interface UnverifiedChecks {
  /** Seconds of clock skew tolerated. */
  clockTolerance: number;
  /** Trusted issuers; none: not checked. */
  issuer?: string | readonly string[] | undefined;
  /** Accepted audiences; none: not checked. */
  audience?: string | readonly string[] | undefined;
  /** Oldest accepted `iat`, in seconds; none: not checked. */
  maxTokenAge?: number | undefined;
}

/**
 * When the key set is unreachable we cannot tell a good token from a forged one, but we can still
 * refuse a token whose own claims already disqualify it (expired, not yet valid, issued in the
 * future or too long ago, other issuer, other audience, a binding we cannot check). Without this,
 * `fail_open` would turn an expired token into an anonymous request; with it, only tokens that
 * *might* be valid fall through. Refuses only; never accepts anything.
 *
 * @param nowMs - the validator's clock, epoch milliseconds.
 */
export function refuseByUnverifiedClaims(p: JWTPayload, o: UnverifiedChecks, nowMs: number): void {
  const now = Math.floor(nowMs / 1000);
  if (typeof p.exp !== "number")
    throw new InvalidToken("The access token lacks the required exp claim", {
      reason: p.exp === undefined ? "claim_missing" : "claim_invalid",
    });
  if (p.exp <= now - o.clockTolerance) throw new TokenExpired();
  if (typeof p.nbf === "number" && p.nbf > now + o.clockTolerance)
    throw new InvalidToken("The access token is not yet valid", { reason: "not_yet_valid" });
  checkIssuedAt(p.iat, nowMs, o.clockTolerance, o.maxTokenAge);
  const issuers = ([] as string[]).concat(o.issuer ?? []);
  if (issuers.length && !issuers.includes(p.iss ?? ""))
    throw new InvalidToken("The access token issuer is not trusted", { reason: "issuer_untrusted" });
  if (o.audience !== undefined) {
    const wanted = ([] as string[]).concat(o.audience);
    const got = ([] as unknown[]).concat(p.aud ?? []);
    if (!got.some((a) => typeof a === "string" && wanted.includes(a)))
      throw new InvalidToken("The access token is not intended for this resource", { reason: "audience_mismatch" });
  }
  bindingOf(p.cnf);
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
 * then asks jose). test/validators/jwt-differential.test.ts holds it to jose's decisions.
 */
async function fastJwtVerify(
  token: string,
  getKey: JWTVerifyGetKey,
  o: JWTVerifyOptions,
  nowMs: number,
): Promise<JWTPayload | undefined> {
  const first = token.indexOf(".");
  const header = fastHeader(token.slice(0, first), FAST_HEADER_MEMBERS);
  if (!header || !FAST_ALGORITHMS.has(header.alg) || (o.algorithms !== undefined && !o.algorithms.includes(header.alg)))
    return undefined;
  const last = token.lastIndexOf(".");
  const key = await getKey(header, {
    protected: token.slice(0, first),
    payload: token.slice(first + 1, last),
    signature: token.slice(last + 1),
  });
  const nodeKey = nodeKeyFor(key, header.alg, FAST_ALGORITHMS);
  const payloadBytes = nodeKey ? await verifyCompactSignature(token, header.alg, nodeKey) : undefined;
  if (!payloadBytes) return (await jwtVerify(token, key, o)).payload;
  return checkClaimsSet(header, payloadBytes, o as FastClaimsOptions, nowMs);
}

/** How {@link verifyJwt} checks one token. */
export interface JwtVerification {
  /** The key, or a key resolver (a `RemoteKeySet`'s `getKey`). */
  key: JWTVerifyGetKey | Uint8Array;
  /** jose's options (issuer, audience, algorithms, tolerance, required claims, `typ`); `currentDate` is set here. */
  options: JWTVerifyOptions;
  /** Whether the `node:crypto` fast path may be taken. */
  fast: boolean;
  /** The validator's clock, epoch milliseconds: every time check of this verification uses it. */
  nowMs: number;
  /** Extra checks on the unverified payload while keys cannot be had (see {@link refuseByUnverifiedClaims}). */
  unverified: Omit<UnverifiedChecks, "clockTolerance">;
}

/**
 * Verify a compact JWS (signature and claims set) and return its payload. Errors are ours: an
 * {@link InvalidToken} with a precise reason, {@link TokenExpired}, or {@link AuthorizationUnavailable}
 * when the key set cannot be had — and then only for a token whose unverified claims do not already
 * disqualify it.
 */
export async function verifyJwt(token: string, v: JwtVerification): Promise<JWTPayload> {
  // jose reads its own `new Date()` without `currentDate`: the one clock must decide everywhere.
  const options: JWTVerifyOptions = { ...v.options, currentDate: new Date(v.nowMs) };
  try {
    return (
      (v.fast &&
        typeof v.key === "function" &&
        fastJwsAvailable() &&
        (await fastJwtVerify(token, v.key, options, v.nowMs))) ||
      (await jwtVerify(token, v.key as JWTVerifyGetKey, options)).payload
    );
  } catch (e) {
    if (e instanceof AuthorizationUnavailable)
      refuseByTokenClaims(token, { clockTolerance: Number(v.options.clockTolerance ?? 0), ...v.unverified }, v.nowMs);
    throw toAuthError(e);
  }
}

/**
 * {@link refuseByUnverifiedClaims} on the token's own (unverified) payload; a token that does not decode is malformed.
 */
function refuseByTokenClaims(token: string, o: UnverifiedChecks, nowMs: number): void {
  let p: JWTPayload;
  try {
    p = decodeJwt(token);
  } catch (e) {
    throw new InvalidToken("The access token is malformed", { cause: e, reason: "malformed" });
  }
  refuseByUnverifiedClaims(p, o, nowMs);
}
