/**
 * Presenting an {@link AuditReport}: a table for people (colour only on a TTY) or JSON for machines.
 *
 * Both are safe to print: no raw control character from the target reaches the output. The runner
 * already writes display controls in evidence as visible `\uXXXX` text; here every field is passed
 * through the same filter again (the table) and the JSON escapes what `JSON.stringify` leaves raw
 * (DEL, C1, bidi controls, U+2028/2029), so the output stays valid JSON, parses to the same report,
 * and cannot retitle, clear or reorder a terminal.
 *
 * @module
 */
import { stringifyInert, visibleControls as v } from "../lib/display.js";
import type { Status } from "./probes.js";
import type { AuditReport } from "./run.js";

const COLOURS: Record<Status, string> = { PASS: "\x1b[32m", WARN: "\x1b[33m", FAIL: "\x1b[31m", SKIP: "\x1b[2m" };
const RESET = "\x1b[0m";

const NEEDS_FLAG = { token: "--token", dpop: "--token and --dpop-key", token2: "--token and --token2" } as const;

/** The human-readable table with a summary line. */
export function formatTable(report: AuditReport, o: { colour?: boolean } = {}): string {
  const rows = report.findings.map((f) => [f.status, v(f.id), v(f.spec), v(f.evidence)] as const);
  const w0 = 6;
  const w1 = Math.max(5, ...rows.map((r) => r[1].length));
  const w2 = Math.max(4, ...rows.map((r) => r[2].length));
  const paint = (s: Status, text: string) => (o.colour ? `${COLOURS[s]}${text}${RESET}` : text);
  const lines = [
    `protected-mcp audit ${v(report.target)}`,
    "",
    `${"RESULT".padEnd(w0)}  ${"CHECK".padEnd(w1)}  ${"SPEC".padEnd(w2)}  EVIDENCE`,
    ...rows.map(([s, id, spec, ev]) => `${paint(s, s.padEnd(w0))}  ${id.padEnd(w1)}  ${spec.padEnd(w2)}  ${ev}`),
    "",
  ];
  const { PASS, WARN, FAIL, SKIP } = report.summary;
  let summary = `${report.findings.length} checks: ${PASS} PASS, ${WARN} WARN, ${FAIL} FAIL${SKIP ? `, ${SKIP} SKIP` : ""}; ${report.requests} requests`;
  if (report.not_run.length) {
    const byNeed = new Map<string, string[]>();
    for (const n of report.not_run) byNeed.set(NEEDS_FLAG[n.needs], [...(byNeed.get(NEEDS_FLAG[n.needs]) ?? []), n.id]);
    summary += `. Not run: ${[...byNeed].map(([flag, ids]) => `${ids.length} need ${flag} (${v(ids.join(", "))})`).join("; ")}`;
  }
  lines.push(summary);
  return lines.join("\n") + "\n";
}

/** The report as JSON (stable field names: `target`, `findings`, `not_run`, `requests`, `summary`, `exit_code`). */
export function formatJson(report: AuditReport): string {
  return stringifyInert(report, 2) + "\n";
}
