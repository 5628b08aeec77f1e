/**
 * Stateless DPoP server nonces: an HMAC of the current time step, so every instance that shares
 * the secret issues and accepts the same nonces without sharing any state.
 *
 * @see RFC 9449 §8 (resource server-provided nonce)
 * @module
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** Options of {@link createDpopNonces}. */
export interface DpopNonceOptions {
  /** Shared secret, at least 32 bytes; the same on every instance. */
  secret: string | Uint8Array;
  /** Seconds a nonce stays current. The previous step's nonce is still accepted. Default 60. */
  step?: number;
}

/** Issues and checks nonces. */
export interface DpopNonces {
  /** The nonce clients should use now. */
  current(nowMs?: number): string;
  /** Whether `nonce` is the current or the previous step's nonce. */
  isValid(nonce: unknown, nowMs?: number): boolean;
}

/**
 * Create a nonce source.
 *
 * @example
 * ```ts
 * new MCPServer("x", { dpop: { nonce: { secret: process.env.DPOP_NONCE_SECRET! } } });
 * ```
 */
export function createDpopNonces(o: DpopNonceOptions): DpopNonces {
  const secret = typeof o.secret === "string" ? Buffer.from(o.secret) : Buffer.from(o.secret);
  if (secret.byteLength < 32) throw new TypeError('DPoP nonce: "secret" must be at least 32 bytes');
  const step = (o.step ?? 60) * 1000;
  if (!(step > 0)) throw new TypeError('DPoP nonce: "step" must be positive');
  const forStep = (n: number) => createHmac("sha256", secret).update(`dpop-nonce:${n}`).digest("base64url");
  const equal = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
  return {
    current: (now = Date.now()) => forStep(Math.floor(now / step)),
    isValid(nonce, now = Date.now()) {
      if (typeof nonce !== "string" || nonce.length > 64) return false;
      const n = Math.floor(now / step);
      return equal(nonce, forStep(n)) || equal(nonce, forStep(n - 1));
    },
  };
}
