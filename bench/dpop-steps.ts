/**
 * The DPoP proof check step by step (issue 30, item 2): each step `createDpopCheck().verify` takes for one
 * request, timed alone in a tight loop on one prepared request, with the library's own functions where
 * they are exported (src/dpop/verify.ts, src/dpop/check.ts, src/dpop/nonce.ts, src/lib/fast-jws.ts,
 * src/stores/replay.ts), next to the floor (one synchronous ES256 `crypto.verify`, bench/dpop-floor.ts)
 * and the whole check.
 *
 * Per step: µs of process CPU per operation (`process.cpuUsage`, so a verify on libuv's thread pool
 * counts the pool thread too, as the bench's server CPU column does) and µs of wall time per operation
 * (one in flight unless the step says otherwise; wall time divided by the operations). Each step runs for
 * BENCH_MICRO_MS milliseconds (default 300; BENCH_DPOP_STEPS_MS, default 100, inside `npm run bench:micro` and
 * `npm run bench`), five rounds with the steps taking turns; the median round is reported.
 *
 * `npx tsx bench/dpop-steps.ts` (any Node: `<node> --import tsx bench/dpop-steps.ts`); also part of
 * `npm run bench:micro` and of each Node line of `npm run bench`.
 */
import { KeyObject, verify } from "node:crypto";
import { fileURLToPath } from "node:url";
import { calculateJwkThumbprint, decodeProtectedHeader, importJWK, type CryptoKey, type JWK } from "jose";
import { createAuthContext } from "../src/context/request-context.js";
import { createDpopCheck } from "../src/dpop/check.js";
import { createDpopNonces } from "../src/dpop/nonce.js";
import { accessTokenHash, createDpopKeyCache, verifyDpopProof } from "../src/dpop/verify.js";
import { checkClaimsSet, fastHeader, verifyCompactSignature, verifyCompactSignatureSync } from "../src/lib/fast-jws.js";
import { MemoryReplayStore } from "../src/stores/replay.js";
import { envNumber, jwkThumbprint, makeKey, median, signAccessToken, signDpopProof } from "./common.js";
import { p1363ToDer } from "./dpop-floor.js";

const MS = envNumber("BENCH_MICRO_MS", 300);
const RESOURCE = "http://127.0.0.1/mcp";
/** What `verifyDpopProof` takes for a compact JWS (src/dpop/verify.ts, not exported). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const FAST_HEADER_MEMBERS: ReadonlySet<string> = new Set(["typ", "alg", "jwk"]);

export interface DpopStep {
  step: string;
  /** µs of process CPU per operation. */
  cpu_us: number;
  /** µs of wall time per operation, one in flight. */
  wall_us: number;
  /** Whether the check pays it on every request, on a key-cache miss only, or it is a reference figure. */
  when: "every request" | "key-cache miss" | "reference";
  notes: string;
}

export interface DpopStepsResult {
  node: string;
  steps: DpopStep[];
  table: string;
}

interface Step {
  step: string;
  when: DpopStep["when"];
  notes: string;
  run: () => unknown;
  /** Calls outstanding at a time (default 1). */
  inFlight?: number;
}

/**
 * CPU and wall µs per call of `run` over about MS ms, `inFlight` calls outstanding at a time (awaiting the calls that
 * return a promise).
 */
export async function timeStep(
  run: () => unknown,
  inFlight: number,
  ms: number,
): Promise<{ cpu: number; wall: number }> {
  let n = 0;
  const c0 = process.cpuUsage();
  const start = performance.now();
  const end = start + ms;
  let now = start;
  while (now < end) {
    for (let k = 0; k < 20; k++) {
      if (inFlight === 1) {
        const r = run();
        if (r instanceof Promise) await r;
        n++;
      } else {
        const batch: unknown[] = [];
        for (let j = 0; j < inFlight; j++, n++) batch.push(run());
        await Promise.all(batch);
      }
    }
    now = performance.now();
  }
  const c = process.cpuUsage(c0);
  return { cpu: (c.user + c.system) / n, wall: ((now - start) * 1000) / n };
}

/** Time every step for `ms` milliseconds a round (five rounds). */
export async function runDpopSteps(ms = MS): Promise<DpopStepsResult> {
  const tokenKey = makeKey("steps-as");
  const client = makeKey("steps-client");
  const jkt = jwkThumbprint(client.publicJwk);
  const token = signAccessToken(tokenKey, "https://issuer.bench.example", RESOURCE, { cnf: { jkt } });
  const proof = signDpopProof(client, "POST", RESOURCE, token);
  const request = new Request(RESOURCE, { method: "POST", headers: { authorization: `DPoP ${token}`, dpop: proof } });
  const segment = proof.slice(0, proof.indexOf("."));
  const last = proof.lastIndexOf(".");
  const { kty, crv, x, y } = client.publicJwk;
  const jwk: JWK = { kty, crv, x, y };
  const cryptoKey = (await importJWK(jwk, "ES256")) as CryptoKey;
  const nodeKey = KeyObject.from(cryptoKey);
  const signingInput = Buffer.from(proof.slice(0, last));
  const derSignature = p1363ToDer(Buffer.from(proof.slice(last + 1), "base64url"));
  const header = fastHeader(segment, FAST_HEADER_MEMBERS);
  const payloadBytes = await verifyCompactSignature(proof, "ES256", nodeKey);
  if (!header || !payloadBytes) throw new Error("dpop-steps: the prepared proof does not take the fast path");
  const ath = accessTokenHash(token);

  const keyCache = createDpopKeyCache();
  const proofOptions = { htu: RESOURCE, access_token: token, access_token_hash: ath, key_cache: keyCache };
  await verifyDpopProof(request, proofOptions);
  const entry = keyCache.get(segment);
  if (!entry) throw new Error("dpop-steps: the key cache did not keep the proof's header");

  // The replay store gets a distinct jti each time (a repeated one is a replay: no insert); a new store
  // when one fills (it refuses rather than evicts).
  const STORE_MAX = 100_000;
  const newStore = () => new MemoryReplayStore({ max: STORE_MAX, max_per_key: STORE_MAX });
  let store = newStore();
  let jti = 0;
  const secret = "a-dpop-nonce-secret-of-at-least-32-bytes!";
  const nonces = createDpopNonces({ secret });
  const nonce = nonces.current();

  // The whole check (proof, binding, nonce off, replay) needs a fresh proof each time: signed beforehand.
  const fullProofs = Array.from({ length: envNumber("BENCH_DPOP_STEPS_PROOFS", 20_000) }, () => {
    const p = signDpopProof(client, "POST", RESOURCE, token);
    return new Request(RESOURCE, { method: "POST", headers: { authorization: `DPoP ${token}`, dpop: p } });
  });
  let full = 0;
  const newCheck = () => createDpopCheck({ replay_store: new MemoryReplayStore({ max: 1_000_000 }) });
  let check = newCheck();
  const auth = createAuthContext(
    {
      subject: "bench-user",
      scopes: ["read"],
      claims: {},
      client_id: "bench-client",
      issuer: undefined,
      expires_at: undefined,
      jkt,
    },
    token,
  );

  const fullCheck = () => {
    if (full >= fullProofs.length) {
      full = 0;
      check = newCheck();
    }
    return check.verify(fullProofs[full++] as Request, token, auth, RESOURCE);
  };

  const steps: Step[] = [
    {
      step: "header: get `DPoP`, one proof, compact-JWS test, header segment",
      when: "every request",
      notes: "inline in verifyDpopProof (replicated here)",
      run: () => {
        const h = request.headers.get("dpop") ?? "";
        if (h.includes(",")) throw new Error("two proofs");
        const p = h.trim();
        if (!COMPACT_JWS.test(p)) throw new Error("malformed");
        return p.slice(0, p.indexOf("."));
      },
    },
    {
      step: "key cache lookup (the header segment)",
      when: "every request",
      notes: "createDpopKeyCache().get: a hit stands for the header decode, import and thumbprint below",
      run: () => keyCache.get(segment),
    },
    {
      step: "header decode + checks (jose decodeProtectedHeader)",
      when: "key-cache miss",
      notes: "checkProofHeader",
      run: () => decodeProtectedHeader(proof),
    },
    {
      step: "header decode for the fast path (fastHeader)",
      when: "key-cache miss",
      notes: "once per cache entry",
      run: () => fastHeader(segment, FAST_HEADER_MEMBERS),
    },
    {
      step: "JWK import (jose importJWK, WebCrypto)",
      when: "key-cache miss",
      notes: "",
      run: () => importJWK(jwk, "ES256"),
    },
    {
      step: "KeyObject from the imported key (KeyObject.from)",
      when: "key-cache miss",
      notes: "nodeKeyFor, once per key",
      run: () => KeyObject.from(cryptoKey),
    },
    {
      step: "JWK thumbprint (jose calculateJwkThumbprint)",
      when: "key-cache miss",
      notes: "",
      run: () => calculateJwkThumbprint(jwk, "sha256"),
    },
    {
      step: "**floor**: ES256 signature, synchronous crypto.verify, key imported once",
      when: "reference",
      notes: "bench/dpop-floor.ts (the bench's dpop_floor_us)",
      run: () => verify("sha256", signingInput, nodeKey, derSignature),
    },
    {
      step: "ES256 signature, crypto.verify callback form (libuv pool), 1 in flight",
      when: "reference",
      notes: "the floor's verify sent to the pool, nothing else",
      run: () =>
        new Promise((resolve, reject) =>
          verify("sha256", signingInput, nodeKey, derSignature, (e, ok) => (e ? reject(e) : resolve(ok))),
        ),
    },
    {
      step: "signature: verifyCompactSignatureSync (DER, calling thread, payload decode)",
      when: "every request",
      notes: "the proof fast path's verify",
      run: () => verifyCompactSignatureSync(proof, "ES256", nodeKey),
    },
    {
      step: "signature: verifyCompactSignature (DER, libuv pool, payload decode), 1 in flight",
      when: "reference",
      notes: "the proof fast path's verify before issue 30 (access tokens still take it)",
      run: () => verifyCompactSignature(proof, "ES256", nodeKey),
    },
    {
      step: "signature: verifyCompactSignature, 8 in flight",
      when: "reference",
      notes: "as a loaded server has them (10 connections); per verify",
      run: () => verifyCompactSignature(proof, "ES256", nodeKey),
      inFlight: 8,
    },
    {
      step: "claims set: JSON, typ (checkClaimsSet)",
      when: "every request",
      notes: "",
      run: () => checkClaimsSet(header, payloadBytes, { typ: "dpop+jwt" }),
    },
    {
      step: "`ath`: SHA-256 of the access token (accessTokenHash)",
      when: "reference",
      notes: "createDpopCheck hashes once per principal (WeakMap), not per proof",
      run: () => accessTokenHash(token),
    },
    {
      step: "replay store insert (MemoryReplayStore.remember, new jti)",
      when: "every request",
      notes: "",
      run: () => {
        if (store.size >= STORE_MAX) store = newStore();
        return store.remember(`${jkt}:${jti++}`, 600_000);
      },
    },
    {
      step: "nonce check (createDpopNonces().isValid, current nonce)",
      when: "reference",
      notes: "only with `dpop.nonce` set; each step's HMAC made once, then a byte comparison",
      run: () => nonces.isValid(nonce),
    },
    {
      step: "verifyDpopProof, key cache hit (same proof)",
      when: "reference",
      notes: "header .. claims, htm, htu, iat, ath; no replay",
      run: () => verifyDpopProof(request, proofOptions),
    },
    {
      step: "verifyDpopProof, no key cache (same proof)",
      when: "reference",
      notes: "every proof decoded, imported, thumbprinted",
      run: () => verifyDpopProof(request, { htu: RESOURCE, access_token: token, access_token_hash: ath }),
    },
    {
      step: "**whole check**: createDpopCheck().verify (fresh proof each time), 1 in flight",
      when: "every request",
      notes: "proof + binding + replay",
      run: fullCheck,
    },
    {
      step: "**whole check**, 8 in flight",
      when: "every request",
      notes: "per check",
      run: fullCheck,
      inFlight: 8,
    },
  ];

  // Warm every step, then five rounds with the steps taking turns.
  for (const s of steps) for (let i = 0; i < 200; i++) await s.run();
  const cpu: number[][] = steps.map(() => []);
  const wall: number[][] = steps.map(() => []);
  for (let round = 0; round < 5; round++) {
    for (const [i, s] of steps.entries()) {
      const t = await timeStep(s.run, s.inFlight ?? 1, ms);
      cpu[i]?.push(t.cpu);
      wall[i]?.push(t.wall);
    }
  }
  const r2 = (v: number) => Math.round(v * 100) / 100;
  const results: DpopStep[] = steps.map((s, i) => ({
    step: s.step,
    cpu_us: r2(median(cpu[i] ?? [])),
    wall_us: r2(median(wall[i] ?? [])),
    when: s.when,
    notes: s.notes,
  }));
  const fmt = (v: number) => (v >= 10 ? v.toFixed(0) : v.toFixed(1));
  const table = [
    `| step (Node ${process.version}) | CPU µs | wall µs | paid | notes |`,
    "|:--|--:|--:|:--|:--|",
    ...results.map((s) => `| ${s.step} | ${fmt(s.cpu_us)} | ${fmt(s.wall_us)} | ${s.when} | ${s.notes} |`),
  ].join("\n");
  return { node: process.version, steps: results, table };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = await runDpopSteps();
  console.log(result.table);
  console.log(`RESULT ${JSON.stringify({ ...result, table: undefined })}`);
}
