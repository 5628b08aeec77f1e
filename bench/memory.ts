/**
 * Memory under many distinct tokens: N tokens (default 100,000, ten times the default cache), each signed here and
 * verified
 * once by a `JWTValidator` with its default verified-token cache, so the cache fills and then evicts.
 * Tokens are made and dropped as we go: what stays alive is what the validator keeps.
 * Run by bench/micro.ts (`node --import tsx --expose-gc bench/memory.ts N`); prints and sends the result.
 */
import { JWTValidator } from "../src/index.js";
import { makeKey, signAccessToken, startJwksServer } from "./common.js";
import type { MemoryResult } from "./micro.js";

const N = Number(process.argv[2] ?? 100_000);
const BATCH = 64;
const CACHE_MAX = 10_000; // JWTValidator's documented default; not passed, so the default is what runs.
const RESOURCE = "http://127.0.0.1/mcp";
const mb = (n: number) => n / 2 ** 20;

const key = makeKey("mem-1");
const jwks = await startJwksServer([key.publicJwk]);
const validator = new JWTValidator({ jwks_uri: jwks.jwksUri, issuer: jwks.issuer, algorithms: ["ES256"] });
const context = { resource: RESOURCE };
await validator.verify(signAccessToken(key, jwks.issuer, RESOURCE), context);
globalThis.gc?.();

const started = performance.now();
const rssStart = process.memoryUsage().rss;
let peak = rssStart;
const checkpoints: { tokens: number; rss_mb: number }[] = [];
const every = Math.max(BATCH, Math.floor(N / 8 / BATCH) * BATCH);
for (let done = 0; done < N;) {
  const batch: Promise<unknown>[] = [];
  for (let k = 0; k < BATCH && done < N; k++, done++) {
    batch.push(validator.verify(signAccessToken(key, jwks.issuer, RESOURCE, { sub: `user-${done}` }), context));
  }
  await Promise.all(batch);
  const rss = process.memoryUsage().rss;
  if (rss > peak) peak = rss;
  if (done % every === 0 || done === N) checkpoints.push({ tokens: done, rss_mb: Math.round(mb(rss)) });
}
const rssEnd = process.memoryUsage().rss;
globalThis.gc?.();
const heapAfterGc = process.memoryUsage().heapUsed;
await jwks.close();

const result: MemoryResult = {
  tokens: N,
  token_cache_max: CACHE_MAX,
  rss_start_mb: mb(rssStart),
  rss_peak_mb: mb(peak),
  rss_end_mb: mb(rssEnd),
  heap_after_gc_mb: mb(heapAfterGc),
  checkpoints,
  seconds: (performance.now() - started) / 1000,
};
if (process.send) process.send({ type: "memory", result });
else console.log(JSON.stringify(result, null, 2));
