/**
 * Credentials the audit makes up to see them refused (garbage, `alg: none`, expired and signed by a
 * throwaway key, a tampered signature), and DPoP proofs for a user-supplied key.
 *
 * @module
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import {
  base64url,
  calculateJwkThumbprint,
  decodeJwt,
  exportJWK,
  generateKeyPair,
  importJWK,
  SignJWT,
  type JWK,
  type JWTPayload,
} from "jose";

/** What the forged tokens claim, so that only the signature or expiry makes them invalid. */
export interface ForgeClaims {
  issuer?: string | undefined;
  audience: string;
  scope?: string | undefined;
}

const claimsOf = (c: ForgeClaims, now: number, exp: number): JWTPayload => ({
  ...(c.issuer ? { iss: c.issuer } : {}),
  aud: c.audience,
  sub: "protected-mcp-audit",
  client_id: "protected-mcp-audit",
  iat: now,
  exp,
  jti: randomUUID(),
  ...(c.scope ? { scope: c.scope } : {}),
});

/** A random string that is not a JWT. */
export function garbageToken(): string {
  return `audit-not-a-token-${randomBytes(12).toString("base64url")}`;
}

/** An unsigned JWT (`alg: none`) with plausible claims, valid for five more minutes. */
export function algNoneToken(c: ForgeClaims): string {
  const now = Math.floor(Date.now() / 1000);
  const header = base64url.encode(JSON.stringify({ alg: "none", typ: "at+jwt" }));
  const payload = base64url.encode(JSON.stringify(claimsOf(c, now, now + 300)));
  return `${header}.${payload}.`;
}

/** A JWT that expired an hour ago, signed by a key made up for this audit and thrown away. */
export async function expiredToken(c: ForgeClaims): Promise<string> {
  const { privateKey } = await generateKeyPair("ES256");
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claimsOf(c, now - 7200, now - 3600))
    .setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid: `audit-${randomBytes(6).toString("hex")}` })
    .sign(privateKey);
}

/**
 * The same token with a changed signature: for a JWT one character early in the signature (never the
 * last one, whose low bits may be padding); for anything else, one character in the middle.
 */
export function tamperSignature(token: string): string {
  const parts = token.split(".");
  const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === "A" ? "B" : "A") + s.slice(i + 1);
  if (parts.length === 3 && (parts[2] ?? "").length > 4) {
    parts[2] = flip(parts[2] as string, 2);
    return parts.join(".");
  }
  return flip(token, Math.floor(token.length / 2));
}

/** The payload of a JWT, or `undefined` for an opaque token. Not verified. */
export function peekClaims(token: string): JWTPayload | undefined {
  try {
    return decodeJwt(token);
  } catch {
    return undefined;
  }
}

/** A DPoP key loaded from a private JWK file. */
export interface DpopKey {
  privateKey: CryptoKey;
  publicJwk: JWK;
  alg: string;
  jkt: string;
}

const ALG_BY_CURVE: Record<string, string> = { "P-256": "ES256", "P-384": "ES384", "P-521": "ES512", Ed25519: "EdDSA" };

/** Load a private JWK (EC, RSA or OKP) as a DPoP signing key. */
export async function loadDpopKey(jwk: JWK): Promise<DpopKey> {
  if (!jwk.d) throw new TypeError('the DPoP key must be a private JWK (with "d")');
  const alg = jwk.alg ?? (jwk.kty === "RSA" ? "PS256" : jwk.crv ? ALG_BY_CURVE[jwk.crv] : undefined);
  if (!alg) throw new TypeError('cannot tell the DPoP key\'s algorithm: set "alg" in the JWK');
  const privateKey = (await importJWK(jwk, alg)) as CryptoKey;
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, oth: _oth, ...publicJwk } = jwk;
  return { privateKey, publicJwk, alg, jkt: await calculateJwkThumbprint(publicJwk) };
}

/** A throwaway DPoP key (for tests and for probing). */
export async function generateDpopKey(alg = "ES256"): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return { privateKey, publicJwk, alg, jkt: await calculateJwkThumbprint(publicJwk) };
}

/** A DPoP proof (RFC 9449 §4.2) for one request, bound to `token` through `ath`. */
export function dpopProof(key: DpopKey, htm: string, htu: string, token?: string, nonce?: string): Promise<string> {
  const url = new URL(htu);
  url.search = "";
  url.hash = "";
  return new SignJWT({
    htm,
    htu: url.href,
    iat: Math.floor(Date.now() / 1000),
    jti: randomUUID(),
    ...(token ? { ath: createHash("sha256").update(token).digest("base64url") } : {}),
    ...(nonce ? { nonce } : {}),
  })
    .setProtectedHeader({ alg: key.alg, typ: "dpop+jwt", jwk: key.publicJwk })
    .sign(key.privateKey);
}

/** RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`. */
export function isB64Token(token: string): boolean {
  return /^[A-Za-z0-9\-._~+/]+=*$/.test(token);
}

/** Whether a token can be sent in an `Authorization` header at all: visible ASCII only (no space, no control). */
export function isSendableToken(token: string): boolean {
  return /^[\x21-\x7e]+$/.test(token);
}
