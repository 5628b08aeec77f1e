/**
 * Judging the challenges themselves, over every `WWW-Authenticate` the audit received: their syntax
 * (RFC 9110 §11.6.1 grammar and RFC 6750 §3 attribute values), their error codes (the registered ones
 * only), and the absence of an error code on the answer to a request without credentials (RFC 6750
 * §3.1). The check definitions that run these are in `checks.ts`.
 *
 * @module
 */
import type { AuditContext } from "./context.js";
import type { ProbeResponse } from "./http.js";
import { ERA_PROBES, eraBody, REFERENCE_PROBE, type Outcome } from "./probes.js";
import { garbageToken } from "./tokens.js";
import { readWwwAuthenticate, type ParsedChallenge } from "./www-authenticate.js";

/** RFC 6750 §3.1 error codes (the Bearer scheme). */
export const BEARER_ERROR_CODES: readonly string[] = ["invalid_request", "invalid_token", "insufficient_scope"];
/** RFC 9449 §7.1 and §8: the DPoP scheme's codes (RFC 6750's and its own two). */
export const DPOP_ERROR_CODES: readonly string[] = [...BEARER_ERROR_CODES, "invalid_dpop_proof", "use_dpop_nonce"];

/** RFC 6750 §3: error and error_description values: %x20-21 / %x23-5B / %x5D-7E. */
const ERROR_VALUE = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
/** RFC 6750 §3: error_uri: %x21 / %x23-5B / %x5D-7E. */
const URI_VALUE = /^[\x21\x23-\x5b\x5d-\x7e]*$/;
/** RFC 6750 §3: scope = scope-token *( SP scope-token ), scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_VALUE = /^[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*$/;

const pass = (evidence: string): Outcome => ({ status: "PASS", evidence });
const fail = (evidence: string): Outcome => ({ status: "FAIL", evidence });

/** A challenged response: where it came from and its header. */
interface Challenged {
  res: ProbeResponse;
  header: string;
}

const where = (res: ProbeResponse): string => `${res.status} from ${new URL(res.url).pathname}`;

/** Every response from the audited server so far that carries `WWW-Authenticate`, each header value once. */
function challenged(ctx: AuditContext): Challenged[] {
  const seen = new Set<string>();
  const out: Challenged[] = [];
  for (const res of ctx.prober.responses) {
    if (new URL(res.url).origin !== ctx.target.origin) continue;
    const header = res.headers.get("www-authenticate");
    if (header === null || seen.has(header)) continue;
    seen.add(header);
    out.push({ res, header });
  }
  return out;
}

/**
 * Make sure the responses looked at include a challenge to a request without credentials and one to an
 * invalid token. In a full audit both were received by earlier checks and nothing is sent here.
 */
async function gather(ctx: AuditContext): Promise<Challenged[]> {
  await ctx.unauthenticated(REFERENCE_PROBE);
  const hasError = () =>
    challenged(ctx).some(({ header }) => readWwwAuthenticate(header).challenges.some((c) => c.params.error));
  if (!hasError()) {
    await ctx.once("challenge:invalid-token", () =>
      ctx.prober.send({
        method: "POST",
        url: ctx.endpoint,
        headers: { ...ctx.jsonHeaders(), authorization: `Bearer ${ctx.made(garbageToken())}` },
        body: eraBody(REFERENCE_PROBE),
      }),
    );
  }
  return challenged(ctx);
}

/** The header around `offset`, for evidence. */
function excerpt(header: string, offset: number): string {
  const from = Math.max(0, offset - 30);
  const to = Math.min(header.length, offset + 30);
  return `${from > 0 ? "…" : ""}${header.slice(from, to)}${to < header.length ? "…" : ""}`;
}

/** RFC 6750 §3's rules on the values of a Bearer (or DPoP) challenge's attributes. */
function valueProblems(c: ParsedChallenge): string[] {
  const out: string[] = [];
  for (const name of ["error", "error_description"] as const) {
    const v = c.params[name];
    if (v !== undefined && !ERROR_VALUE.test(v))
      out.push(`${name} has a character outside %x20-21 / %x23-5B / %x5D-7E (no '"', no '\\', no control)`);
  }
  const uri = c.params.error_uri;
  if (uri !== undefined && !URI_VALUE.test(uri)) out.push("error_uri has a character RFC 6750 §3 does not allow");
  const scope = c.params.scope;
  if (scope !== undefined && !SCOPE_VALUE.test(scope))
    out.push(`scope ${JSON.stringify(scope)} is not space-separated scope-tokens`);
  return out;
}

/** `challenge.syntax`: every challenge received follows RFC 9110 §11.6.1 and RFC 6750 §3. */
export async function judgeChallengeSyntax(ctx: AuditContext): Promise<Outcome> {
  const all = await gather(ctx);
  if (!all.length) return { status: "SKIP", evidence: "no response carried WWW-Authenticate" };
  for (const { res, header } of all) {
    const reading = readWwwAuthenticate(header);
    const first = reading.problems[0];
    if (first) {
      const more = reading.problems.length > 1 ? ` (+${reading.problems.length - 1} more)` : "";
      return fail(`${where(res)}: ${first.message} (offset ${first.offset}${more}): ${excerpt(header, first.offset)}`);
    }
    for (const c of reading.challenges) {
      if (c.scheme !== "bearer" && c.scheme !== "dpop") continue;
      const p = valueProblems(c);
      if (p.length) return fail(`${where(res)}: ${c.scheme === "dpop" ? "DPoP" : "Bearer"} ${p.join("; ")}`);
    }
  }
  return pass(`${all.length} distinct challenge${all.length === 1 ? "" : "s"} received, all well-formed`);
}

/** `challenge.error-codes`: only registered error codes, per scheme. */
export async function judgeErrorCodes(ctx: AuditContext): Promise<Outcome> {
  const all = await gather(ctx);
  const used = new Set<string>();
  for (const { res, header } of all) {
    for (const c of readWwwAuthenticate(header).challenges) {
      const code = c.params.error;
      if (code === undefined) continue;
      if (c.scheme === "bearer" && !BEARER_ERROR_CODES.includes(code))
        return fail(
          `${where(res)}: Bearer error="${code}" is not a registered code (RFC 6750 §3.1: ${BEARER_ERROR_CODES.join(", ")})`,
        );
      if (c.scheme === "dpop" && !DPOP_ERROR_CODES.includes(code))
        return fail(
          `${where(res)}: DPoP error="${code}" is not a registered code (RFC 6750 §3.1, RFC 9449 §7.1: ${DPOP_ERROR_CODES.join(", ")})`,
        );
      if (c.scheme === "bearer" || c.scheme === "dpop") used.add(code);
    }
  }
  if (!used.size) return pass(`no error code in ${all.length} distinct challenge${all.length === 1 ? "" : "s"}`);
  return pass(`error codes used: ${[...used].join(", ")}, all registered`);
}

/** `challenge.no-error-unauthenticated`: no `error` attribute on the challenge to a request without credentials. */
export async function judgeNoErrorWithoutCredentials(ctx: AuditContext): Promise<Outcome> {
  const seen: string[] = [];
  for (const p of ERA_PROBES) {
    const res = await ctx.unauthenticated(p);
    const reading = readWwwAuthenticate(res.headers.get("www-authenticate"));
    for (const c of reading.challenges) {
      if (c.scheme !== "bearer" && c.scheme !== "dpop") continue;
      const code = c.params.error;
      if (code !== undefined)
        return fail(
          `${res.status} ${c.scheme === "dpop" ? "DPoP" : "Bearer"} error="${code}" to ${p.method} without credentials (RFC 6750 §3.1: SHOULD NOT include an error code)`,
        );
    }
    if (reading.challenges.length) seen.push(p.method);
  }
  if (!seen.length) return { status: "SKIP", evidence: "no challenge to a request without credentials" };
  return pass(`no error code in the challenge to ${seen.join(", ")} without credentials`);
}
