/**
 * A/B of the DPoP check (issue 30): the whole check `createDpopCheck().verify` (a fresh proof each time,
 * the key cache warm: the steady state of row (e)) and the nonce check, of this checkout and of a baseline
 * copy of `src/` side by side in one process, next to the floor (one synchronous ES256 `crypto.verify`).
 * The variants take turns within each round, so the machine's drift moves them together; the median of
 * the rounds is reported, and the ratio of each variant to the floor in the same round.
 *
 * The baseline is any commit's `src/` unpacked next to a `node_modules` link, e.g.
 * `mkdir /tmp/base && git archive HEAD~1 src | tar -x -C /tmp/base && ln -s $PWD/node_modules /tmp/base/`, then
 * `DPOP_AB_BASE=/tmp/base/src npx tsx bench/dpop-ab.ts` (without it, this checkout alone).
 * BENCH_MICRO_MS (default 300) per variant per round, DPOP_AB_ROUNDS (default 7) rounds.
 */
import { createPublicKey, verify } from "node:crypto";
import { pathToFileURL } from "node:url";
import { createAuthContext } from "../src/context/request-context.js";
import type { AuthContext } from "../src/context/types.js";
import type { DpopCheck } from "../src/protect/authenticate.js";
import { envNumber, jwkThumbprint, makeKey, median, signAccessToken, signDpopProof, type BenchKey } from "./common.js";
import { p1363ToDer } from "./dpop-floor.js";
import { timeStep } from "./dpop-steps.js";

const MS = envNumber("BENCH_MICRO_MS", 300);
const ROUNDS = envNumber("DPOP_AB_ROUNDS", 7);
const RESOURCE = "http://127.0.0.1/mcp";
const SECRET = "a-dpop-nonce-secret-of-at-least-32-bytes!";

interface Variant {
  name: string;
  run: () => unknown;
  inFlight?: number;
}

/** The two modules of a `src/` tree this bench drives. */
interface Source {
  label: string;
  createDpopCheck: (o?: Record<string, unknown>) => DpopCheck;
  createDpopNonces: (o: { secret: string }) => {
    current(now?: number): string;
    isValid(n: unknown, now?: number): boolean;
  };
  MemoryReplayStore: new (o?: Record<string, unknown>) => unknown;
}

async function loadSource(label: string, dir: string): Promise<Source> {
  const url = (p: string) => pathToFileURL(`${dir}/${p}`).href;
  const check = (await import(url("dpop/check.ts"))) as Pick<Source, "createDpopCheck">;
  const nonce = (await import(url("dpop/nonce.ts"))) as Pick<Source, "createDpopNonces">;
  const replay = (await import(url("stores/replay.ts"))) as Pick<Source, "MemoryReplayStore">;
  return { label, ...check, ...nonce, ...replay };
}

/** A whole-check variant of `source`: a fresh, pre-signed proof per call, a new check when they run out. */
function wholeCheck(source: Source, client: BenchKey, token: string, auth: AuthContext, withNonce: boolean) {
  const nonces = source.createDpopNonces({ secret: SECRET });
  const proofs = Array.from({ length: envNumber("BENCH_DPOP_STEPS_PROOFS", 20_000) }, () => {
    const p = signDpopProof(client, "POST", RESOURCE, token, withNonce ? nonces.current() : undefined);
    return new Request(RESOURCE, { method: "POST", headers: { authorization: `DPoP ${token}`, dpop: p } });
  });
  const make = () =>
    source.createDpopCheck({
      replay_store: new source.MemoryReplayStore({ max: 1_000_000, max_per_key: 1_000_000 }),
      ...(withNonce ? { nonce: { secret: SECRET } } : {}),
    });
  let check = make();
  let i = 0;
  return () => {
    if (i >= proofs.length) {
      i = 0;
      check = make();
    }
    return check.verify(proofs[i++] as Request, token, auth, RESOURCE);
  };
}

async function main(): Promise<void> {
  const sources = [await loadSource("this", new URL("../src", import.meta.url).pathname)];
  if (process.env.DPOP_AB_BASE) sources.unshift(await loadSource("base", process.env.DPOP_AB_BASE));
  const client = makeKey("ab-client");
  const jkt = jwkThumbprint(client.publicJwk);
  const token = signAccessToken(makeKey("ab-as"), "https://issuer.bench.example", RESOURCE, { cnf: { jkt } });
  const auth = createAuthContext(
    { subject: "u", scopes: [], claims: {}, client_id: "c", issuer: undefined, expires_at: undefined, jkt },
    token,
  );
  const proof = signDpopProof(client, "POST", RESOURCE, token);
  const last = proof.lastIndexOf(".");
  const input = Buffer.from(proof.slice(0, last));
  const publicKey = createPublicKey(client.privateKey);
  const der = p1363ToDer(Buffer.from(proof.slice(last + 1), "base64url"));
  const variants: Variant[] = [
    { name: "floor (sync crypto.verify)", run: () => verify("sha256", input, publicKey, der) },
  ];
  for (const s of sources) {
    const nonces = s.createDpopNonces({ secret: SECRET });
    const current = nonces.current();
    variants.push(
      { name: `${s.label}: whole check, 1 in flight`, run: wholeCheck(s, client, token, auth, false) },
      { name: `${s.label}: whole check, 8 in flight`, run: wholeCheck(s, client, token, auth, false), inFlight: 8 },
      { name: `${s.label}: whole check with nonce`, run: wholeCheck(s, client, token, auth, true) },
      { name: `${s.label}: nonce isValid (current)`, run: () => nonces.isValid(current) },
    );
  }
  for (const v of variants) for (let i = 0; i < 300; i++) await v.run();
  const cpu = variants.map(() => [] as number[]);
  const ratio = variants.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) {
    // A different variant first each round: whichever runs after another's garbage pays for its collection.
    const t: number[] = [];
    for (let k = 0; k < variants.length; k++) {
      const i = (k + round) % variants.length;
      const v = variants[i] as Variant;
      t[i] = (await timeStep(v.run, v.inFlight ?? 1, MS)).cpu;
    }
    t.forEach((x, i) => (cpu[i]?.push(x), ratio[i]?.push(x / (t[0] as number))));
  }
  console.log(`| variant (Node ${process.version}) | CPU µs (median of ${ROUNDS}) | / floor |`);
  console.log("|:--|--:|--:|");
  variants.forEach((v, i) =>
    console.log(`| ${v.name} | ${median(cpu[i] ?? []).toFixed(1)} | ${median(ratio[i] ?? []).toFixed(2)} |`),
  );
}

await main();
