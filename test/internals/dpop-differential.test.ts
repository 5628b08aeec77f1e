/**
 * Differential test of the DPoP proof fast path (node:crypto one-shot verify with a cached KeyObject
 * for ES256 and Ed25519) against the reference (`jose.jwtVerify`, `fast_path: false`): 20,000+
 * generated and mutated proofs must get identical decisions — the same result when accepted, the
 * same error code and message when refused.
 *
 * Deterministic: a seeded generator picks the mutations; keys are generated once per run, so
 * signatures differ between runs but every mutation class is exercised every time.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { test } from "node:test";
import type { JWK } from "jose";
import { createDpopKeyCache, verifyDpopProof, accessTokenHash, type DpopKeyCache } from "../../src/dpop/verify.js";
import { rng } from "../helpers/prng.js";
import { differentialCases } from "../helpers/differential.js";

const HTU = "https://mcp.example.com/mcp";
const TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
const NOW = Date.now();
const NOW_S = Math.floor(NOW / 1000);
const TOTAL = differentialCases();

const rand = rng(0x5eed);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
const b64u = (v: string | Uint8Array): string => Buffer.from(v).toString("base64url");

interface Key {
  alg: string;
  privateKey: KeyObject;
  jwk: JWK;
  /** How to sign: node's digest name (null for EdDSA) and the signature encoding. */
  digest: string | null;
  p1363: boolean;
}

function makeKey(kind: "P-256" | "P-384" | "Ed25519" | "RSA"): Key {
  const pair =
    kind === "Ed25519"
      ? generateKeyPairSync("ed25519")
      : kind === "RSA"
        ? generateKeyPairSync("rsa", { modulusLength: 2048 })
        : generateKeyPairSync("ec", { namedCurve: kind });
  const full = pair.publicKey.export({ format: "jwk" }) as JWK;
  const jwk: JWK =
    kind === "RSA"
      ? { kty: full.kty, n: full.n, e: full.e }
      : { kty: full.kty, crv: full.crv, x: full.x, ...(full.y ? { y: full.y } : {}) };
  const alg = kind === "P-256" ? "ES256" : kind === "P-384" ? "ES384" : kind === "Ed25519" ? "EdDSA" : "RS256";
  return {
    alg,
    privateKey: pair.privateKey,
    jwk,
    digest: kind === "Ed25519" ? null : kind === "P-384" ? "sha384" : "sha256",
    p1363: kind !== "RSA" && kind !== "Ed25519",
  };
}

const KEYS = {
  es: [makeKey("P-256"), makeKey("P-256"), makeKey("P-256")],
  ed: [makeKey("Ed25519"), makeKey("Ed25519")],
  p384: makeKey("P-384"),
  rsa: makeKey("RSA"),
};

function signRaw(headerJson: string, payloadJson: string | Uint8Array, key: Key, der = false): string {
  const input = `${b64u(headerJson)}.${b64u(payloadJson)}`;
  const sig = sign(
    key.digest,
    Buffer.from(input),
    key.p1363 && !der ? { key: key.privateKey, dsaEncoding: "ieee-p1363" } : key.privateKey,
  );
  return `${input}.${b64u(sig)}`;
}

const header = (key: Key, extra: Record<string, unknown> = {}, alg = key.alg, jwk: unknown = key.jwk) =>
  JSON.stringify({ typ: "dpop+jwt", alg, jwk, ...extra });
const claims = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    jti: `j-${Math.floor(rand() * 1e12)}`,
    htm: "POST",
    htu: HTU,
    iat: NOW_S,
    ath: accessTokenHash(TOKEN),
    ...extra,
  });

/** Flip one bit of one character of segment `seg` (0 header, 1 payload, 2 signature) and keep it base64url. */
function flipChar(proof: string, seg: number): string {
  const parts = proof.split(".");
  const s = parts[seg] as string;
  const i = Math.floor(rand() * s.length);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const at = alphabet.indexOf(s[i] as string);
  const flipped = alphabet[(at ^ (1 << Math.floor(rand() * 6))) & 63] as string;
  parts[seg] = s.slice(0, i) + flipped + s.slice(i + 1);
  return parts.join(".");
}

/** Flip one bit of the decoded signature and re-encode it. */
function flipSignatureBit(proof: string): string {
  const parts = proof.split(".");
  const sig = Buffer.from(parts[2] as string, "base64url");
  const i = Math.floor(rand() * sig.length);
  sig[i] = (sig[i] as number) ^ (1 << Math.floor(rand() * 8));
  parts[2] = b64u(sig);
  return parts.join(".");
}

type Case = { name: string; proof: string };

/** One generated case: a valid proof (about a third) or one of the mutations. */
function generate(): Case {
  const key = rand() < 0.6 ? pick(KEYS.es) : pick(KEYS.ed);
  const other = pick([...KEYS.es, ...KEYS.ed].filter((k) => k !== key));
  const valid = () => signRaw(header(key), claims(), key);
  const r = rand();
  const mutations: [string, () => string][] = [
    ["valid", valid],
    [
      "valid, Ed25519 alg name",
      () => (key.alg === "EdDSA" ? signRaw(header(key, {}, "Ed25519"), claims(), key) : valid()),
    ],
    ["signature bit flip", () => flipSignatureBit(valid())],
    ["signature char flip", () => flipChar(valid(), 2)],
    ["payload char flip", () => flipChar(valid(), 1)],
    ["header char flip", () => flipChar(valid(), 0)],
    [
      "wrong alg in header",
      () =>
        signRaw(
          header(key, {}, pick(["ES256", "EdDSA", "Ed25519", "ES384", "RS256", "PS256", "HS256", "none"])),
          claims(),
          key,
        ),
    ],
    ["wrong key in header", () => signRaw(header(key, {}, key.alg, other.jwk), claims(), key)],
    ["other key's alg and jwk", () => signRaw(header(other), claims(), key)],
    ["P-384 key claiming ES256", () => signRaw(header(KEYS.p384, {}, "ES256"), claims(), KEYS.p384)],
    ["P-384 ES384", () => signRaw(header(KEYS.p384), claims(), KEYS.p384)],
    ["RSA RS256 (jose only)", () => signRaw(header(KEYS.rsa), claims(), KEYS.rsa)],
    [
      "DER-encoded ECDSA signature",
      () => {
        const k = pick(KEYS.es);
        return signRaw(header(k), claims(), k, true);
      },
    ],
    [
      "signature truncated",
      () => {
        const p = valid();
        return p.slice(0, p.length - 1 - Math.floor(rand() * 4));
      },
    ],
    ["signature extended", () => `${valid()}${pick(["A", "AA", "AAA", "AAAA", "Q", "_w"])}`],
    [
      "signature 65 bytes",
      () => {
        const p = valid().split(".");
        p[2] = b64u(Buffer.concat([Buffer.from(p[2] as string, "base64url"), Buffer.from([0])]));
        return p.join(".");
      },
    ],
    [
      "payload segment length 4n+1",
      () => {
        const p = valid().split(".");
        p[1] = `${p[1]}A`.length % 4 === 1 ? `${p[1]}A` : `${p[1]}AA`.length % 4 === 1 ? `${p[1]}AA` : `${p[1]}AAA`;
        return p.join(".");
      },
    ],
    [
      "header segment length 4n+1",
      () => {
        const p = valid().split(".");
        while ((p[0] as string).length % 4 !== 1) p[0] += "A";
        return p.join(".");
      },
    ],
    [
      "non-zero trailing bits",
      () => {
        const p = valid().split(".");
        const s = p[2] as string;
        const last = s.at(-1) as string;
        p[2] =
          s.slice(0, -1) + (last === "A" ? "B" : last === "Q" ? "R" : last === "g" ? "h" : last === "w" ? "x" : last);
        return p.join(".");
      },
    ],
    [
      "duplicate header members",
      () =>
        signRaw(
          `{"typ":"dpop+jwt","alg":"${key.alg}","alg":"${other.alg}","jwk":${JSON.stringify(key.jwk)}}`,
          claims(),
          key,
        ),
    ],
    [
      "duplicate header members, last wins",
      () =>
        signRaw(
          `{"typ":"dpop+jwt","alg":"${other.alg}","jwk":${JSON.stringify(other.jwk)},"alg":"${key.alg}","jwk":${JSON.stringify(key.jwk)}}`,
          claims(),
          key,
        ),
    ],
    [
      "duplicate payload members",
      () =>
        signRaw(
          header(key),
          `{"jti":"a","jti":"b","htm":"GET","htm":"POST","htu":"${HTU}","iat":1,"iat":${NOW_S},"ath":"${accessTokenHash(TOKEN)}"}`,
          key,
        ),
    ],
    ["extra header member kid", () => signRaw(header(key, { kid: "k1" }), claims(), key)],
    ["crit header", () => signRaw(header(key, { crit: ["b64"], b64: false }), claims(), key)],
    ["crit unknown", () => signRaw(header(key, { crit: ["exp"] }), claims(), key)],
    ["b64 without crit", () => signRaw(header(key, { b64: true }), claims(), key)],
    [
      "typ variants",
      () =>
        signRaw(header(key, { typ: pick(["DPOP+JWT", "application/dpop+jwt", "dpop+jwt ", "JWT"]) }), claims(), key),
    ],
    ["jwk key_ops empty", () => signRaw(header(key, {}, key.alg, { ...key.jwk, key_ops: [] }), claims(), key)],
    ["jwk key_ops verify", () => signRaw(header(key, {}, key.alg, { ...key.jwk, key_ops: ["verify"] }), claims(), key)],
    ["jwk key_ops sign", () => signRaw(header(key, {}, key.alg, { ...key.jwk, key_ops: ["sign"] }), claims(), key)],
    ["jwk use enc", () => signRaw(header(key, {}, key.alg, { ...key.jwk, use: pick(["enc", "sig"]) }), claims(), key)],
    [
      "jwk alg member",
      () =>
        signRaw(
          header(key, {}, key.alg, { ...key.jwk, alg: pick(["ES256", "ES384", "EdDSA", "Ed25519", "RS256"]) }),
          claims(),
          key,
        ),
    ],
    ["jwk ext false", () => signRaw(header(key, {}, key.alg, { ...key.jwk, ext: pick([false, "no"]) }), claims(), key)],
    ["jwk private member", () => signRaw(header(key, {}, key.alg, { ...key.jwk, d: "AAAA" }), claims(), key)],
    ["jwk huge x", () => signRaw(header(key, {}, key.alg, { ...key.jwk, x: "A".repeat(5000) }), claims(), key)],
    [
      "jwk missing y",
      () => signRaw(header(key, {}, key.alg, { kty: key.jwk.kty, crv: key.jwk.crv, x: key.jwk.x }), claims(), key),
    ],
    ["huge jti", () => signRaw(header(key), claims({ jti: "j".repeat(pick([256, 257, 10_000])) }), key)],
    [
      "huge iat",
      () => signRaw(header(key), claims({ iat: pick([1e308, -1e308, 2 ** 53, NOW_S + 301, NOW_S - 301]) }), key),
    ],
    ["huge payload", () => signRaw(header(key), claims({ pad: "x".repeat(100_000) }), key)],
    ["iat as string", () => signRaw(header(key), claims({ iat: String(NOW_S) }), key)],
    ["exp in the past", () => signRaw(header(key), claims({ exp: NOW_S - 10 }), key)],
    ["exp in the future", () => signRaw(header(key), claims({ exp: NOW_S + 3600 }), key)],
    ["exp not a number", () => signRaw(header(key), claims({ exp: pick(["1", null, true, [1]]) }), key)],
    ["nbf in the future", () => signRaw(header(key), claims({ nbf: NOW_S + 3600 }), key)],
    ["nbf in the past", () => signRaw(header(key), claims({ nbf: NOW_S - 10 }), key)],
    ["nbf not a number", () => signRaw(header(key), claims({ nbf: "0" }), key)],
    ["payload not an object", () => signRaw(header(key), pick(["[1,2]", "123", "null", '"s"', "true", "{", ""]), key)],
    [
      "payload invalid UTF-8",
      () =>
        signRaw(
          header(key),
          Buffer.concat([
            Buffer.from('{"jti":"'),
            Buffer.from([0xff, 0xfe]),
            Buffer.from(`","htm":"POST","htu":"${HTU}","iat":${NOW_S},"ath":"${accessTokenHash(TOKEN)}"}`),
          ]),
          key,
        ),
    ],
    ["payload BOM", () => signRaw(header(key), `\ufeff${claims()}`, key)],
    [
      "header invalid UTF-8",
      () => {
        const h = Buffer.concat([
          Buffer.from(`{"typ":"dpop+jwt","alg":"${key.alg}","x":"`),
          Buffer.from([0xc3]),
          Buffer.from(`","jwk":${JSON.stringify(key.jwk)}}`),
        ]);
        const input = `${b64u(h)}.${b64u(claims())}`;
        const sig = sign(
          key.digest,
          Buffer.from(input),
          key.p1363 ? { key: key.privateKey, dsaEncoding: "ieee-p1363" } : key.privateKey,
        );
        return `${input}.${b64u(sig)}`;
      },
    ],
    [
      "header __proto__",
      () =>
        signRaw(
          `{"typ":"dpop+jwt","alg":"${key.alg}","jwk":${JSON.stringify(key.jwk)},"__proto__":{"x":1}}`,
          claims(),
          key,
        ),
    ],
    [
      "wrong htm / htu / ath",
      () =>
        signRaw(header(key), claims(pick([{ htm: "GET" }, { htu: "https://other.example/mcp" }, { ath: "x" }])), key),
    ],
    [
      "signed by other key",
      () => signRaw(header(key), claims(), pick((key.alg === "ES256" ? KEYS.es : KEYS.ed).filter((k) => k !== key))),
    ],
  ];
  const [name, make] = r < 0.3 ? (mutations[0] as [string, () => string]) : pick(mutations.slice(1));
  return { name, proof: make() };
}

type Outcome = { ok: true; value: unknown } | { ok: false; code: string; message: string };

async function run(proof: string, fast: boolean, keyCache: DpopKeyCache | undefined): Promise<Outcome> {
  const req = new Request(HTU, { method: "POST", headers: { dpop: proof } });
  try {
    return {
      ok: true,
      value: await verifyDpopProof(req, {
        htu: HTU,
        access_token: TOKEN,
        now_ms: NOW,
        key_cache: keyCache,
        fast_path: fast,
      }),
    };
  } catch (e) {
    const err = e as { code?: string; message?: string };
    return { ok: false, code: String(err.code), message: String(err.message) };
  }
}

test(
  `DPoP fast path: ${TOTAL.toLocaleString("en-US")} generated and mutated proofs get jose's decisions`,
  { timeout: 300_000 },
  async () => {
    const fastCache = createDpopKeyCache();
    const refCache = createDpopKeyCache();
    const tally = new Map<string, { accepted: number; refused: number }>();
    for (let i = 0; i < TOTAL; i++) {
      const { name, proof } = generate();
      // Every fourth case without a key cache: the fast path must hold on a cold key too.
      const cached = i % 4 !== 0;
      const fast = await run(proof, true, cached ? fastCache : undefined);
      const ref = await run(proof, false, cached ? refCache : undefined);
      assert.deepEqual(
        fast,
        ref,
        `case ${i} (${name}) differs: fast ${JSON.stringify(fast)} vs jose ${JSON.stringify(ref)}`,
      );
      const t = tally.get(name) ?? { accepted: 0, refused: 0 };
      if (ref.ok) t.accepted++;
      else t.refused++;
      tally.set(name, t);
    }
    const accepted = [...tally.values()].reduce((n, t) => n + t.accepted, 0);
    // The run must have exercised both decisions broadly, and the valid proofs must all have passed.
    assert.ok(accepted >= TOTAL * 0.25, `only ${accepted} accepted`);
    assert.equal(tally.get("valid")?.refused, 0);
    for (const must of [
      "signature bit flip",
      "wrong key in header",
      "duplicate payload members",
      "payload invalid UTF-8",
      "crit header",
      "jwk key_ops empty",
    ]) {
      assert.ok(
        (tally.get(must)?.accepted ?? 0) + (tally.get(must)?.refused ?? 0) > TOTAL / 420,
        `mutation "${must}" ran too rarely`,
      ); // 50 at 21,000 cases
    }
    for (const never of [
      "signature bit flip",
      "wrong key in header",
      "signed by other key",
      "P-384 key claiming ES256",
      "DER-encoded ECDSA signature",
      "payload not an object",
      "exp in the past",
      "nbf in the future",
    ]) {
      assert.equal(tally.get(never)?.accepted ?? 0, 0, `"${never}" was accepted`);
    }
  },
);

test("DPoP fast path: used for ES256 and Ed25519 keys (a KeyObject is cached), not for RSA or when turned off", async () => {
  const cache = createDpopKeyCache();
  const es = KEYS.es[0] as Key;
  const ed = KEYS.ed[0] as Key;
  for (const key of [es, ed, KEYS.rsa])
    assert.equal((await run(signRaw(header(key), claims(), key), true, cache)).ok, true);
  const entries = [...cache.values()].map((v) => [v.alg, v.nodeKey?.asymmetricKeyType ?? v.nodeKey]);
  assert.deepEqual(entries.sort(), [
    ["ES256", "ec"],
    ["EdDSA", "ed25519"],
    ["RS256", null],
  ]);
  const off = createDpopKeyCache();
  assert.equal((await run(signRaw(header(es), claims(), es), false, off)).ok, true);
  assert.equal([...off.values()][0]?.nodeKey, undefined);
});

test("DPoP key cache: keyed by the header segment; a hit is still checked against each caller's algorithms", async () => {
  const cache = createDpopKeyCache();
  const ed = KEYS.ed[0] as Key;
  const proof = () => signRaw(header(ed), claims(), ed);
  const first = proof();
  assert.equal((await run(first, true, cache)).ok, true);
  assert.deepEqual([...cache.keys()], [first.slice(0, first.indexOf("."))]);
  const entry = [...cache.values()][0];
  assert.equal(entry?.alg, "EdDSA");
  assert.ok(entry?.fastHeader, "the decoded header is kept for the fast path");

  // The same header (a hit), verified by a caller that accepts only ES256: refused, with the message
  // a cold verify gives, and on both paths.
  for (const fast_path of [true, false]) {
    for (const keyCache of [cache, undefined]) {
      const req = new Request(HTU, { method: "POST", headers: { dpop: proof() } });
      await assert.rejects(
        verifyDpopProof(req, {
          htu: HTU,
          access_token: TOKEN,
          now_ms: NOW,
          key_cache: keyCache,
          fast_path,
          algorithms: ["ES256"],
        }),
        {
          code: "ERR_INVALID_DPOP_PROOF",
          message: "The DPoP proof algorithm is not accepted",
        },
      );
    }
  }
  assert.equal(cache.size, 1);

  // A header with a member the fast path does not know is cached too, and goes to jose every time.
  const kid = signRaw(header(ed, { kid: "k1" }), claims(), ed);
  assert.equal((await run(kid, true, cache)).ok, true);
  assert.equal(cache.get(kid.slice(0, kid.indexOf(".")))?.fastHeader, null);
  assert.equal((await run(signRaw(header(ed, { kid: "k1" }), claims(), ed), true, cache)).ok, true);

  // The edge: a header segment of exactly 4,096 characters (3,072 bytes of JSON) is cached; the next
  // possible length, 4,098, is verified but not cached.
  const padded = (bytes: number): string => {
    const base = header(ed, { pad: "" });
    return header(ed, { pad: "x".repeat(bytes - Buffer.byteLength(base)) });
  };
  const atLimit = signRaw(padded(3072), claims(), ed);
  assert.equal(atLimit.indexOf("."), 4096);
  assert.equal((await run(atLimit, true, cache)).ok, true);
  assert.equal(cache.size, 3);
  const overLimit = signRaw(padded(3073), claims(), ed);
  assert.equal(overLimit.indexOf("."), 4098);
  assert.equal((await run(overLimit, true, cache)).ok, true);
  assert.equal(cache.size, 3);
});
