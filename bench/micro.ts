/**
 * `npm run bench:micro` (also the second half of `npm run bench`): token verification in-process.
 *
 * - cold verify: `JWTValidator` with its token cache disabled (`token_cache_max: 0`) vs raw
 *   `jose.jwtVerify` with the same public key (`cold_vs_jose`, the figure the targets use), and vs jose
 *   with `createLocalJWKSet` over the same key set (which is what the validator's `RemoteKeySet` uses
 *   to select and import the key);
 * - cached verify: `JWTValidator` with its default cache, the same token again and again;
 * - DPoP proof verification and replay store: slots, skipped while `src/dpop/` is absent;
 * - the DPoP proof check step by step, next to the floor (bench/dpop-steps.ts, BENCH_DPOP_STEPS_MS a step a round);
 * - memory: 100,000 distinct tokens (ten times the default cache) through a validator with the default cache
 * (bench/memory.ts, in
 *   its own process so the RSS is its own).
 *
 * Each measurement runs for BENCH_MICRO_MS milliseconds, five rounds alternating between the
 * contenders; the median round is reported. Cold verification is measured one at a time (latency:
 * jose's WebCrypto verify hops to a worker thread and back) and with 16 in flight (throughput, what
 * a busy server sees).
 *
 * Environment: BENCH_MICRO_MS (default 300), BENCH_MEMORY_TOKENS (default 100000; 0 skips).
 */
import { fork } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createLocalJWKSet, importJWK, jwtVerify } from "jose";
import { JWTValidator } from "../src/index.js";
import { createAuthContext } from "../src/context/request-context.js";
import { runDpopSteps, type DpopStep } from "./dpop-steps.js";
import {
  envNumber,
  jwkThumbprint,
  makeKey,
  median,
  signAccessToken,
  signDpopProof,
  startJwksServer,
  type BenchKey,
} from "./common.js";

const MS = envNumber("BENCH_MICRO_MS", 300);
const MEMORY_TOKENS = envNumber("BENCH_MEMORY_TOKENS", 100_000);
const RESOURCE = "http://127.0.0.1/mcp";

export interface MemoryResult {
  tokens: number;
  token_cache_max: number;
  rss_start_mb: number;
  rss_peak_mb: number;
  rss_end_mb: number;
  heap_after_gc_mb: number;
  checkpoints: { tokens: number; rss_mb: number }[];
  seconds: number;
}

export interface MicroResults {
  cold_validator_ops: number;
  raw_jose_key_ops: number;
  raw_jose_local_jwks_ops: number;
  cold_vs_jose: number;
  cold_vs_jose_local_jwks: number;
  cold16_validator_ops: number;
  raw16_jose_key_ops: number;
  cold16_vs_jose: number;
  cold16_vs_jose_local_jwks: number;
  cached_validator_ops: number;
  dpop: string | Record<string, number>;
  /** The DPoP proof check step by step (bench/dpop-steps.ts). */
  dpop_steps: DpopStep[] | string;
  memory: MemoryResult | string;
  table: string;
}

/** Operations per second with `inFlight` operations outstanding at a time, for BENCH_MICRO_MS. */
async function opsPerSecond(fn: (i: number) => Promise<unknown>, inFlight: number): Promise<number> {
  let i = 0;
  const start = performance.now();
  const end = start + MS;
  let now = start;
  while (now < end) {
    for (let k = 0; k < 50; k += inFlight) {
      if (inFlight === 1) await fn(i++);
      else {
        const batch: Promise<unknown>[] = [];
        for (let j = 0; j < inFlight; j++) batch.push(fn(i++));
        await Promise.all(batch);
      }
    }
    now = performance.now();
  }
  return i / ((now - start) / 1000);
}

/** Alternate the contenders for five rounds; the median of each. */
async function compare(
  contenders: Record<string, (i: number) => Promise<unknown>>,
  inFlight = 1,
): Promise<Record<string, number>> {
  const runs: Record<string, number[]> = {};
  for (const name of Object.keys(contenders)) runs[name] = [];
  for (let round = 0; round < 5; round++) {
    for (const [name, fn] of Object.entries(contenders)) runs[name]?.push(await opsPerSecond(fn, inFlight));
  }
  return Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)]));
}

function runMemoryChild(): Promise<MemoryResult | string> {
  if (MEMORY_TOKENS === 0) return Promise.resolve("skipped (BENCH_MEMORY_TOKENS=0)");
  return new Promise((resolve) => {
    const child = fork(fileURLToPath(new URL("./memory.ts", import.meta.url)), [String(MEMORY_TOKENS)], {
      execArgv: ["--import", "tsx", "--expose-gc"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let result: MemoryResult | string = "bench/memory.ts exited without a result";
    child.on("message", (m: { type?: string; result?: MemoryResult }) => {
      if (m?.type === "memory" && m.result) result = m.result;
    });
    child.once("exit", () => resolve(result));
  });
}

/**
 * DPoP: proof verification alone (`verifyDpopProof` with its key cache), the in-memory replay store
 * alone, and the whole check (`createDpopCheck().verify`: proof, binding, replay). Every proof is
 * distinct and signed beforehand, so signing is not measured and no proof is ever replayed.
 */
async function dpopMicro(tokenKey: BenchKey): Promise<Record<string, number>> {
  const { MemoryReplayStore } = await import("../src/index.js");
  const { createDpopCheck } = await import("../src/dpop/check.js");
  const { createDpopKeyCache, verifyDpopProof } = await import("../src/dpop/verify.js");
  const client = makeKey("dpop-client");
  const jkt = jwkThumbprint(client.publicJwk);
  const token = signAccessToken(tokenKey, "https://issuer.bench.example", RESOURCE, { cnf: { jkt } });
  const n = envNumber("BENCH_DPOP_PROOFS", 30_000);
  const requests = Array.from(
    { length: n },
    () =>
      new Request(RESOURCE, {
        method: "POST",
        headers: { authorization: `DPoP ${token}`, dpop: signDpopProof(client, "POST", RESOURCE, token) },
      }),
  );
  const keyCache = createDpopKeyCache();
  const proofOptions = { htu: RESOURCE, access_token: token, key_cache: keyCache };
  // The store refuses rather than evicts when full (it never forgets a live jti), so each is sized for
  // what it is given: the replay contender starts a new store when one fills, the check gets n proofs.
  const STORE_MAX = 100_000;
  const newStore = () => new MemoryReplayStore({ max: STORE_MAX, max_per_key: STORE_MAX });
  let store = newStore();
  const check = createDpopCheck({ replay_store: new MemoryReplayStore({ max: n, max_per_key: n }) });
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
  let next = 0;
  const fresh = () => requests[next++ % n] as Request;
  const r = await compare({
    proof: () => verifyDpopProof(fresh(), proofOptions),
    replay: (i) => {
      if (store.size >= STORE_MAX) store = newStore();
      return store.remember(`k:${i}:${next++}`, 600_000);
    },
  });
  // The full check remembers each jti, so it gets each proof once: a run of at most n proofs.
  next = 0;
  const start = performance.now();
  let done = 0;
  while (done < n && performance.now() - start < MS) {
    const batch: Promise<void>[] = [];
    for (let k = 0; k < 16 && done < n; k++, done++)
      batch.push(check.verify(requests[done] as Request, token, auth, RESOURCE));
    await Promise.all(batch);
  }
  const full = done / ((performance.now() - start) / 1000);
  return {
    proof_verify_ops: Math.round(r.proof ?? 0),
    replay_store_ops: Math.round(r.replay ?? 0),
    dpop_check_ops_16_in_flight: Math.round(full),
  };
}

export async function runMicro(): Promise<MicroResults> {
  const key = makeKey("micro-1");
  const jwks = await startJwksServer([key.publicJwk]);
  const tokens = Array.from({ length: 1000 }, () => signAccessToken(key, jwks.issuer, RESOURCE));
  const pick = (i: number) => tokens[i % tokens.length] as string;
  const verifyOptions = { issuer: jwks.issuer, audience: RESOURCE, algorithms: ["ES256"] };

  const cold = new JWTValidator({
    jwks_uri: jwks.jwksUri,
    issuer: jwks.issuer,
    algorithms: ["ES256"],
    token_cache_max: 0,
  });
  const cached = new JWTValidator({ jwks_uri: jwks.jwksUri, issuer: jwks.issuer, algorithms: ["ES256"] });
  const publicKey = await importJWK(key.publicJwk, "ES256");
  const localSet = createLocalJWKSet({ keys: [key.publicJwk] });
  const context = { resource: RESOURCE };
  // Warm every path once (key set fetched, key imported) before measuring.
  await cold.verify(pick(0), context);
  await cached.verify(pick(0), context);
  await jwtVerify(pick(0), publicKey, verifyOptions);
  await jwtVerify(pick(0), localSet, verifyOptions);

  const contenders = {
    validator: (i: number) => cold.verify(pick(i), context),
    jose_key: (i: number) => jwtVerify(pick(i), publicKey, verifyOptions),
    jose_local: (i: number) => jwtVerify(pick(i), localSet, verifyOptions),
  };
  const c = await compare(contenders, 1);
  const c16 = await compare(contenders, 16);
  const hot = await compare({ cached: () => cached.verify(pick(0), context) });
  await jwks.close();

  const dpop = existsSync(new URL("../src/dpop/", import.meta.url))
    ? await dpopMicro(key)
    : "skipped: src/dpop/ does not exist on this branch (DPoP proof verification and replay-store ops/s go here)";
  let dpopSteps: DpopStep[] | string;
  let dpopStepsTable = "";
  if (typeof dpop === "string") dpopSteps = dpop;
  else {
    const steps = await runDpopSteps(envNumber("BENCH_DPOP_STEPS_MS", 100));
    dpopSteps = steps.steps;
    dpopStepsTable = `\n\nDPoP proof check step by step (bench/dpop-steps.ts):\n\n${steps.table}`;
  }
  const memory = await runMemoryChild();

  const validatorOps = c.validator ?? 0;
  const joseKey = c.jose_key ?? 1;
  const joseLocal = c.jose_local ?? 1;
  const validator16 = c16.validator ?? 0;
  const joseKey16 = c16.jose_key ?? 1;
  const joseLocal16 = c16.jose_local ?? 1;
  const cachedOps = hot.cached ?? 0;
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  const vs = (v: number, key: number, localOps: number) =>
    `${(v / key).toFixed(2)}× jose (key), ${(v / localOps).toFixed(2)}× jose (local JWKS)`;
  const rows: [string, string, string][] = [
    [
      "cold verify, JWTValidator (token_cache_max: 0), 1 in flight",
      fmt(validatorOps),
      vs(validatorOps, joseKey, joseLocal),
    ],
    ["raw jose.jwtVerify, same public key, 1 in flight", fmt(joseKey), "1.00×"],
    [
      "raw jose.jwtVerify, createLocalJWKSet, 1 in flight",
      fmt(joseLocal),
      `${(joseLocal / joseKey).toFixed(2)}× jose (key)`,
    ],
    [
      "cold verify, JWTValidator (token_cache_max: 0), 16 in flight",
      fmt(validator16),
      vs(validator16, joseKey16, joseLocal16),
    ],
    ["raw jose.jwtVerify, same public key, 16 in flight", fmt(joseKey16), "1.00×"],
    [
      "raw jose.jwtVerify, createLocalJWKSet, 16 in flight",
      fmt(joseLocal16),
      `${(joseLocal16 / joseKey16).toFixed(2)}× jose (key)`,
    ],
    [
      "cached verify, JWTValidator (default cache), same token",
      fmt(cachedOps),
      `${(cachedOps / validatorOps).toFixed(0)}× cold (no signature check)`,
    ],
  ];
  if (typeof dpop === "string") rows.push(["DPoP proof verify / replay store", "—", dpop]);
  else {
    rows.push(
      [
        "DPoP proof verify (verifyDpopProof, key cache), 1 in flight",
        fmt(dpop.proof_verify_ops ?? 0),
        "fresh proof each time; signing not measured",
      ],
      [
        "DPoP replay store (MemoryReplayStore.remember), 1 in flight",
        fmt(dpop.replay_store_ops ?? 0),
        "distinct jti each time",
      ],
      [
        "DPoP check (proof + binding + replay), 16 in flight",
        fmt(dpop.dpop_check_ops_16_in_flight ?? 0),
        "createDpopCheck().verify",
      ],
    );
  }
  if (typeof memory === "string") rows.push([`memory, ${fmt(MEMORY_TOKENS)} distinct tokens`, "—", memory]);
  else {
    rows.push([
      `memory, ${fmt(memory.tokens)} distinct tokens, cache max ${fmt(memory.token_cache_max)}`,
      `${memory.rss_peak_mb.toFixed(0)} MB peak RSS`,
      `start ${memory.rss_start_mb.toFixed(0)} MB, end ${memory.rss_end_mb.toFixed(0)} MB, heap after GC ${memory.heap_after_gc_mb.toFixed(0)} MB; RSS at ${memory.checkpoints.map((p) => `${fmt(p.tokens)}: ${p.rss_mb.toFixed(0)}`).join(", ")} MB`,
    ]);
  }
  const table =
    ["| measurement | ops/s | notes |", "|:--|--:|:--|", ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n") +
    dpopStepsTable;

  return {
    cold_validator_ops: Math.round(validatorOps),
    raw_jose_key_ops: Math.round(joseKey),
    raw_jose_local_jwks_ops: Math.round(joseLocal),
    cold_vs_jose: Math.round((validatorOps / joseKey) * 1000) / 1000,
    cold_vs_jose_local_jwks: Math.round((validatorOps / joseLocal) * 1000) / 1000,
    cold16_validator_ops: Math.round(validator16),
    raw16_jose_key_ops: Math.round(joseKey16),
    cold16_vs_jose: Math.round((validator16 / joseKey16) * 1000) / 1000,
    cold16_vs_jose_local_jwks: Math.round((validator16 / joseLocal16) * 1000) / 1000,
    cached_validator_ops: Math.round(cachedOps),
    dpop,
    dpop_steps: dpopSteps,
    memory,
    table,
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = await runMicro();
  console.log(result.table);
  if (process.send) process.send({ type: "micro", result });
  else console.log(`RESULT ${JSON.stringify({ ...result, table: undefined })}`);
}
