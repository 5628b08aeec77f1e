/**
 * Presenting an {@link AuditReport}: a table for people (colour only on a TTY), JSON for machines, JUnit XML and SARIF
 * 2.1.0 for CI systems.
 *
 * Every format is safe to print: no raw control character from the target reaches the output. The runner already
 * writes display controls in evidence as visible `\uXXXX` text; here every field is passed through the same filter
 * again (the table, JUnit), the JSON escapes what `JSON.stringify` leaves raw (DEL, C1, bidi controls, U+2028/2029), so
 * it stays valid JSON, parses to the same report, and cannot retitle, clear or reorder a terminal; and the XML also
 * spells out what XML 1.0 cannot carry at all (lone surrogates, U+FFFE, U+FFFF), so a target's answer cannot make the
 * JUnit file ill-formed.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { stringifyInert, visibleControls as v } from "../lib/display.js";
import type { Status } from "./probes.js";
import { failsAt, type AuditReport, type Finding, type Level } from "./run.js";

const COLOURS: Record<Status, string> = { PASS: "\x1b[32m", WARN: "\x1b[33m", FAIL: "\x1b[31m", SKIP: "\x1b[2m" };
const RESET = "\x1b[0m";

/** The levels, strictest first: the order of the table's groups and the JUnit suites. */
const LEVELS: readonly Level[] = ["MUST", "SHOULD", "MAY"];

const NEEDS_FLAG = {
  token: "--token",
  dpop: "--token and --dpop-key",
  token2: "--token and --token2",
} as const satisfies Record<AuditReport["not_run"][number]["needs"], string>;

/** The levels a `--fail-on` value counts, for messages: `MUST`, `MUST or SHOULD`. */
const countedLevels = (report: AuditReport): string => (report.fail_on === "must" ? "MUST" : "MUST or SHOULD");

/** The findings that set the exit status. */
const failing = (report: AuditReport): Finding[] => report.findings.filter((f) => failsAt(f, report.fail_on));

/** One sentence on the exit status: which FAILs count at `fail_on`, and which were left out. */
function verdictLine(report: AuditReport): string {
  const counted = failing(report);
  const others = report.findings.filter((f) => f.status === "FAIL" && !failsAt(f, report.fail_on));
  const head = counted.length
    ? `Exit 1: ${counted.length} FAIL at ${countedLevels(report)} (${v(counted.map((f) => f.id).join(", "))})`
    : `Exit 0: no FAIL at ${countedLevels(report)}`;
  const rest = others.length
    ? `; ${others.length} FAIL at ${[...new Set(others.map((f) => f.level))].join(", ")} not counted (${v(others.map((f) => f.id).join(", "))})`
    : "";
  return `${head}${rest}; --fail-on ${report.fail_on}.`;
}

/**
 * The human-readable table, its rows grouped by requirement level (MUST first), with a summary line and a line saying
 * why the exit status is what it is.
 */
export function formatTable(report: AuditReport, o: { colour?: boolean } = {}): string {
  const rows = report.findings.map((f) => ({
    level: f.level,
    s: f.status,
    id: v(f.id),
    spec: v(f.spec),
    ev: v(f.evidence),
  }));
  const w0 = 6;
  const w1 = Math.max(5, ...rows.map((r) => r.id.length));
  const w2 = Math.max(4, ...rows.map((r) => r.spec.length));
  const paint = (s: Status, text: string) => (o.colour ? `${COLOURS[s]}${text}${RESET}` : text);
  const lines = [`protected-mcp audit ${v(report.target)}`, ""];
  for (const level of LEVELS) {
    const group = rows.filter((r) => r.level === level);
    if (!group.length) continue;
    const fails = group.filter((r) => r.s === "FAIL").length;
    lines.push(
      `${level} (${group.length} check${group.length === 1 ? "" : "s"}${fails ? `, ${fails} FAIL` : ""})`,
      `${"RESULT".padEnd(w0)}  ${"CHECK".padEnd(w1)}  ${"SPEC".padEnd(w2)}  EVIDENCE`,
      ...group.map((r) => `${paint(r.s, r.s.padEnd(w0))}  ${r.id.padEnd(w1)}  ${r.spec.padEnd(w2)}  ${r.ev}`),
      "",
    );
  }
  const { PASS, WARN, FAIL, SKIP } = report.summary;
  let summary = `${report.findings.length} checks: ${PASS} PASS, ${WARN} WARN, ${FAIL} FAIL${SKIP ? `, ${SKIP} SKIP` : ""}; ${report.requests} requests`;
  if (report.not_run.length) {
    const byNeed = new Map<string, string[]>();
    for (const n of report.not_run) byNeed.set(NEEDS_FLAG[n.needs], [...(byNeed.get(NEEDS_FLAG[n.needs]) ?? []), n.id]);
    summary += `. Not run: ${[...byNeed].map(([flag, ids]) => `${ids.length} need ${flag} (${v(ids.join(", "))})`).join("; ")}`;
  }
  lines.push(summary, verdictLine(report));
  return lines.join("\n") + "\n";
}

/**
 * The report as JSON (stable field names: `target`, `findings` (each with its `level`), `not_run`, `requests`,
 * `summary`, `fail_on`, `exit_code`).
 */
export function formatJson(report: AuditReport): string {
  return stringifyInert(report, 2) + "\n";
}

/** What XML 1.0 cannot carry even escaped: lone surrogates (UTF-16 halves without their pair), U+FFFE, U+FFFF. */
const NOT_XML = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]|[\uFFFE\uFFFF]/g;
const XML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };

/**
 * Text for XML content or an attribute value: display controls (C0 with NUL, tab and newline, DEL, C1, bidi) and what
 * XML cannot carry written as visible `\uXXXX`, then the five markup characters as entities (so `]]>` and `<` are
 * inert).
 */
export function xmlText(s: string): string {
  return v(s)
    .replace(NOT_XML, (c) => `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`)
    .replace(/[&<>"']/g, (c) => XML_ESCAPES[c] as string);
}

const attrs = (a: Record<string, string | number>): string =>
  Object.entries(a)
    .map(([k, val]) => ` ${k}="${xmlText(String(val))}"`)
    .join("");

/**
 * The report as JUnit XML: one `<testsuite>` per requirement level (MUST, SHOULD, MAY), one `<testcase>` per finding
 * (`classname` the check id's prefix, `name` its title). A FAIL at `fail_on` or stricter is a `<failure>`, a SKIP is
 * `<skipped>`; every other outcome (PASS, WARN, a FAIL at a level `fail_on` does not count) passes, its verdict and
 * evidence in `<system-out>`. Checks not run for lack of an input are left out (the JSON lists them).
 */
export function formatJunit(report: AuditReport): string {
  const suites = LEVELS.map((level) => report.findings.filter((f) => f.level === level)).filter((g) => g.length);
  const count = (fs: Finding[]) => ({
    tests: fs.length,
    failures: fs.filter((f) => failsAt(f, report.fail_on)).length,
    errors: 0,
    skipped: fs.filter((f) => f.status === "SKIP").length,
  });
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attrs({ name: `protected-mcp audit ${report.target}`, ...count(report.findings) })}>`,
  ];
  for (const group of suites) {
    const level = (group[0] as Finding).level;
    out.push(`  <testsuite${attrs({ name: `${level} requirements`, ...count(group) })}>`);
    out.push("    <properties>");
    out.push(`      <property${attrs({ name: "target", value: report.target })}/>`);
    out.push(`      <property${attrs({ name: "fail_on", value: report.fail_on })}/>`);
    out.push("    </properties>");
    for (const f of group) {
      const detail = `${f.status} ${f.id} [${f.level}; ${f.spec}]: ${f.evidence}`;
      out.push(`    <testcase${attrs({ classname: f.id.split(".")[0] as string, name: f.title })}>`);
      if (failsAt(f, report.fail_on))
        out.push(
          `      <failure${attrs({ message: f.evidence, type: `${f.level} FAIL` })}>${xmlText(detail)}</failure>`,
        );
      else if (f.status === "SKIP") out.push(`      <skipped${attrs({ message: f.evidence })}/>`);
      else out.push(`      <system-out>${xmlText(detail)}</system-out>`);
      out.push("    </testcase>");
    }
    out.push("  </testsuite>");
  }
  out.push("</testsuites>");
  return out.join("\n") + "\n";
}

/** SARIF `level` of a requirement level (the rule's default, and a FAIL's). */
const SARIF_LEVEL: Record<Level, "error" | "warning" | "note"> = { MUST: "error", SHOULD: "warning", MAY: "note" };

/** Where the first reference of a `spec` string can be read, when it has a stable public address. */
export function specUri(spec: string): string | undefined {
  for (const part of spec.split(";").map((p) => p.trim())) {
    const rfc = /^RFC (\d+)(?: §(\d+(?:\.\d+)*))?/.exec(part);
    if (rfc) return `https://www.rfc-editor.org/rfc/rfc${rfc[1]}${rfc[2] ? `#section-${rfc[2]}` : ""}`;
    if (/^MCP authz\b/.test(part))
      return "https://modelcontextprotocol.io/specification/2025-11-25/basic/authorization";
    if (/^MCP security\b/.test(part))
      return "https://modelcontextprotocol.io/specification/2025-11-25/basic/security_best_practices";
    if (/^Fetch: CORS/.test(part)) return "https://fetch.spec.whatwg.org/#http-cors-protocol";
    if (/^OIDC Discovery\b/.test(part)) return "https://openid.net/specs/openid-connect-discovery-1_0.html";
    const oauth21 = /^OAuth 2\.1(?: §(\d+(?:\.\d+)*))?/.exec(part);
    if (oauth21)
      return `https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1${oauth21[1] ? `#section-${oauth21[1]}` : ""}`;
  }
  return undefined;
}

/** `challenge.server-discover` → `ChallengeServerDiscover` (SARIF's rule `name` is an identifier). */
const ruleName = (id: string): string =>
  id
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join("");

/**
 * The report as SARIF 2.1.0: one run whose `tool.driver.rules` are the checks that ran (`defaultConfiguration.level`
 * error for MUST, warning for SHOULD, note for MAY; `helpUri` the spec), and one result per FAIL (at its check's level)
 * and per WARN (`warning`, `note` for a MAY check), the evidence as message. The location is the target: a URL is not a
 * file of the repository, so it is written relative to a `TARGET` base in `originalUriBaseIds` (SARIF §3.14.14), which
 * GitHub code scanning accepts where an absolute `https:` URI is refused.
 */
export function formatSarif(report: AuditReport): string {
  const target = new URL(report.target);
  const base = `${target.origin}/`;
  const relative = `${target.pathname.slice(1)}${target.search}` || ".";
  const ruleIndex = new Map<string, number>();
  const rules: Record<string, unknown>[] = [];
  for (const f of report.findings) {
    if (ruleIndex.has(f.id)) continue;
    ruleIndex.set(f.id, rules.length);
    const help = specUri(f.spec);
    rules.push({
      id: f.id,
      name: ruleName(f.id),
      shortDescription: { text: f.title },
      fullDescription: { text: `${f.title} (${f.level}: ${f.spec})` },
      ...(help ? { helpUri: help } : {}),
      help: { text: `Requirement level ${f.level}, from ${f.spec}.` },
      defaultConfiguration: { level: SARIF_LEVEL[f.level] },
      properties: { tags: ["security", "oauth", f.level], requirement_level: f.level, spec: f.spec },
    });
  }
  const results = report.findings
    .filter((f) => f.status === "FAIL" || f.status === "WARN")
    .map((f) => ({
      ruleId: f.id,
      ruleIndex: ruleIndex.get(f.id),
      kind: "fail",
      level: f.status === "FAIL" ? SARIF_LEVEL[f.level] : f.level === "MAY" ? "note" : "warning",
      message: { text: `${f.status} (${f.level}, ${f.spec}): ${f.evidence}` },
      locations: [{ physicalLocation: { artifactLocation: { uri: relative, uriBaseId: "TARGET" } } }],
      partialFingerprints: {
        "protectedMcpAudit/v1": createHash("sha256").update(`${f.id}\n${report.target}`).digest("hex"),
      },
      properties: { status: f.status, requirement_level: f.level, counted: failsAt(f, report.fail_on) },
    }));
  const sarif = {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "protected-mcp audit",
            informationUri: "https://www.npmjs.com/package/protected-mcp",
            rules,
          },
        },
        originalUriBaseIds: { TARGET: { uri: base } },
        invocations: [{ executionSuccessful: true, exitCode: report.exit_code }],
        results,
        properties: {
          target: report.target,
          fail_on: report.fail_on,
          summary: report.summary,
          not_run: report.not_run,
          requests: report.requests,
        },
      },
    ],
  };
  return stringifyInert(sarif, 2) + "\n";
}
