/**
 * `protected-mcp audit` against our own demo (examples/quickstart, as `npm start` runs it): from
 * source via tsx and from a build, with and without tokens (bearer, DPoP-bound, a second principal),
 * and the CLI's contract: exit codes, JSON, no token in any output or to any other origin, a bounded
 * number of requests, the URL policy.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { exportJWK, generateKeyPair, calculateJwkThumbprint } from "jose";
import { startDemo, type Demo } from "../../examples/quickstart/demo.js";
import { ERA_PROBES } from "../../src/audit/probes.js";
import { Prober, ProbeFailed } from "../../src/audit/http.js";
import { runAudit, type AuditReport } from "../../src/audit/run.js";
import { parseWwwAuthenticate } from "../../src/audit/www-authenticate.js";
import { freePortPair } from "../helpers/dev-as.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(ROOT, "src/audit/cli.ts");

let demo: Demo;
before(async () => {
  demo = await startDemo({ port: await freePortPair(), log: () => {} });
});
after(() => demo.close());

function run(args: string[], o: { node?: string[] } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...(o.node ?? ["--import", "tsx", CLI]), ...args],
      { cwd: ROOT, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

const token = async (subject: string, jkt?: string) =>
  (await demo.as.server.issueAccessToken({ subject, scopes: ["mcp:read"], ...(jkt ? { jkt } : {}) })).access_token;

/** Every finding PASS, but token.foreign-audience: without --foreign-token it is SKIP "not tested", never PASS. */
function assertAllPass(report: AuditReport) {
  for (const f of report.findings) {
    assert.equal(f.status, f.id === "token.foreign-audience" ? "SKIP" : "PASS", `${f.id}: ${f.evidence}`);
  }
}

test("demo, no token, CLI from source: a table, every check PASS, exit 0, no colour off a TTY", async () => {
  const { code, stdout } = await run(["audit", demo.url]);
  assert.equal(code, 0);
  assert.ok(!stdout.includes("\x1b["), "no ANSI colour when stdout is not a TTY");
  const rows = stdout.split("\n").filter((l) => /^(PASS|WARN|FAIL|SKIP) /.test(l));
  assert.equal(rows.length, 27);
  for (const r of rows) assert.ok(r.startsWith(/ token\.foreign-audience /.test(r) ? "SKIP " : "PASS "), r);
  assert.match(stdout, /^27 checks: 26 PASS, 0 WARN, 0 FAIL, 1 SKIP; \d+ requests\. Not run: 5 need --token/m);
  assert.match(stdout, /^PASS {4}challenge\.server-discover /m);
});

test("demo with --token-command, --token2 and --json: every check PASS, tokens nowhere in the output", async () => {
  const t1 = await token("alice");
  const t2 = await token("bob");
  const { code, stdout, stderr } = await run([
    "audit",
    demo.url,
    "--json",
    "--token-command",
    `printf %s ${t1}`,
    "--token2",
    t2,
  ]);
  assert.equal(code, 0, stderr);
  const report = JSON.parse(stdout) as AuditReport;
  assertAllPass(report);
  assert.deepEqual(report.not_run, [{ id: "dpop.replay", needs: "dpop" }]);
  assert.equal(
    report.findings.find((f) => f.id === "session.joinable")?.evidence,
    "the second principal on the first session: 404",
  );
  assert.equal(report.exit_code, 0);
  assert.ok(report.requests <= 60, "at most 60 requests");
  for (const t of [t1, t2, t1.split(".")[2] as string])
    assert.ok(!stdout.includes(t) && !stderr.includes(t), "a token in the output");
});

test("demo with a DPoP-bound token and --dpop-key: replay and Bearer downgrade refused", async () => {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const jkt = await calculateJwkThumbprint(await exportJWK(publicKey));
  const dir = mkdtempSync(join(tmpdir(), "audit-"));
  try {
    const keyFile = join(dir, "dpop.jwk");
    writeFileSync(keyFile, JSON.stringify(await exportJWK(privateKey)));
    const t = await token("dana", jkt);
    const { code, stdout } = await run(["audit", demo.url, "--json", "--token", t, "--dpop-key", keyFile]);
    const report = JSON.parse(stdout) as AuditReport;
    assertAllPass(report);
    assert.equal(code, 0);
    const ev = (id: string) => report.findings.find((f) => f.id === id)?.evidence;
    assert.match(ev("dpop.replay") ?? "", /^401 Bearer; DPoP error="invalid_dpop_proof"$/);
    assert.match(ev("token.scheme-swap") ?? "", /^401 Bearer error="invalid_token"/);
    assert.match(ev("token.tools-list") ?? "", /^tools\/list → 5 tools/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a real token goes to the target origin only: the authorization server and other origins never see it", async () => {
  const t = await token("erin");
  const seen: { origin: string; authorization: string | null; dpop: string | null; url: string }[] = [];
  const recording: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const h = new Headers(init?.headers);
    seen.push({ origin: url.origin, authorization: h.get("authorization"), dpop: h.get("dpop"), url: url.href });
    return fetch(input, init);
  };
  const report = await runAudit({ url: demo.url, token: t, fetch: recording });
  assertAllPass(report);
  const elsewhere = seen.filter((s) => s.origin !== new URL(demo.url).origin);
  assert.ok(
    elsewhere.some((s) => s.origin === new URL(demo.as.issuer).origin),
    "the authorization server metadata was fetched",
  );
  for (const s of elsewhere) {
    assert.equal(s.authorization, null);
    assert.ok(!s.url.includes(t), "the token is not in a URL");
  }
  // And the prober refuses outright to carry a real token to another origin.
  const prober = new Prober({ target: new URL(demo.url), maxRequests: 5, timeoutMs: 1000, allowHttp: false });
  prober.addSecret(t);
  await assert.rejects(
    prober.send({ method: "GET", url: demo.as.issuer, headers: { authorization: `Bearer ${t}` } }),
    (e: ProbeFailed) => e.kind === "policy",
  );
  assert.equal(prober.requests, 0);
});

test("the request budget bounds the audit: checks beyond it are SKIP", async () => {
  const report = await runAudit({ url: demo.url, maxRequests: 4 });
  assert.equal(report.requests, 4);
  assert.ok(
    report.findings.some((f) => f.status === "SKIP" && /request limit \(4\) reached/.test(f.evidence)),
    "a SKIP finding for the request limit",
  );
});

test("exit 2: plain http beyond loopback (no request sent), nothing listening, bad usage, a failing --token-command", async () => {
  const http = await run(["audit", "http://example.com/mcp"]);
  assert.equal(http.code, 2);
  assert.match(http.stderr, /only https, or http on loopback/);
  const closed = await run(["audit", "http://127.0.0.1:1/mcp"]);
  assert.equal(closed.code, 2);
  assert.match(closed.stderr, /cannot reach/);
  assert.equal((await run(["audit"])).code, 2);
  assert.equal((await run(["audit", demo.url, "--token", "has space"])).code, 2);
  const cmd = await run(["audit", demo.url, "--token-command", "exit 3"]);
  assert.equal(cmd.code, 2);
  assert.match(cmd.stderr, /--token-command failed/);
});

test("the built CLI (tsc → dist layout) runs with node: shebang, same verdicts", { timeout: 120_000 }, async () => {
  const out = mkdtempSync(join(ROOT, ".audit-build-"));
  try {
    execFileSync(
      process.execPath,
      [
        join(ROOT, "node_modules/typescript/bin/tsc"),
        "-p",
        "tsconfig.build.json",
        "--noCheck",
        "--outDir",
        out,
        "--declaration",
        "false",
        "--declarationMap",
        "false",
        "--sourceMap",
        "false",
      ],
      { cwd: ROOT },
    );
    const { code, stdout } = await run(["audit", demo.url], { node: [join(out, "audit/cli.js")] });
    assert.equal(code, 0);
    assert.match(stdout, /^27 checks: 26 PASS, 0 WARN, 0 FAIL, 1 SKIP/m);
    assert.match(
      (await import("node:fs")).readFileSync(join(out, "audit/cli.js"), "utf8"),
      /^#!\/usr\/bin\/env node\n/,
    );
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("ERA_PROBES: the 2026-07-28 discovery call is stateless server/discover with Mcp-Method and _meta", () => {
  const p = ERA_PROBES.find((e) => e.method === "server/discover");
  assert.equal(p?.era, "2026-07-28");
  assert.equal(p?.headers["mcp-method"], "server/discover");
  assert.deepEqual(Object.keys(p?.params._meta ?? {}).slice(0, 2), [
    "io.modelcontextprotocol/protocolVersion",
    "io.modelcontextprotocol/clientCapabilities",
  ]);
});

test("parseWwwAuthenticate: several challenges, quoted values with escapes, token68", () => {
  assert.deepEqual(
    parseWwwAuthenticate(
      'Bearer realm="MCP", resource_metadata="https://a/b", error="invalid_token", error_description="say \\"hi\\", ok", DPoP algs="ES256 PS256"',
    ),
    [
      {
        scheme: "bearer",
        params: {
          realm: "MCP",
          resource_metadata: "https://a/b",
          error: "invalid_token",
          error_description: 'say "hi", ok',
        },
      },
      { scheme: "dpop", params: { algs: "ES256 PS256" } },
    ],
  );
  assert.deepEqual(parseWwwAuthenticate("Basic abc==, Bearer"), [
    { scheme: "basic", params: {}, token68: "abc==" },
    { scheme: "bearer", params: {} },
  ]);
  assert.deepEqual(parseWwwAuthenticate("Bearer error=invalid_token"), [
    { scheme: "bearer", params: { error: "invalid_token" } },
  ]);
  assert.deepEqual(parseWwwAuthenticate(null), []);
});
