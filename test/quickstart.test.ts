/**
 * `npm start` (examples/quickstart/main.ts) as a newcomer runs it, in a child process: the commands
 * it prints work as printed (the OAuth client with STEP_UP=1 consents to the wider scope and
 * retries; with --browser=headless it walks the connect link and upstream_whoami answers with the
 * third-party account), and a bad or busy PORT ends it with one line naming PORT, without a stack trace.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer, type Server } from "node:net";
import { fileURLToPath } from "node:url";
import { startDemo } from "../examples/quickstart/demo.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MAIN = "examples/quickstart/main.ts";

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(port, "127.0.0.1", () => resolve(s));
  });
}

/** A port P such that P … P+3 were free a moment ago (the demo's four listeners). */
async function freePorts(): Promise<number> {
  for (;;) {
    const probe = await listen(0);
    const base = (probe.address() as { port: number }).port;
    probe.close();
    await once(probe, "close");
    if (base > 65532) continue;
    const held: Server[] = [];
    try {
      for (const p of [base, base + 1, base + 2, base + 3]) held.push(await listen(p));
      return base;
    } catch {
      // one of them is taken: try another base
    } finally {
      await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    }
  }
}

/** Run main.ts to its end with `env`; it must end by itself (a refusal), within the timeout. */
function runMain(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", MAIN],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

/** The assertions every startup refusal shares: exit code, one stderr line, no stack trace, no banner. */
function assertOneLine(r: { code: number | null; stdout: string; stderr: string }, code: number, line: RegExp): void {
  assert.equal(r.code, code, `exit code (stderr: ${r.stderr})`);
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 1, `exactly one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, line);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
  assert.doesNotMatch(r.stdout, /MCP endpoint/, "no banner: nothing was started");
}

test("a busy PORT ends npm start with one line naming PORT, exit 1", { timeout: 90_000 }, async () => {
  const base = await freePorts();
  const busy = await listen(base);
  try {
    const r = await runMain({ PORT: String(base) });
    assertOneLine(
      r,
      1,
      new RegExp(
        `^Port ${base} \\(PORT\\) is already in use on 127\\.0\\.0\\.1: choose other ports with PORT, e\\.g\\. PORT=9000 npm start`,
      ),
    );
  } finally {
    busy.close();
  }
});

test("startDemo with PORT+1 taken rejects with EADDRINUSE and leaves nothing listening (the downstream API on PORT+2 is closed)", async () => {
  const base = await freePorts();
  const busy = await listen(base + 1);
  try {
    await assert.rejects(startDemo({ port: base, api_port: base + 2, log: () => {} }), {
      code: "EADDRINUSE",
      port: base + 1,
    });
    const api = await listen(base + 2); // EADDRINUSE here if the API had been left listening
    api.close();
  } finally {
    busy.close();
  }
});

test("a busy PORT+1 (the authorization server's) names PORT+1 and PORT, exit 1", { timeout: 90_000 }, async () => {
  const base = await freePorts();
  const busy = await listen(base + 1);
  try {
    const r = await runMain({ PORT: String(base) });
    assertOneLine(
      r,
      1,
      new RegExp(
        `^Port ${base + 1} \\(PORT\\+1, the authorization server's\\) is already in use .* PORT=9000 npm start`,
      ),
    );
  } finally {
    busy.close();
  }
});

test("a PORT that is not a port ends npm start with one line naming PORT, exit 2", { timeout: 90_000 }, async () => {
  for (const value of ["abc", "0", "65533", "80.5"]) {
    const r = await runMain({ PORT: value });
    assertOneLine(r, 2, new RegExp(`^PORT must be an integer from 1 to 65532 .*, not "${value.replace(".", "\\.")}"$`));
  }
});

/** Start main.ts and wait for its banner (up to "Ctrl-C to stop."). */
async function startMain(env: Record<string, string>): Promise<{ child: ChildProcess; banner: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const banner = await new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("Ctrl-C to stop.")) resolve(out);
    });
    child.once("exit", (code) => reject(new Error(`npm start exited (${code}) before its banner:\n${out}\n${err}`)));
  });
  return { child, banner };
}

test(
  "STEP_UP=1 npm start: the printed OAuth client command consents to files:delete and retries delete_file",
  { timeout: 120_000 },
  async () => {
    const port = await freePorts();
    const { child, banner } = await startMain({ PORT: String(port), STEP_UP: "1" });
    try {
      assert.match(banner, /Step-up is ON/);
      const printed = banner.split("\n");
      const thirdParty = printed.findIndex((l) => l.includes("Third-party service"));
      assert.ok(thirdParty > 0, "the banner names the third-party service");
      assert.equal(printed[thirdParty + 1], `http://127.0.0.1:${port + 3}`, "its URL on the next line");
      assert.match(banner, /Other ports: PORT=9000 npm start/);
      const command = banner.split("\n").find((l) => l.startsWith("npx tsx examples/oauth-client.ts "));
      assert.equal(
        command,
        `npx tsx examples/oauth-client.ts http://127.0.0.1:${port}/mcp`,
        "the banner prints the OAuth client command",
      );
      const [file, ...args] = command.split(" ");
      const { stdout } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
        execFile(file!, args, { cwd: ROOT, timeout: 90_000 }, (e, stdout, stderr) =>
          e
            ? reject(Object.assign(e, { message: `${command} failed: ${e.message}\n${stdout}\n${stderr}` }))
            : resolve({ stdout, stderr }),
        ),
      );
      const lines = stdout.trim().split("\n");
      assert.equal(lines[0], 'Signed in as "alice"; token scopes: mcp:read');
      const stepUp = lines.findIndex((l) => l.startsWith("tools/call delete_file → 403"));
      assert.deepEqual(lines.slice(stepUp, stepUp + 2), [
        'tools/call delete_file → 403 insufficient_scope; consented to "mcp:read files:delete", retrying',
        'tools/call delete_file → {"deleted":"/tmp/x"}',
      ]);
      // No terminal to ask on and no --open: the connect link is shown, never opened.
      assert.ok(lines.includes("Not opened. Open it yourself if you trust 127.0.0.1:" + port + "."), stdout);
      assert.equal(
        lines.at(-1),
        "tools/call upstream_whoami → not connected (open the URL above, or run again with --open)",
        "upstream_whoami without a connected account",
      );
    } finally {
      child.kill("SIGTERM");
      await once(child, "exit");
    }
  },
);

/** Run one command the banner printed; resolves to its stdout lines. */
function runPrinted(command: string): Promise<string[]> {
  const [file, ...args] = command.split(" ");
  return new Promise((resolve, reject) =>
    execFile(file!, args, { cwd: ROOT, timeout: 90_000 }, (e, stdout, stderr) =>
      e
        ? reject(Object.assign(e, { message: `${command} failed: ${e.message}\n${stdout}\n${stderr}` }))
        : resolve(stdout.trim().split("\n")),
    ),
  );
}

test(
  "npm start: the printed --browser=headless command connects the third-party account and upstream_whoami answers with it",
  {
    timeout: 120_000,
  },
  async () => {
    const port = await freePorts();
    const { child, banner } = await startMain({ PORT: String(port) });
    try {
      const command = banner.split("\n").find((l) => l.endsWith(" alice --browser=headless"));
      assert.equal(
        command,
        `npx tsx examples/oauth-client.ts http://127.0.0.1:${port}/mcp alice --browser=headless`,
        "the banner prints the headless command",
      );
      const lines = await runPrinted(command);
      assert.ok(lines.includes(`  Domain: 127.0.0.1:${port}`), "the connect link's domain is shown");
      assert.ok(
        lines.includes("Done (notifications/elicitation/complete); calling upstream_whoami again"),
        lines.join("\n"),
      );
      assert.equal(
        lines.at(-1),
        'tools/call upstream_whoami → {"subject":"alice","scopes":["profile:read"],"client_id":"protected-mcp-demo"}',
        "the third-party API saw alice's account there, through the MCP server's client",
      );
    } finally {
      child.kill("SIGTERM");
      await once(child, "exit");
    }
  },
);
