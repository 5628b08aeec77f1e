/**
 * The audit judged on servers nobody here wrote, each set up as its documentation shows and started
 * on 127.0.0.1 with real tokens from the embedded authorization server: the findings asserted here are
 * the ones the "What the audit found on popular setups" table of docs/audit.md reports.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { runAudit, type AuditReport } from "../../src/audit/run.js";
import { startFastMcpSetup, startMcpAuthSetup, startSdkSetup, type PeerSetup } from "../helpers/peer-servers.js";

const CLI = fileURLToPath(new URL("../../src/audit/cli.ts", import.meta.url));

async function audit(start: () => Promise<PeerSetup>): Promise<{ report: AuditReport; setup: PeerSetup }> {
  const setup = await start();
  try {
    const report = await runAudit({
      url: setup.url,
      token: await setup.token("alice"),
      token2: await setup.token("bob"),
    });
    return { report, setup };
  } catch (e) {
    await setup.close();
    throw e;
  }
}

function statuses(r: AuditReport): Record<string, string> {
  return Object.fromEntries(r.findings.map((f) => [f.id, f.status]));
}
const evidence = (r: AuditReport, id: string) => r.findings.find((f) => f.id === id)?.evidence ?? "";

test("(b) SDK requireBearerAuth + mcpAuthMetadataRouter: an error code without credentials, no CORS on /mcp, bad tokens → 500", async () => {
  const { report, setup } = await audit(startSdkSetup);
  try {
    const s = statuses(report);
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
    ]) {
      assert.equal(s[id], "FAIL", id);
      assert.match(evidence(report, id), /^500, no WWW-Authenticate/);
    }
    assert.equal(report.exit_code, 1);
  } finally {
    await setup.close();
  }
});

test("(c) mcp-auth Express: refusals right, but an unescaped quote in error_description and unregistered error codes; no CORS on /mcp", async () => {
  const { report, setup } = await audit(startMcpAuthSetup);
  try {
    const s = statuses(report);
    assert.deepEqual(
      report.findings.filter((f) => f.status !== "PASS").map((f) => [f.id, f.status]),
      [
        ["challenge.no-error-unauthenticated", "FAIL"],
        ["cors.preflight", "WARN"],
        ["cors.preflight.2026-07-28", "WARN"],
        ["cors.expose", "WARN"],
        ["token.foreign-audience", "SKIP"],
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
  } finally {
    await setup.close();
  }
});

test("(d) fastmcp oauth + authenticate (throwing a Response, as its README shows): 401s without a challenge, sessions not bound", async () => {
  const { report, setup } = await audit(startFastMcpSetup);
  try {
    const s = statuses(report);
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
  } finally {
    await setup.close();
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
