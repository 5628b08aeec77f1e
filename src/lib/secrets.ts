/**
 * Making and comparing secret values (codes, states, CSRF tokens, handles, lease tokens): one way to
 * draw them and one constant-time comparison, shared by the development authorization server and the
 * connect pages.
 *
 * @internal
 * @module
 */
import { randomBytes, timingSafeEqual } from "node:crypto";

/** `bytes` random bytes, base64url: identifiers, codes, tokens. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString("base64url");
}

/** Constant-time string comparison (lengths are not secret). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
