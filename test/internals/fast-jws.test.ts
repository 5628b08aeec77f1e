/**
 * src/lib/fast-jws.ts pieces that are not only reached through the differential tests:
 * `decodeSegment` against jose's base64url decoder, on generated input.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { base64url } from "jose";
import { decodeSegment } from "../../src/lib/fast-jws.js";
import { rng } from "../helpers/prng.js";

type Decoded = { ok: true; bytes: string } | { ok: false; error: string };

const attempt = (decode: (s: string) => Uint8Array, s: string): Decoded => {
  try {
    return { ok: true, bytes: Buffer.from(decode(s)).toString("hex") };
  } catch (e) {
    return { ok: false, error: (e as Error).constructor.name };
  }
};

test("decodeSegment: the same bytes or the same refusal as jose's base64url.decode, on 20,000 generated segments", () => {
  const rand = rng(0xb64);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const intruders = ["=", "==", "+", "/", " ", "\n", "\t", ".", "é", "\u0000", "%"];
  let buffered = 0;
  let refused = 0;
  for (let i = 0; i < 20_000; i++) {
    const length = Math.floor(rand() * 90);
    let s = "";
    for (let j = 0; j < length; j++) s += alphabet[Math.floor(rand() * 64)];
    // A fifth of the cases carry characters outside the base64url alphabet, anywhere.
    if (rand() < 0.2) {
      const at = Math.floor(rand() * (s.length + 1));
      s = s.slice(0, at) + (intruders[Math.floor(rand() * intruders.length)] as string) + s.slice(at);
    }
    const ours = attempt(decodeSegment, s);
    const jose = attempt(base64url.decode, s);
    assert.deepEqual(ours, jose, `segment ${JSON.stringify(s)}`);
    if (/^[A-Za-z0-9_-]*$/.test(s) && s.length % 4 !== 1) buffered++;
    if (!jose.ok) refused++;
  }
  // Both branches ran, and jose refused a share of the inputs (length 4n+1, intruders).
  assert.ok(buffered > 10_000, `only ${buffered} segments took the Buffer branch`);
  assert.ok(refused > 2_000, `only ${refused} segments were refused`);
});

test("decodeSegment: extra trailing bits are ignored, as jose ignores them", () => {
  // "QQ" and "QR" both decode to "A" (0x41): the last 4 bits are not part of any byte.
  assert.deepEqual(Buffer.from(decodeSegment("QR")), Buffer.from(base64url.decode("QR")));
  assert.equal(Buffer.from(decodeSegment("QR")).toString(), "A");
  assert.throws(() => decodeSegment("QUJDR"), TypeError);
});
