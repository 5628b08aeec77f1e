/**
 * Shared pieces of the fault and abuse suite (`npm run soak`): a strict `WWW-Authenticate` parser,
 * the response invariants every refusal must meet, a memory probe and a bounded-concurrency pool.
 *
 * Each scenario prints one `SOAK` line with its measured figures; SECURITY.md's table is built from
 * those lines.
 */
import assert from "node:assert/strict";

const MB = 1024 * 1024;

/** One parsed challenge: scheme (lower-cased) and parameters (names lower-cased, values unquoted). */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parse a `WWW-Authenticate` value strictly (RFC 9110 §11.6.1, auth-params only): any deviation —
 * an unterminated quoted-string, a parameter without `=`, a duplicate parameter, trailing garbage —
 * throws. Independent of `src/audit/www-authenticate.ts` on purpose.
 */
export function parseChallenges(header: string): Challenge[] {
  const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/;
  let s = header;
  const out: Challenge[] = [];
  const ows = () => (s = s.replace(/^[ \t]*/, ""));
  const token = (what: string): string => {
    const m = TOKEN.exec(s);
    if (!m) throw new Error(`expected ${what} at ${JSON.stringify(s.slice(0, 20))}`);
    s = s.slice(m[0].length);
    return m[0];
  };
  const quoted = (): string => {
    let v = "";
    let i = 1;
    for (; i < s.length; i++) {
      const c = s[i]!;
      if (c === "\\") {
        if (i + 1 >= s.length) throw new Error("dangling escape");
        v += s[++i];
      } else if (c === '"') break;
      else if (c < " " && c !== "\t") throw new Error("control character in quoted-string");
      else v += c;
    }
    if (s[i] !== '"') throw new Error("unterminated quoted-string");
    s = s.slice(i + 1);
    return v;
  };
  ows();
  while (s.length) {
    const scheme = token("auth-scheme").toLowerCase();
    const params: Record<string, string> = {};
    if (s.startsWith(" ")) {
      ows();
      for (;;) {
        // A parameter is `token BWS = BWS value`; a bare token followed by `,` or the end starts the next challenge.
        const save = s;
        const name = TOKEN.exec(s)?.[0];
        if (!name) break;
        s = s.slice(name.length);
        ows();
        if (!s.startsWith("=")) {
          s = save;
          break;
        }
        s = s.slice(1);
        ows();
        const value = s.startsWith('"') ? quoted() : token("parameter value");
        const key = name.toLowerCase();
        if (key in params) throw new Error(`duplicate parameter ${key}`);
        params[key] = value;
        ows();
        if (!s.startsWith(",")) break;
        // After a comma: another parameter (`name=`), else the next challenge (left for the outer loop).
        const rest = s.slice(1).replace(/^[ \t]*/, "");
        const next = TOKEN.exec(rest)?.[0];
        if (!next || !/^[ \t]*=/.test(rest.slice(next.length))) break;
        s = rest;
      }
    }
    out.push({ scheme, params });
    ows();
    if (s.startsWith(",")) {
      s = s.slice(1);
      ows();
    } else if (s.length) throw new Error(`garbage after challenge: ${JSON.stringify(s.slice(0, 20))}`);
  }
  if (!out.length) throw new Error("no challenge");
  return out;
}

/** What the server is expected to put in its challenges. */
export interface ChallengeExpectation {
  resource_metadata_url: string;
  /** `scope` advertised on 401 (server-wide required scopes), if any. */
  scope?: string;
  /** Only the DPoP challenge is sent (`dpop_required`). */
  dpopOnly?: boolean;
}

const OAUTH_ERRORS = new Set([
  "invalid_request",
  "invalid_token",
  "insufficient_scope",
  "invalid_dpop_proof",
  "use_dpop_nonce",
]);

/**
 * Check one response to a request carrying `secrets` (tokens, proofs): no secret (nor any
 * 12+-character dot-separated part of one) in the body or any header, no stack trace, no 5xx but
 * 503 with `Retry-After` and without a challenge, and every 401 (and every challenge sent) parses
 * and names the right realm, metadata URL and an OAuth error code.
 */
export function checkResponse(
  status: number,
  headers: Headers,
  body: string,
  secrets: readonly string[],
  expect: ChallengeExpectation,
): void {
  const lines: string[] = [];
  headers.forEach((v, k) => lines.push(`${k}: ${v}`));
  const all = body + "\n" + lines.join("\n");
  for (const secret of secrets) {
    for (const part of [secret, ...secret.split(/[.,\s]+/)]) {
      if (part.length >= 12)
        assert.ok(
          !all.includes(part),
          `response (${status}) echoes a sent credential: ${JSON.stringify(part.slice(0, 40))}`,
        );
    }
  }
  assert.ok(!/\n\s+at .+:\d+:\d+/.test(all), `response (${status}) carries a stack trace`);
  assert.ok(status < 500 || status === 503, `unexpected ${status}: ${body.slice(0, 200)}`);
  const www = headers.get("www-authenticate");
  if (status === 503) {
    assert.ok(Number(headers.get("retry-after")) >= 1, "a 503 says when to retry");
    assert.equal(www, null, "a 503 carries no challenge");
  }
  if (status === 401) assert.ok(www, "every 401 carries WWW-Authenticate");
  if (!www) return;
  const challenges = parseChallenges(www);
  const bearer = challenges.find((c) => c.scheme === "bearer");
  const dpop = challenges.find((c) => c.scheme === "dpop");
  assert.ok(dpop, `a DPoP challenge with algs: ${www}`);
  assert.ok(dpop.params.algs && dpop.params.algs.split(" ").every((a) => /^[A-Za-z0-9]+$/.test(a)), `algs: ${www}`);
  const discovery = expect.dpopOnly ? dpop : bearer;
  assert.ok(discovery, `the discovery challenge is present: ${www}`);
  if (expect.dpopOnly) assert.equal(bearer, undefined, "dpop_required: no Bearer challenge");
  assert.equal(discovery.params.realm, "MCP");
  assert.equal(discovery.params.resource_metadata, expect.resource_metadata_url);
  if (status === 401 && expect.scope) assert.equal(discovery.params.scope, expect.scope);
  const errors = challenges.map((c) => c.params.error).filter((e): e is string => e !== undefined);
  for (const e of errors) assert.ok(OAUTH_ERRORS.has(e), `error code ${e}`);
  if (status === 403) assert.deepEqual(errors, ["insufficient_scope"]);
  if (status === 400) assert.deepEqual(errors, ["invalid_request"]);
  if (status === 401)
    assert.ok(
      errors.every((e) => e !== "insufficient_scope" && e !== "invalid_request"),
      www,
    );
}

/** Memory figures of one scenario, in MB. */
export interface MemoryFigures {
  /** Highest RSS seen during the run minus RSS after warm-up. */
  peakGrowthMb: number;
  /** RSS after the run (and a GC) minus RSS after warm-up. */
  retainedGrowthMb: number;
  /** Heap used after the run (and a GC) minus heap used after warm-up. */
  heapGrowthMb: number;
}

const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
};

/**
 * Run `warmUp`, collect, take a baseline, run `work` while sampling RSS every 10 ms, collect again,
 * and return both the result and the growth. The soak script runs node with `--expose-gc`.
 */
export async function measureMemory<T>(
  warmUp: () => Promise<unknown>,
  work: () => Promise<T>,
): Promise<{ result: T; memory: MemoryFigures }> {
  await warmUp();
  gc();
  const rss0 = process.memoryUsage().rss;
  const heap0 = process.memoryUsage().heapUsed;
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  let result: T;
  try {
    result = await work();
  } finally {
    clearInterval(sampler);
  }
  gc();
  const after = process.memoryUsage();
  peak = Math.max(peak, after.rss);
  return {
    result,
    memory: {
      peakGrowthMb: (peak - rss0) / MB,
      retainedGrowthMb: (after.rss - rss0) / MB,
      heapGrowthMb: (after.heapUsed - heap0) / MB,
    },
  };
}

/** Assert memory stayed within budget (MB). */
export function assertMemory(m: MemoryFigures, budget: { peakMb: number; heapMb: number }): void {
  assert.ok(
    m.peakGrowthMb < budget.peakMb,
    `RSS peak growth ${m.peakGrowthMb.toFixed(1)} MB ≥ budget ${budget.peakMb} MB`,
  );
  assert.ok(
    m.heapGrowthMb < budget.heapMb,
    `heap growth after GC ${m.heapGrowthMb.toFixed(1)} MB ≥ budget ${budget.heapMb} MB`,
  );
}

/** Run `fn` for 0 … n-1 with at most `concurrency` in flight; results in order. */
export async function pool<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return out;
}

/** Print the scenario's summary line (collected into SECURITY.md). */
export function summary(scenario: string, figures: Record<string, string | number>): void {
  const fmt = (v: string | number) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(1)) : v);
  console.log(
    `SOAK ${scenario} | ${Object.entries(figures)
      .map(([k, v]) => `${k}=${fmt(v)}`)
      .join(" ")}`,
  );
}

/** Memory figures for a summary line. */
export const memoryFigures = (m: MemoryFigures) => ({
  rss_peak_mb: m.peakGrowthMb,
  rss_retained_mb: m.retainedGrowthMb,
  heap_mb: m.heapGrowthMb,
});

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
