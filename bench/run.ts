/**
 * `npm run bench`: the same trivial-tool MCP server, served several ways, loaded one at a time with
 * autocannon; then the micro-benchmarks (bench/micro.ts). All of it runs twice, once on Node 24 (the
 * `node` devDependency's binary, the primary line) and once on the machine's Node 20, then the scaling
 * runs (bench/scaling.ts) on Node 24. Prints both tables and a last line `RESULT {json}` (`ratios` are
 * Node 24's, `node20.ratios` Node 20's), and writes bench/results.md.
 *
 * This file is both the orchestrator (no `BENCH_LINE` in the environment) and one Node line's run
 * (`BENCH_LINE=24` or `20`, forked with that Node's binary), which reports back over IPC.
 *
 * Each server runs in its own child process (bench/servers.ts) while autocannon runs here, so the
 * load generator and the server do not share an event loop. Only one server is under load at a
 * time (the others sit idle), and rows take turns in short slices so that drift in the machine's
 * speed is spread over every row rather than landing on one.
 *
 * Environment:
 *   BENCH_DURATION     seconds of measured load per row (default 10)
 * BENCH_WARMUP       seconds of unmeasured warm-up load per row, before any row is measured (default 11 on Node 24, 6
 * on 20)
 *   BENCH_WARMUP_PARALLEL  rows warmed up at the same time (default 2)
 *   BENCH_ROUNDS       the measured seconds are split into this many slices, rows taking turns (default 5)
 *   BENCH_REWARM       unmeasured requests right before each measured slice (default 1000)
 *   BENCH_CONNECTIONS  concurrent connections (default 10)
 *   BENCH_ROWS         comma-separated subset of rows (default: all)
 *   BENCH_COLD_TOKENS  distinct tokens cycled by the pmcp-jwt-cold row (default 20000, > the 10000 cache)
 *   BENCH_MICRO=0      skip the micro-benchmarks
 *   BENCH_OUT          where to write the markdown report (default bench/results.md; "-" for none)
 *   BENCH_LINES        Node lines to run, default "24,20"
 *   BENCH_NODE24       Node 24 binary (default .tools/node24/node_modules/node/bin/node, from .ci/install-tools node24)
 *   BENCH_NODE20       Node 20 binary (default the first `node` on PATH outside node_modules)
 *   BENCH_SCALING=0    skip the scaling runs
 *   BENCH_MEMORY_REDUCER=1  keep V8's memory reducer in the servers (see SERVER_NODE_FLAGS in common.ts)
 *   BENCH_SERVER_FLAGS extra Node flags for every server process, space-separated (experiments)
 *   BENCH_FLOOR_N      ES256 verifications per batch of the DPoP floor, measured after every round (default 1000; 0
 * skips)
 */
import { execFileSync, fork, type ChildProcess } from "node:child_process";
import { cpus } from "node:os";
import { accessSync, constants, existsSync, readFileSync, writeFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import {
  envNumber,
  jwkThumbprint,
  makeKey,
  MCP_HEADERS,
  MCP_PATH,
  MODERN_HEADERS,
  MODERN_TOOLS_CALL_BODY,
  openSession,
  ROWS,
  SERVER_NODE_FLAGS,
  signAccessToken,
  signDpopProof,
  startJwksServer,
  SESSION_TOOLS_CALL_BODY,
  STATEFUL_ROWS,
  TOOLS_CALL_BODY,
  withFreshId,
  type Row,
} from "./common.js";
import type { FloorResult } from "./dpop-floor.js";
import { serverEntry } from "./build.js";
import type { MicroResults } from "./micro.js";
import type { ScalingResults } from "./scaling.js";

const DURATION = envNumber("BENCH_DURATION", 10);
/**
 * Seconds of warm-up load per row. Measured warm-up curves (printed by every run): under load, a
 * server's CPU per request keeps falling for about 10 s on Node 24 when it shares the machine with
 * another warming row (6-8 s alone), and for 3-5 s on Node 20.
 */
const WARMUP = Math.max(
  0,
  Math.floor(envNumber("BENCH_WARMUP", Number(process.versions.node.split(".")[0]) >= 22 ? 11 : 6)),
);
/** Rows warmed up at the same time. */
const WARMUP_PARALLEL = Math.max(1, Math.floor(envNumber("BENCH_WARMUP_PARALLEL", 2)));
const ROUNDS = Math.max(1, Math.floor(envNumber("BENCH_ROUNDS", 5)));

/**
 * The order rows take turns in within a round: each ratio's two rows next to each other (or one
 * apart), so that they are measured seconds apart. On a shared VM the speed of the machine drifts by
 * tens of percent within a minute (CPU steal); a ratio of rows measured far apart measured the drift.
 */
const MEASURE_ORDER: readonly Row[] = [
  "sdk-parsed",
  "pmcp-jwt",
  "pmcp-dpop",
  "sdk-stateful",
  "pmcp-stateful",
  "v2-parsed",
  "pmcp-v2-jwt",
  "sdk",
  "pmcp-open",
  "pmcp-jwt-cold",
  "sdk-bearer",
  "mcp-auth",
];
/** Unmeasured requests right before each measured slice. */
const REWARM = Math.max(0, Math.floor(envNumber("BENCH_REWARM", 1000)));
const CONNECTIONS = envNumber("BENCH_CONNECTIONS", 10);
const COLD_TOKENS = envNumber("BENCH_COLD_TOKENS", 20_000);
const FLOOR_N = Math.floor(envNumber("BENCH_FLOOR_N", 1000));
const RESOURCE = "http://127.0.0.1/mcp";
const SELECTED = (process.env.BENCH_ROWS ? process.env.BENCH_ROWS.split(",").map((s) => s.trim()) : [...ROWS]) as Row[];

const LABELS: Record<Row, string> = {
  sdk: "(a) SDK, unprotected, body as a stream (Node StreamableHTTPServerTransport)",
  "sdk-parsed": "(a*) SDK, unprotected, pre-parsed body (the ceiling)",
  "pmcp-open": "(a') protected-mcp, authorization disabled",
  "pmcp-jwt": "(b) protected-mcp + JWTValidator (repeated token)",
  "pmcp-jwt-cold": "(b') protected-mcp + JWTValidator (new token every request)",
  "sdk-bearer": "(c) SDK requireBearerAuth + Express + jose verifier",
  "mcp-auth": "(d) mcp-auth bearerAuth('jwt') + Express",
  "pmcp-dpop": "(e) protected-mcp + DPoP (fresh proof every request)",
  "v2-parsed": "(f*) SDK v2 createMcpHandler, unprotected, pre-parsed body (2026-07-28)",
  "pmcp-v2-jwt": "(f) protected-mcp + SDK v2 createMcpHandler + JWTValidator (2026-07-28)",
  "sdk-stateful": "(g*) SDK, unprotected, stateful session, pre-parsed body",
  "pmcp-stateful": "(g) protected-mcp + JWTValidator, stateful session",
};

interface RowResult {
  row: Row;
  label: string;
  rps: number;
  /** req/s of each measured slice, round by round (the ratios pair them up). */
  sliceRps: number[];
  /** Server CPU µs per request of each measured slice, round by round (the CPU ratios pair them up). */
  sliceCpu: number[];
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  non2xx: number;
  serverPeakRssMb: number;
  /** Server CPU time per request, µs: steadier than req/s on a shared machine. */
  cpuPerRequest: number;
  /** CPU on the server's event-loop thread per request; `undefined` where Node cannot report it (before 23.9). */
  mainThreadCpuPerRequest: number | undefined;
  /** CPU of the load generator (autocannon, in this process) per request: it shares the machine with the server. */
  loadGenCpuPerRequest: number;
  /**
   * CPU used on the machine by processes other than the server and this load generator, in % of the row's wall time ×
   * cores.
   */
  otherLoadPct: number | undefined;
  /** Server CPU per request in each second of warm-up load. */
  warmupCpu: number[];
}

interface Skipped {
  row: Row;
  label: string;
  reason: string;
}

/** Busy CPU time of the whole machine so far, in microseconds (Linux /proc/stat), or undefined elsewhere. */
function machineBusyMicros(): number | undefined {
  try {
    const fields = (readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "")
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
    return ((user + nice + system + irq + softirq + steal) * 1e6) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

const microFile = fileURLToPath(new URL("./micro.ts", import.meta.url));
const floorFile = fileURLToPath(new URL("./dpop-floor.ts", import.meta.url));

function once<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type?: string }) => {
      if (m?.type === type || m?.type === "skip") {
        child.off("message", onMessage);
        child.off("exit", onExit);
        resolve(m as T);
      }
    };
    const onExit = (code: number | null) => reject(new Error(`child exited (${code}) before sending "${type}"`));
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || !child.connected) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.send({ type: "stop" });
  await exited;
}

/**
 * Fresh DPoP proofs for the DPoP row, signed right before each load (not during it): every request
 * still carries a new proof (new `jti`, `iat` seconds old), but the load generator does not spend
 * the measured seconds signing ES256 on the machine's other core, which slowed the server it was
 * measuring (the server's own work is the same either way). If a pool runs dry, proofs are signed
 * on the fly and counted (`signedDuringLoad`, printed with the results).
 */
class ProofPool {
  #pool: string[] = [];
  #next = 0;
  #rate = 4000;
  signedDuringLoad = 0;
  constructor(private readonly sign: () => string) {}
  /**
   * Sign enough proofs for a re-warm and `seconds` of load at 3× the fastest rate seen (a pool that runs dry signs on
   * the fly, and says so).
   */
  fill(seconds: number): void {
    this.#pool = [];
    this.#next = 0;
    const n = Math.ceil(this.#rate * seconds * 3) + 200 + REWARM;
    for (let i = 0; i < n; i++) this.#pool.push(this.sign());
  }
  learnRate(rps: number): void {
    if (rps > 0) this.#rate = Math.max(this.#rate, rps);
  }
  next(): string {
    const proof = this.#pool[this.#next++];
    if (proof !== undefined) return proof;
    this.signedDuringLoad++;
    return this.sign();
  }
}

/** What one Node line's run reports to the orchestrator. */
export interface LineResult {
  node: string;
  table: string;
  skipped: Skipped[];
  micro: MicroResults | undefined;
  summary: LineSummary;
  warning: string | undefined;
}

interface LineSummary {
  node: string;
  duration_s: number;
  connections: number;
  ratios: Record<string, number | null>;
  cpu_ratios: Record<string, number | null>;
  /** Server CPU µs per request of every measured row (also under `rows`), the figure issue 30 is judged by. */
  cpu_us_per_req: Record<string, number>;
  /** One ES256 proof-signature verification, µs of CPU, tight loop, this Node, this run (median over rounds). */
  dpop_floor_us: number | null;
  /** The same with the proof's JWK imported each time. */
  dpop_floor_import_us: number | null;
  /** (e) − (b) server CPU µs per request, median over rounds of the difference in each round. */
  dpop_minus_bearer_us: number | null;
  /** `dpop_minus_bearer_us / dpop_floor_us` (issue 30's target: ≤ 1.1). */
  dpop_minus_bearer_vs_floor: number | null;
  /**
   * `dpop_minus_bearer_us / dpop_floor_pool_us`: (e) − (b) against what one verify costs the way the library makes it
   * (on libuv's pool, hop included), the reference a restated target can use (bench/README.md, "Why 1.1× the floor").
   */
  dpop_minus_bearer_vs_pool_floor: number | null;
  /** The main thread's share of (e) − (b): (e) − (b) in main-thread CPU µs per request (whole-row figures). */
  dpop_minus_bearer_main_thread_us: number | null;
  /** One ES256 verification on libuv's pool (callback form, 8 in flight), hop included, µs of CPU. */
  dpop_floor_pool_us: number | null;
  /** One synchronous ES256 verification with 8 MiB of memory touched between two, µs of CPU. */
  dpop_floor_cold_us: number | null;
  /** The floor of each round, µs (key imported once / JWK imported each time / pool / cold caches). */
  dpop_floor_rounds: { floor_us: number; import_us: number; pool_us: number; cold_us: number }[];
  rows: Record<string, unknown>;
  skipped: Record<string, string>;
  micro: unknown;
}

async function runLine(): Promise<void> {
  const key = makeKey("bench-1");
  const dpopKey = makeKey("dpop-client");
  const jwks = await startJwksServer([key.publicJwk]);
  const token = signAccessToken(key, jwks.issuer, RESOURCE);
  const dpopToken = signAccessToken(key, jwks.issuer, RESOURCE, { cnf: { jkt: jwkThumbprint(dpopKey.publicJwk) } });

  const coldTokens: string[] = [];
  if (SELECTED.includes("pmcp-jwt-cold"))
    for (let i = 0; i < COLD_TOKENS; i++) coldTokens.push(signAccessToken(key, jwks.issuer, RESOURCE));
  let coldNext = 0;
  const proofs = new ProofPool(() => signDpopProof(dpopKey, "POST", RESOURCE, dpopToken));

  const childEnv = {
    ...process.env,
    BENCH_ISSUER: jwks.issuer,
    BENCH_JWKS_URI: jwks.jwksUri,
    BENCH_RESOURCE: RESOURCE,
  };
  const results: RowResult[] = [];
  const skipped: Skipped[] = [];

  console.log(
    `protected-mcp benchmark — ${DURATION}s per row in ${ROUNDS} interleaved slices (after ${WARMUP} s of warm-up), ${CONNECTIONS} connections, Streamable HTTP, tools/call`,
  );
  console.log(`node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}\n`);

  // 1. Start every server (each in its own process, idle until its turn) and check it answers.
  interface Live {
    row: Row;
    label: string;
    child: ChildProcess;
    prepare: (duration: number) => void;
    load: (duration: number) => Promise<autocannon.Result>;
    rewarm: (count: number) => Promise<void>;
    slices: {
      r: autocannon.Result;
      cpuMicros: number;
      mainThreadMicros: number | undefined;
      loadGenMicros: number;
      otherMicros: number | undefined;
      wallMicros: number;
    }[];
    peakRss: number;
    /** Server CPU per request in each warm-up second. */
    warmupCpu: number[];
  }
  const live: Live[] = [];
  for (const row of SELECTED) {
    const label = LABELS[row];
    const server = serverEntry();
    const child = fork(server.file, [row], {
      env: childEnv,
      execArgv: [...server.execArgv, ...SERVER_NODE_FLAGS],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const ready = await once<{ type: string; port?: number; reason?: string }>(child, "ready");
    if (ready.type === "skip") {
      skipped.push({ row, label, reason: ready.reason ?? "unknown" });
      console.log(`SKIP ${label}: ${ready.reason}`);
      await new Promise<void>((r) => (child.exitCode !== null ? r() : child.once("exit", () => r())));
      continue;
    }
    const url = `http://127.0.0.1:${ready.port}${MCP_PATH}`;
    const protectedRow =
      row !== "sdk" && row !== "sdk-parsed" && row !== "pmcp-open" && row !== "v2-parsed" && row !== "sdk-stateful";
    const modern = row === "v2-parsed" || row === "pmcp-v2-jwt";
    const stateful = STATEFUL_ROWS.includes(row);
    const callBody = modern ? MODERN_TOOLS_CALL_BODY : stateful ? SESSION_TOOLS_CALL_BODY : TOOLS_CALL_BODY;
    let baseHeaders = modern ? MODERN_HEADERS : MCP_HEADERS;

    // What each request carries. The DPoP row signs a fresh proof per request (a replayed proof would
    // be refused, and would measure nothing).
    const headersFor = (): Record<string, string> => {
      if (row === "pmcp-dpop") return { ...MCP_HEADERS, authorization: `DPoP ${dpopToken}`, dpop: proofs.next() };
      if (row === "pmcp-jwt-cold")
        return { ...MCP_HEADERS, authorization: `Bearer ${coldTokens[coldNext++ % coldTokens.length]}` };
      if (protectedRow) return { ...baseHeaders, authorization: `Bearer ${token}` };
      return { ...baseHeaders };
    };
    try {
      // A stateful row: one session, opened before any load; every request then carries its id.
      if (stateful) baseHeaders = { ...baseHeaders, ...(await openSession(url, headersFor())) };
      // Sanity: the row answers the call, and a protected row refuses a request without a token.
      const ok = await fetch(url, { method: "POST", headers: headersFor(), body: withFreshId(callBody) });
      const text = await ok.text();
      if (ok.status !== 200 || !text.includes("hello"))
        throw new Error(`sanity check failed: ${ok.status} ${text.slice(0, 200)}`);
      if (protectedRow) {
        const anon = await fetch(url, { method: "POST", headers: baseHeaders, body: withFreshId(callBody) });
        await anon.arrayBuffer();
        if (anon.status !== 401) throw new Error(`a request without a token got ${anon.status}, not 401`);
      }
    } catch (e) {
      skipped.push({ row, label, reason: e instanceof Error ? e.message : String(e) });
      console.log(`FAIL ${label}: ${e instanceof Error ? e.message : String(e)}`);
      await stopChild(child);
      continue;
    }
    const dynamic = row === "pmcp-dpop" || row === "pmcp-jwt-cold";
    /** Unmeasured preparation for `duration` seconds of load: the DPoP row's proofs. */
    const prepare = (duration: number): void => {
      if (row === "pmcp-dpop") proofs.fill(duration);
    };
    /**
     * `count` requests over CONNECTIONS keep-alive connections, unmeasured: a re-warm. Not autocannon,
     * which runs whole seconds (a "0.25 s" run lasts a full second).
     */
    const rewarm = async (count: number): Promise<void> => {
      let left = count;
      const worker = async (): Promise<void> => {
        while (left-- > 0) {
          const res = await fetch(url, { method: "POST", headers: headersFor(), body: withFreshId(callBody) });
          await res.arrayBuffer();
          if (res.status !== 200) throw new Error(`re-warm request got ${res.status}`);
        }
      };
      await Promise.all(Array.from({ length: CONNECTIONS }, worker));
    };
    /** Load for `duration` seconds. */
    const load = async (duration: number) => {
      const result = await autocannon({
        url,
        connections: CONNECTIONS,
        duration,
        method: "POST",
        headers: headersFor(),
        body: callBody,
        idReplacement: stateful,
        ...(dynamic
          ? {
              requests: [
                {
                  method: "POST",
                  path: MCP_PATH,
                  body: callBody,
                  setupRequest: (req: autocannon.Request) => ({ ...req, headers: headersFor() }),
                },
              ],
            }
          : {}),
      });
      if (row === "pmcp-dpop") proofs.learnRate(result.requests.average);
      return result;
    };
    live.push({ row, label, child, prepare, load, rewarm, slices: [], peakRss: 0, warmupCpu: [] });
  }

  // 2. Warm each up, then 3. measure in ROUNDS interleaved slices, one server under load at a time:
  // a slow minute on a shared machine then lands on every row instead of on one.
  /** One slice of load on `l` for `seconds`, with the server's CPU over exactly that slice. */
  const measure = async (
    l: Live,
    seconds: number,
    prepared = false,
  ): Promise<Live["slices"][number] & { peakRss: number }> => {
    if (!prepared) l.prepare(seconds);
    l.child.send({ type: "mark" });
    await once(l.child, "marked");
    const busy0 = machineBusyMicros();
    const self0 = process.cpuUsage();
    const wall0 = performance.now();
    const r = await l.load(seconds);
    const wallMicros = (performance.now() - wall0) * 1000;
    const self = process.cpuUsage(self0);
    const busy1 = machineBusyMicros();
    l.child.send({ type: "stats" });
    const stats = await once<{ peakRss: number; cpuMicros: number; mainThreadMicros?: number }>(l.child, "stats");
    const otherMicros =
      busy0 !== undefined && busy1 !== undefined
        ? busy1 - busy0 - stats.cpuMicros - self.user - self.system
        : undefined;
    return {
      r,
      cpuMicros: stats.cpuMicros,
      mainThreadMicros: stats.mainThreadMicros,
      loadGenMicros: self.user + self.system,
      otherMicros,
      wallMicros,
      peakRss: stats.peakRss,
    };
  };

  // The DPoP floor (bench/dpop-floor.ts): one ES256 verification in a tight loop, in a child process on
  // this Node line, measured after every round while the servers idle, so that it sees the machine the
  // round saw; the median over rounds is the figure.
  const floorChild =
    FLOOR_N > 0
      ? fork(floorFile, [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] })
      : undefined;
  if (floorChild) await once(floorChild, "ready");
  const floorRounds: FloorResult[] = [];
  const measureFloor = async (): Promise<void> => {
    if (!floorChild || floorChild.exitCode !== null) return;
    try {
      floorChild.send({ type: "floor", n: FLOOR_N, batches: 3 });
      floorRounds.push((await once<{ result: FloorResult }>(floorChild, "floor")).result);
    } catch (e) {
      // The rows' figures stand without the floor: say so and go on.
      console.log(`DPoP floor not measured: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  try {
    // 2. Warm every row up to its steady state: WARMUP seconds of unmeasured load, in 1 s slices so
    // that the curve can be printed. A server on Node 24 needs 6-8 s of load before its CPU per
    // request stops falling (Node 20: 3-5 s; all rows alike, the ceiling included); a shorter warm-up
    // measured rows while they were still warming, the slower ones most. Warming needs requests, not
    // a quiet machine, so two rows warm at a time (a server uses one core); measuring is one at a time.
    const warm = async (l: Live): Promise<void> => {
      for (let second = 1; second <= WARMUP; second++) {
        const x = await measure(l, 1, true);
        l.warmupCpu.push(Math.round(x.cpuMicros / Math.max(1, x.r.requests.total)));
      }
    };
    for (let i = 0; i < live.length; i += WARMUP_PARALLEL) {
      const group = live.slice(i, i + WARMUP_PARALLEL);
      // Prepared up front (the DPoP row's proofs): signing during the warm-up would stall the other row's load.
      for (const l of group) l.prepare(WARMUP);
      await Promise.all(group.map(warm));
    }
    console.log(
      `warm-up, server CPU µs/req per second of load: ${live.map((l) => `${l.row} ${l.warmupCpu.join(" ")}`).join("; ")}`,
    );
    proofs.signedDuringLoad = 0;
    const slice = DURATION / ROUNDS;
    const inTurn = [...live].sort((x, y) => MEASURE_ORDER.indexOf(x.row) - MEASURE_ORDER.indexOf(y.row));
    for (let round = 0; round < ROUNDS; round++) {
      for (const l of inTurn) {
        // Re-warm right before each measured slice: without it the first slice after the warm-up
        // measured some rows ~10 % above their later slices (the warm-up shares the machine between
        // two rows; see SERVER_NODE_FLAGS for what idling itself used to cost).
        // One preparation for both (the DPoP row's proof pool has room for the re-warm's requests).
        l.prepare(slice);
        if (REWARM > 0) await l.rewarm(REWARM);
        const { peakRss, ...x } = await measure(l, slice, true);
        l.slices.push(x);
        l.peakRss = Math.max(l.peakRss, peakRss);
      }
      const sliceSummary = (l: Live): string => {
        const x = l.slices.at(-1);
        if (!x) return `${l.row} —`;
        const perRequest = (us: number | undefined) =>
          us === undefined ? "—" : (us / Math.max(1, x.r.requests.total)).toFixed(0);
        return `${l.row} ${Math.round(x.r.requests.average)} (${perRequest(x.cpuMicros)}/${perRequest(x.mainThreadMicros)} µs)`;
      };
      await measureFloor();
      const floor = floorRounds.at(-1);
      console.log(
        `round ${round + 1}/${ROUNDS}, req/s (server CPU / main thread per request): ${live.map(sliceSummary).join(", ")}${floor ? `; DPoP floor ${floor.floor_us} µs (JWK imported each time ${floor.import_us}, pool ${floor.pool_us}, cold ${floor.cold_us})` : ""}`,
      );
    }
  } finally {
    for (const l of live) await stopChild(l.child);
    if (floorChild) await stopChild(floorChild);
  }

  // 4. Per row: req/s over all its slices, the median slice's p50/p99, CPU per request over all.
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;
  for (const l of live) {
    const total = l.slices.reduce((n, x) => n + x.r.requests.total, 0);
    const wall = l.slices.reduce((n, x) => n + x.wallMicros, 0);
    const cpu = l.slices.reduce((n, x) => n + x.cpuMicros, 0);
    const mainThread = l.slices.every((x) => x.mainThreadMicros !== undefined)
      ? l.slices.reduce((n, x) => n + (x.mainThreadMicros ?? 0), 0)
      : undefined;
    const other = l.slices.every((x) => x.otherMicros !== undefined)
      ? l.slices.reduce((n, x) => n + (x.otherMicros ?? 0), 0)
      : undefined;
    results.push({
      row: l.row,
      label: l.label,
      rps: total / (wall / 1e6),
      sliceRps: l.slices.map((x) => x.r.requests.total / (x.wallMicros / 1e6)),
      sliceCpu: l.slices.map((x) => x.cpuMicros / Math.max(1, x.r.requests.total)),
      p50: median(l.slices.map((x) => x.r.latency.p50)),
      p99: median(l.slices.map((x) => x.r.latency.p99)),
      requests: total,
      errors: l.slices.reduce((n, x) => n + x.r.errors + x.r.timeouts, 0),
      non2xx: l.slices.reduce((n, x) => n + x.r.non2xx, 0),
      serverPeakRssMb: l.peakRss / 2 ** 20,
      cpuPerRequest: cpu / Math.max(1, total),
      loadGenCpuPerRequest: l.slices.reduce((n, x) => n + x.loadGenMicros, 0) / Math.max(1, total),
      mainThreadCpuPerRequest: mainThread === undefined ? undefined : mainThread / Math.max(1, total),
      otherLoadPct: other === undefined ? undefined : Math.max(0, (other / (wall * cpus().length)) * 100),
      warmupCpu: l.warmupCpu,
    });
  }
  await jwks.close();

  const base = results.find((r) => r.row === "sdk-parsed");
  const ratio = (r: RowResult | undefined, to: RowResult | undefined) => (r && to ? pairedRatio(r, to) : undefined);
  const table = renderTable(results, base);
  console.log(`\n${table}`);
  for (const s of skipped) console.log(`skipped ${s.label}: ${s.reason}`);
  if (proofs.signedDuringLoad > 0)
    console.log(`note: ${proofs.signedDuringLoad} DPoP proofs were signed during measured load (the pool ran dry)`);
  const busiest = Math.max(0, ...results.map((r) => r.otherLoadPct ?? 0));
  const warning =
    busiest > 10
      ? `other processes used up to ${busiest.toFixed(0)}% of the machine during a row; compare the CPU µs/req column, or re-run on a quiet machine`
      : undefined;
  if (warning) console.log(`warning: ${warning}`);

  let micro: MicroResults | undefined;
  if (process.env.BENCH_MICRO !== "0") {
    console.log("\nmicro-benchmarks (bench/micro.ts)\n");
    micro = await runMicroChild();
  }

  const byRow = (row: Row) => results.find((r) => r.row === row);
  const bearer = byRow("pmcp-jwt");
  const sdkStream = byRow("sdk");
  const dpopRow = byRow("pmcp-dpop");
  const ratios = {
    bearer_vs_sdk_parsed: ratio(bearer, base),
    dpop_vs_sdk_parsed: ratio(dpopRow, base),
    bearer_vs_unprotected: ratio(bearer, sdkStream),
    bearer_vs_protected_mcp_disabled: ratio(bearer, byRow("pmcp-open")),
    bearer_vs_sdk_bearer: ratio(bearer, byRow("sdk-bearer")),
    bearer_vs_mcp_auth: ratio(bearer, byRow("mcp-auth")),
    v2_bearer_vs_v2_parsed: ratio(byRow("pmcp-v2-jwt"), byRow("v2-parsed")),
    stateful_bearer_vs_sdk_stateful: ratio(byRow("pmcp-stateful"), byRow("sdk-stateful")),
    cold_vs_unprotected: ratio(byRow("pmcp-jwt-cold"), sdkStream),
    dpop_vs_unprotected: ratio(dpopRow, sdkStream),
    cold_vs_sdk_parsed: ratio(byRow("pmcp-jwt-cold"), base),
    cold_verify_vs_jose: micro?.cold_vs_jose,
  };
  // The same ratios from server CPU per request (base / row): what req/s would be if CPU were the only limit.
  // Paired like the req/s ratios: the median over rounds of the two rows' CPU per request in the same round.
  const cpuRatio = (r: RowResult | undefined, to: RowResult | undefined) =>
    r && to ? pairedMedian(r.sliceCpu, to.sliceCpu, (x, y) => y / x, to.cpuPerRequest / r.cpuPerRequest) : undefined;
  const cpuRatios = {
    bearer_vs_sdk_parsed: cpuRatio(bearer, base),
    dpop_vs_sdk_parsed: cpuRatio(dpopRow, base),
    v2_bearer_vs_v2_parsed: cpuRatio(byRow("pmcp-v2-jwt"), byRow("v2-parsed")),
    stateful_bearer_vs_sdk_stateful: cpuRatio(byRow("pmcp-stateful"), byRow("sdk-stateful")),
    bearer_vs_unprotected: cpuRatio(bearer, sdkStream),
    bearer_vs_sdk_bearer: cpuRatio(bearer, byRow("sdk-bearer")),
    bearer_vs_mcp_auth: cpuRatio(bearer, byRow("mcp-auth")),
    cold_vs_unprotected: cpuRatio(byRow("pmcp-jwt-cold"), sdkStream),
  };
  const round = (v: number | undefined) => (v === undefined ? null : Math.round(v * 1000) / 1000);
  // Issue 30's DPoP figures: (e) − (b) in server CPU per request (paired per round) against the floor.
  const dpopFloor = floorRounds.length ? median(floorRounds.map((f) => f.floor_us)) : undefined;
  const dpopFloorImport = floorRounds.length ? median(floorRounds.map((f) => f.import_us)) : undefined;
  const dpopFloorPool = floorRounds.length ? median(floorRounds.map((f) => f.pool_us)) : undefined;
  const dpopFloorCold = floorRounds.length ? median(floorRounds.map((f) => f.cold_us)) : undefined;
  const dpopMinusBearer =
    dpopRow && bearer
      ? pairedMedian(dpopRow.sliceCpu, bearer.sliceCpu, (e, b) => e - b, dpopRow.cpuPerRequest - bearer.cpuPerRequest)
      : undefined;
  const summary: LineSummary = {
    node: process.version,
    duration_s: DURATION,
    connections: CONNECTIONS,
    ratios: Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, round(v)])),
    cpu_ratios: Object.fromEntries(Object.entries(cpuRatios).map(([k, v]) => [k, round(v)])),
    cpu_us_per_req: Object.fromEntries(results.map((r) => [r.row, Math.round(r.cpuPerRequest)])),
    dpop_floor_us: dpopFloor ?? null,
    dpop_floor_import_us: dpopFloorImport ?? null,
    dpop_minus_bearer_us: dpopMinusBearer === undefined ? null : Math.round(dpopMinusBearer),
    dpop_minus_bearer_vs_floor: dpopMinusBearer === undefined || !dpopFloor ? null : round(dpopMinusBearer / dpopFloor),
    dpop_minus_bearer_vs_pool_floor:
      dpopMinusBearer === undefined || !dpopFloorPool ? null : round(dpopMinusBearer / dpopFloorPool),
    dpop_minus_bearer_main_thread_us:
      dpopRow?.mainThreadCpuPerRequest === undefined || bearer?.mainThreadCpuPerRequest === undefined
        ? null
        : Math.round(dpopRow.mainThreadCpuPerRequest - bearer.mainThreadCpuPerRequest),
    dpop_floor_pool_us: dpopFloorPool ?? null,
    dpop_floor_cold_us: dpopFloorCold ?? null,
    dpop_floor_rounds: floorRounds.map(({ floor_us, import_us, pool_us, cold_us }) => ({
      floor_us,
      import_us,
      pool_us,
      cold_us,
    })),
    rows: Object.fromEntries(
      results.map((r) => [
        r.row,
        {
          rps: Math.round(r.rps),
          p50_ms: r.p50,
          p99_ms: r.p99,
          cpu_us_per_req: Math.round(r.cpuPerRequest),
          main_thread_cpu_us_per_req:
            r.mainThreadCpuPerRequest === undefined ? null : Math.round(r.mainThreadCpuPerRequest),
          load_gen_cpu_us_per_req: Math.round(r.loadGenCpuPerRequest),
          errors: r.errors,
          non2xx: r.non2xx,
          other_load_pct: r.otherLoadPct === undefined ? null : Math.round(r.otherLoadPct),
          warmup_cpu_us_per_req: r.warmupCpu,
        },
      ]),
    ),
    skipped: Object.fromEntries(skipped.map((s) => [s.row, s.reason])),
    micro: micro ? { ...micro, table: undefined } : null,
  };

  const dpopLine = dpopSummaryLine(summary);
  if (dpopLine) console.log(dpopLine);
  const line: LineResult = { node: process.version, table, skipped, micro, summary, warning };
  if (process.send) process.send({ type: "line", result: line });
  else console.log(`LINE ${JSON.stringify(summary)}`);
}

/** Issue 30's DPoP figures in one sentence, or `undefined` when the floor was not measured. */
function dpopSummaryLine(s: LineSummary): string | undefined {
  if (s.dpop_floor_us === null) return undefined;
  const floor =
    `DPoP floor (one ES256 verification, tight loop, this Node, this run): ${s.dpop_floor_us} µs CPU ` +
    `(JWK imported each time: ${s.dpop_floor_import_us} µs; on libuv's pool, 8 in flight: ${s.dpop_floor_pool_us} µs; ` +
    `synchronous with 8 MiB touched between two: ${s.dpop_floor_cold_us} µs)`;
  if (s.dpop_minus_bearer_us === null) return `${floor}.`;
  return (
    `${floor}; (e) − (b) server CPU per request ${s.dpop_minus_bearer_us} µs (paired per round) = ` +
    `${s.dpop_minus_bearer_vs_floor}× the floor (target ≤ 1.1), ${s.dpop_minus_bearer_vs_pool_floor}× the pool floor; ` +
    `${s.dpop_minus_bearer_main_thread_us} µs of it on the main thread.`
  );
}

/**
 * `r` against `to`: the median over rounds of the two rows' req/s in the same round. Slices of one
 * round are seconds apart, so drift in the machine's speed between rounds cancels out; the median
 * drops a round in which the machine changed speed between the two slices.
 */
function pairedRatio(r: RowResult, to: RowResult): number {
  return pairedMedian(r.sliceRps, to.sliceRps, (x, y) => x / y, r.rps / to.rps);
}

/**
 * The median over rounds of `pair(xs[i], ys[i])`, two rows' figures in the same round; `whole` (the
 * same from whole-run figures) when no round has both.
 */
function pairedMedian(xs: number[], ys: number[], pair: (x: number, y: number) => number, whole: number): number {
  const perRound = xs.map((x, i) => pair(x, ys[i] ?? Number.NaN)).filter(Number.isFinite);
  if (perRound.length === 0) return whole;
  const sorted = perRound.sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function renderTable(results: RowResult[], base: RowResult | undefined): string {
  const head = [
    "server",
    "req/s",
    "p50 ms",
    "p99 ms",
    "vs (a*)",
    "srv CPU µs/req",
    "main thread µs/req",
    "load gen CPU µs/req",
    "errors",
    "srv peak RSS MB",
    "other load",
    "warm-up CPU µs/req, 1st → last s",
  ];
  const rows = results.map((r) => [
    r.label,
    r.rps.toFixed(0),
    r.p50.toFixed(1),
    r.p99.toFixed(1),
    base ? `${pairedRatio(r, base).toFixed(2)}×` : "—",
    r.cpuPerRequest.toFixed(0),
    r.mainThreadCpuPerRequest === undefined ? "—" : r.mainThreadCpuPerRequest.toFixed(0),
    r.loadGenCpuPerRequest.toFixed(0),
    String(r.errors + r.non2xx),
    r.serverPeakRssMb.toFixed(0),
    r.otherLoadPct === undefined ? "—" : `${r.otherLoadPct.toFixed(0)}%`,
    r.warmupCpu.length ? `${r.warmupCpu[0]} → ${r.warmupCpu.at(-1)}` : "—",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(" | ")} |`;
  return [
    line(head),
    `|${widths.map((w, i) => (i === 0 ? ":" : "") + "-".repeat(w + 1) + (i === 0 ? "" : ":")).join("|")}|`,
    ...rows.map(line),
  ].join("\n");
}

const DESCRIPTION = [
  "Stateless Streamable HTTP (a fresh SDK server per request), one `tools/call` of a trivial `echo` tool per request, JSON responses;",
  "(g\\*) and (g) instead open one `Mcp-Session-Id` session (`initialize`) before the load, and every call is made on it.",
  "Each server in its own process on 127.0.0.1 and the only one under load at a time, autocannon in the parent; rows take turns in",
  "short slices, each ratio's two rows next to each other. req/s is over all of a row's slices; p50/p99 are the median slice's.",
  "**`vs (a*)` and every ratio are paired**: the median, over rounds, of the two rows' req/s in the same round (seconds apart). On a",
  "shared VM the machine's speed drifts by tens of percent within a minute (CPU steal, seen at 50 % in `top`); a ratio of totals",
  "measured that drift as much as the servers.",
  "**(a\\*) is the ceiling every target is measured against**: the SDK's Node transport, unprotected, handed a body read from the",
  "socket and parsed once (`parsedBody`) — what an Express user with `express.json()` has, minus Express. (a) is the SDK's own",
  "default (the body read through Web streams), kept for reference.",
  "Tokens: ES256, JWKS served on loopback. Rows (b), (c), (d) send the same token on every request; (b') cycles through",
  "more distinct tokens than the verified-token cache holds, so every request pays a signature check.",
  "(e) sends a DPoP-bound token (`cnf.jkt`) with `dpop_required`, and a fresh proof (new `jti`, `iat`, `ath`) for every request,",
  "signed by the load generator just before each load (not during it); the server checks proof, binding and replay on each one.",
  "Every server process runs with `--no-memory-reducer` (all rows alike): rows take turns, and V8 would otherwise shrink the heap",
  "of a server that idled between its slices, so that its next slice measured the heap growing back.",
  "Before any row is measured, every row gets 11 s (Node 24) or 6 s (Node 20) of unmeasured load (`BENCH_WARMUP`), two rows at a",
  "time: under load a server's CPU per request keeps falling for about 10 s on Node 24 (3–5 s on Node 20), and the 1 s warm-up",
  "of earlier versions measured rows while they were still warming, the slower ones most. The last column shows each row's server",
  "CPU per request in the first and the last second of its warm-up. Each measured slice follows 1,000 unmeasured requests",
  "(`BENCH_REWARM`): without them the first slice measured some rows about 10 % above their later slices.",
  "Every row builds its SDK server with the same factory, which defers the SDK's per-server Ajv construction (as `MCPServer` does).",
  "`srv CPU µs/req` is the server process's CPU time divided by the requests it served: steadier than req/s when",
  "the machine is shared. `main thread µs/req` is the part spent on the server's event-loop thread (Node 24 reports it; Node 20",
  "cannot): the thread that saturates first. The rest is libuv's thread pool (signature checks run there) and V8's helper threads.",
  "`other load` is CPU used on the machine by anything but the server and autocannon during",
  "the row (from /proc/stat); when it is high, req/s of that row is depressed and the CPU column is the better guide.",
];

function renderMarkdown(lines: LineResult[], scaling: ScalingResults | string | undefined, summary: unknown): string {
  const out = [
    "# Benchmark results",
    "",
    `Generated by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)} — ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}; Node ${lines.map((l) => l.node).join(" and ")}.`,
    `${CONNECTIONS} connections, ${DURATION} s per row measured in ${ROUNDS} slices, after ${process.env.BENCH_WARMUP ? `${WARMUP} s` : "11 s (Node 24) or 6 s (Node 20)"} of warm-up load per row (two rows at a time).`,
    "",
    ...DESCRIPTION,
    "",
  ];
  for (const l of lines) {
    out.push(`## Node ${l.node}`, "", l.table, "");
    const dpopLine = dpopSummaryLine(l.summary);
    if (dpopLine) out.push(dpopLine, "");
    for (const s of l.skipped) out.push(`- skipped ${s.label}: ${s.reason}`);
    if (l.warning) out.push(`- warning: ${l.warning}`);
    if (l.skipped.length || l.warning) out.push("");
    if (l.micro) out.push(`### Micro-benchmarks, Node ${l.node}`, "", l.micro.table, "");
  }
  if (typeof scaling === "string") out.push("## Scaling", "", scaling, "");
  else if (scaling) out.push(`## Scaling (Node ${scaling.node})`, "", scaling.markdown, "");
  out.push("## Raw", "", "```json", JSON.stringify(summary, null, 2), "```", "");
  return out.join("\n");
}

function runMicroChild(): Promise<MicroResults> {
  return new Promise((resolve, reject) => {
    const child = fork(microFile, [], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let result: MicroResults | undefined;
    child.on("message", (m: { type?: string; result?: MicroResults }) => {
      if (m?.type === "micro" && m.result) result = m.result;
    });
    child.once("exit", (code) =>
      result ? resolve(result) : reject(new Error(`bench/micro.ts exited ${code} without results`)),
    );
  });
}

/** Fork `file` with another Node binary and wait for its `{ type, result }` message. */
function runChild<T>(execPath: string, file: string, type: string, env: NodeJS.ProcessEnv): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = fork(file, [], {
      execPath,
      env,
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let result: T | undefined;
    child.on("message", (m: { type?: string; result?: T }) => {
      if (m?.type === type && m.result) result = m.result;
    });
    child.once("exit", (code) =>
      result ? resolve(result) : reject(new Error(`${file} on ${execPath} exited ${code} without a result`)),
    );
  });
}

const nodeVersion = (bin: string): string => execFileSync(bin, ["-v"], { encoding: "utf8" }).trim();

/** The Node 24 binary: BENCH_NODE24, else the one `.ci/install-tools node24` puts in `.tools/`. */
function findNode24(): string | undefined {
  const bin =
    process.env.BENCH_NODE24 ?? fileURLToPath(new URL("../.tools/node24/node_modules/node/bin/node", import.meta.url));
  return existsSync(bin) ? bin : undefined;
}

/**
 * The machine's Node 20: BENCH_NODE20, else the first `node` on PATH that is not in a node_modules folder (npm puts
 * node_modules/.bin first).
 */
function findNode20(): string | undefined {
  if (process.env.BENCH_NODE20) return process.env.BENCH_NODE20;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir || dir.includes("node_modules")) continue;
    const bin = join(dir, "node");
    try {
      accessSync(bin, constants.X_OK);
      if (nodeVersion(bin).startsWith("v20.")) return bin;
    } catch {
      // not here
    }
  }
  return undefined;
}

async function main(): Promise<void> {
  const started = performance.now();
  const wanted = (process.env.BENCH_LINES ?? "24,20").split(",").map((s) => s.trim());
  const node24 = findNode24();
  const node20 = findNode20();
  const lines: LineResult[] = [];
  const missing: string[] = [];
  for (const line of wanted) {
    const bin = line === "24" ? node24 : line === "20" ? node20 : undefined;
    if (!bin) {
      missing.push(
        `Node ${line}: no binary found (${line === "24" ? "run .ci/install-tools node24, or set BENCH_NODE24" : "set BENCH_NODE20"})`,
      );
      console.log(`SKIP ${missing.at(-1)}`);
      continue;
    }
    console.log(`\n=== Node ${nodeVersion(bin)} (${bin}) ===\n`);
    // Node 20 skips the 100,000-token memory run: the scaling table covers memory on the primary line.
    const env = {
      ...process.env,
      BENCH_LINE: line,
      ...(line === "20" && !process.env.BENCH_MEMORY_TOKENS ? { BENCH_MEMORY_TOKENS: "0" } : {}),
    };
    lines.push(await runChild<LineResult>(bin, fileURLToPath(import.meta.url), "line", env));
  }
  let scaling: ScalingResults | string | undefined;
  if (process.env.BENCH_SCALING !== "0") {
    const bin = node24 ?? process.execPath;
    console.log(`\n=== scaling, Node ${nodeVersion(bin)} ===\n`);
    try {
      scaling = await runChild<ScalingResults>(
        bin,
        fileURLToPath(new URL("./scaling.ts", import.meta.url)),
        "scaling",
        process.env,
      );
      console.log(scaling.markdown);
    } catch (e) {
      scaling = `failed: ${e instanceof Error ? e.message : String(e)}`;
      console.log(scaling);
    }
  }
  const primary = lines.find((l) => l.summary.node.startsWith("v24.")) ?? lines[0];
  const n20 = lines.find((l) => l.summary.node.startsWith("v20."));
  const summary = {
    node: primary?.summary.node ?? null,
    duration_s: DURATION,
    connections: CONNECTIONS,
    ratios: primary?.summary.ratios ?? {},
    cpu_ratios: primary?.summary.cpu_ratios ?? {},
    cpu_us_per_req: primary?.summary.cpu_us_per_req ?? {},
    dpop_floor_us: primary?.summary.dpop_floor_us ?? null,
    dpop_floor_import_us: primary?.summary.dpop_floor_import_us ?? null,
    dpop_floor_pool_us: primary?.summary.dpop_floor_pool_us ?? null,
    dpop_floor_cold_us: primary?.summary.dpop_floor_cold_us ?? null,
    dpop_minus_bearer_us: primary?.summary.dpop_minus_bearer_us ?? null,
    dpop_minus_bearer_vs_floor: primary?.summary.dpop_minus_bearer_vs_floor ?? null,
    dpop_minus_bearer_vs_pool_floor: primary?.summary.dpop_minus_bearer_vs_pool_floor ?? null,
    dpop_minus_bearer_main_thread_us: primary?.summary.dpop_minus_bearer_main_thread_us ?? null,
    dpop_floor_rounds: primary?.summary.dpop_floor_rounds ?? [],
    rows: primary?.summary.rows ?? {},
    skipped: primary?.summary.skipped ?? {},
    micro: primary?.summary.micro ?? null,
    node20: n20 ? n20.summary : null,
    scaling: typeof scaling === "object" ? { ...scaling, markdown: undefined } : (scaling ?? null),
    missing_lines: missing,
    wall_s: Math.round((performance.now() - started) / 1000),
  };
  for (const l of lines) console.log(`\nNode ${l.node}\n${l.table}`);
  const out = process.env.BENCH_OUT ?? fileURLToPath(new URL("./results.md", import.meta.url));
  if (out !== "-") writeFileSync(out, renderMarkdown(lines, scaling, summary));
  console.log(`RESULT ${JSON.stringify(summary)}`);
}

if (process.env.BENCH_LINE) await runLine();
else await main();
