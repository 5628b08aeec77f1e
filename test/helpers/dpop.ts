/** DPoP test helpers: client keys, hand-made proofs for the refusal matrix, and an oauth4webapi fetch. */
import { createHash, randomUUID } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import * as oauth from "oauth4webapi";

export interface ClientKey {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
  jkt: string;
}

export async function clientKey(alg: "ES256" | "RS256" = "ES256"): Promise<ClientKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, publicKey, jwk, jkt: await calculateJwkThumbprint(jwk) };
}

export const ath = (token: string) => createHash("sha256").update(token).digest("base64url");

export interface ProofParts {
  key: ClientKey;
  htm?: string;
  htu: string;
  token?: string;
  iat?: number;
  jti?: string;
  typ?: string;
  alg?: string;
  jwk?: JWK;
  nonce?: string;
  omit?: ("ath" | "jti" | "iat")[];
  signWith?: CryptoKey | Uint8Array;
}

export async function makeProof(p: ProofParts): Promise<string> {
  const claims: Record<string, unknown> = {
    htm: p.htm ?? "POST",
    htu: p.htu,
    iat: p.iat ?? Math.floor(Date.now() / 1000),
    jti: p.jti ?? randomUUID(),
  };
  if (p.token) claims.ath = ath(p.token);
  if (p.nonce) claims.nonce = p.nonce;
  for (const k of p.omit ?? []) delete claims[k];
  return new SignJWT(claims)
    .setProtectedHeader({ alg: p.alg ?? "ES256", typ: p.typ ?? "dpop+jwt", jwk: p.jwk ?? p.key.jwk })
    .sign(p.signWith ?? p.key.privateKey);
}

/**
 * A fetch for the official SDK client that sends every request as a DPoP-protected resource request
 * through oauth4webapi: a fresh proof per request, `Authorization: DPoP <token>`.
 */
export function dpopFetch(token: string, key: ClientKey): typeof fetch {
  const handle = oauth.DPoP({}, { privateKey: key.privateKey, publicKey: key.publicKey });
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = new Headers(init?.headers);
    headers.delete("authorization");
    return oauth.protectedResourceRequest(token, init?.method ?? "GET", url, headers, (init?.body ?? null) as never, {
      DPoP: handle,
      signal: init?.signal ?? undefined,
      [oauth.allowInsecureRequests]: true,
    });
  };
}
