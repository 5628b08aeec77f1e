/**
 * A narrow `node:crypto` fast path for compact JWS/JWT verification, shared by the DPoP proof check
 * (`src/dpop/verify.ts`) and `JWTValidator` (`src/validators/jwt.ts`).
 *
 * `jose.jwtVerify` is the reference; this module only replaces its WebCrypto signature check with a
 * one-shot `node:crypto` verify and a `KeyObject` made once per key (about twice as fast on Node 20
 * and 24), and mirrors, step for step and with jose's own error classes, what `jwtVerify` does around
 * it: jose's base64url decoder, strict UTF-8, top-level JSON objects only, the claims-set checks of
 * the options the callers use. Keys are still selected and imported by jose. The callers decide what
 * qualifies (algorithm, header members) and send everything else to jose; the differential tests
 * (test/dpop-differential.test.ts, test/validators/jwt-differential.test.ts) hold both to jose's decisions.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { KeyObject, verify as nodeVerify } from "node:crypto";
import { base64url, errors, type CryptoKey, type JWTPayload, type JWTVerifyOptions } from "jose";

/** Algorithms this module can verify: ES256 (P-256), EdDSA/Ed25519 and RS256 (RSASSA-PKCS1-v1_5, SHA-256). */
export type FastJwsAlgorithm = "ES256" | "EdDSA" | "Ed25519" | "RS256";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
/**
 * Set when this runtime's `node:crypto` cannot do what the fast path needs (e.g. a partial polyfill): jose only from
 * then on.
 */
let unavailable = false;
/** `KeyObject`s made from jose's imported keys, one per key. */
const nodeKeys = new WeakMap<CryptoKey, KeyObject>();

const BASE64URL_ALPHABET = /^[A-Za-z0-9_-]*$/;

/**
 * `jose.base64url.decode`, faster: a segment in the base64url alphabet whose length is not 4n+1 is
 * decoded by `Buffer` (about 1 µs less for a claims set); jose decides everything else, so malformed
 * input fails exactly as it does there. The two agree on every input that takes the `Buffer` branch:
 * no padding, no whitespace, and extra trailing bits ignored, as forgiving-base64 (`atob`) does.
 */
export function decodeSegment(segment: string): Uint8Array {
  if (segment.length % 4 !== 1 && BASE64URL_ALPHABET.test(segment)) return Buffer.from(segment, "base64url");
  return base64url.decode(segment);
}

/** Whether the fast path may be used in this runtime (false once `node:crypto` failed it). */
export function fastJwsAvailable(): boolean {
  return !unavailable;
}

/** A top-level JSON object, as jose requires of a JOSE header and a claims set. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Object.prototype.toString.call(v) !== "[object Object]") return false;
  const proto = Object.getPrototypeOf(v) as object | null;
  return proto === null || Object.getPrototypeOf(proto) === null;
}

/**
 * A protected header the fast path may handle: a plain object whose members are all in `allowed`
 * and whose `alg` is a string. `undefined` for anything else (jose then decides, and words the
 * refusal). Never throws.
 */
export function fastHeader(
  segment: string,
  allowed: ReadonlySet<string>,
): (Record<string, unknown> & { alg: string }) | undefined {
  let header: unknown;
  try {
    header = JSON.parse(strictUtf8.decode(decodeSegment(segment)));
  } catch {
    return undefined;
  }
  if (!isPlainObject(header) || typeof header.alg !== "string") return undefined;
  for (const member of Object.keys(header)) if (!allowed.has(member)) return undefined;
  return header as Record<string, unknown> & { alg: string };
}

const isCryptoKey = (key: unknown): key is CryptoKey =>
  typeof key === "object" &&
  key !== null &&
  (key as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] === "CryptoKey";

/** Whether jose would use `key` for `alg` as it is (its key-type, curve, hash, usage and RSA size checks). */
function qualifies(key: CryptoKey, alg: FastJwsAlgorithm): boolean {
  if (key.type !== "public" || !key.usages.includes("verify")) return false;
  const a = key.algorithm as { name?: string; namedCurve?: string; hash?: { name?: string }; modulusLength?: unknown };
  switch (alg) {
    case "ES256":
      return a.name === "ECDSA" && a.namedCurve === "P-256";
    case "EdDSA":
    case "Ed25519":
      return a.name === "Ed25519";
    case "RS256":
      return (
        a.name === "RSASSA-PKCS1-v1_5" &&
        a.hash?.name === "SHA-256" &&
        typeof a.modulusLength === "number" &&
        a.modulusLength >= 2048
      );
  }
}

/**
 * The `node:crypto` `KeyObject` for a key jose imported, when the key qualifies for `alg` (one of
 * `algorithms`) exactly as jose would accept it; made once per key and cached. `null` when the key,
 * the algorithm or the runtime does not qualify.
 */
export function nodeKeyFor(key: unknown, alg: string, algorithms: ReadonlySet<string>): KeyObject | null {
  if (unavailable || !algorithms.has(alg) || !isCryptoKey(key) || !qualifies(key, alg as FastJwsAlgorithm)) return null;
  let nodeKey = nodeKeys.get(key);
  if (!nodeKey) {
    try {
      nodeKey = KeyObject.from(key);
    } catch {
      unavailable = true;
      return null;
    }
    nodeKeys.set(key, nodeKey);
  }
  return nodeKey;
}

/** Signature length WebCrypto accepts for the key (any other length verifies as false there). */
function signatureLength(alg: string, nodeKey: KeyObject): number {
  if (alg !== "RS256") return 64;
  const bits = nodeKey.asymmetricKeyDetails?.modulusLength ?? 0;
  return Math.ceil(bits / 8);
}

/**
 * An ES256 JWS signature (`r || s`, 32 bytes each, RFC 7518 §3.4) as the DER `ECDSA-Sig-Value`
 * `node:crypto` takes natively. Node 24 (OpenSSL 3.5) spends about 25 µs per verify converting with
 * `dsaEncoding: "ieee-p1363"`; this takes about 1 µs. Always canonical DER, so OpenSSL's own range
 * checks of `r` and `s` decide exactly as WebCrypto's do.
 */
function ecdsaDer(signature: Uint8Array): Uint8Array {
  // Each of r and s as a DER INTEGER: leading zero bytes dropped (one byte kept), and a 0x00 prefix
  // when the high bit is set, so the value stays unsigned.
  let r = 0;
  while (r < 31 && signature[r] === 0) r++;
  let s = 32;
  while (s < 63 && signature[s] === 0) s++;
  const rPad = (signature[r] as number) & 0x80 ? 1 : 0;
  const sPad = (signature[s] as number) & 0x80 ? 1 : 0;
  const rLength = 32 - r + rPad;
  const sLength = 64 - s + sPad;
  // At most 2 × (2 + 33) bytes of content: the short length form always fits. Every byte is written
  // below (the pads explicitly), so the buffer may come uninitialised from Buffer's pool.
  const der = Buffer.allocUnsafe(6 + rLength + sLength);
  der[0] = 0x30;
  der[1] = 4 + rLength + sLength;
  der[2] = 0x02;
  der[3] = rLength;
  if (rPad) der[4] = 0;
  der.set(signature.subarray(r, 32), 4 + rPad);
  const at = 4 + rLength;
  der[at] = 0x02;
  der[at + 1] = sLength;
  if (sPad) der[at + 2] = 0;
  der.set(signature.subarray(s, 64), at + 2 + sPad);
  return der;
}

/** One `node:crypto` verify on libuv's thread pool (the callback form), like WebCrypto's. */
function verifyOnThreadPool(
  algorithm: string | null,
  data: Uint8Array,
  key: KeyObject,
  signature: Uint8Array,
): Promise<boolean> {
  return new Promise((resolve, reject) =>
    nodeVerify(algorithm, data, key, signature, (err, ok) => (err ? reject(err) : resolve(ok))),
  );
}

/** A compact JWS's signing input and its signature as `node:crypto` takes it, with the algorithm to name. */
interface SignatureCheck {
  algorithm: string | null;
  input: Uint8Array;
  signature: Uint8Array;
}

/**
 * What `node:crypto` needs to check `jws`'s signature, or `undefined` when its length is not the key's
 * (WebCrypto answers false for those: so does the caller). Throws jose's `JWSInvalid` for a signature
 * that is not base64url.
 */
function signatureCheck(jws: string, alg: string, nodeKey: KeyObject): SignatureCheck | undefined {
  const last = jws.lastIndexOf(".");
  let signature: Uint8Array;
  try {
    signature = decodeSegment(jws.slice(last + 1));
  } catch (cause) {
    throw new errors.JWSInvalid("Failed to base64url decode the signature", { cause });
  }
  if (signature.byteLength !== signatureLength(alg, nodeKey)) return undefined;
  // UTF-8 as jose's TextEncoder makes it (the same bytes, lone surrogates as U+FFFD too), from
  // Buffer's pool instead of a new ArrayBuffer per token.
  const input = Buffer.from(jws.slice(0, last), "utf8");
  if (alg === "ES256") return { algorithm: "sha256", input, signature: ecdsaDer(signature) };
  return { algorithm: alg === "RS256" ? "sha256" : null, input, signature };
}

/** After the verify: `JWSSignatureVerificationFailed` unless `ok`, then the payload bytes (`JWSInvalid`), in jose's order. */
function payloadOf(jws: string, ok: boolean): Uint8Array {
  if (!ok) throw new errors.JWSSignatureVerificationFailed();
  try {
    return decodeSegment(jws.slice(jws.indexOf(".") + 1, jws.lastIndexOf(".")));
  } catch (cause) {
    throw new errors.JWSInvalid("Failed to base64url decode the payload", { cause });
  }
}

/**
 * The signature step of `jwtVerify` for a compact JWS whose key qualified ({@link nodeKeyFor}):
 * decode the signature (`JWSInvalid`), verify it (`JWSSignatureVerificationFailed`), then decode the
 * payload (`JWSInvalid`), in jose's order. Resolves to the payload bytes, or `undefined` when this
 * runtime's `node:crypto` failed (the fast path is then off for good and the caller asks jose).
 *
 * The verify runs on libuv's thread pool, as WebCrypto's does: the event loop goes on serving other
 * requests meanwhile, and a server on a multi-core machine verifies several at once. Measured in the
 * bench's DPoP row (a fresh ES256 proof per request, 10 connections, 2 cores), running it on the
 * main thread instead gave the same CPU per request and about 20 % fewer requests per second than
 * jose's WebCrypto path; on the pool it is cheaper than WebCrypto per verify and keeps the
 * parallelism (measured again for DPoP proofs on 2026-12-06: see {@link verifyCompactSignatureSync}).
 */
export async function verifyCompactSignature(
  jws: string,
  alg: string,
  nodeKey: KeyObject,
): Promise<Uint8Array | undefined> {
  const check = signatureCheck(jws, alg, nodeKey);
  let ok = false;
  if (check) {
    try {
      ok = await verifyOnThreadPool(check.algorithm, check.input, nodeKey, check.signature);
    } catch {
      unavailable = true;
      return undefined;
    }
  }
  return payloadOf(jws, ok);
}

/**
 * {@link verifyCompactSignature} on the calling thread: the same decisions, errors and order, without
 * the round trip to libuv's pool (25–45 µs of CPU per verify on Node 24 in a tight loop). Not used on the
 * request path: in the server's DPoP row it cost more than the hop it saves ((e) − (b) 168 µs against
 * 143 µs on the pool, bench/README.md), because a synchronous verify stalls the event loop other
 * requests need. Kept as the step `bench/dpop-steps.ts` measures next to the floor.
 */
export function verifyCompactSignatureSync(jws: string, alg: string, nodeKey: KeyObject): Uint8Array | undefined {
  const check = signatureCheck(jws, alg, nodeKey);
  let ok = false;
  if (check) {
    try {
      ok = nodeVerify(check.algorithm, check.input, nodeKey, check.signature);
    } catch {
      unavailable = true;
      return undefined;
    }
  }
  return payloadOf(jws, ok);
}

/**
 * The claims-set options the fast path understands; `jwtVerify`'s others (`subject`, `maxTokenAge`, `currentDate`,
 * `crit`, string `clockTolerance`) are not.
 */
export type FastClaimsOptions = Pick<JWTVerifyOptions, "issuer" | "audience" | "typ" | "requiredClaims"> & {
  clockTolerance?: number;
};

/** `typ` compared as jose does: case-insensitive, `application/` implied when there is no `/`. */
const normalizeTyp = (value: string): string => {
  const lower = value.toLowerCase();
  return value.includes("/") ? lower : `application/${lower}`;
};

const claimFailed = (claimsSet: JWTPayload, claim: string, reason: string, message: string): never => {
  throw new errors.JWTClaimValidationFailed(message, claimsSet, claim, reason);
};

/** A NumericDate claim: absent, or a number (jose refuses any other type). */
function numericDate(claimsSet: JWTPayload, claim: "iat" | "nbf" | "exp"): number | undefined {
  const value = claimsSet[claim];
  if (value === undefined) return undefined;
  if (typeof value !== "number") return claimFailed(claimsSet, claim, "invalid", `"${claim}" claim must be a number`);
  return value;
}

/**
 * The claims-set step of `jwtVerify` for `o` (a subset of its options): strict UTF-8 JSON, a
 * top-level object, header `typ`, required claims present (in jose's order), `iss`, `aud`,
 * `iat`/`nbf`/`exp` numeric, `nbf` and `exp` against `now` with the tolerance. Same errors as jose
 * (`JWTInvalid`, `JWTClaimValidationFailed`, `JWTExpired`, with the same `claim` and `reason`).
 */
export function checkClaimsSet(
  header: Record<string, unknown>,
  payloadBytes: Uint8Array,
  o: FastClaimsOptions,
  nowMs = Date.now(),
): JWTPayload {
  let claimsSet: unknown;
  try {
    claimsSet = JSON.parse(strictUtf8.decode(payloadBytes));
  } catch (cause) {
    throw new errors.JWTInvalid("JWT Claims Set must be a top-level JSON object", { cause });
  }
  if (!isPlainObject(claimsSet)) throw new errors.JWTInvalid("JWT Claims Set must be a top-level JSON object");
  const claims = claimsSet as JWTPayload;
  if (o.typ !== undefined && (typeof header.typ !== "string" || normalizeTyp(header.typ) !== normalizeTyp(o.typ))) {
    claimFailed(claims, "typ", "check_failed", 'unexpected "typ" JWT header value');
  }
  // Presence in jose's order: issuer, audience, then the required claims from last to first.
  if (o.requiredClaims !== undefined || o.audience !== undefined || o.issuer !== undefined) {
    const presence = [...(o.requiredClaims ?? [])];
    if (o.audience !== undefined) presence.push("aud");
    if (o.issuer !== undefined) presence.push("iss");
    for (const claim of new Set(presence.reverse())) {
      if (!Object.hasOwn(claims, claim)) claimFailed(claims, claim, "missing", `missing required "${claim}" claim`);
    }
  }
  if (o.issuer !== undefined && !(Array.isArray(o.issuer) ? o.issuer : [o.issuer]).includes(claims.iss as string)) {
    claimFailed(claims, "iss", "check_failed", 'unexpected "iss" claim value');
  }
  if (o.audience !== undefined) {
    const wanted = typeof o.audience === "string" ? [o.audience] : o.audience;
    const aud: unknown = claims.aud;
    const present =
      typeof aud === "string" ? wanted.includes(aud) : Array.isArray(aud) ? wanted.some((a) => aud.includes(a)) : false;
    if (!present) claimFailed(claims, "aud", "check_failed", 'unexpected "aud" claim value');
  }
  const tolerance = o.clockTolerance ?? 0;
  if (!Number.isFinite(tolerance) || tolerance < 0) throw new TypeError("Invalid clockTolerance option input");
  const now = Math.floor(nowMs / 1000);
  numericDate(claims, "iat");
  const nbf = numericDate(claims, "nbf");
  if (nbf !== undefined && nbf > now + tolerance)
    claimFailed(claims, "nbf", "check_failed", '"nbf" claim timestamp check failed');
  const exp = numericDate(claims, "exp");
  if (exp !== undefined && exp <= now - tolerance)
    throw new errors.JWTExpired('"exp" claim timestamp check failed', claims, "exp", "check_failed");
  return claims;
}
