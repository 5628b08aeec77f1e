/**
 * The audit judged on servers nobody here wrote, each set up as its documentation shows and started on 127.0.0.1
 * with real tokens from the embedded authorization server (`test/helpers/peer-servers.ts`), and on protected-mcp
 * itself. Every verdict is compared with the pinned `test/fixtures/audit-expected.json` (keyed by the peer
 * package's installed version), and `docs/audit-results.md` must be what this run renders. After a deliberate
 * change (an audit fix, a peer upgrade): `UPDATE_AUDIT_RESULTS=1 node --import tsx --test
 * test/internals/audit-peers.test.ts` rewrites both, to review in the diff.
 */
import { before, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { failsAt, type AuditReport } from "../../src/audit/run.js";
import { NOT_RUN_PEERS, PEERS, startFastMcpSetup } from "../helpers/peer-servers.js";
import {
  auditPeers,
  expectationsJson,
  expectationsOf,
  readExpectations,
  renderResults,
  RESULTS_FILE,
  verdicts,
  writeResults,
  type PeerRun,
  type PeerUnavailable,
} from "../../scripts/audit-results.js";

const CLI = fileURLToPath(new URL("../../src/audit/cli.ts", import.meta.url));
const UPDATE = process.env.UPDATE_AUDIT_RESULTS === "1";

let runs: PeerRun[];
let unavailable: PeerUnavailable[];
before(async () => {
  ({ runs, unavailable } = await auditPeers());
  if (UPDATE) {
    assert.deepEqual(
      unavailable.map((u) => `${u.peer.id}: ${u.reason}`),
      [],
      "cannot re-pin from a partial run",
    );
    writeResults(runs);
  }
});

/** Skips (with the reason printed) a test that needs every setup, or `id`'s, when it could not run here; under CI=true fails instead. */
function skippedFor(t: TestContext, id?: string): boolean {
  const missing = unavailable.filter((u) => id === undefined || u.peer.id === id);
  if (missing.length === 0) return false;
  const reason = missing.map((u) => `${u.peer.id} not run here, because ${u.reason}`).join("; ");
  if (process.env.CI === "true") assert.fail(`${reason} (CI=true: every peer setup must run)`);
  t.diagnostic(reason);
  t.skip(reason);
  return true;
}

const run = (id: string): PeerRun => {
  const r = runs.find((x) => x.peer.id === id);
  assert.ok(r, `no run of ${id}`);
  return r;
};

for (const peer of PEERS) {
  test(`${peer.id}: every verdict as pinned in test/fixtures/audit-expected.json`, (t) => {
    if (skippedFor(t, peer.id)) return;
    const r = run(peer.id);
    const pinned = readExpectations()[peer.id];
    assert.ok(pinned, `${peer.id} has no entry in test/fixtures/audit-expected.json: re-pin (UPDATE_AUDIT_RESULTS=1)`);
    const expected = pinned.versions[r.version];
    assert.ok(
      expected,
      `${peer.package} is ${r.version} here but pinned for ${Object.keys(pinned.versions).join(", ")}: ` +
        "re-pin with UPDATE_AUDIT_RESULTS=1 and review the verdicts that changed",
    );
    const actual = verdicts(r);
    const diffs: string[] = [];
    for (const id of new Set([...Object.keys(expected), ...Object.keys(actual)])) {
      const e = expected[id];
      const a = actual[id];
      if (e?.status !== a?.status || e?.level !== a?.level)
        diffs.push(
          `${id}: expected ${e ? `${e.status} (${e.level})` : "no verdict"}, got ${a ? `${a.status} (${a.level})` : "no verdict"}` +
            (a ? ` — ${r.report.findings.find((f) => f.id === id)?.evidence ?? "not run"}` : ""),
        );
    }
    assert.deepEqual(diffs, [], `${peer.id} ${peer.package}@${r.version}:\n${diffs.join("\n")}`);
  });
}

test("the pinned file holds exactly this run's setups and verdicts", (t) => {
  if (skippedFor(t)) return;
  assert.equal(
    readFileSync(fileURLToPath(new URL("../fixtures/audit-expected.json", import.meta.url)), "utf8"),
    expectationsJson(expectationsOf(runs)),
    "test/fixtures/audit-expected.json is not this run's: re-pin with UPDATE_AUDIT_RESULTS=1",
  );
});

test("protected-mcp audits clean at --fail-on should (and must): no FAIL at MUST or SHOULD", () => {
  const { report } = run("protected-mcp");
  const failing = report.findings.filter((f) => failsAt(f, "should"));
  assert.deepEqual(
    failing.map((f) => `${f.id}: ${f.evidence}`),
    [],
    "protected-mcp FAILs a MUST or SHOULD check",
  );
  assert.equal(report.fail_on, "should");
  assert.equal(report.exit_code, 0);
  // The foreign token was given, so audience binding was tested (not the "not tested" SKIP).
  assert.match(evidence(report, "token.foreign-audience"), /^401 Bearer error="invalid_token"/);
});

test("docs/audit-results.md is what this run renders (ports, session ids normalised)", (t) => {
  if (skippedFor(t)) return;
  for (const n of NOT_RUN_PEERS) t.diagnostic(`not run here: ${n.id} (${n.package}), because ${n.reason}`);
  assert.equal(
    readFileSync(RESULTS_FILE, "utf8"),
    renderResults(runs),
    "docs/audit-results.md differs from this run: regenerate with UPDATE_AUDIT_RESULTS=1 (or scripts/audit-results.ts)",
  );
});

const statusesOf = (r: AuditReport): Record<string, string> =>
  Object.fromEntries(r.findings.map((f) => [f.id, f.status]));
const evidence = (r: AuditReport, id: string) => r.findings.find((f) => f.id === id)?.evidence ?? "";

test("sdk-v1-require-bearer-auth: SDK requireBearerAuth + mcpAuthMetadataRouter: an error code without credentials, no CORS on /mcp, bad or foreign tokens → 500", () => {
  const { report } = run("sdk-v1-require-bearer-auth");
  {
    const s = statusesOf(report);
    for (const id of [
      "challenge.initialize",
      "challenge.server-discover",
      "challenge.tools-call",
      "prm.advertised",
      "prm.path-inserted",
      "cors.metadata",
      "as.metadata",
      "as.pkce-s256",
      "as.registration",
      "refuse.query-token",
      "token.tools-list",
      "token.audience",
      "token.scheme-swap",
      "session.joinable",
      "session.joinable-get",
      "session.identity",
      "challenge.syntax",
      "challenge.error-codes",
      "tokens.not-echoed",
    ]) {
      assert.equal(s[id], "PASS", `${id}: ${evidence(report, id)}`);
    }
    // The root well-known URL is a 404, but the path-inserted document (which clients try first) is fine.
    assert.equal(s["prm.root"], "PASS");
    assert.match(
      evidence(report, "prm.root"),
      /^\/\.well-known\/oauth-protected-resource: 404; clients try the path-inserted/,
    );
    assert.equal(s["challenge.no-error-unauthenticated"], "FAIL");
    assert.match(
      evidence(report, "challenge.no-error-unauthenticated"),
      /^401 Bearer error="invalid_token" to initialize/,
    );
    assert.equal(s["cors.preflight"], "WARN");
    assert.equal(s["cors.expose"], "WARN");
    assert.match(evidence(report, "cors.expose"), /without Access-Control-Allow-Origin/);
    // A verifier that throws what jose throws (the SDK's own example throws a plain Error) is a 500, not a 401.
    for (const id of [
      "refuse.garbage",
      "refuse.alg-none",
      "refuse.expired",
      "refuse.two-credentials",
      "token.tampered",
      "token.foreign-audience",
    ]) {
      assert.equal(s[id], "FAIL", id);
      assert.match(evidence(report, id), /^500, no WWW-Authenticate/);
    }
    assert.equal(report.exit_code, 1);
  }
});

test("mcp-auth: Express: refusals right, but an unescaped quote in error_description and unregistered error codes; no CORS on /mcp", () => {
  const { report } = run("mcp-auth");
  {
    const s = statusesOf(report);
    assert.deepEqual(
      report.findings.filter((f) => f.status !== "PASS").map((f) => [f.id, f.status]),
      [
        ["challenge.no-error-unauthenticated", "FAIL"],
        ["cors.preflight", "WARN"],
        ["cors.preflight.2026-07-28", "WARN"],
        ["cors.expose", "WARN"],
        ["challenge.syntax", "FAIL"],
        ["challenge.error-codes", "FAIL"],
      ],
    );
    // Its error_description quotes "Bearer <token>" without escaping the quotes.
    assert.match(evidence(report, "challenge.syntax"), /^401 from \/mcp: unescaped '"' inside the quoted-string/);
    assert.match(
      evidence(report, "challenge.error-codes"),
      /Bearer error="missing_auth_header" is not a registered code/,
    );
    assert.equal(s["refuse.alg-none"], "PASS");
    assert.match(
      evidence(report, "challenge.initialize"),
      /^401 Bearer error="missing_auth_header" resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"$/,
    );
    assert.equal(report.exit_code, 1);
  }
});

test("fastmcp-jwks: oauth + authenticate (throwing a Response, as its README shows): 401s without a challenge, sessions not bound", () => {
  const { report } = run("fastmcp-jwks");
  {
    const s = statusesOf(report);
    assert.equal(s["challenge.initialize"], "FAIL");
    assert.equal(evidence(report, "challenge.initialize"), "401, no WWW-Authenticate: no Bearer challenge");
    assert.equal(s["prm.advertised"], "SKIP");
    assert.equal(s["prm.path-inserted"], "PASS");
    assert.equal(s["prm.root"], "PASS");
    assert.equal(s["cors.preflight.2026-07-28"], "PASS");
    assert.equal(s["cors.expose"], "WARN");
    for (const id of [
      "refuse.garbage",
      "refuse.alg-none",
      "refuse.expired",
      "refuse.two-credentials",
      "refuse.query-token",
      "token.tampered",
      "token.scheme-swap",
    ]) {
      assert.equal(s[id], "FAIL", id);
      assert.match(evidence(report, id), /^401, no WWW-Authenticate/);
    }
    assert.equal(s["token.tools-list"], "PASS");
    assert.equal(s["session.joinable"], "FAIL");
    assert.match(evidence(report, "session.joinable"), /another principal's token used the first token's session/);
    assert.equal(s["session.joinable-get"], "FAIL");
    assert.match(
      evidence(report, "session.joinable-get"),
      /200 text\/event-stream, the first principal's event stream/,
    );
    assert.equal(report.exit_code, 1);
  }
});

test("the CLI (from source) exits 1 on a setup with FAILs and prints the failing rows", async () => {
  const setup = await startFastMcpSetup();
  try {
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      execFile(process.execPath, ["--import", "tsx", CLI, "audit", setup.url], { timeout: 60_000 }, (err, stdout) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout }),
      );
    });
    assert.equal(code, 1);
    assert.match(stdout, /^FAIL {4}challenge\.initialize /m);
    assert.match(stdout, /\d+ checks: \d+ PASS, \d+ WARN, [1-9]\d* FAIL/);
  } finally {
    await setup.close();
  }
});
