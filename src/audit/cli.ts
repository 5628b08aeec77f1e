#!/usr/bin/env node
/**
 * `protected-mcp audit <url>`: check an MCP server's authorization from outside.
 *
 * Exit codes: 0 no FAIL at the `--fail-on` level (default `must`) or stricter, 1 at least one, 2 the audit could not
 * run.
 *
 * @module
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { z } from "zod";
import { ConfigError, type ConfigIssue } from "../errors.js";
import { visibleControls } from "../lib/display.js";
import { optionsSchema, parseOptions } from "../lib/options.js";
import type { JWK } from "jose";
import { AuditRunError } from "./http.js";
import { formatJson, formatJunit, formatSarif, formatTable } from "./report.js";
import { runAudit, type AuditReport } from "./run.js";
import { isSendableToken, loadDpopKey, type DpopKey } from "./tokens.js";

const USAGE = `Usage: protected-mcp audit <url> [options]

Checks an MCP server's OAuth authorization from outside: the 401 challenge, RFC 9728 metadata,
CORS, the authorization server's metadata, refusal of forged tokens, and (with a token) that the
token works and its tampered or re-schemed forms do not.

Options:
  --token <token>             an access token for <url> (sent to <url> only, never printed)
  --token-command <cmd>       run <cmd> with /bin/sh and use its output as the token
  --token2 <token>            a second principal's token (session binding check)
  --token2-command <cmd>      like --token-command, for --token2
  --foreign-token <token>     a token from the same authorization server for another resource
                              (must be refused: audience binding; without it that check is "not tested")
  --dpop-key <file>           private JWK the tokens are DPoP-bound to
  --format <format>           text (default), json, junit (JUnit XML) or sarif (SARIF 2.1.0)
  --json                      the same as --format json
  --fail-on <level>           must (default): exit 1 on a FAIL of a MUST check;
                              should: on a FAIL of a MUST or SHOULD check (a WARN never fails)
  --allow-http                allow plain http beyond localhost / 127.0.0.1
  --timeout <ms>              per-request timeout (default 10000)
  --max-requests <n>          request budget (default 60)
  -h, --help                  this text

Exit status: 0 no FAIL at the --fail-on level, 1 at least one, 2 could not run.
`;

function runTokenCommand(command: string, flag: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("/bin/sh", ["-c", command], { timeout: 30_000, maxBuffer: 1024 * 1024 }, (err, stdout) => {
      if (err)
        return reject(new AuditRunError("ERR_AUDIT_TOKEN", `${flag} failed (${err.code ?? err.signal ?? "error"})`));
      resolve(stdout.trim());
    });
  });
}

/**
 * A token that can go in a header (visible ASCII: no space, no control character) is taken as is, even outside
 * RFC 6750's b64token set (e.g. `user:grant:secret`): the audit reports that as a WARN (`token.syntax`).
 */
function checkToken(token: string | undefined, flag: string): string | undefined {
  if (token === undefined) return undefined;
  if (!isSendableToken(token))
    throw new AuditRunError(
      "ERR_AUDIT_TOKEN",
      `${flag}: not a token (empty, or contains spaces or control characters)`,
    );
  return token;
}

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new AuditRunError("ERR_AUDIT_USAGE", `${flag} must be a positive integer`);
  return n;
}

/** Every flag, as a strict schema: an unknown flag or a wrong type is an issue, all reported at once. */
const FlagsSchema = optionsSchema(
  "protected-mcp audit",
  z.strictObject({
    token: z.string({ error: "needs a value" }).optional(),
    "token-command": z.string({ error: "needs a value" }).optional(),
    token2: z.string({ error: "needs a value" }).optional(),
    "token2-command": z.string({ error: "needs a value" }).optional(),
    "foreign-token": z.string({ error: "needs a value" }).optional(),
    "dpop-key": z.string({ error: "needs a value" }).optional(),
    json: z.boolean({ error: "takes no value" }).default(false),
    format: z.enum(["text", "json", "junit", "sarif"], { error: "must be text, json, junit or sarif" }).optional(),
    "fail-on": z.enum(["must", "should"], { error: "must be must or should" }).default("must"),
    "allow-http": z.boolean({ error: "takes no value" }).default(false),
    timeout: z.string({ error: "needs a value" }).optional(),
    "max-requests": z.string({ error: "needs a value" }).optional(),
    help: z.boolean({ error: "takes no value" }).default(false),
  }),
);

/** The flags parseArgs knows (types only; unknown flags are let through so the schema can name them all). */
const FLAG_TYPES = {
  token: { type: "string" },
  "token-command": { type: "string" },
  token2: { type: "string" },
  "token2-command": { type: "string" },
  "foreign-token": { type: "string" },
  "dpop-key": { type: "string" },
  json: { type: "boolean" },
  format: { type: "string" },
  "fail-on": { type: "string" },
  "allow-http": { type: "boolean" },
  timeout: { type: "string" },
  "max-requests": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** `token: unknown key (did you mean "token2"?)` → `--tokne: unknown option (did you mean --token?)`. */
function flagIssue(i: ConfigIssue): string {
  const flag = i.key === "(options)" ? "arguments" : `${i.key.length === 1 ? "-" : "--"}${i.key}`;
  return `${flag}: ${i.message.replace(/^unknown key/, "unknown option").replace(/did you mean "([^"]+)"\?/, "did you mean --$1?")}`;
}

/**
 * Parse the command line: node's `parseArgs` (non-strict, so every unknown flag is collected rather
 * than the first one thrown) and then one strict schema over the flags.
 *
 * @throws {@link AuditRunError} `ERR_AUDIT_USAGE` listing every problem (exit 2).
 */
function parseFlags(argv: string[]): { values: z.output<typeof FlagsSchema>; positionals: string[] } {
  const { values: raw, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    options: FLAG_TYPES,
  });
  try {
    return { values: parseOptions(FlagsSchema, raw, "protected-mcp audit"), positionals };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    // Flag names only: a value (possibly a token) is never echoed.
    throw new AuditRunError("ERR_AUDIT_USAGE", e.issues.map(flagIssue).join("; "));
  }
}

async function main(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv);
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals[0] !== "audit" || positionals.length !== 2)
    throw new AuditRunError("ERR_AUDIT_USAGE", "expected: protected-mcp audit <url>");
  if (values.json && values.format !== undefined && values.format !== "json")
    throw new AuditRunError("ERR_AUDIT_USAGE", `--json is --format json; it cannot go with --format ${values.format}`);
  const format = values.format ?? (values.json ? "json" : "text");
  if (values.token && values["token-command"])
    throw new AuditRunError("ERR_AUDIT_USAGE", "use --token or --token-command, not both");
  if (values.token2 && values["token2-command"])
    throw new AuditRunError("ERR_AUDIT_USAGE", "use --token2 or --token2-command, not both");

  const token = checkToken(
    values["token-command"] ? await runTokenCommand(values["token-command"], "--token-command") : values.token,
    "--token",
  );
  const token2 = checkToken(
    values["token2-command"] ? await runTokenCommand(values["token2-command"], "--token2-command") : values.token2,
    "--token2",
  );
  if (token2 && !token) throw new AuditRunError("ERR_AUDIT_USAGE", "--token2 needs --token");
  const foreignToken = checkToken(values["foreign-token"], "--foreign-token");
  let dpopKey: DpopKey | undefined;
  if (values["dpop-key"]) {
    if (!token) throw new AuditRunError("ERR_AUDIT_USAGE", "--dpop-key needs --token");
    try {
      dpopKey = await loadDpopKey(JSON.parse(await readFile(values["dpop-key"], "utf8")) as JWK);
    } catch (e) {
      throw new AuditRunError(
        "ERR_AUDIT_USAGE",
        `--dpop-key: ${e instanceof SyntaxError ? "not JSON" : e instanceof Error && "code" in e && e.code === "ENOENT" ? "no such file" : e instanceof Error ? e.message : "unreadable"}`,
      );
    }
  }

  const report = await runAudit({
    url: positionals[1] as string,
    token,
    token2,
    foreignToken,
    dpopKey,
    allowHttp: values["allow-http"],
    timeoutMs: positiveInt(values.timeout, "--timeout"),
    maxRequests: positiveInt(values["max-requests"], "--max-requests"),
    failOn: values["fail-on"],
  });
  const colour = process.stdout.isTTY === true && !process.env.NO_COLOR;
  const formats: Record<typeof format, (r: AuditReport) => string> = {
    text: (r) => formatTable(r, { colour }),
    json: formatJson,
    junit: formatJunit,
    sarif: formatSarif,
  };
  process.stdout.write(formats[format](report));
  return report.exit_code;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof AuditRunError) {
      process.stderr.write(
        `protected-mcp audit: ${visibleControls(e.message)}\n${e.code === "ERR_AUDIT_USAGE" ? `\n${USAGE}` : ""}`,
      );
    } else {
      process.stderr.write(`protected-mcp audit: internal error: ${e instanceof Error ? e.name : "unknown"}\n`);
    }
    process.exitCode = 2;
  },
);
