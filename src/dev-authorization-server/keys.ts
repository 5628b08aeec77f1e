/**
 * The signing key and the JWKS, and RFC 9068 access tokens signed with jose.
 *
 * @see RFC 9068 (JWT profile for OAuth 2.0 access tokens)
 * @module
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import { randomToken } from "./lib/http.js";
import type { SigningKeyPair } from "./options.js";

/** The JWK Set published at `jwks_uri`. */
export interface JsonWebKeySet {
  /** The public signing keys. */
  keys: JWK[];
}

/** A ready signer: the private key, its `kid` and the public JWKS. */
export interface Signer {
  /** RFC 7638 thumbprint of the public key. */
  readonly kid: string;
  /** The JWKS to publish. */
  readonly jwks: JsonWebKeySet;
  /** Sign an RFC 9068 access token. */
  sign(claims: AccessTokenClaims): Promise<string>;
}

/** The claims of an issued access token (RFC 9068 §2.2), times in seconds. */
export interface AccessTokenClaims {
  /** Issuer. */
  iss: string;
  /** The resource (RFC 8707), the only audience. */
  aud: string;
  /** Authenticated subject. */
  sub: string;
  /** Client the token was issued to. */
  client_id: string;
  /** Granted scopes, space-separated. */
  scope: string;
  /** Issued at. */
  iat: number;
  /** Expires at. */
  exp: number;
  /** DPoP key thumbprint (RFC 9449 §6.1), when sender-constrained. */
  jkt?: string | undefined;
  /** RFC 8693 §4.1 actor: who acts for `sub` (token exchange). */
  act?: Record<string, unknown> | undefined;
}

/** Build the signer from the configured key pair, or from a fresh ES256 pair. */
export async function createSigner(key?: SigningKeyPair): Promise<Signer> {
  const pair = key ?? (await generateKeyPair("ES256"));
  const publicJwk = await exportJWK(pair.publicKey);
  if (publicJwk.kty !== "EC" || publicJwk.crv !== "P-256" || "d" in publicJwk) {
    throw new TypeError("signing_key must be an ES256 (P-256) key pair whose publicKey is the public half");
  }
  const kid = await calculateJwkThumbprint(publicJwk);
  const jwks: JsonWebKeySet = Object.freeze({ keys: [Object.freeze({ ...publicJwk, kid, alg: "ES256", use: "sig" })] });
  return {
    kid,
    jwks,
    sign(c) {
      const payload: Record<string, unknown> = { client_id: c.client_id, scope: c.scope };
      if (c.jkt) payload.cnf = { jkt: c.jkt };
      if (c.act) payload.act = c.act;
      return new SignJWT(payload)
        .setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid })
        .setIssuer(c.iss)
        .setAudience(c.aud)
        .setSubject(c.sub)
        .setJti(randomToken(16))
        .setIssuedAt(c.iat)
        .setExpirationTime(c.exp)
        .sign(pair.privateKey);
    },
  };
}
