/**
 * `npm run bench:profile -- <row> [seconds]`: one bench row under load with `node --cpu-prof`, then a
 * summary of where the server's CPU time went: self time by package / source file, and the top
 * functions. Uses the same servers, tokens and load as `npm run bench` (bench/servers.ts, bench/common.ts).
 *
 * The profile runs on the Node that runs this script (`node_modules/.bin/node` is Node 24 after
 * `.ci/install-tools node24`: `PATH=.tools/node24/node_modules/node/bin:$PATH npm run bench:profile -- pmcp-jwt`).
 *
 * Environment: BENCH_CONNECTIONS (default 10), BENCH_PROFILE_DIR (default a temporary directory;
 * the .cpuprofile file is kept there, to open in Chrome DevTools).
 */
import { fork } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
  type Row,
} from "./common.js";
import { serverEntry } from "./build.js";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const RESOURCE = "http://127.0.0.1/mcp";

/** Where a frame's code lives: a package name, a file of this project, or a Node/V8 category. */
export function frameOwner(url: string, functionName: string): string {
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + "node_modules/".length).split("/");
    return rest[0]?.startsWith("@") ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  if (url.startsWith("node:")) return url;
  const src = url.indexOf("/src/");
  if (src >= 0) return url.slice(src + 1);
  const bench = url.indexOf("/bench/");
  if (bench >= 0) return url.slice(bench + 1);
  return url;
}

/** Self time per owner and per function, in % of the busy (non-idle) samples and in µs per request. */
export function summarize(profile: CpuProfile, requests: number, top = 25): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfMicros = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  let total = 0;
  for (const [id, us] of selfMicros) if (byId.get(id)?.callFrame.functionName !== "(idle)") total += us;
  total ||= 1;
  const owners = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const [id, us] of selfMicros) {
    const n = byId.get(id);
    if (!n) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === "(idle)") continue;
    const owner = frameOwner(url, functionName);
    owners.set(owner, (owners.get(owner) ?? 0) + us);
    const fn = `${functionName || "(anonymous)"} ${owner}${url ? `:${lineNumber + 1}` : ""}`;
    functions.set(fn, (functions.get(fn) ?? 0) + us);
  }
  const pct = (us: number) =>
    `${((us / total) * 100).toFixed(1)}%  ${(us / Math.max(1, requests)).toFixed(1).padStart(6)} µs/req`;
  const rows = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `  ${pct(v).padStart(20)}  ${k}`);
  return [
    `busy CPU ${(total / Math.max(1, requests)).toFixed(0)} µs/req (whole process lifetime, start-up included, idle excluded)`,
    "",
    "self time by owner:",
    ...rows(owners, 20),
    "",
    "top functions (self time):",
    ...rows(functions, top),
  ].join("\n");
}

async function main(): Promise<void> {
  const row = (process.argv[2] ?? "pmcp-jwt") as Row;
  if (!ROWS.includes(row)) throw new Error(`unknown row ${row}; one of ${ROWS.join(", ")}`);
  const seconds = Number(process.argv[3] ?? 8);
  const dir = process.env.BENCH_PROFILE_DIR ?? mkdtempSync(join(tmpdir(), "pmcp-prof-"));
  const key = makeKey("bench-1");
  const dpopKey = makeKey("dpop-client");
  const jwks = await startJwksServer([key.publicJwk]);
  const token = signAccessToken(key, jwks.issuer, RESOURCE);
  const dpopToken = signAccessToken(key, jwks.issuer, RESOURCE, { cnf: { jkt: jwkThumbprint(dpopKey.publicJwk) } });
  const server = serverEntry();
  const child = fork(server.file, [row], {
    env: { ...process.env, BENCH_ISSUER: jwks.issuer, BENCH_JWKS_URI: jwks.jwksUri, BENCH_RESOURCE: RESOURCE },
    execArgv: [...server.execArgv, ...SERVER_NODE_FLAGS, "--cpu-prof", `--cpu-prof-dir=${dir}`],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.on("message", (m: { type?: string; port?: number; reason?: string }) => {
      if (m.type === "ready" && m.port) resolve(m.port);
      if (m.type === "skip") reject(new Error(m.reason));
    });
  });
  const modern = row === "v2-parsed" || row === "pmcp-v2-jwt";
  let session: Record<string, string> = {};
  const headers = (): Record<string, string> => {
    if (row === "pmcp-dpop")
      return {
        ...MCP_HEADERS,
        authorization: `DPoP ${dpopToken}`,
        dpop: signDpopProof(dpopKey, "POST", RESOURCE, dpopToken),
      };
    const base = { ...(modern ? MODERN_HEADERS : MCP_HEADERS), ...session };
    if (row === "sdk" || row === "sdk-parsed" || row === "pmcp-open" || row === "v2-parsed" || row === "sdk-stateful")
      return base;
    return { ...base, authorization: `Bearer ${token}` };
  };
  if (STATEFUL_ROWS.includes(row)) session = await openSession(`http://127.0.0.1:${port}${MCP_PATH}`, headers());
  const r = await autocannon({
    url: `http://127.0.0.1:${port}${MCP_PATH}`,
    connections: envNumber("BENCH_CONNECTIONS", 10),
    duration: seconds,
    method: "POST",
    body: modern ? MODERN_TOOLS_CALL_BODY : TOOLS_CALL_BODY,
    idReplacement: STATEFUL_ROWS.includes(row),
    requests: [
      {
        method: "POST",
        path: MCP_PATH,
        body: modern ? MODERN_TOOLS_CALL_BODY : STATEFUL_ROWS.includes(row) ? SESSION_TOOLS_CALL_BODY : TOOLS_CALL_BODY,
        setupRequest: (req: autocannon.Request) => ({ ...req, headers: headers() }),
      },
    ],
  });
  const exited = new Promise<void>((res) => child.once("exit", () => res()));
  child.send({ type: "stop" });
  await exited;
  await jwks.close();
  const file = readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .sort()
    .at(-1);
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  const profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile;
  console.log(
    `${row} on node ${process.version}: ${Math.round(r.requests.average)} req/s, ${r.non2xx} non-2xx, profile ${join(dir, file)}\n`,
  );
  console.log(summarize(profile, r.requests.total));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
