/**
 * Runs the runtime smoke suite (test/runtimes/smoke.ts) on Bun, Deno and workerd (through Miniflare,
 * `nodejs_compat`). Bun runs the TypeScript sources; Deno and workerd run an esbuild bundle of them.
 * `npm run test:runtimes`; `.ci/run` runs it.
 *
 * The runtimes are not devDependencies: `.ci/install-tools` installs them into `.tools/` and `.ci/run`
 * passes them as `BUN_BIN`, `DENO_BIN` and `MINIFLARE_DIR` (a prefix whose node_modules holds
 * miniflare); without those variables the `.tools/` paths are used. A runtime that is missing is
 * skipped with the reason printed, and fails instead under CI=true.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import type { SmokeResult } from "./smoke.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const HERE = dirname(fileURLToPath(import.meta.url));
// Inside the project: workerd refuses module paths that leave Miniflare's working directory.
const OUT = join(ROOT, "node_modules/.cache/protected-mcp-runtimes");
const TOOLS = join(ROOT, ".tools");
const BUN = process.env.BUN_BIN || join(TOOLS, "bun/node_modules/bun/bin/bun.exe");
const DENO = process.env.DENO_BIN || join(TOOLS, "deno/node_modules/deno/deno");
const MINIFLARE_DIR = process.env.MINIFLARE_DIR || join(TOOLS, "miniflare");
const INSTALL = "run .ci/install-tools";

/** Skip with the reason printed, or fail under CI=true (see test/helpers/redis.ts). */
function unavailable(t: { skip: (msg: string) => void }, reason: string): void {
  if (process.env.CI === "true") assert.fail(`${reason} (CI=true: a runtime the README names must be tested)`);
  console.log(`# skipped: ${reason}`);
  t.skip(reason);
}

function run(bin: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      bin,
      args,
      { cwd: ROOT, timeout: 120_000, env: { ...process.env, NO_COLOR: "1" } },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

function parseSmoke(stdout: string, stderr: string): SmokeResult {
  const line = stdout.split("\n").find((l) => l.startsWith("SMOKE "));
  assert.ok(line, `no SMOKE line; stdout: ${stdout.slice(-2000)}\nstderr: ${stderr.slice(-2000)}`);
  return JSON.parse(line.slice("SMOKE ".length)) as SmokeResult;
}

function assertSmoke(result: SmokeResult, runtime: RegExp): void {
  assert.match(result.runtime, runtime);
  assert.deepEqual(
    result.checks.map((c) => [c.name, c.ok]),
    [
      ["401 challenge", true],
      ["valid token → tool result with getContext()", true],
      ["tampered signature refused", true],
      ["DPoP-bound call", true],
      ["DPoP-bound token as Bearer refused", true],
      ["body limit → 413", true],
    ],
    JSON.stringify(result.checks, null, 1),
  );
  assert.equal(result.ok, true);
}

async function bundle(entry: string, outfile: string, target: "deno" | "workerd"): Promise<string> {
  mkdirSync(OUT, { recursive: true });
  const out = join(OUT, outfile);
  await build({
    entryPoints: [join(HERE, entry)],
    bundle: true,
    format: "esm",
    target: "es2022",
    outfile: out,
    logLevel: "error",
    ...(target === "deno"
      ? {
          platform: "node",
          banner: {
            js: 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);',
          },
        }
      : { platform: "browser", conditions: ["workerd", "worker", "browser"], external: ["node:*"] }),
  });
  return out;
}

test("Bun: the Web-standard handler passes the smoke suite", { timeout: 150_000 }, async (t) => {
  if (!existsSync(BUN)) return unavailable(t, `Bun is not installed: no ${BUN} (${INSTALL} bun, or set BUN_BIN)`);
  const r = await run(BUN, [join(HERE, "entry-cli.ts")]);
  assert.equal(r.code, 0, r.stderr.slice(-2000));
  assertSmoke(parseSmoke(r.stdout, r.stderr), /^bun /);
});

test(
  "Deno: the Web-standard handler passes the smoke suite (esbuild bundle, no permissions)",
  { timeout: 150_000 },
  async (t) => {
    if (!existsSync(DENO))
      return unavailable(t, `Deno is not installed: no ${DENO} (${INSTALL} deno, or set DENO_BIN)`);
    const file = await bundle("entry-cli.ts", "deno.mjs", "deno");
    const r = await run(DENO, ["run", "--no-prompt", file]);
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    assertSmoke(parseSmoke(r.stdout, r.stderr), /^deno /);
  },
);

test(
  "workerd (Miniflare, nodejs_compat): the Web-standard handler passes the smoke suite",
  { timeout: 150_000 },
  async (t) => {
    // miniflare is installed by .ci/install-tools outside package.json, so it is typed loosely here.
    type MiniflareLike = new (o: Record<string, unknown>) => {
      dispatchFetch(url: string, init?: RequestInit): Promise<Response>;
      dispose(): Promise<void>;
    };
    if (!existsSync(join(MINIFLARE_DIR, "node_modules/miniflare/package.json"))) {
      return unavailable(
        t,
        `Miniflare is not installed: no ${join(MINIFLARE_DIR, "node_modules/miniflare")} (${INSTALL} miniflare, or set MINIFLARE_DIR)`,
      );
    }
    let Miniflare: MiniflareLike;
    try {
      const entry = createRequire(join(MINIFLARE_DIR, "package.json")).resolve("miniflare");
      ({ Miniflare } = (await import(pathToFileURL(entry).href)) as { Miniflare: MiniflareLike });
    } catch (e) {
      return unavailable(
        t,
        `miniflare cannot be loaded from ${MINIFLARE_DIR}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    const file = await bundle("entry-worker.ts", "worker.mjs", "workerd");
    const mf = new Miniflare({
      cf: false,
      modules: true,
      scriptPath: relative(process.cwd(), file),
      compatibilityDate: "2026-04-01",
      compatibilityFlags: ["nodejs_compat"],
    });
    try {
      const res = await mf.dispatchFetch("http://localhost/");
      assert.equal(res.status, 200);
      assertSmoke((await res.json()) as SmokeResult, /^workerd$/);
    } finally {
      await mf.dispose();
    }
  },
);
