/**
 * Run the official conformance suite (`@modelcontextprotocol/conformance`, pinned, in `.tools/`)
 * against the project's conformance server in every configuration and protocol era, and compare.
 *
 *   node --import tsx conformance/run.ts [--only v1-plain,v2-protect,…] [--skip-as | --as-only] [--strict] [--keep]
 *
 * `--strict`: known differences fail the run too (protected must equal unprotected, no exceptions).
 *
 * Configurations (see serve.ts): `v1-plain`, `v2-plain` (the SDKs' own transports, no protected-mcp:
 * the baselines), `v1-protect`, `v2-protect` (the same factories through `protect()`), `mcpserver`
 * (`MCPServer({ engine: "v2" })`: v1 sessions for the 2025 era, v2 for 2026-07-28); and two fixtures
 * this project did not write (conformance/vendor/), each as its authors run it (`sdk-v2-fixture-plain`,
 * `suite-v1-fixture-plain`) and through `protect()` (`sdk-v2-fixture-protect`, `suite-v1-fixture-protect`).
 * Each protected configuration is compared check by check with its baseline for the same revision.
 *
 * Fails (exit 1) when
 * - a check fails that `expected-failures.json` does not list (for that revision, and that
 *   configuration when the entry names configurations);
 * - a protected configuration's check has another status than the baseline's (SUCCESS → WARNING
 *   counts) and `known_differences` does not list it for that configuration;
 * - an entry of either list matched nothing (stale: the gap closed, remove the entry);
 * - an authorization-server scenario against the development authorization server fails.
 *
 * Environment: CONFORMANCE_NODE (Node ≥ 22 for the suite; default `.tools/node24/…/bin/node`),
 * CONFORMANCE_BIN (default `.tools/conformance/node_modules/.bin/conformance`).
 *
 * @module
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startDevAuthorizationServer } from "../src/dev-authorization-server/index.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SUITE_NODE = process.env.CONFORMANCE_NODE ?? join(ROOT, ".tools/node24/node_modules/node/bin/node");
const SUITE_BIN = process.env.CONFORMANCE_BIN ?? join(ROOT, ".tools/conformance/node_modules/.bin/conformance");
const SUITE_PKG = join(dirname(dirname(SUITE_BIN)), "@modelcontextprotocol/conformance");

type Revision = "2025-11-25" | "2026-07-28";
type ConfigName =
  | "v1-plain"
  | "v2-plain"
  | "v1-protect"
  | "v2-protect"
  | "mcpserver"
  | "sdk-v2-fixture-plain"
  | "sdk-v2-fixture-protect"
  | "suite-v1-fixture-plain"
  | "suite-v1-fixture-protect";
type Status = "SUCCESS" | "FAILURE" | "WARNING" | "SKIPPED" | "INFO" | "MISSING";

interface Config {
  name: ConfigName;
  args: string[];
  revisions: Revision[];
  /** The unprotected configuration it must match, per revision. */
  baseline?: Partial<Record<Revision, ConfigName>>;
}

const CONFIGS: Config[] = [
  // SDK v1 speaks the 2025 era only.
  { name: "v1-plain", args: ["--sdk", "v1", "--mode", "plain"], revisions: ["2025-11-25"] },
  { name: "v2-plain", args: ["--sdk", "v2", "--mode", "plain"], revisions: ["2025-11-25", "2026-07-28"] },
  {
    name: "v1-protect",
    args: ["--sdk", "v1", "--mode", "protect"],
    revisions: ["2025-11-25"],
    baseline: { "2025-11-25": "v1-plain" },
  },
  {
    name: "v2-protect",
    args: ["--sdk", "v2", "--mode", "protect"],
    revisions: ["2025-11-25", "2026-07-28"],
    baseline: { "2025-11-25": "v2-plain", "2026-07-28": "v2-plain" },
  },
  // MCPServer engine v2: 2025-era requests go to v1 sessions, 2026-07-28 requests to v2.
  {
    name: "mcpserver",
    args: ["--sdk", "v2", "--mode", "mcpserver"],
    revisions: ["2025-11-25", "2026-07-28"],
    baseline: { "2025-11-25": "v1-plain", "2026-07-28": "v2-plain" },
  },
  // Fixtures nobody on this project wrote (conformance/vendor/): each as its authors run it, and its
  // McpServer factory through protect() with the same transport options (event store, retry interval).
  // The SDK v2 repository's conformance everything-server: both eras.
  {
    name: "sdk-v2-fixture-plain",
    args: ["--fixture", "sdk-v2", "--mode", "plain"],
    revisions: ["2025-11-25", "2026-07-28"],
  },
  {
    name: "sdk-v2-fixture-protect",
    args: ["--fixture", "sdk-v2", "--mode", "protect"],
    revisions: ["2025-11-25", "2026-07-28"],
    baseline: { "2025-11-25": "sdk-v2-fixture-plain", "2026-07-28": "sdk-v2-fixture-plain" },
  },
  // The suite's own v1 everything-server (SDK v1: the 2025 era only).
  { name: "suite-v1-fixture-plain", args: ["--fixture", "suite-v1", "--mode", "plain"], revisions: ["2025-11-25"] },
  {
    name: "suite-v1-fixture-protect",
    args: ["--fixture", "suite-v1", "--mode", "protect"],
    revisions: ["2025-11-25"],
    baseline: { "2025-11-25": "suite-v1-fixture-plain" },
  },
];

interface Entry {
  reason: string;
  unblocks: string;
  /** Configurations the entry applies to; all when absent (expected failures only). */
  configs?: ConfigName[];
}
interface ExpectationsFile {
  expected_failures: Record<Revision, Record<string, Entry>>;
  known_differences: Record<Revision, Record<string, Entry & { configs: ConfigName[] }>>;
}

interface Check {
  scenario: string;
  id: string;
  status: Status;
  message?: string;
}
interface RunResult {
  config: ConfigName;
  revision: Revision;
  checks: Map<string, Check>;
  scored: Set<string>;
  error?: string;
}

const { values: opts } = parseArgs({
  options: {
    strict: { type: "boolean", default: false },
    only: { type: "string" },
    "as-only": { type: "boolean", default: false },
    "skip-as": { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
  },
});

function freePort(): Promise<number> {
  return new Promise((resolveP, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolveP(port));
    });
  });
}

/** Start one configuration's server; resolves once it prints READY. */
function startServer(config: Config, port: number): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(ROOT, "conformance/serve.ts"), ...config.args, "--port", String(port)],
    {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let log = "";
  return new Promise((resolveP, reject) => {
    const timer = setTimeout(() => reject(new Error(`${config.name}: no READY within 120 s\n${log}`)), 120_000);
    child.stdout.on("data", (d: Buffer) => {
      log += d.toString();
      const m = /READY (\S+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolveP({ child, url: m[1]! });
      }
    });
    child.stderr.on("data", (d: Buffer) => void (log += d.toString()));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${config.name}: server exited (${code})\n${log}`));
    });
  });
}

/** Run the suite's command line; resolves with its stdout and exit code. */
function suite(args: string[], onStdout?: (chunk: string) => void): Promise<{ code: number; out: string }> {
  return new Promise((resolveP) => {
    const child = spawn(SUITE_NODE, [SUITE_BIN, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      onStdout?.(d.toString());
    });
    child.stderr.on("data", (d: Buffer) => void (out += d.toString()));
    child.once("exit", (code) => resolveP({ code: code ?? 1, out }));
  });
}

/** The server scenarios a revision scores (the `server:` list of the suite's requirements file). */
function scoredScenarios(revision: Revision): Set<string> {
  const yaml = readFileSync(join(SUITE_PKG, "requirements", `${revision}.yaml`), "utf8");
  const scored = new Set<string>();
  let section = "";
  for (const line of yaml.split("\n")) {
    if (/^\S/.test(line) && !line.startsWith("#")) section = line.replace(/:.*$/, "");
    const m = /^ {2}- ([\w./-]+)\s*$/.exec(line);
    if (section === "server" && m) scored.add(m[1]!);
  }
  return scored;
}

/** Read `-o` output: one `server-<scenario>-<timestamp>/checks.json` per scenario. */
function readChecks(dir: string): Map<string, Check> {
  const checks = new Map<string, Check>();
  for (const sub of readdirSync(dir)) {
    const scenario = sub.replace(/^(server|authorization-server)-/, "").replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z$/, "");
    const file = join(dir, sub, "checks.json");
    if (!existsSync(file)) continue;
    const list = JSON.parse(readFileSync(file, "utf8")) as { id: string; status: Status; errorMessage?: string }[];
    for (const c of list) {
      let key = `${scenario}/${c.id}`;
      for (let n = 2; checks.has(key); n++) key = `${scenario}/${c.id}#${n}`;
      checks.set(key, { scenario, id: c.id, status: c.status, ...(c.errorMessage ? { message: c.errorMessage } : {}) });
    }
  }
  return checks;
}

async function runServerSuite(config: Config, url: string, revision: Revision): Promise<RunResult> {
  const out = mkdtempSync(join(tmpdir(), `conformance-${config.name}-${revision}-`));
  try {
    const { out: log } = await suite(["server", "--url", url, "--requirements", revision, "-o", out]);
    const checks = readChecks(out);
    const result: RunResult = { config: config.name, revision, checks, scored: scoredScenarios(revision) };
    if (checks.size === 0) result.error = `no results\n${log.slice(-2000)}`;
    return result;
  } finally {
    if (!opts.keep) rmSync(out, { recursive: true, force: true });
    else console.log(`  results kept in ${out}`);
  }
}

/** Whether an expectations key (`scenario` or `scenario/check-id`) covers a check key. */
const covers = (key: string, checkKey: string): boolean => {
  const bare = checkKey.replace(/#\d+$/, "");
  return key === bare || key === bare.split("/", 1)[0];
};

function counts(r: RunResult, scoredOnly: boolean) {
  const c = { pass: 0, fail: 0, warn: 0, other: 0 };
  for (const check of r.checks.values()) {
    if (scoredOnly && !r.scored.has(check.scenario)) continue;
    if (check.status === "SUCCESS") c.pass++;
    else if (check.status === "FAILURE") c.fail++;
    else if (check.status === "WARNING") c.warn++;
    else c.other++;
  }
  return c;
}

// ---------------------------------------------------------------- authorization server scenarios
/** Fill in the dev AS consent page like a user would: GET the page, post the form with its cookie. */
async function approveConsent(authorizationUrl: string): Promise<void> {
  const page = await fetch(authorizationUrl, { redirect: "manual" });
  const html = await page.text();
  const cookie = (page.headers.getSetCookie?.() ?? []).map((c) => c.split(";", 1)[0]).join("; ");
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  if (!action) throw new Error(`consent page without a form (HTTP ${page.status}): ${html.slice(0, 300)}`);
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? "";
  const unescape = (s: string) =>
    s
      .replace(/&amp;/g, "&")
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">");
  const form = new URLSearchParams({
    pending: unescape(field("pending")),
    csrf_token: unescape(field("csrf_token")),
    username: "conformance",
    decision: "approve",
  });
  const post = await fetch(new URL(unescape(action), authorizationUrl), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie, origin: new URL(authorizationUrl).origin },
    body: form,
    redirect: "manual",
  });
  const location = post.headers.get("location");
  if (!location) throw new Error(`consent not accepted (HTTP ${post.status}): ${(await post.text()).slice(0, 300)}`);
  await fetch(location); // the suite's callback server
}

async function runAuthorizationServerScenarios(): Promise<
  { name: string; pass: number; fail: number; warn: number; error?: string }[]
> {
  const resource = "http://127.0.0.1:1/mcp";
  const as = await startDevAuthorizationServer({ resources: [resource], on_warning: () => {} });
  const results = [];
  try {
    const callbackPort = await freePort();
    const reg = await fetch(as.server.metadata.registration_endpoint, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        client_name: "conformance",
        redirect_uris: [`http://127.0.0.1:${callbackPort}/callback`],
        token_endpoint_auth_method: "none",
      }),
    });
    const { client_id } = (await reg.json()) as { client_id: string };
    // One invocation: the code-grant scenario reads the metadata the metadata scenario fetched.
    const out = mkdtempSync(join(tmpdir(), "conformance-as-"));
    let consent: Promise<void> | undefined;
    let buffer = "";
    const { out: log } = await suite(
      [
        "authorization",
        "--url",
        as.issuer,
        "--client-id",
        client_id,
        "--resource",
        resource,
        "--port",
        String(callbackPort),
        "-o",
        out,
      ],
      (chunk) => {
        buffer += chunk;
        const at = buffer.indexOf(`${as.server.metadata.authorization_endpoint}?`);
        const m = at >= 0 ? /^(\S+)\s/.exec(buffer.slice(at)) : null;
        if (m && !consent)
          consent = approveConsent(m[1]!).catch((e: unknown) => void (buffer += `\nconsent failed: ${String(e)}`));
      },
    );
    await consent;
    const checks = readChecks(out);
    if (checks.size === 0)
      results.push({
        name: "authorization",
        pass: 0,
        fail: 0,
        warn: 0,
        error: `no results\n${log.slice(-1500)}\n${buffer.slice(-500)}`,
      });
    for (const scenario of new Set([...checks.values()].map((c) => c.scenario))) {
      const mine = [...checks.values()].filter((c) => c.scenario === scenario);
      const count = (st: Status) => mine.filter((c) => c.status === st).length;
      const failed = mine.filter((c) => c.status === "FAILURE").map((c) => `${c.id}: ${c.message ?? ""}`);
      results.push({
        name: scenario,
        pass: count("SUCCESS"),
        fail: count("FAILURE"),
        warn: count("WARNING"),
        ...(failed.length ? { error: failed.join("\n") } : {}),
      });
    }
    if (!opts.keep) rmSync(out, { recursive: true, force: true });
    else console.log(`  results kept in ${out}`);
  } finally {
    await as.close();
  }
  return results;
}

// ---------------------------------------------------------------- main
async function main(): Promise<number> {
  if (!existsSync(SUITE_BIN) || !existsSync(SUITE_NODE)) {
    console.error(
      `conformance suite or Node ≥ 22 missing (${SUITE_BIN}, ${SUITE_NODE}): run .ci/conformance, which installs them into .tools/`,
    );
    return 2;
  }
  const started = Date.now();
  const only = opts.only ? new Set(opts.only.split(",")) : undefined;
  const configs = CONFIGS.filter(() => !opts["as-only"]).filter(
    (c) =>
      !only ||
      only.has(c.name) ||
      CONFIGS.some((o) => only.has(o.name) && Object.values(o.baseline ?? {}).includes(c.name)),
  );
  const expectations = JSON.parse(
    readFileSync(join(ROOT, "conformance/expected-failures.json"), "utf8"),
  ) as ExpectationsFile;

  // Start every server at once (startup is mostly compiling), then run the suite one at a time.
  const servers = new Map<ConfigName, { child: ChildProcess; url: string }>();
  const problems: string[] = [];
  const results: RunResult[] = [];
  try {
    const ports = await Promise.all(configs.map(() => freePort()));
    const started_ = await Promise.allSettled(configs.map((c, i) => startServer(c, ports[i]!)));
    started_.forEach((s, i) => {
      if (s.status === "fulfilled") servers.set(configs[i]!.name, s.value);
      else problems.push(`server ${configs[i]!.name} did not start: ${String(s.reason)}`);
    });
    for (const config of configs) {
      const server = servers.get(config.name);
      if (!server) continue;
      for (const revision of config.revisions) {
        const t = Date.now();
        const r = await runServerSuite(config, server.url, revision);
        results.push(r);
        const c = counts(r, false);
        console.log(
          `ran ${config.name} × ${revision}: ${c.pass} passed, ${c.fail} failed, ${c.warn} warnings (${((Date.now() - t) / 1000).toFixed(1)} s)`,
        );
        if (r.error) problems.push(`${config.name} × ${revision}: ${r.error}`);
      }
    }
  } finally {
    for (const { child } of servers.values()) child.kill("SIGTERM");
  }

  // ---- compare
  const usedExpected = new Set<string>();
  const usedKnown = new Set<string>();
  const find = (r: RunResult) => (name: ConfigName) =>
    results.find((x) => x.config === name && x.revision === r.revision);
  for (const r of results) {
    const expected = expectations.expected_failures[r.revision] ?? {};
    const known = expectations.known_differences[r.revision] ?? {};
    const knownFor = (checkKey: string) =>
      Object.entries(known).find(([k, e]) => e.configs.includes(r.config) && covers(k, checkKey));
    for (const [key, check] of r.checks) {
      if (check.status !== "FAILURE") continue;
      const exp = Object.entries(expected).find(
        ([k, e]) => (!e.configs || e.configs.includes(r.config)) && covers(k, key),
      );
      const kd = knownFor(key);
      if (exp) usedExpected.add(`${r.revision}|${exp[0]}`);
      else if (kd) usedKnown.add(`${r.revision}|${kd[0]}|${r.config}`);
      else
        problems.push(
          `UNEXPECTED FAILURE ${r.config} × ${r.revision}: ${key}${check.message ? ` — ${check.message.slice(0, 200)}` : ""}`,
        );
    }
    const baselineName = CONFIGS.find((c) => c.name === r.config)?.baseline?.[r.revision];
    const base = baselineName ? find(r)(baselineName) : undefined;
    if (baselineName && !base) {
      problems.push(`${r.config} × ${r.revision}: baseline ${baselineName} has no result`);
      continue;
    }
    if (!base) continue;
    for (const key of new Set([...r.checks.keys(), ...base.checks.keys()])) {
      const mine = r.checks.get(key)?.status ?? "MISSING";
      const theirs = base.checks.get(key)?.status ?? "MISSING";
      // INFO/SKIPPED entries are traces (requests seen, frames received), not verdicts.
      const verdict = (s: Status) => s === "SUCCESS" || s === "FAILURE" || s === "WARNING";
      if (mine === theirs || (!verdict(mine) && !verdict(theirs))) continue;
      const kd = knownFor(key);
      if (kd) usedKnown.add(`${r.revision}|${kd[0]}|${r.config}`);
      else
        problems.push(
          `DIFFERENCE ${r.config} vs ${baselineName} × ${r.revision}: ${key} is ${mine}, baseline ${theirs}`,
        );
    }
  }
  const ran = new Set(results.map((r) => `${r.config}|${r.revision}`));
  for (const [revision, entries] of Object.entries(expectations.expected_failures)) {
    for (const [key, e] of Object.entries(entries)) {
      const applicable = CONFIGS.filter(
        (c) => (!e.configs || e.configs.includes(c.name)) && ran.has(`${c.name}|${revision}`),
      );
      if (applicable.length && !usedExpected.has(`${revision}|${key}`))
        problems.push(`STALE expected failure ${revision} ${key}: nothing failed (remove the entry)`);
    }
  }
  for (const [revision, entries] of Object.entries(expectations.known_differences)) {
    for (const [key, e] of Object.entries(entries)) {
      for (const c of e.configs) {
        if (ran.has(`${c}|${revision}`) && !usedKnown.has(`${revision}|${key}|${c}`))
          problems.push(`STALE known difference ${revision} ${key} for ${c}: no difference (remove it)`);
      }
    }
  }

  // ---- authorization server
  let asResults: Awaited<ReturnType<typeof runAuthorizationServerScenarios>> = [];
  if (!opts["skip-as"] && !only) {
    asResults = await runAuthorizationServerScenarios();
    for (const a of asResults)
      if (a.fail || a.error) problems.push(`authorization server ${a.name}: ${a.fail} failed ${a.error ?? ""}`);
  }

  // ---- table
  const rows = results.map((r) => {
    const all = counts(r, false);
    const scored = counts(r, true);
    return [
      r.config,
      r.revision,
      `${scored.pass}/${scored.pass + scored.fail}`,
      String(scored.warn),
      `${all.pass}`,
      `${all.fail}`,
      `${all.warn}`,
    ];
  });
  for (const a of asResults)
    rows.push([
      "dev AS (authorization)",
      a.name,
      `${a.pass}/${a.pass + a.fail}`,
      String(a.warn),
      String(a.pass),
      String(a.fail),
      String(a.warn),
    ]);
  const head = ["configuration", "revision", "scored pass", "scored warn", "all pass", "all fail", "all warn"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  console.log(`\n${line(head)}\n${widths.map((w) => "-".repeat(w)).join("  ")}`);
  for (const r of rows) console.log(line(r));
  console.log(
    `\n(${((Date.now() - started) / 1000).toFixed(0)} s; "scored" = the scenarios the revision's requirement set scores)`,
  );
  if (usedKnown.size) {
    const byKey = new Map<string, string[]>();
    for (const u of usedKnown) {
      const [revision, key, config] = u.split("|") as [string, string, string];
      byKey.set(`${revision} ${key}`, [...(byKey.get(`${revision} ${key}`) ?? []), config]);
    }
    console.log(`\nknown differences from the unprotected baseline (expected-failures.json → known_differences):`);
    for (const [k, configs] of byKey) console.log(`- ${k}: ${configs.join(", ")}`);
    if (opts.strict) problems.push(`--strict: ${byKey.size} known difference(s)`);
  }
  if (problems.length) {
    console.log(`\n${problems.length} problem(s):`);
    for (const p of problems) console.log(`- ${p}`);
    return 1;
  }
  console.log(
    usedKnown.size
      ? "\nconformance: OK — every failure and every difference is listed"
      : "\nconformance: OK — protected results equal the unprotected SDK's; every failure is expected",
  );
  return 0;
}

process.exitCode = await main();
