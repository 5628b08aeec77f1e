/**
 * `protected-mcp/dpop`: the DPoP (RFC 9449) building blocks behind `protect()`'s `dpop` option, for
 * custom gates and tests. Most users only pass options to `protect()` / `MCPServer` and never import
 * this entry.
 *
 * @see RFC 9449 §4.3 (checking proofs), §7 (protected resource access), §8 (nonces)
 * @packageDocumentation
 */
export { createDpopCheck } from "./check.js";
export type { DpopOptions } from "./check.js";
export { accessTokenHash, DEFAULT_DPOP_ALGORITHMS, verifyDpopProof } from "./verify.js";
export type { DpopKeyCache, DpopKeyEntry, VerifiedDpopProof, VerifyDpopProofOptions } from "./verify.js";
export { createDpopNonces } from "./nonce.js";
export type { DpopNonceOptions, DpopNonces } from "./nonce.js";
export type { DpopCheck } from "../protect/authenticate.js";
