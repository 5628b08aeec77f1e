/**
 * SHA-256 of a string, base64url: the token-cache keys and the DPoP `ath` claim.
 *
 * @module
 */
import * as nodeCrypto from "node:crypto";

/**
 * One-shot `crypto.hash` (Node ≥ 20.12) is about twice as fast as a Hash object; older runtimes and polyfills get the
 * Hash object.
 */
const oneShotHash = (nodeCrypto as { hash?: (algorithm: string, data: string, encoding: "base64url") => string }).hash;

/** base64url(SHA-256(data)). */
export const sha256 = oneShotHash
  ? (data: string): string => oneShotHash("sha256", data, "base64url")
  : (data: string): string => nodeCrypto.createHash("sha256").update(data).digest("base64url");
