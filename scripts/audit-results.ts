/**
 * The audit run against every peer setup of `test/helpers/peer-servers.ts` (`PEERS`), and what is published from
 * that run: the pinned verdicts (`test/fixtures/audit-expected.json`) and the table of `docs/audit-results.md`.
 *
 * `node --import tsx scripts/audit-results.ts` rewrites both files (so does `UPDATE_AUDIT_RESULTS=1` on
 * `test/internals/audit-peers.test.ts`); the test fails when either differs from what the run produces.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CHECKS } from "../src/audit/checks.js";
import { failsAt, runAudit, type AuditReport, type Level } from "../src/audit/run.js";
import { peerVersion, NOT_RUN_PEERS, PEERS, type PeerDefinition } from "../test/helpers/peer-servers.js";

/** The file of pinned verdicts. */
export const EXPECTED_FILE = fileURLToPath(new URL("../test/fixtures/audit-expected.json", import.meta.url));
/** The published table. */
export const RESULTS_FILE = fileURLToPath(new URL("../docs/audit-results.md", import.meta.url));

/** One peer audited: the setup, the installed version of its package, the report. */
export interface PeerRun {
  peer: PeerDefinition;
  version: string;
  report: AuditReport;
}

/** A check's verdict: its status (`NOT RUN` when the audit lacked an input for it) and level. */
export interface Verdict {
  status: string;
  level: Level;
}

/** The pinned file: per setup, its package and, per version of it, every check's verdict. */
export type Expectations = Record<string, { package: string; versions: Record<string, Record<string, Verdict>> }>;

/** Start `peer`, audit it with two principals' tokens and a foreign token (judged at `should`), stop it. */
export async function auditPeer(peer: PeerDefinition): Promise<PeerRun> {
  const version = peerVersion(peer);
  const setup = await peer.start();
  try {
    const report = await runAudit({
      url: setup.url,
      ...(setup.token ? { token: await setup.token("alice"), token2: await setup.token("bob") } : {}),
      ...(setup.foreignToken ? { foreignToken: await setup.foreignToken() } : {}),
      failOn: "should",
    });
    return { peer, version, report };
  } finally {
    await setup.close();
  }
}

/** A peer that could not run in this environment, and why. */
export interface PeerUnavailable {
  peer: PeerDefinition;
  reason: string;
}

/** Every peer of `PEERS` that can run here, one after the other; the others with the reason they cannot. */
export async function auditPeers(): Promise<{ runs: PeerRun[]; unavailable: PeerUnavailable[] }> {
  const runs: PeerRun[] = [];
  const unavailable: PeerUnavailable[] = [];
  for (const peer of PEERS) {
    const reason = peer.unavailable?.();
    if (reason) unavailable.push({ peer, reason });
    else runs.push(await auditPeer(peer));
  }
  return { runs, unavailable };
}

const levelOf = (id: string): Level => {
  const c = CHECKS.find((x) => x.id === id);
  if (!c) throw new Error(`unknown check ${id}`);
  return c.level;
};

/** Every check's verdict in `run`, in CHECKS order (checks not run included). */
export function verdicts(run: PeerRun): Record<string, Verdict> {
  const out: Record<string, Verdict> = {};
  for (const c of CHECKS) {
    const f = run.report.findings.find((x) => x.id === c.id);
    if (f) out[c.id] = { status: f.status, level: f.level };
    else if (run.report.not_run.some((n) => n.id === c.id)) out[c.id] = { status: "NOT RUN", level: levelOf(c.id) };
  }
  return out;
}

/** The pinned file's content for `runs`. */
export function expectationsOf(runs: readonly PeerRun[]): Expectations {
  return Object.fromEntries(
    runs.map((r) => [r.peer.id, { package: r.peer.package, versions: { [r.version]: verdicts(r) } }]),
  );
}

/**
 * Evidence without what varies from run to run: loopback ports, session ids, offsets (they move with a port's
 * digits), whitespace runs.
 */
export function normaliseEvidence(evidence: string): string {
  return evidence
    .replace(/\b(127\.0\.0\.1|localhost):\d+/g, "$1:PORT")
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, "<uuid>")
    .replace(/\boffset \d+/g, "offset N")
    .replace(/\s+/g, " ")
    .trim();
}

/**
 * Why each FAIL is a true finding: the spec sentence and what the peer did, keyed `<setup> <check>` (or `<check>`
 * for every setup). A FAIL without an entry stops the rendering: a new FAIL is read against the spec before it is
 * published.
 */
const WHY: Record<string, string> = {
  "challenge.no-error-unauthenticated":
    "RFC 6750 §3.1: \u201cIf the request lacks any authentication information \u2026 the resource server SHOULD NOT include an error code\u201d; the audit's `initialize` carried no `Authorization` header at all.",
  "sdk-v1-require-bearer-auth refuse.garbage":
    "RFC 9110 §15.5.2 / RFC 6750 §3: a request without a usable token MUST get a 401 (or 400) with `WWW-Authenticate`. `requireBearerAuth` maps only the SDK's `InvalidTokenError` to 401; the error `jose` throws for a bad token (the SDK's own example throws a plain `Error`) becomes a 500 with no challenge, so a client cannot re-authorize.",
  "sdk-v1-require-bearer-auth refuse.alg-none":
    "As `refuse.garbage`: the unsigned token is refused, but with a 500 and no challenge instead of 401 `invalid_token` (RFC 6750 §3 MUST).",
  "sdk-v1-require-bearer-auth refuse.expired":
    "As `refuse.garbage`: the expired token is refused with a 500 and no challenge (RFC 6750 §3 MUST; §3.1 names `invalid_token` for expired tokens).",
  "sdk-v1-require-bearer-auth refuse.two-credentials":
    "RFC 6750 §2: clients MUST NOT use more than one method per request and §3.1 answers such a request with 400 `invalid_request`; the verifier's throw becomes a 500 with no challenge.",
  "sdk-v1-require-bearer-auth token.tampered":
    "RFC 9068 §4: the signature MUST be validated; it is (the request is not served), but the refusal is a 500 without the challenge RFC 6750 §3 requires.",
  "sdk-v1-require-bearer-auth token.foreign-audience":
    "MCP authorization (token audience binding): a token for another resource MUST be refused; it is not served, but the refusal is a 500 without the challenge RFC 6750 §3 requires, the same mapping bug as `refuse.garbage`.",
  "sdk-v1-example-oauth refuse.garbage":
    "RFC 9110 §15.5.2 / RFC 6750 §3: a request without a usable token MUST get a 401 (or 400) with `WWW-Authenticate`. The example's verifier throws a plain `Error` when introspection says the token is inactive, and `requireBearerAuth` turns anything but `InvalidTokenError` into a 500 with no challenge.",
  "sdk-v1-example-oauth refuse.alg-none":
    "As `refuse.garbage`: refused, but with a 500 and no challenge (RFC 6750 §3 MUST).",
  "sdk-v1-example-oauth refuse.expired":
    "As `refuse.garbage`: refused, but with a 500 and no challenge (RFC 6750 §3 MUST).",
  "sdk-v1-example-oauth refuse.two-credentials":
    "RFC 6750 §3.1 answers a request with two credentials with 400 `invalid_request`; the example answers 500 with no challenge (RFC 6750 §3 MUST).",
  "sdk-v1-example-oauth token.tampered":
    "The altered token is refused (introspection does not know it), but with a 500 and no challenge (RFC 6750 §3 MUST).",
  "sdk-v1-example-oauth token.foreign-audience":
    "MCP authorization (token audience binding): servers MUST validate that a token was issued for them (RFC 8707). Without `--oauth-strict` the example sets no `expectedResource`, its demo authorization server issues tokens for any `resource`, and one issued for `http://localhost:9/another-resource` was served.",
  "sdk-v1-example-oauth session.joinable":
    "MCP security best practices: servers SHOULD bind session ids to user-specific information. The demo authorization server has one user, so the two principals are two registered clients; the example keys sessions by id alone, and the second client's token used the first one's session.",
  "sdk-v1-example-oauth session.joinable-get":
    "MCP security best practices: servers MUST NOT use sessions for authentication; a GET with the first client's session id and the second client's token opened the first session's SSE stream: the id alone decides whose stream it is.",
  "fastmcp-github prm.path-inserted":
    "RFC 9728 §3.3: the `resource` in the metadata \u201cMUST be identical to the protected resource's resource identifier value into which the well-known URI path suffix was inserted\u201d; fetched at `/.well-known/oauth-protected-resource/mcp` (the URL MCP clients try first for `/mcp`), the document says `resource` is the origin, so a client following RFC 9728 must discard it. (The root document with the origin is allowed by MCP and only WARNs.)",
  "mcp-auth challenge.syntax":
    'RFC 6750 §3: `error_description` values \u201cMUST NOT include characters outside the set %x20-21 / %x23-5B / %x5D-7E\u201d (no `"`), and RFC 9110 §5.6.4 ends a quoted-string at an unescaped `"`: its description `Expected "Bearer <token>".` breaks the header, so strict parsers see a second, bogus challenge.',
  "mcp-auth challenge.error-codes":
    "RFC 6750 §3: the `error` attribute carries one of the codes of §3.1 or of the OAuth Extensions Error registry (§6.2); `missing_auth_header` is in neither, so clients cannot act on it.",
  "fastmcp-jwks challenge.initialize":
    "RFC 9110 §15.5.2: \u201cThe server generating a 401 response MUST send a WWW-Authenticate header field\u201d (RFC 6750 §3 likewise). fastmcp sends the `Response` thrown by `authenticate` (its README's pattern) as is, with no challenge, so clients cannot discover the authorization server from it.",
  "fastmcp-jwks challenge.server-discover":
    "As `challenge.initialize`: a 401 without `WWW-Authenticate` (RFC 9110 §15.5.2 MUST).",
  "fastmcp-jwks challenge.tools-call":
    "As `challenge.initialize`: a 401 without `WWW-Authenticate` (RFC 9110 §15.5.2 MUST).",
  "fastmcp-jwks refuse.garbage":
    "The token is refused, but by a 401 without `WWW-Authenticate` (RFC 9110 §15.5.2, RFC 6750 §3 MUST): the client is not told the token is invalid.",
  "fastmcp-jwks refuse.alg-none":
    "As `refuse.garbage`: refused, but a 401 without a challenge (RFC 9110 §15.5.2 MUST).",
  "fastmcp-jwks refuse.expired":
    "As `refuse.garbage`: refused, but a 401 without a challenge, so the client cannot tell it should refresh (RFC 6750 §3 MUST).",
  "fastmcp-jwks refuse.two-credentials":
    "As `refuse.garbage`: refused, but a 401 without a challenge (RFC 9110 §15.5.2 MUST).",
  "fastmcp-jwks refuse.query-token":
    "As `refuse.garbage`: refused, but a 401 without a challenge (RFC 9110 §15.5.2 MUST).",
  "fastmcp-jwks token.tampered": "As `refuse.garbage`: refused, but a 401 without a challenge (RFC 9110 §15.5.2 MUST).",
  "fastmcp-jwks token.scheme-swap":
    "As `refuse.garbage`: refused, but a 401 without a challenge (RFC 9110 §15.5.2 MUST).",
  "fastmcp-jwks token.foreign-audience":
    "The token for another resource is refused (audience checked), but by a 401 without a challenge (RFC 9110 §15.5.2 MUST).",
  "fastmcp-jwks session.joinable":
    "MCP security best practices (session hijacking): servers \u201cSHOULD bind session IDs to user-specific information\u201d; bob's valid token used the `Mcp-Session-Id` alice's `initialize` created and `tools/list` was answered.",
  "fastmcp-jwks session.joinable-get":
    "MCP security best practices: servers \u201cMUST NOT use sessions for authentication\u201d; a GET with alice's session id and bob's token opened alice's SSE stream, so the session id alone decides whose messages bob receives.",
};

/** The rationale of a FAIL (throws when there is none). */
export function whyFail(peerId: string, checkId: string): string {
  const why = WHY[`${peerId} ${checkId}`] ?? WHY[checkId];
  if (!why)
    throw new Error(
      `${peerId}: ${checkId} FAILs and scripts/audit-results.ts has no WHY entry for it: read the spec sentence and add one`,
    );
  return why;
}

const cell = (s: string) => s.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/`/g, "'");
const shorten = (s: string, n = 110) => (s.length > n ? `${s.slice(0, n - 1)}\u2026` : s);

/** `docs/audit-results.md` for `runs`. */
export function renderResults(runs: readonly PeerRun[]): string {
  const out: string[] = [
    "---",
    "title: Audit results on other setups",
    "---",
    "",
    "# What the audit finds on MCP servers nobody here wrote",
    "",
    "Each setup is installed from npm at the version named, set up as its documentation shows, started on 127.0.0.1",
    "and audited with real tokens from an authorization server: two principals' (`--token`, `--token2`) and one",
    "issued for another resource (`--foreign-token`). `test/internals/audit-peers.test.ts` runs this in CI and",
    "compares every verdict with `test/fixtures/audit-expected.json`; this page is generated from the same run",
    "(`node --import tsx scripts/audit-results.ts`) and the test fails when it differs. Ports, session ids and",
    "offsets are replaced by placeholders; evidence in the tables is shortened (the FAIL sections quote it whole).",
    "`dpop.replay` is not run: none of these setups binds tokens with DPoP. A setup audited without tokens says why.",
    "",
    "| setup | package | MUST FAIL | SHOULD FAIL | WARN |",
    "|---|---|---|---|---|",
  ];
  for (const r of runs) {
    const f = r.report.findings;
    const n = (p: (x: (typeof f)[number]) => boolean) => f.filter(p).length;
    out.push(
      `| [${r.peer.id}](#${r.peer.id}) | \`${r.peer.package}\` ${r.version} | ${n((x) => failsAt(x, "must"))} | ${n((x) => x.status === "FAIL" && x.level === "SHOULD")} | ${n((x) => x.status === "WARN")} |`,
    );
  }
  for (const n of NOT_RUN_PEERS) out.push(`| ${n.id} | \`${n.package}\` | not run here | | |`);
  for (const r of runs) {
    out.push("", `## ${r.peer.id}`, "", `\`${r.peer.package}\` ${r.version}: ${r.peer.setup}.`, "");
    if (r.peer.limits) out.push(r.peer.limits, "");
    out.push("| check | level | verdict | evidence |", "|---|---|---|---|");
    for (const [id, v] of Object.entries(verdicts(r))) {
      const ev = r.report.findings.find((x) => x.id === id)?.evidence;
      const shown =
        ev === undefined
          ? `needs ${r.report.not_run.find((x) => x.id === id)?.needs ?? "an input"}`
          : shorten(normaliseEvidence(ev));
      out.push(`| \`${id}\` | ${v.level} | ${v.status} | ${cell(shown)} |`);
    }
    const fails = r.report.findings.filter((x) => x.status === "FAIL");
    if (fails.length > 0) {
      out.push("", `### ${r.peer.id}: why each FAIL is a true finding`, "");
      for (const x of fails)
        out.push(
          `- **\`${x.id}\`** (${x.level}): ${cell(normaliseEvidence(x.evidence))}`,
          `  ${whyFail(r.peer.id, x.id)}`,
        );
    }
  }
  out.push("", "## Not run here", "");
  if (NOT_RUN_PEERS.length === 0) out.push("Every setup above ran.");
  for (const n of NOT_RUN_PEERS) out.push(`- **${n.id}** (\`${n.package}\`): not run here, because ${n.reason}`);
  return `${out.join("\n")}\n`;
}

/** The pinned file's text: indented JSON, one line per check's verdict. */
export function expectationsJson(e: Expectations): string {
  const text = JSON.stringify(e, null, 2).replace(
    /\{\n\s*"status": ("[^"]*"),\n\s*"level": ("[^"]*")\n\s*\}/g,
    '{ "status": $1, "level": $2 }',
  );
  return `${text}\n`;
}

/** Write the pinned verdicts and the published table of `runs`. */
export function writeResults(runs: readonly PeerRun[]): void {
  writeFileSync(EXPECTED_FILE, expectationsJson(expectationsOf(runs)));
  writeFileSync(RESULTS_FILE, renderResults(runs));
}

/** The pinned verdicts as the file holds them. */
export function readExpectations(): Expectations {
  return JSON.parse(readFileSync(EXPECTED_FILE, "utf8")) as Expectations;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { runs, unavailable } = await auditPeers();
  if (unavailable.length > 0)
    throw new Error(`cannot publish a partial run: ${unavailable.map((u) => `${u.peer.id}: ${u.reason}`).join("; ")}`);
  writeResults(runs);
  console.log(`wrote ${EXPECTED_FILE} and ${RESULTS_FILE}`);
}
