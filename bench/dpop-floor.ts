/**
 * The DPoP floor (issue 30): what one ES256 proof-signature verification costs on this Node, in a tight
 * loop, so that the bench can hold the DPoP row to it (`(e) − (b) ≤ 1.1 × floor`).
 *
 * - `floor_us`: µs of CPU per synchronous `crypto.verify("sha256", input, key, signature)` with a P-256
 *   public key imported once and a fixed proof signing input and signature (DER, as the library hands
 *   it to `node:crypto`; see `ecdsaDer` in src/lib/fast-jws.ts);
 * - `import_us`: the same with the proof's JWK imported each time (`createPublicKey({ format: "jwk" })`
 *   then the verify): what a proof costs when nothing about its key is kept.
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

/** Measure the floor: `batches` batches of `n` verifications of each kind, alternating; the medians. */
export function measureFloor(n = 1000, batches = 3): FloorResult {
  const p = (prepared ??= prepare());
  const floor: number[] = [];
  const imported: number[] = [];
  // A few unmeasured calls first (the first verify of a process initialises OpenSSL's tables).
  cpuPerCall(50, () => verify("sha256", p.input, createPublicKey({ key: p.jwk, format: "jwk" }), p.signature));
  for (let b = 0; b < batches; b++) {
    floor.push(cpuPerCall(n, () => verify("sha256", p.input, p.key, p.signature)));
    imported.push(
      cpuPerCall(n, () => verify("sha256", p.input, createPublicKey({ key: p.jwk, format: "jwk" }), p.signature)),
    );
  }
  const round1 = (v: number) => Math.round(v * 10) / 10;
  return { floor_us: round1(median(floor)), import_us: round1(median(imported)), n, batches };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.send) {
    process.on("message", (m: { type?: string; n?: number; batches?: number }) => {
      if (m?.type === "floor") process.send?.({ type: "floor", result: measureFloor(m.n, m.batches) });
      else if (m?.type === "stop") process.exit(0);
    });
    process.send({ type: "ready" });
  } else {
    const n = Number(process.argv[2] ?? 2000);
    const r = measureFloor(n, 5);
    console.log(
      `node ${process.version}: ES256 verify ${r.floor_us} µs (key imported once), ${r.import_us} µs (JWK imported each time), ${n} × 5 batches, CPU time`,
    );
  }
}
