/**
 * Checks shared by the JWT validators (`JWTValidator`, `EntraMultiTenantValidator`): jose errors
 * mapped to ours, the refusal by unverified claims used while keys cannot be had, the compact-JWS
 * shape and the token hash that keys the verified-token caches.
 *
 * @module
 */
import { errors, type JWTPayload } from "jose";
import { AuthError, InvalidToken, TokenExpired } from "../errors.js";

/** A compact JWS: three base64url parts (the signature may be empty, and is then refused by jose). */
export const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Map a jose error from verification to ours. Descriptions are fixed sentences, never claim values. */
export function toAuthError(e: unknown): AuthError {
  if (e instanceof AuthError) return e;
  if (e instanceof errors.JWTExpired) return new TokenExpired({ cause: e });
  if (e instanceof errors.JWTClaimValidationFailed) {
    const claim = e.claim;
    const message =
      claim === "aud"
        ? "The access token is not intended for this resource"
        : claim === "iss"
          ? "The access token issuer is not trusted"
          : claim === "nbf"
            ? "The access token is not yet valid"
            : claim === "typ"
              ? "The access token type is not accepted"
              : e.reason === "missing"
                ? `The access token lacks the required ${claim} claim`
                : `The access token ${claim} claim is invalid`;
    return new InvalidToken(message, { cause: e });
  }
  if (e instanceof errors.JOSEAlgNotAllowed) return new InvalidToken("The access token algorithm is not accepted", { cause: e });
  if (e instanceof errors.JWKSNoMatchingKey) return new InvalidToken("The access token signing key is unknown", { cause: e });
  if (e instanceof errors.JWSSignatureVerificationFailed) return new InvalidToken("The access token signature is invalid", { cause: e });
  return new InvalidToken("The access token is malformed", { cause: e });
}

/**
 * When the key set is unreachable we cannot tell a good token from a forged one, but we can still
 * refuse a token whose own claims already disqualify it (expired, not yet valid, other issuer, other
 * audience). Without this, `fail_open` would turn an expired token into an anonymous request; with
 * it, only tokens that *might* be valid fall through. Refuses only; never accepts anything.
 */
export function refuseByUnverifiedClaims(p: JWTPayload, o: { clockTolerance: number; issuer?: string | string[] | undefined; audience?: string | string[] | undefined }): void {
  const now = Math.floor(Date.now() / 1000);
  if (typeof p.exp !== "number") throw new InvalidToken("The access token lacks the required exp claim");
  if (p.exp <= now - o.clockTolerance) throw new TokenExpired();
  if (typeof p.nbf === "number" && p.nbf > now + o.clockTolerance) throw new InvalidToken("The access token is not yet valid");
  const issuers = ([] as string[]).concat(o.issuer ?? []);
  if (issuers.length && !issuers.includes(p.iss ?? "")) throw new InvalidToken("The access token issuer is not trusted");
  if (o.audience !== undefined) {
    const wanted = ([] as string[]).concat(o.audience);
    const got = ([] as unknown[]).concat(p.aud ?? []);
    if (!got.some((a) => typeof a === "string" && wanted.includes(a))) throw new InvalidToken("The access token is not intended for this resource");
  }
}
