/**
 * The DPoP floor (issue 30): what one ES256 proof-signature verification costs on this Node, in a tight
 * loop, so that the bench can hold the DPoP row to it (`(e) − (b) ≤ 1.1 × floor`).
 *
 * - `floor_us`: µs of CPU per synchronous `crypto.verify("sha256", input, key, signature)` with a P-256
 *   public key imported once and a fixed proof signing input and signature (DER, as the library hands
 *   it to `node:crypto`; see `ecdsaDer` in src/lib/fast-jws.ts);
 * - `import_us`: the same with the proof's JWK imported each time (`createPublicKey({ format: "jwk" })`
 *   then the verify): what a proof costs when nothing about its key is kept;
 * - `pool_us`: the same verify in its callback form, which runs it on libuv's thread pool (what the
 *   library does on the request path), 8 in flight: the floor plus the round trip to the pool;
 * - `cold_us`: the synchronous verify with `COLD_BYTES` (8 MiB, more than this VM's 2 MiB L2 per
 *   core) of memory touched between two verifications, as a server's own work touches it between two
 *   requests: what the same verify costs on a thread whose caches hold something else.
 *
 * `floor_us` is what issue 30's target is stated against; the other three say where the floor can be
 * reached and where it cannot (bench/README.md, "The DPoP path").
 *
 * CPU time (`process.cpuUsage`), as the bench's server CPU column; each figure is the median of
 * `batches` batches. Run by bench/run.ts in a child process on the Node line it benchmarks (one
 * message `{ type: "floor", n, batches }` per measurement, answered `{ type: "floor", result }`), or
 * alone: `npx tsx bench/dpop-floor.ts [n]`.
 */
import { createPublicKey, verify, type JsonWebKey, type KeyObject } from "node:crypto";
import { fileURLToPath } from "node:url";
import { makeKey, median, signDpopProof } from "./common.js";

export interface FloorResult {
  /** µs of CPU per ES256 verification, key imported once. */
  floor_us: number;
  /** µs of CPU per ES256 verification with the JWK imported each time. */
  import_us: number;
  /** µs of CPU per ES256 verification on libuv's pool (callback form), 8 in flight, hop included. */
  pool_us: number;
  /** µs of CPU per synchronous ES256 verification with {@link COLD_BYTES} touched between two. */
  cold_us: number;
  /** Verifications per batch. */
  n: number;
  batches: number;
}

/** An ES256 JWS signature (r || s) as DER, as src/lib/fast-jws.ts converts it (canonical, minimal integers). */
export function p1363ToDer(signature: Buffer): Buffer {
  const integer = (bytes: Buffer): Buffer => {
    let i = 0;
    while (i < bytes.length - 1 && bytes[i] === 0) i++;
    const trimmed = bytes.subarray(i);
    const body = (trimmed[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
    return Buffer.concat([Buffer.from([0x02, body.length]), body]);
  };
  const seq = Buffer.concat([integer(signature.subarray(0, 32)), integer(signature.subarray(32, 64))]);
  return Buffer.concat([Buffer.from([0x30, seq.length]), seq]);
}

/** One prepared proof: its signing input, DER signature, public JWK and that key imported. */
function prepare(): { input: Buffer; signature: Buffer; jwk: JsonWebKey; key: KeyObject } {
  const client = makeKey("dpop-floor");
  const proof = signDpopProof(client, "POST", "http://127.0.0.1/mcp", "floor-access-token");
  const last = proof.lastIndexOf(".");
  const input = Buffer.from(proof.slice(0, last));
  const signature = p1363ToDer(Buffer.from(proof.slice(last + 1), "base64url"));
  const { kty, crv, x, y } = client.publicJwk;
  const jwk = { kty, crv, x, y } as JsonWebKey;
  const key = createPublicKey({ key: jwk, format: "jwk" });
  if (!verify("sha256", input, key, signature)) throw new Error("dpop-floor: the prepared proof does not verify");
  return { input, signature, jwk, key };
}

/** µs of CPU per call of `fn` over `n` calls. */
function cpuPerCall(n: number, fn: () => boolean): number {
  let ok = true;
  const t0 = process.cpuUsage();
  for (let i = 0; i < n; i++) ok = fn() && ok;
  const t = process.cpuUsage(t0);
  if (!ok) throw new Error("dpop-floor: a verification failed");
  return (t.user + t.system) / n;
}

let prepared: ReturnType<typeof prepare> | undefined;

/** Bytes of memory touched between two verifications of `cold_us`. */
export const COLD_BYTES = 8 * 1024 * 1024;
let coldMemory: Uint8Array | undefined;

/** Write one byte per 64-byte cache line of `memory`: evicts what the caches held. */
function touch(memory: Uint8Array): void {
  for (let i = 0; i < memory.length; i += 64) memory[i] = (memory[i] as number) + 1;
}

/** µs of CPU per verification of a synchronous verify with {@link COLD_BYTES} touched before each (not timed). */
function coldPerCall(n: number, fn: () => boolean): number {
  const memory = (coldMemory ??= new Uint8Array(COLD_BYTES));
  let spent = 0;
  let ok = true;
  for (let i = 0; i < n; i++) {
    touch(memory);
    const t0 = process.cpuUsage();
    ok = fn() && ok;
    const t = process.cpuUsage(t0);
    spent += t.user + t.system;
  }
  if (!ok) throw new Error("dpop-floor: a verification failed");
  return spent / n;
}

/** µs of process CPU (every thread: the pool's too) per verification in the callback form, `inFlight` at a time. */
async function poolPerCall(n: number, inFlight: number, p: ReturnType<typeof prepare>): Promise<number> {
  let started = 0;
  let failed = false;
  const t0 = process.cpuUsage();
  const lane = async (): Promise<void> => {
    while (started < n) {
      started++;
      const ok = await new Promise<boolean>((resolve, reject) =>
        verify("sha256", p.input, p.key, p.signature, (err, result) => (err ? reject(err) : resolve(result))),
      );
      if (!ok) failed = true;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  const t = process.cpuUsage(t0);
  if (failed) throw new Error("dpop-floor: a verification failed");
  return (t.user + t.system) / n;
}

/** Measure the floor: `batches` batches of `n` verifications of each kind, alternating; the medians. */
export async function measureFloor(n = 1000, batches = 3): Promise<FloorResult> {
  const p = (prepared ??= prepare());
  const floor: number[] = [];
  const imported: number[] = [];
  const pool: number[] = [];
  const cold: number[] = [];
  // A few unmeasured calls first (the first verify of a process initialises OpenSSL's tables).
  cpuPerCall(50, () => verify("sha256", p.input, createPublicKey({ key: p.jwk, format: "jwk" }), p.signature));
  for (let b = 0; b < batches; b++) {
    floor.push(cpuPerCall(n, () => verify("sha256", p.input, p.key, p.signature)));
    imported.push(
      cpuPerCall(n, () => verify("sha256", p.input, createPublicKey({ key: p.jwk, format: "jwk" }), p.signature)),
    );
    pool.push(await poolPerCall(n, 8, p));
    // Each cold verification first walks COLD_BYTES: a fifth of n keeps a round short.
    cold.push(coldPerCall(Math.max(1, Math.floor(n / 5)), () => verify("sha256", p.input, p.key, p.signature)));
  }
  const round1 = (v: number) => Math.round(v * 10) / 10;
  return {
    floor_us: round1(median(floor)),
    import_us: round1(median(imported)),
    pool_us: round1(median(pool)),
    cold_us: round1(median(cold)),
    n,
    batches,
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.send) {
    process.on("message", (m: { type?: string; n?: number; batches?: number }) => {
      if (m?.type === "floor")
        void measureFloor(m.n, m.batches).then((result) => process.send?.({ type: "floor", result }));
      else if (m?.type === "stop") process.exit(0);
    });
    process.send({ type: "ready" });
  } else {
    const n = Number(process.argv[2] ?? 2000);
    const r = await measureFloor(n, 5);
    console.log(
      `node ${process.version}: ES256 verify ${r.floor_us} µs (key imported once), ${r.import_us} µs (JWK imported each time), ` +
        `${r.pool_us} µs (libuv pool, 8 in flight), ${r.cold_us} µs (8 MiB touched between two), ${n} × 5 batches, CPU time`,
    );
  }
}
