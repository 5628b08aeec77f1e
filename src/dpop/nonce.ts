/**
 * Stateless DPoP server nonces: an HMAC of the current time step, so every instance that shares
 * the secret issues and accepts the same nonces without sharing any state.
 *
 * @see RFC 9449 §8 (resource server-provided nonce)
 * @module
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { optionsSchema, parseOptions } from "../lib/options.js";

/** Options of {@link createDpopNonces}. */
export interface DpopNonceOptions {
  /** Shared secret, at least 32 bytes; the same on every instance. */
  secret: string | Uint8Array;
  /** Seconds a nonce stays current. The previous step's nonce is still accepted. Default 60. */
  step_seconds?: number;
  /** @deprecated Use `step_seconds`. Removed in 0.3. */
  step?: number;
}

const byteLength = (secret: string | Uint8Array): number =>
  typeof secret === "string" ? Buffer.byteLength(secret) : secret.byteLength;

/** The schema of {@link DpopNonceOptions}, also used where the options are nested (`dpop.nonce`). */
export const DpopNonceOptionsSchema = optionsSchema(
  "createDpopNonces",
  z.strictObject({
    secret: z
      .union([z.string(), z.instanceof(Uint8Array)], { error: "must be a string or a Uint8Array" })
      .refine((v) => byteLength(v) >= 32, { error: "must be at least 32 bytes" }),
    step_seconds: z.number().positive().max(86_400).optional(),
  }),
  { step: "step_seconds" },
);

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
 * @throws `ConfigError` naming each bad option (unknown keys, a secret under 32 bytes, a bad `step`).
 * @example
 * ```ts
 * new MCPServer("x", { dpop: { nonce: { secret: process.env.DPOP_NONCE_SECRET! } } });
 * ```
 */
export function createDpopNonces(options: DpopNonceOptions): DpopNonces {
  const o = parseOptions(DpopNonceOptionsSchema, options, "createDpopNonces");
  // A copy: the caller's buffer may change after construction.
  const secret = typeof o.secret === "string" ? Buffer.from(o.secret) : Buffer.from(o.secret);
  const step = (o.step_seconds ?? 60) * 1000;
  const hmac = (n: number) => createHmac("sha256", secret).update(`dpop-nonce:${n}`).digest("base64url");
  // The nonces of the last steps asked for, as strings and as bytes: a step's nonce never changes, and
  // an HMAC costs 12–40 µs on Node 24 (OpenSSL 3.5), more than the rest of a proof check but its
  // signature. Two steps are in use at a time (the current and the previous one); a third slot lets a
  // clock step forward without evicting the step it is still accepting.
  const recent = new Map<number, { text: string; bytes: Buffer }>();
  const forStep = (n: number) => {
    let entry = recent.get(n);
    if (!entry) {
      const text = hmac(n);
      entry = { text, bytes: Buffer.from(text) };
      if (recent.size >= 3) recent.delete(recent.keys().next().value as number);
      recent.set(n, entry);
    }
    return entry;
  };
  // Compared as bytes, and only at equal byte lengths: timingSafeEqual throws on buffers of different
  // lengths, and a string's length in UTF-16 units says nothing about its length in UTF-8 bytes
  // (`"é".repeat(43)` is 43 units, 86 bytes). A lone surrogate encodes as U+FFFD, never as the nonce's
  // base64url characters, so it cannot make a wrong nonce compare equal.
  const equal = (x: Buffer, y: Buffer) => x.byteLength === y.byteLength && timingSafeEqual(x, y);
  return {
    current: (now = Date.now()) => forStep(Math.floor(now / step)).text,
    isValid(nonce, now = Date.now()) {
      if (typeof nonce !== "string" || nonce.length > 64) return false;
      const n = Math.floor(now / step);
      const given = Buffer.from(nonce);
      return equal(given, forStep(n).bytes) || equal(given, forStep(n - 1).bytes);
    },
  };
}
