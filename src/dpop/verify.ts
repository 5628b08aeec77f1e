/**
 * `verifyDpopProof`: check one DPoP proof JWT against the request it came with.
 *
 * @see RFC 9449 §4.3 (checking DPoP proofs), §7.1 (`ath`)
 * @module
 */
import type { KeyObject } from "node:crypto";
import {
  calculateJwkThumbprint,
  decodeProtectedHeader,
  importJWK,
  jwtVerify,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from "jose";
import { LRUCache } from "lru-cache";
import { InvalidDpopProof } from "../errors.js";
import { sha256 } from "../lib/hash.js";
import { renamedFields } from "../lib/options.js";
import { checkClaimsSet, fastHeader, fastJwsAvailable, nodeKeyFor, verifyCompactSignature } from "../lib/fast-jws.js";

/** Asymmetric algorithms accepted for proofs by default. */
export const DEFAULT_DPOP_ALGORITHMS = Object.freeze(["ES256", "EdDSA", "Ed25519", "RS256", "PS256"]);

/** Members that only a private or symmetric JWK has. */
const PRIVATE_JWK_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] as const;

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** Longest header segment kept in a {@link DpopKeyCache}: bounds its memory at about 4 MB per 1,000 entries. */
const MAX_CACHED_HEADER = 4096;

/** What a valid proof establishes. */
export interface VerifiedDpopProof {
  /** RFC 7638 thumbprint of the proof's key. */
  jkt: string;
  /** The proof's unique identifier. */
  jti: string;
  /** Issued-at, seconds. */
  iat: number;
  /** The server nonce the proof carries, if any. */
  nonce?: string | undefined;
}

/** Inputs of {@link verifyDpopProof}. */
export interface VerifyDpopProofOptions {
  /** The URL the proof must name (`htu`): the canonical resource, never the request's `Host`. */
  htu: string;
  /** The access token presented with the proof; its hash must be the proof's `ath`. */
  access_token?: string;
  /**
   * `accessTokenHash(access_token)`, when the caller already has it (a client sends the same token
   * with every proof, so the caller can hash it once). Used instead of hashing `access_token`.
   */
  access_token_hash?: string;
  /** Accepted algorithms. Default {@link DEFAULT_DPOP_ALGORITHMS}. */
  algorithms?: readonly string[];
  /** Seconds `iat` may differ from now. Default 300. */
  iat_window_seconds?: number;
  /** The current time in epoch milliseconds (one reading of a `Clock`). Default `Date.now()`. */
  now_ms?: number;
  /**
   * Checked proof headers with their imported keys and thumbprints, by the header's base64url
   * segment. A client sends the same header with every proof (one key, one `alg`), so a hit saves
   * the header decode and checks, a key import and a hash per request.
   */
  key_cache?: DpopKeyCache;
  /**
   * Use the `node:crypto` fast path for ES256 and Ed25519 proof signatures (see {@link verifyDpopProof}).
   * Default `true`; `false` sends every proof through `jose.jwtVerify`, the reference the fast path
   * is tested against.
   */
  fast_path?: boolean;
  /** @deprecated Use `access_token`. Removed in 0.3. */
  accessToken?: string;
  /** @deprecated Use `access_token_hash`. Removed in 0.3. */
  accessTokenHash?: string;
  /** @deprecated Use `iat_window_seconds`. Removed in 0.3. */
  iatWindow?: number;
  /** @deprecated Use `now_ms`. Removed in 0.3. */
  now?: number;
  /** @deprecated Use `key_cache`. Removed in 0.3. */
  keyCache?: DpopKeyCache;
}

/** The {@link VerifyDpopProofOptions} keys renamed in 0.2 (old → new), accepted with a deprecation warning. */
const PROOF_RENAMED = {
  accessToken: "access_token",
  accessTokenHash: "access_token_hash",
  iatWindow: "iat_window_seconds",
  now: "now_ms",
  keyCache: "key_cache",
} as const;

/** A checked proof header: its `alg`, its key imported, and the key's thumbprint. */
export interface DpopKeyEntry {
  /** The header's `alg` (checked against the accepted algorithms on every proof, not only the first). */
  alg: string;
  /** The imported public key. */
  key: CryptoKey | Uint8Array;
  /** Its RFC 7638 SHA-256 thumbprint. */
  jkt: string;
  /**
   * The same key as a `node:crypto` `KeyObject`, made on first use by the fast path (ES256 on P-256,
   * Ed25519); `null` when the key or the runtime does not qualify.
   */
  nodeKey?: KeyObject | null;
  /**
   * The decoded header when the fast path may take it (only `typ`, `alg` and `jwk`), made on first
   * use; `null` when it may not.
   */
  fastHeader?: Record<string, unknown> | null;
}

/**
 * A bounded cache of checked proof headers ({@link DpopKeyEntry}), keyed by the header's base64url
 * segment: the same segment always decodes to the same header, so an entry stands for every check
 * made of it except the algorithm allowlist, which is the caller's and is checked on every proof.
 * Segments longer than 4,096 characters (a P-256 or Ed25519 header is about 200, an RSA-4096 one
 * about 900) are not cached.
 */
export type DpopKeyCache = LRUCache<string, DpopKeyEntry>;

/** Create a {@link DpopKeyCache} (default 1,000 headers: attackers can make unlimited distinct keys and headers). */
export function createDpopKeyCache(max = 1000): DpopKeyCache {
  return new LRUCache({ max });
}

/** `htu` comparison per RFC 9449 §4.3: scheme and host case-insensitive, default port dropped, no query or fragment. */
export function normalizeHtu(value: string): string | undefined {
  if (!URL.canParse(value)) return undefined;
  const u = new URL(value);
  u.search = "";
  u.hash = "";
  return u.href;
}

/** base64url(SHA-256(token)), the `ath` claim. */
export function accessTokenHash(token: string): string {
  return sha256(token);
}

/** `normalizeHtu` of the last expected htu seen (a server passes the same canonical URL every time). */
let lastExpectedHtu: { input: string; normalized: string | undefined } | undefined;
function normalizedExpectedHtu(value: string): string | undefined {
  if (lastExpectedHtu?.input !== value) lastExpectedHtu = { input: value, normalized: normalizeHtu(value) };
  return lastExpectedHtu.normalized;
}

const fail = (message: string, cause?: unknown): never => {
  throw new InvalidDpopProof(message, cause === undefined ? undefined : { cause });
};

/** Header members the fast path knows; a proof with any other member (`crit`, `b64`, `kid`, …) goes to jose. */
const FAST_HEADER_MEMBERS: ReadonlySet<string> = new Set(["typ", "alg", "jwk"]);
/** Algorithms on the proof fast path: what clients use (RSA proofs go to jose). */
const FAST_ALGORITHMS: ReadonlySet<string> = new Set(["ES256", "EdDSA", "Ed25519"]);
/** The claims-set checks `jose.jwtVerify` makes of a proof with the options used below. */
const PROOF_CLAIMS = { typ: "dpop+jwt" } as const;

/**
 * `KeyObject` for a key the fast path handles (ECDSA P-256 for ES256, Ed25519 for EdDSA/Ed25519), else `null`; kept on
 * the entry.
 */
function nodeKeyOf(entry: DpopKeyEntry): KeyObject | null {
  if (entry.nodeKey === undefined) entry.nodeKey = nodeKeyFor(entry.key, entry.alg, FAST_ALGORITHMS);
  return entry.nodeKey;
}

/**
 * The fast path (src/lib/fast-jws.ts): the proof's signature checked with a one-shot `node:crypto`
 * verify and a cached `KeyObject` instead of WebCrypto, for the two algorithms clients use (ES256 on
 * P-256, Ed25519) and a header holding only `typ`, `alg` and `jwk`. Everything else about the JWS and
 * the JWT is done the way `jose.jwtVerify` does it and the key itself is still imported by jose.
 * Returns `undefined` when the proof does not qualify (jose then decides); throws when the proof is
 * refused. test/dpop-differential.test.ts holds it to jose's decisions.
 */
async function fastVerify(proof: string, segment: string, entry: DpopKeyEntry): Promise<JWTPayload | undefined> {
  if (!fastJwsAvailable()) return undefined;
  const nodeKey = nodeKeyOf(entry);
  if (!nodeKey) return undefined;
  if (entry.fastHeader === undefined) {
    const decoded = fastHeader(segment, FAST_HEADER_MEMBERS);
    entry.fastHeader = decoded?.alg === entry.alg ? decoded : null;
  }
  const header = entry.fastHeader;
  if (!header) return undefined;
  const payloadBytes = await verifyCompactSignature(proof, entry.alg, nodeKey);
  if (!payloadBytes) return undefined;
  return checkClaimsSet(header, payloadBytes, PROOF_CLAIMS);
}

/**
 * The proof's protected header, decoded by jose and checked: `typ: dpop+jwt`, an accepted `alg`, and
 * a public `jwk`. Throws `InvalidDpopProof` naming the first check that failed.
 */
function checkProofHeader(proof: string, algorithms: readonly string[]): { alg: string; jwk: JWK } {
  let protectedHeader: ReturnType<typeof decodeProtectedHeader>;
  try {
    protectedHeader = decodeProtectedHeader(proof);
  } catch (e) {
    return fail("The DPoP proof is malformed", e);
  }
  const { alg, typ, jwk } = protectedHeader;
  if (typ !== "dpop+jwt") return fail("The DPoP proof type must be dpop+jwt");
  if (typeof alg !== "string" || !algorithms.includes(alg)) return fail("The DPoP proof algorithm is not accepted");
  if (!jwk || typeof jwk !== "object" || Array.isArray(jwk)) return fail("The DPoP proof has no public key");
  if (jwk.kty === "oct" || PRIVATE_JWK_MEMBERS.some((m) => m in jwk))
    return fail("The DPoP proof key must be a public key");
  return { alg, jwk: jwk };
}

/**
 * Verify the request's `DPoP` header: exactly one proof, `typ: dpop+jwt`, an allowed asymmetric
 * `alg`, a public `jwk`, a valid signature, `htm` = method, `htu` = `o.htu`, `iat` within the window,
 * `ath` = hash of the access token. Returns the key thumbprint for the caller to compare with the
 * token's `cnf.jkt`.
 *
 * Does **not** check `jti` replay (the caller owns the `ReplayStore`) nor nonces.
 *
 * Signatures: `jose.jwtVerify` is the reference. For ES256 (P-256) and Ed25519 proofs whose header
 * holds only `typ`, `alg` and `jwk`, a narrow fast path checks the signature with a one-shot
 * `node:crypto` verify and a `KeyObject` cached beside the imported key (about twice as fast as
 * WebCrypto on Node 20 and 24); it refuses exactly what jose refuses (a differential test runs
 * 20,000+ generated and mutated proofs through both). Any other proof, or a runtime without a usable
 * `node:crypto`, goes to jose; `fast_path: false` turns it off.
 *
 * @throws `InvalidDpopProof`
 */
export async function verifyDpopProof(req: Request, options: VerifyDpopProofOptions): Promise<VerifiedDpopProof> {
  const o = renamedFields("verifyDpopProof()", options, PROOF_RENAMED);
  const header = req.headers.get("dpop");
  if (header === null) return fail("A DPoP proof is required");
  // A Web Request folds repeated headers with ", ": a comma means more than one proof.
  if (header.includes(",")) return fail("Exactly one DPoP proof is allowed");
  const proof = header.trim();
  if (!COMPACT_JWS.test(proof)) return fail("The DPoP proof is malformed");

  const algorithms = o.algorithms ?? DEFAULT_DPOP_ALGORITHMS;
  const segment = proof.slice(0, proof.indexOf("."));
  const cacheable = o.key_cache !== undefined && segment.length <= MAX_CACHED_HEADER;
  let entry = cacheable ? o.key_cache?.get(segment) : undefined;
  // `fast_path: false` is the reference the fast path is tested against: jose decodes and the header
  // is checked on every proof, and only the key import is reused.
  if (entry && o.fast_path !== false) {
    if (!algorithms.includes(entry.alg)) return fail("The DPoP proof algorithm is not accepted");
  } else {
    const { alg, jwk } = checkProofHeader(proof, algorithms);
    if (!entry) {
      try {
        entry = { alg, key: await importJWK(jwk, alg), jkt: await calculateJwkThumbprint(jwk, "sha256") };
      } catch (e) {
        return fail("The DPoP proof key is invalid", e);
      }
      if (cacheable) o.key_cache?.set(segment, entry);
    }
  }

  let payload: JWTPayload;
  try {
    payload =
      (o.fast_path !== false && (await fastVerify(proof, segment, entry))) ||
      (await jwtVerify(proof, entry.key, { typ: "dpop+jwt", algorithms: [entry.alg] })).payload;
  } catch (e) {
    return fail("The DPoP proof signature is invalid", e);
  }

  const { jti, htm, htu, iat, ath, nonce } = payload as JWTPayload & {
    htm?: unknown;
    htu?: unknown;
    ath?: unknown;
    nonce?: unknown;
  };
  if (typeof jti !== "string" || jti.length === 0 || jti.length > 256)
    return fail("The DPoP proof jti is missing or invalid");
  if (htm !== req.method) return fail("The DPoP proof htm does not match the request method");
  // The expected htu is the same URL on every request: normalised once. A proof naming it verbatim
  // (what clients send) needs no parse; any other spelling is normalised and compared.
  const expectedHtu = normalizedExpectedHtu(o.htu);
  if (typeof htu !== "string" || expectedHtu === undefined || (htu !== o.htu && normalizeHtu(htu) !== expectedHtu)) {
    return fail("The DPoP proof htu does not match the request URL");
  }
  const now = Math.floor((o.now_ms ?? Date.now()) / 1000);
  const window = o.iat_window_seconds ?? 300;
  if (typeof iat !== "number" || !Number.isFinite(iat)) return fail("The DPoP proof iat is missing");
  if (iat < now - window || iat > now + window) return fail("The DPoP proof iat is outside the acceptable window");
  if (o.access_token !== undefined) {
    if (typeof ath !== "string") return fail("The DPoP proof ath is missing");
    if (ath !== (o.access_token_hash ?? accessTokenHash(o.access_token)))
      return fail("The DPoP proof ath does not match the access token");
  }
  return { jkt: entry.jkt, jti, iat, nonce: typeof nonce === "string" ? nonce : undefined };
}
