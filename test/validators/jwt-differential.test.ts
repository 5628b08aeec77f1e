/**
 * Differential test of JWTValidator's signature fast path (node:crypto one-shot verify with a cached
 * KeyObject for ES256, EdDSA/Ed25519 and RS256) against the reference (`jose.jwtVerify`,
 * `fast_path: false`): 20,000+ generated and mutated access tokens go through validator pairs that
 * differ only in `fast_path` (both `token_cache_max: 0`, the same JWKS on 127.0.0.1, the same frozen
 * `clock`) and must get identical decisions — the same AuthContext when accepted; the same error class,
 * code, reason and message (and the same jose error underneath) when refused.
 *
 * Deterministic: a seeded generator picks configurations and mutations, and the clock is frozen; keys are
 * generated once per run, so signatures differ between runs but every mutation class runs every time.
 */
import assert from "node:assert/strict";
import { createHmac, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import type { JWK } from "jose";
import { JWTValidator, type AuthContext, type JWTValidatorOptions } from "../../src/index.js";
import { rng } from "../helpers/prng.js";
import { differentialCases } from "../helpers/differential.js";

const TOTAL = differentialCases();
/** A fixed instant with a fractional second (jose floors it). */
const NOW_MS = 1_767_225_600_500;
const NOW = Math.floor(NOW_MS / 1000);
const ISS = "https://issuer.example.com";
const ISS2 = "https://other-issuer.example.com";
const RESOURCE = "https://mcp.example.com/mcp";
const AUD2 = "api://default";
const SECRET = "s".repeat(40);

const rand = rng(0x7a11);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
const b64u = (v: string | Uint8Array): string => Buffer.from(v).toString("base64url");

interface Key {
  kid: string;
  alg: string;
  privateKey: KeyObject;
  jwk: JWK;
  digest: string | null;
  p1363: boolean;
}

function makeKey(
  kind: "P-256" | "P-384" | "Ed25519" | "RSA" | "RSA-1024",
  kid: string,
  jwkExtra: Partial<JWK> = {},
): Key {
  const pair =
    kind === "Ed25519"
      ? generateKeyPairSync("ed25519")
      : kind === "RSA" || kind === "RSA-1024"
        ? generateKeyPairSync("rsa", { modulusLength: kind === "RSA" ? 2048 : 1024 })
        : generateKeyPairSync("ec", { namedCurve: kind });
  const jwk = { ...(pair.publicKey.export({ format: "jwk" }) as JWK), kid, ...jwkExtra };
  const alg = kind === "P-256" ? "ES256" : kind === "P-384" ? "ES384" : kind === "Ed25519" ? "EdDSA" : "RS256";
  return {
    kid,
    alg,
    privateKey: pair.privateKey,
    jwk,
    digest: kind === "Ed25519" ? null : kind === "P-384" ? "sha384" : "sha256",
    p1363: kind === "P-256" || kind === "P-384",
  };
}

// In the key set: the keys tokens are signed with, plus the awkward ones (a 1024-bit RSA key jose
// refuses, a P-384 key, two keys sharing a kid, keys whose JWK names an alg or a use).
const ES = [makeKey("P-256", "es-1"), makeKey("P-256", "es-2", { alg: "ES256", use: "sig" })];
const ED = [makeKey("Ed25519", "ed-1"), makeKey("Ed25519", "ed-2", { alg: "EdDSA" })];
const RS = [makeKey("RSA", "rs-1", { alg: "RS256", use: "sig" })];
const RS_SMALL = makeKey("RSA-1024", "rs-small");
const P384 = makeKey("P-384", "p384");
const DUP = [makeKey("P-256", "dup"), makeKey("P-256", "dup")];
const JWKS = { keys: [...ES, ...ED, ...RS, RS_SMALL, P384, ...DUP].map((k) => k.jwk) };
// Not in the key set: signers for "wrong key, same kid".
const STRANGERS: Record<string, Key> = {
  ES256: makeKey("P-256", "x"),
  EdDSA: makeKey("Ed25519", "x"),
  RS256: makeKey("RSA", "x"),
};
const SIGNERS = [...ES, ...ES, ...ED, ...ED, ...RS];

function signWith(key: Key, input: string, der = false): string {
  return b64u(
    sign(
      key.digest,
      Buffer.from(input),
      key.p1363 && !der ? { key: key.privateKey, dsaEncoding: "ieee-p1363" } : key.privateKey,
    ),
  );
}
/** A compact JWS of raw header and payload text (so duplicate members and odd JSON survive). */
function signRaw(headerJson: string | Uint8Array, payloadJson: string | Uint8Array, key: Key, der = false): string {
  const input = `${b64u(headerJson)}.${b64u(payloadJson)}`;
  return `${input}.${signWith(key, input, der)}`;
}
function signHmac(headerJson: string, payloadJson: string, secret: string = SECRET): string {
  const input = `${b64u(headerJson)}.${b64u(payloadJson)}`;
  return `${input}.${b64u(createHmac("sha256", secret).update(input).digest())}`;
}

const header = (key: Key, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ alg: key.alg, typ: "at+jwt", kid: key.kid, ...extra });
const claims = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    iss: ISS,
    sub: "user-1",
    aud: RESOURCE,
    client_id: "client-1",
    scope: "read write",
    iat: NOW - 10,
    exp: NOW + 600,
    jti: `j-${Math.floor(rand() * 1e12)}`,
    ...extra,
  });
const without = (...names: string[]) => {
  const c = JSON.parse(claims()) as Record<string, unknown>;
  for (const n of names) delete c[n];
  return JSON.stringify(c);
};

function flipChar(token: string, seg: number): string {
  const parts = token.split(".");
  const s = parts[seg] as string;
  if (s.length === 0) return token;
  const i = Math.floor(rand() * s.length);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const at = alphabet.indexOf(s[i] as string);
  parts[seg] = s.slice(0, i) + (alphabet[(at ^ (1 << Math.floor(rand() * 6))) & 63] as string) + s.slice(i + 1);
  return parts.join(".");
}
function flipDecodedBit(token: string, seg: number): string {
  const parts = token.split(".");
  const bytes = Buffer.from(parts[seg] as string, "base64url");
  if (bytes.length === 0) return token;
  const i = Math.floor(rand() * bytes.length);
  bytes[i] = (bytes[i] as number) ^ (1 << Math.floor(rand() * 8));
  parts[seg] = b64u(bytes);
  return parts.join(".");
}
const segment = (token: string, seg: number, f: (s: string) => string): string => {
  const parts = token.split(".");
  parts[seg] = f(parts[seg] as string);
  return parts.join(".");
};

/** Validator configurations: each runs as a pair (fast path on / off). */
const CONFIGS: (Omit<JWTValidatorOptions, "jwks_uri"> & { name: string })[] = [
  { name: "defaults", issuer: ISS },
  {
    name: "arrays, tolerance 0, typ at+jwt",
    issuer: [ISS2, ISS],
    audience: [AUD2, RESOURCE],
    clock_tolerance_seconds: 0,
    required_typ: "at+jwt",
  },
  {
    name: "ES256 only, tolerance 300, typ application/at+jwt",
    issuer: ISS,
    algorithms: ["ES256"],
    clock_tolerance_seconds: 300,
    required_typ: "application/at+jwt",
  },
  {
    name: "RS256 + EdDSA, audience option, typ AT+JWT",
    issuer: ISS,
    algorithms: ["RS256", "EdDSA"],
    audience: RESOURCE,
    required_typ: "AT+JWT",
  },
  { name: "Ed25519 alg name, PS256", issuer: ISS, algorithms: ["Ed25519", "ES256", "PS256"] },
  { name: "no aud check (allowed_client_ids)", issuer: ISS, allowed_client_ids: ["client-1"] },
  { name: "HMAC secret", issuer: ISS, secret: SECRET },
];

type Case = { name: string; token: string };

function generate(): Case {
  const key = pick(SIGNERS);
  const valid = () => signRaw(header(key), claims(), key);
  const r = rand();
  const boundary = (claim: "exp" | "nbf" | "iat") => {
    const tol = pick([0, 30, 300]);
    const base = claim === "exp" ? NOW - tol : NOW + tol;
    return signRaw(header(key), claims({ [claim]: base + pick([-1, 0, 1]) + pick([0, 0, 0.5, -0.5]) }), key);
  };
  const mutations: [string, () => string][] = [
    ["valid", valid],
    [
      "valid, Ed25519 alg name",
      () => (key.alg === "EdDSA" ? signRaw(header(key, { alg: "Ed25519" }), claims(), key) : valid()),
    ],
    ["valid, no kid", () => signRaw(JSON.stringify({ alg: key.alg, typ: "at+jwt" }), claims(), key)],
    ["signature bit flip", () => flipDecodedBit(valid(), 2)],
    ["signature char flip", () => flipChar(valid(), 2)],
    ["payload char flip", () => flipChar(valid(), 1)],
    ["payload bit flip", () => flipDecodedBit(valid(), 1)],
    ["header char flip", () => flipChar(valid(), 0)],
    ["header bit flip", () => flipDecodedBit(valid(), 0)],
    [
      "wrong alg in header",
      () =>
        signRaw(
          header(key, {
            alg: pick([
              "ES256",
              "EdDSA",
              "Ed25519",
              "ES384",
              "ES512",
              "RS256",
              "RS384",
              "PS256",
              "HS256",
              "none",
              "",
              "RSA-OAEP",
              1,
              null,
            ]),
          }),
          claims(),
          key,
        ),
    ],
    ["alg none, empty signature", () => `${b64u(header(key, { alg: "none" }))}.${b64u(claims())}.`],
    ["empty signature", () => segment(valid(), 2, () => "")],
    [
      "HS256 with the public key as secret",
      () => signHmac(header(key, { alg: "HS256" }), claims(), JSON.stringify(key.jwk)),
    ],
    ["HS256 with the secret", () => signHmac(JSON.stringify({ alg: "HS256", typ: "at+jwt" }), claims())],
    ["wrong key, same kid", () => signRaw(header(key), claims(), STRANGERS[key.alg] as Key)],
    [
      "signed by another key in the set",
      () =>
        signRaw(
          header(key),
          claims(),
          pick(
            SIGNERS.filter((k) => k.alg === key.alg && k !== key).concat(
              key.alg === "RS256" ? [STRANGERS.RS256 as Key] : [],
            ),
          ),
        ),
    ],
    ["unknown kid", () => signRaw(header(key, { kid: pick(["nope", "ES-1", "", "es-1 "]) }), claims(), key)],
    ["kid not a string", () => signRaw(header(key, { kid: pick([1, null, ["es-1"], { k: 1 }, true]) }), claims(), key)],
    [
      "kid of another key type",
      () => signRaw(header(key, { kid: pick(["es-1", "ed-1", "rs-1", "p384"]) }), claims(), key),
    ],
    ["duplicate kid in the set", () => signRaw(header(DUP[0] as Key), claims(), pick(DUP))],
    ["RSA 1024-bit key", () => signRaw(header(RS_SMALL), claims(), RS_SMALL)],
    ["P-384 key claiming ES256", () => signRaw(header(P384, { alg: "ES256" }), claims(), P384)],
    ["P-384 ES384", () => signRaw(header(P384), claims(), P384)],
    [
      "DER-encoded ECDSA signature",
      () => {
        const k = pick(ES);
        return signRaw(header(k), claims(), k, true);
      },
    ],
    [
      "signature truncated",
      () => {
        const t = valid();
        return t.slice(0, t.length - 1 - Math.floor(rand() * 4));
      },
    ],
    ["signature extended", () => `${valid()}${pick(["A", "AA", "AAA", "AAAA", "Q", "_w"])}`],
    [
      "signature one byte longer",
      () => segment(valid(), 2, (s) => b64u(Buffer.concat([Buffer.from(s, "base64url"), Buffer.from([0])]))),
    ],
    [
      "signature leading zero byte dropped",
      () => segment(valid(), 2, (s) => b64u(Buffer.from(s, "base64url").subarray(1))),
    ],
    ["padding", () => segment(valid(), pick([0, 1, 2]), (s) => `${s}${pick(["=", "=="])}`)],
    [
      "standard base64 alphabet",
      () => segment(valid(), pick([0, 1, 2]), (s) => s.replace(/-/g, "+").replace(/_/g, "/") + pick(["+", "/"])),
    ],
    [
      "segment length 4n+1",
      () =>
        segment(valid(), pick([0, 1, 2]), (s) => {
          let out = s;
          while (out.length % 4 !== 1) out += "A";
          return out;
        }),
    ],
    [
      "non-zero trailing bits",
      () =>
        segment(valid(), pick([0, 1, 2]), (s) => {
          const last = s.at(-1) as string;
          return (
            s.slice(0, -1) +
            (last === "A"
              ? "B"
              : last === "Q"
                ? "R"
                : last === "g"
                  ? "h"
                  : last === "w"
                    ? "x"
                    : last === "E"
                      ? "F"
                      : last)
          );
        }),
    ],
    [
      "malformed payload segment, validly signed",
      () => {
        const p = b64u(claims());
        const bad = pick([
          `${p}${"A".repeat((5 - (p.length % 4)) % 4)}`,
          p.slice(0, -1) + (p.endsWith("A") ? "B" : "A"),
          `${p}Q`,
        ]);
        const input = `${b64u(header(key))}.${bad}`;
        return `${input}.${signWith(key, input)}`;
      },
    ],
    [
      "four or five segments",
      () => pick([`${valid()}.${b64u("x")}`, `${valid()}.a.b`, valid().split(".").slice(0, 2).join(".")]),
    ],
    [
      "header not an object",
      () => signRaw(pick(["[1]", "null", "123", '"alg"', "true", "{", "", `{"alg":"${key.alg}"`]), claims(), key),
    ],
    [
      "payload not an object",
      () => signRaw(header(key), pick(["[1,2]", "123", "null", '"s"', "true", "{", "", "{}x"]), key),
    ],
    [
      "payload invalid UTF-8",
      () =>
        signRaw(
          header(key),
          Buffer.concat([
            Buffer.from(`{"iss":"${ISS}","sub":"`),
            Buffer.from([0xff, 0xfe]),
            Buffer.from(`","aud":"${RESOURCE}","exp":${NOW + 600}}`),
          ]),
          key,
        ),
    ],
    [
      "header invalid UTF-8",
      () =>
        signRaw(
          Buffer.concat([Buffer.from(`{"alg":"${key.alg}","kid":"`), Buffer.from([0xc3]), Buffer.from('"}')]),
          claims(),
          key,
        ),
    ],
    ["payload BOM", () => signRaw(header(key), `\ufeff${claims()}`, key)],
    ["header BOM", () => signRaw(`\ufeff${header(key)}`, claims(), key)],
    [
      "duplicate header alg",
      () =>
        signRaw(
          `{"alg":"${pick(["HS256", "none", "ES384", key.alg])}","kid":"${key.kid}","alg":"${key.alg}"}`,
          claims(),
          key,
        ),
    ],
    [
      "duplicate header kid",
      () =>
        signRaw(
          `{"alg":"${key.alg}","kid":"${key.kid}","kid":"${pick(["nope", key.kid, "es-1", "ed-1"])}"}`,
          claims(),
          key,
        ),
    ],
    [
      "duplicate payload members",
      () =>
        signRaw(
          header(key),
          `{"iss":"${ISS2}","iss":"${ISS}","sub":"a","aud":"${RESOURCE}","exp":${NOW - 1000},"exp":${NOW + pick([600, -600])},"aud":"${pick([RESOURCE, AUD2])}"}`,
          key,
        ),
    ],
    [
      "header __proto__",
      () => signRaw(`{"alg":"${key.alg}","kid":"${key.kid}","__proto__":{"typ":"at+jwt"}}`, claims(), key),
    ],
    [
      "payload __proto__",
      () =>
        signRaw(
          header(key),
          `{"__proto__":{"exp":${NOW + 600}},"iss":"${ISS}","sub":"a","aud":"${RESOURCE}"${pick(["", `,"exp":${NOW + 600}`])}}`,
          key,
        ),
    ],
    [
      "huge values",
      () =>
        signRaw(
          header(key),
          claims(
            pick([
              { exp: 1e308 },
              { exp: "1e400" },
              { exp: 2 ** 53 + 1 },
              { nbf: -1e308 },
              { iat: 1e308 },
              { sub: "s".repeat(100_000) },
              { scope: "x ".repeat(20_000) },
              { pad: "p".repeat(200_000) },
            ]),
          ),
          key,
        ),
    ],
    [
      "exp as 1e400 (Infinity)",
      () => signRaw(header(key), claims().replace(/"exp":\d+/, `"exp":${pick(["1e400", "-1e400"])}`), key),
    ],
    ["exp boundary", () => boundary("exp")],
    ["nbf boundary", () => boundary("nbf")],
    [
      "iat boundary / future",
      () => pick([boundary("iat"), signRaw(header(key), claims({ iat: NOW + pick([3600, 1e9]) }), key)]),
    ],
    [
      "exp / nbf / iat not a number",
      () =>
        signRaw(
          header(key),
          claims({
            [pick(["exp", "nbf", "iat"])]: pick(["1", String(NOW + 600), null, true, [NOW + 600], { v: 1 }, ""]),
          }),
          key,
        ),
    ],
    [
      "missing claims",
      () =>
        signRaw(
          header(key),
          without(
            ...pick([
              ["exp"],
              ["iss"],
              ["aud"],
              ["sub"],
              ["sub", "client_id"],
              ["exp", "iss"],
              ["iss", "aud"],
              ["exp", "iss", "aud"],
            ]),
          ),
          key,
        ),
    ],
    [
      "iss mismatch",
      () =>
        signRaw(
          header(key),
          claims({
            iss: pick([ISS2, `${ISS}/`, "", null, 1, [ISS], "HTTPS://ISSUER.EXAMPLE.COM", "https://evil.example.com"]),
          }),
          key,
        ),
    ],
    [
      "aud variants",
      () =>
        signRaw(
          header(key),
          claims({
            aud: pick([
              [RESOURCE, AUD2],
              [AUD2],
              [],
              [1, RESOURCE],
              [null],
              AUD2,
              `${RESOURCE}/`,
              "",
              null,
              1,
              { [RESOURCE]: true },
              [[RESOURCE]],
            ]),
          }),
          key,
        ),
    ],
    [
      "typ variants",
      () =>
        signRaw(
          pick([
            header(key, {
              typ: pick([
                "at+jwt",
                "application/at+jwt",
                "AT+JWT",
                "Application/AT+JWT",
                "JWT",
                "jwt",
                "application/jwt",
                "at+jwt ",
                "",
                1,
                null,
              ]),
            }),
            JSON.stringify({ alg: key.alg, kid: key.kid }),
          ]),
          claims(),
          key,
        ),
    ],
    [
      "extra header members",
      () =>
        signRaw(
          header(
            key,
            pick([
              { crit: ["b64"], b64: false },
              { crit: ["b64"], b64: true },
              { crit: ["exp"], exp: 1 },
              { crit: [] },
              { b64: true },
              { b64: false },
              { jwk: key.jwk },
              { jku: "https://evil.example/jwks" },
              { x5c: ["MIIB"] },
              { x5u: "https://x" },
              { cty: "JWT" },
              { zip: "DEF" },
              { nonce: "n" },
            ]),
          ),
          claims(),
          key,
        ),
    ],
    [
      "required claim values",
      () =>
        signRaw(
          header(key),
          claims({
            client_id: pick(["client-1", "client-2", 1, undefined]),
            azp: pick(["client-1", undefined]),
            sub: pick(["u", "", 1, undefined]),
          }),
          key,
        ),
    ],
    [
      "scopes and cnf",
      () =>
        signRaw(
          header(key),
          claims({
            scope: pick(["a b", "", 1, null]),
            scp: pick([["a", 1, "b"], "c d", undefined]),
            cnf: pick([{ jkt: "abc" }, { jkt: 1 }, null, undefined]),
          }),
          key,
        ),
    ],
  ];
  const [name, make] = r < 0.3 ? (mutations[0] as [string, () => string]) : pick(mutations.slice(1));
  return { name, token: make() };
}

type Outcome =
  | { ok: true; value: AuthContext; token: string }
  | { ok: false; name: string; code: string; reason: string; message: string; cause: string | undefined };

async function run(v: JWTValidator, token: string): Promise<Outcome> {
  try {
    const value = await v.verify(token, { resource: RESOURCE });
    return { ok: true, value, token: value.token };
  } catch (e) {
    const err = e as Error & {
      code?: string;
      reason?: string;
      cause?: { name?: string; code?: string; claim?: string; reason?: string };
    };
    const c = err.cause;
    return {
      ok: false,
      name: err.name,
      code: String(err.code),
      reason: String(err.reason),
      message: err.message,
      cause: c === undefined ? undefined : `${c.name}:${c.code}:${c.claim}:${c.reason}`,
    };
  }
}

async function startJwksServer(): Promise<{ uri: string; fetches: () => number; close: () => Promise<void> }> {
  let fetches = 0;
  const body = JSON.stringify(JWKS);
  const server = createServer((req, res) => {
    fetches++;
    if (req.url === "/jwks") res.writeHead(200, { "content-type": "application/json" }).end(body);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    uri: `http://127.0.0.1:${port}/jwks`,
    fetches: () => fetches,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

test(
  `JWT fast path: ${TOTAL.toLocaleString("en-US")} generated and mutated tokens get jose's decisions`,
  { timeout: 300_000 },
  async (t) => {
    const jwks = await startJwksServer();
    t.after(() => jwks.close());
    // One frozen clock for both paths, through the validators' clock option (jose gets it as `currentDate`).
    const clock = () => NOW_MS;

    const pairs = () =>
      CONFIGS.map(({ name, ...c }) => {
        const base = (c.secret === undefined ? { ...c, jwks_uri: jwks.uri } : c) as JWTValidatorOptions;
        return {
          name,
          fast: new JWTValidator({ ...base, token_cache_max: 0, clock }),
          ref: new JWTValidator({ ...base, token_cache_max: 0, fast_path: false, clock }),
        };
      });
    let validators = pairs();
    /** Decisions by mutation and configuration. */
    const tally = new Map<string, { accepted: number; refused: number }>();
    const count = (name: string, config?: string) => {
      let accepted = 0;
      let refused = 0;
      for (const [k, e] of tally) {
        const [n, c] = k.split("|");
        if (n === name && (config === undefined || c === config)) {
          accepted += e.accepted;
          refused += e.refused;
        }
      }
      return { accepted, refused };
    };
    for (let i = 0; i < TOTAL; i++) {
      // Fresh validators (fresh key sets, so keys imported and KeyObjects made again) now and then.
      if (i > 0 && i % 3000 === 0) validators = pairs();
      const { name, token } = generate();
      const pair = pick(validators);
      const fast = await run(pair.fast, token);
      const ref = await run(pair.ref, token);
      assert.deepEqual(
        fast,
        ref,
        `case ${i} (${name}, ${pair.name}) differs: fast ${JSON.stringify(fast)} vs jose ${JSON.stringify(ref)}`,
      );
      const key = `${name}|${pair.name}`;
      const entry = tally.get(key) ?? { accepted: 0, refused: 0 };
      if (ref.ok) entry.accepted++;
      else entry.refused++;
      tally.set(key, entry);
    }
    const accepted = [...tally.values()].reduce((n, e) => n + e.accepted, 0);
    // Both decisions exercised broadly; every configuration accepted tokens.
    assert.ok(accepted >= TOTAL * 0.15, `only ${accepted} accepted`);
    for (const { name } of CONFIGS) {
      const n = [...tally].filter(([k]) => k.endsWith(`|${name}`)).reduce((sum, [, e]) => sum + e.accepted, 0);
      // About one token in 2,000 or more per configuration (11 at 21,000 cases, 4 at 8,000).
      assert.ok(n >= Math.ceil(TOTAL / 2000), `configuration "${name}" accepted only ${n}`);
    }
    for (const must of [
      "signature bit flip",
      "wrong key, same kid",
      "duplicate payload members",
      "exp boundary",
      "nbf boundary",
      "typ variants",
      "extra header members",
      "huge values",
    ]) {
      const e = count(must);
      assert.ok(e.accepted + e.refused > TOTAL / 210, `mutation "${must}" ran too rarely`); // 100 at 21,000 cases
    }
    for (const both of [
      "exp boundary",
      "nbf boundary",
      "typ variants",
      "aud variants",
      "duplicate payload members",
      "extra header members",
    ]) {
      const e = count(both);
      assert.ok(
        e.accepted > 10 && e.refused > 10,
        `"${both}" should be both accepted and refused (${JSON.stringify(e)})`,
      );
    }
    for (const never of [
      "signature bit flip",
      "wrong key, same kid",
      "signed by another key in the set",
      "P-384 key claiming ES256",
      "DER-encoded ECDSA signature",
      "RSA 1024-bit key",
      "alg none, empty signature",
      "empty signature",
      "HS256 with the public key as secret",
      "payload not an object",
      "header not an object",
      "payload invalid UTF-8",
    ]) {
      assert.equal(count(never).accepted, 0, `"${never}" was accepted`);
    }
    assert.equal(count("iss mismatch", "defaults").accepted, 0);
    // Every signer's valid tokens pass the default configuration.
    assert.equal(count("valid", "defaults").refused, 0);
    const validDefaults = count("valid", "defaults").accepted;
    assert.ok(validDefaults > TOTAL / 42, `only ${validDefaults} valid tokens under the defaults`); // 500 at 21,000 cases
  },
);

test("JWT fast path: taken for ES256, EdDSA, Ed25519 and RS256 (no WebCrypto verify), not for other tokens nor with fast_path: false", async (t) => {
  const jwks = await startJwksServer();
  t.after(() => jwks.close());
  const verify = t.mock.method(globalThis.crypto.subtle, "verify");
  const make = (fast_path: boolean) =>
    new JWTValidator({ jwks_uri: jwks.uri, issuer: ISS, token_cache_max: 0, fast_path });
  const now = Math.floor(Date.now() / 1000);
  const fresh = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({ iss: ISS, sub: "u", aud: RESOURCE, exp: now + 600, ...extra });
  const es = ES[0] as Key;
  const ed = ED[0] as Key;
  const rs = RS[0] as Key;
  const tokens = [
    signRaw(header(es), fresh(), es),
    signRaw(header(ed), fresh(), ed),
    signRaw(header(ed, { alg: "Ed25519" }), fresh(), ed),
    signRaw(header(rs), fresh(), rs),
  ];
  const fast = make(true);
  const ref = make(false);
  for (const token of tokens) assert.equal((await fast.verify(token, { resource: RESOURCE })).subject, "u");
  assert.equal(verify.mock.callCount(), 0, "the fast path verified every signature itself");
  for (const token of tokens) assert.equal((await ref.verify(token, { resource: RESOURCE })).subject, "u");
  assert.equal(verify.mock.callCount(), tokens.length, "fast_path: false leaves every signature to jose");
  // Header members beyond alg/kid/typ, and algorithms off the fast path, go to jose.
  const p384 = signRaw(header(P384), fresh(), P384);
  const withJku = signRaw(header(es, { jku: "https://issuer.example.com/jwks" }), fresh(), es);
  for (const token of [p384, withJku]) assert.equal((await fast.verify(token, { resource: RESOURCE })).subject, "u");
  assert.equal(verify.mock.callCount(), tokens.length + 2);
});

test("JWT fast path: ES256 signatures with short r or s, zero, out-of-range and all-ones values get jose's decisions", async (t) => {
  const jwks = await startJwksServer();
  t.after(() => jwks.close());
  const fast = new JWTValidator({ jwks_uri: jwks.uri, issuer: ISS, token_cache_max: 0 });
  const ref = new JWTValidator({ jwks_uri: jwks.uri, issuer: ISS, token_cache_max: 0, fast_path: false });
  const key = ES[0] as Key;
  const now = Math.floor(Date.now() / 1000);
  // Valid signatures whose r, s or both start with a zero byte (shorter DER integers), found by signing again.
  const found = new Map<string, string>();
  for (let i = 0; i < 20_000 && !(found.has("r") && found.has("s")); i++) {
    const token = signRaw(
      header(key),
      JSON.stringify({ iss: ISS, sub: "u", aud: RESOURCE, exp: now + 600, n: i }),
      key,
    );
    const sig = Buffer.from(token.split(".")[2] as string, "base64url");
    if (sig[0] === 0) found.set(sig[32] === 0 ? "both" : "r", token);
    else if (sig[32] === 0) found.set("s", token);
  }
  assert.ok(found.has("r") && found.has("s"), "found signatures with a leading zero byte in r and in s");
  const base = signRaw(header(key), JSON.stringify({ iss: ISS, sub: "u", aud: RESOURCE, exp: now + 600 }), key);
  const n = Buffer.from("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", "hex");
  const withSig = (sig: Buffer) => segment(base, 2, () => b64u(sig));
  const original = Buffer.from(base.split(".")[2] as string, "base64url");
  const crafted = [
    withSig(Buffer.alloc(64)),
    withSig(Buffer.alloc(64, 0xff)),
    withSig(Buffer.concat([Buffer.alloc(32), original.subarray(32)])),
    withSig(Buffer.concat([original.subarray(0, 32), Buffer.alloc(32)])),
    withSig(Buffer.concat([n, original.subarray(32)])),
    withSig(Buffer.concat([original.subarray(0, 32), n])),
    withSig(Buffer.concat([Buffer.alloc(31), Buffer.from([1]), Buffer.alloc(31), Buffer.from([1])])),
  ];
  for (const token of [...found.values(), base]) {
    assert.deepEqual(await run(fast, token), await run(ref, token));
    assert.equal((await run(fast, token)).ok, true);
  }
  for (const token of crafted) {
    const outcome = await run(fast, token);
    assert.deepEqual(outcome, await run(ref, token));
    assert.equal(outcome.ok, false);
    assert.equal(outcome.ok === false && outcome.message, "The access token signature is invalid");
  }
});
