/**
 * `runAudit()`: run every applicable check against one MCP endpoint and collect the findings.
 *
 * @module
 */
import { CHECKS, type CheckDefinition, type Needs } from "./checks.js";
import type { Status } from "./probes.js";
import { AuditContext, type AuditOptions } from "./context.js";
import { visibleControls } from "../lib/display.js";
import { AuditRunError, ProbeFailed, Prober, urlAllowed } from "./http.js";
import { isSendableToken } from "./tokens.js";

/** A requirement level (RFC 2119) as the spec sentence a check tests states it. */
export type Level = CheckDefinition["level"];

/**
 * The strictest level whose FAILs set the exit status: `must` counts FAILs of MUST checks only, `should` those of MUST
 * and SHOULD checks. A WARN never counts: it is not a violation of the sentence the check tests.
 */
export type FailOn = "must" | "should";

/** The levels each {@link FailOn} counts. */
const COUNTED: Record<FailOn, readonly Level[]> = { must: ["MUST"], should: ["MUST", "SHOULD"] };

/** Whether a finding makes the audit fail at `failOn`: a FAIL of a check whose level `failOn` counts. */
export function failsAt(finding: Pick<Finding, "status" | "level">, failOn: FailOn): boolean {
  return finding.status === "FAIL" && COUNTED[failOn].includes(finding.level);
}

/** One check's result. */
export interface Finding {
  id: string;
  title: string;
  spec: string;
  /** The requirement level of the spec sentence the check tests (a FAIL breaks a requirement of this level). */
  level: Level;
  era?: string | undefined;
  status: Status;
  /**
   * One line; credentials redacted; display controls (ESC, C0/C1, bidi) written as visible `\uXXXX`
   * text, because it quotes what the target sent.
   */
  evidence: string;
}

/** The outcome of an audit. */
export interface AuditReport {
  /** The endpoint audited. */
  target: string;
  findings: Finding[];
  /** Checks that were not run for lack of an input, with what they need. */
  not_run: { id: string; needs: Needs }[];
  /** Requests sent. */
  requests: number;
  /** Counts per status. */
  summary: Record<Status, number>;
  /** The level the exit status was judged at. */
  fail_on: FailOn;
  /** 0: no finding {@link failsAt} `fail_on`; 1: at least one. */
  exit_code: 0 | 1;
}

/** {@link runAudit}'s inputs: the audit's, and the level that sets the exit status. */
export interface RunAuditOptions extends AuditOptions {
  /** FAILs of which levels set `exit_code` to 1. Default `"must"`. */
  failOn?: FailOn | undefined;
}

const has = (o: AuditOptions, needs: Needs | undefined): boolean =>
  needs === undefined ||
  (needs === "token" && !!o.token) ||
  (needs === "dpop" && !!o.token && !!o.dpopKey) ||
  (needs === "token2" && !!o.token && !!o.token2);

/** The URL to audit, checked: absolute, no credentials, https or loopback http (unless `allowHttp`); no fragment. */
function auditTarget(options: RunAuditOptions): URL {
  let target: URL;
  try {
    target = new URL(options.url);
  } catch {
    throw new AuditRunError("ERR_AUDIT_URL", `not an absolute URL: ${options.url}`);
  }
  if (target.username || target.password)
    throw new AuditRunError("ERR_AUDIT_URL", "the URL must not carry credentials");
  if (!urlAllowed(target, options.allowHttp ?? false)) {
    throw new AuditRunError(
      "ERR_AUDIT_URL",
      `${target.protocol}//${target.host}: only https, or http on loopback (use --allow-http to audit plain http elsewhere)`,
    );
  }
  target.hash = "";
  return target;
}

/** The prober of one audit, knowing every token given (so that it redacts them); a token it cannot send throws. */
function createProber(target: URL, options: RunAuditOptions): Prober {
  const prober = new Prober({
    target,
    maxRequests: options.maxRequests ?? 60,
    timeoutMs: options.timeoutMs ?? 10_000,
    allowHttp: options.allowHttp ?? false,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  for (const [flag, t] of [
    ["token", options.token],
    ["token2", options.token2],
    ["foreignToken", options.foreignToken],
  ] as const) {
    // Any visible ASCII is sent as is (token.syntax WARNs outside RFC 6750's b64token); a space, a control
    // character or an empty value cannot go in a header.
    if (t !== undefined && !isSendableToken(t))
      throw new AuditRunError(
        "ERR_AUDIT_TOKEN",
        `${flag}: not a token (empty, or contains spaces or control characters)`,
      );
    if (t) prober.addSecret(t);
  }
  return prober;
}

/**
 * Audit an MCP endpoint's authorization from outside.
 *
 * Throws {@link AuditRunError} when the audit cannot run (bad URL, a URL the policy refuses, the
 * endpoint unreachable); every other problem is a finding.
 */
export async function runAudit(
  options: RunAuditOptions,
  checks: readonly CheckDefinition[] = CHECKS,
): Promise<AuditReport> {
  const target = auditTarget(options);
  const prober = createProber(target, options);
  const ctx = new AuditContext(prober, options);

  const findings: Finding[] = [];
  const notRun: AuditReport["not_run"] = [];
  for (const [index, check] of checks.entries()) {
    if (!has(options, check.needs)) {
      notRun.push({ id: check.id, needs: check.needs as Needs });
      continue;
    }
    let status: Status;
    let evidence: string;
    try {
      ({ status, evidence } = await check.run(ctx));
    } catch (e) {
      if (!(e instanceof ProbeFailed)) throw e;
      if (index === 0 && (e.kind === "network" || e.kind === "timeout")) {
        throw new AuditRunError(
          "ERR_AUDIT_UNREACHABLE",
          `cannot reach ${target.href}: ${visibleControls(prober.redact(e.message))}`,
        );
      }
      status = e.kind === "budget" || e.kind === "policy" ? "SKIP" : "FAIL";
      evidence = e.message;
    }
    findings.push({
      id: check.id,
      title: check.title,
      spec: check.spec,
      level: check.level,
      ...(check.era ? { era: check.era } : {}),
      status,
      // The target wrote part of this: nothing it sent may reach a terminal as a control sequence.
      evidence: visibleControls(prober.redact(evidence.replace(/\s+/g, " ").trim())),
    });
  }
  const summary: Record<Status, number> = { PASS: 0, WARN: 0, FAIL: 0, SKIP: 0 };
  for (const f of findings) summary[f.status]++;
  const failOn = options.failOn ?? "must";
  return {
    target: target.href,
    findings,
    not_run: notRun,
    requests: prober.requests,
    summary,
    fail_on: failOn,
    exit_code: findings.some((f) => failsAt(f, failOn)) ? 1 : 0,
  };
}
