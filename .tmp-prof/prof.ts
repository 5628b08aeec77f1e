import { createLocalJWKSet, importJWK, jwtVerify, base64url } from "jose";
import { KeyObject, verify as nodeVerify } from "node:crypto";
import { JWTValidator } from "/work/wt-atfast/src/index.js";
import { checkClaimsSet, fastHeader, nodeKeyFor, verifyCompactSignature } from "/work/wt-atfast/src/lib/fast-jws.js";
import { makeKey, signAccessToken, startJwksServer } from "/work/wt-atfast/bench/common.js";
const RESOURCE = "http://127.0.0.1/mcp";
const key = makeKey("micro-1");
const jwks = await startJwksServer([key.publicJwk]);
const tokens = Array.from({ length: 1000 }, () => signAccessToken(key, jwks.issuer, RESOURCE));
const pick = (i: number) => tokens[i % tokens.length] as string;
const cold = new JWTValidator({ jwks_uri: jwks.jwksUri, issuer: jwks.issuer, algorithms: ["ES256"], token_cache_max: 0 });
const ref = new JWTValidator({ jwks_uri: jwks.jwksUri, issuer: jwks.issuer, algorithms: ["ES256"], token_cache_max: 0, fast_path: false });
const publicKey = await importJWK(key.publicJwk, "ES256");
const localSet = createLocalJWKSet({ keys: [key.publicJwk] });
const ctx = { resource: RESOURCE };
await cold.verify(pick(0), ctx); await ref.verify(pick(0), ctx);
const nk = KeyObject.from(publicKey as any);
const allowed = new Set(["alg", "kid", "typ"]);
const algs = new Set(["ES256"]);
async function time(name: string, fn: (i: number) => unknown, n = 20000) {
  for (let i = 0; i < 2000; i++) await fn(i);
  const t = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  console.log(name.padEnd(40), ((performance.now() - t) / n * 1000).toFixed(1), "µs");
}
const hdr = { alg: "ES256", typ: "at+jwt", kid: "micro-1" };
for (let r = 0; r < 2; r++) {
  await time("nodeVerify only", (i) => { const t = pick(i); const last = t.lastIndexOf("."); return nodeVerify("sha256", Buffer.from(t.slice(0, last)), { key: nk, dsaEncoding: "ieee-p1363" }, base64url.decode(t.slice(last + 1))); });
  await time("fastHeader", (i) => fastHeader(pick(i).slice(0, pick(i).indexOf(".")), allowed), 100000);
  await time("localSet resolver", () => localSet(hdr, undefined as any), 100000);
  await time("verifyCompactSignature", (i) => verifyCompactSignature(pick(i), "ES256", nk));
  await time("checkClaims (incl parse)", (i) => { const t = pick(i); const f = t.indexOf("."), l = t.lastIndexOf("."); return checkClaimsSet(hdr, base64url.decode(t.slice(f + 1, l)), { issuer: jwks.issuer, audience: RESOURCE, requiredClaims: ["exp", "iss"], clockTolerance: 30 }); }, 100000);
  await time("validator fast", (i) => cold.verify(pick(i), ctx));
  await time("validator ref", (i) => ref.verify(pick(i), ctx));
  await time("jose key", (i) => jwtVerify(pick(i), publicKey, { issuer: jwks.issuer, audience: RESOURCE, algorithms: ["ES256"] }));
}
await jwks.close();
