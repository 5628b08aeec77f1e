/**
 * The option-name rule (CONTRIBUTING, "Option names"), enforced on every options schema: keys are
 * snake_case; a number that is a duration says its unit (`_ms` or `_seconds`); a callback the
 * library notifies is `on_<event>`. And the renamed keys: the old name still works for one minor,
 * with one deprecation warning per process, and old and new together are refused.
 *
 * Every schema handed to `parseOptions`/`checkOptions` is registered through `optionsSchema()`
 * (`checkOptions` throws on one that is not), so importing every module of `src/` collects them all.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { z } from "zod";
import {
  checkOptions,
  optionsSchema,
  registeredOptionsSchemas,
  RENAMED_OPTIONS,
  type RegisteredOptionsSchema,
} from "../../src/lib/options.js";

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../../src");
/**
 * Modules that act when imported: the CLI entry runs `main()`. Its flags are command-line flags (kebab-case), not
 * options.
 */
const NOT_IMPORTED = new Set(["audit/cli.ts"]);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith(".ts") && !path.endsWith(".d.ts") ? [path] : [];
  });
}

async function allSchemas(): Promise<readonly RegisteredOptionsSchema[]> {
  for (const file of sourceFiles(SRC)) {
    if (!NOT_IMPORTED.has(relative(SRC, file).split("\\").join("/"))) await import(pathToFileURL(file).href);
  }
  return registeredOptionsSchemas();
}

/**
 * The card's names, kept as the card spells them (DESIGN.md: `AuthorizationConfig`); `cache_ttl` is seconds wherever it
 * appears.
 */
const CARD_NAMES = new Set(["cache_ttl"]);
/**
 * Functions the library calls for an answer (an implementation injected for tests or a platform), as
 * opposed to callbacks it only notifies (their return value ignored), which are `on_<event>`.
 */
const DEPENDENCIES = new Set([
  "fetch",
  "clock",
  "random",
  "lookup",
  "authenticate_user",
  "verify_dpop_proof",
  "identify",
]);
/** Words that make a number a duration. */
const DURATION_WORDS = new Set([
  "timeout",
  "ttl",
  "interval",
  "delay",
  "idle",
  "age",
  "window",
  "tolerance",
  "leeway",
  "cooldown",
  "skew",
  "stale",
  "wait",
  "grace",
  "step",
  "expiry",
  "lifetime",
  "period",
  "duration",
]);
const SNAKE = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;

type Def = Record<string, unknown> & { type: string };
const defOf = (s: z.core.$ZodType): Def => s._zod.def as unknown as Def;
const WRAPPERS = new Set(["optional", "nullable", "default", "prefault", "readonly", "nonoptional", "catch"]);

/** The schema under the wrappers (optional, default, the input side of a pipe). */
function unwrap(s: z.core.$ZodType): z.core.$ZodType {
  let d = defOf(s);
  while (WRAPPERS.has(d.type) || d.type === "pipe") {
    s = (d.type === "pipe" ? d["in"] : d["innerType"]) as z.core.$ZodType;
    d = defOf(s);
  }
  return s;
}

/** A number option (or a union of numbers): what the duration rule is about. */
function isNumber(s: z.core.$ZodType): boolean {
  const d = defOf(unwrap(s));
  if (d.type === "union") return (d["options"] as z.core.$ZodType[]).every(isNumber);
  return d.type === "number";
}

/** A function option: accepts a function and refuses a plain object (so not `z.unknown()`, not a duck-typed object). */
function isFunction(s: z.core.$ZodType): boolean {
  const inner = unwrap(s) as z.ZodType;
  const d = defOf(inner);
  if (d.type === "unknown" || d.type === "any") return false;
  return inner.safeParse(() => undefined).success && !inner.safeParse({}).success;
}

/** Every problem with the keys of `schema`, as `path: problem`, recursively (records' keys are the caller's data). */
function keyProblems(schema: z.core.$ZodType, where: string): string[] {
  const problems: string[] = [];
  const seen = new Set<z.core.$ZodType>();
  const visit = (s: z.core.$ZodType, path: string): void => {
    if (seen.has(s)) return;
    seen.add(s);
    const d = defOf(s);
    if (WRAPPERS.has(d.type)) return visit(d["innerType"] as z.core.$ZodType, path);
    if (d.type === "pipe") return visit(d["in"] as z.core.$ZodType, path);
    if (d.type === "union") return (d["options"] as z.core.$ZodType[]).forEach((o) => visit(o, path));
    if (d.type === "intersection") {
      visit(d["left"] as z.core.$ZodType, path);
      return visit(d["right"] as z.core.$ZodType, path);
    }
    if (d.type === "array") return visit(d["element"] as z.core.$ZodType, `${path}[]`);
    if (d.type === "record") return visit(d["valueType"] as z.core.$ZodType, `${path}.*`);
    if (d.type !== "object") return;
    for (const [key, value] of Object.entries(d["shape"] as Record<string, z.core.$ZodType>)) {
      const at = path ? `${path}.${key}` : key;
      // Keys accepted only to be refused with a reason (the SDK's own camelCase names) or checked by
      // another registered schema (startDevAuthorizationServer's pass-through of the server's options).
      if (defOf(value).type === "unknown" || defOf(unwrap(value)).type === "unknown") continue;
      if (!SNAKE.test(key)) problems.push(`${where} ${at}: not snake_case`);
      const words = key.split("_");
      const unit = key.endsWith("_ms") || key.endsWith("_seconds");
      if (isNumber(value) && words.some((w) => DURATION_WORDS.has(w)) && !unit && !CARD_NAMES.has(key)) {
        problems.push(`${where} ${at}: a duration without its unit (_ms or _seconds)`);
      }
      if (isFunction(value) && !key.startsWith("on_") && !DEPENDENCIES.has(key)) {
        problems.push(`${where} ${at}: a callback not named on_<event> (or a dependency missing from DEPENDENCIES)`);
      }
      visit(value, at);
    }
  };
  visit(schema, "");
  return problems;
}

test("every options schema follows the naming rule: snake_case, durations with a unit, callbacks on_<event>", async () => {
  const schemas = await allSchemas();
  const names = new Set(schemas.map((s) => s.name));
  for (const expected of [
    "protect()",
    "MCPServer",
    "MCPServer.serve",
    "JWTValidator",
    "createDevAuthorizationServer()",
    "token_exchange",
    "dpop",
  ]) {
    assert.ok(names.has(expected), `${expected} is registered (found ${[...names].join(", ")})`);
  }
  const problems = schemas.flatMap((s) => keyProblems(s.schema, s.name));
  assert.deepEqual(problems, []);
});

test("the rule fails on a new offending key", () => {
  const bad = z.strictObject({
    fooTimeout: z.number().optional(),
    retry_delay: z.number().optional(),
    log: z.custom<() => void>((v) => typeof v === "function").optional(),
    nested: z.strictObject({ idle_timeout: z.number() }).optional(),
    on_event: z.custom<() => void>((v) => typeof v === "function").optional(),
    timeout_ms: z.number().optional(),
    clock: z.custom<() => number>((v) => typeof v === "function").optional(),
    cache_ttl: z.number().optional(),
    step_up: z.boolean().optional(),
  });
  assert.deepEqual(keyProblems(bad, "bad"), [
    "bad fooTimeout: not snake_case",
    "bad retry_delay: a duration without its unit (_ms or _seconds)",
    "bad log: a callback not named on_<event> (or a dependency missing from DEPENDENCIES)",
    "bad nested.idle_timeout: a duration without its unit (_ms or _seconds)",
  ]);
});

test("an options schema that is not registered is refused (so none escapes the rule)", () => {
  assert.throws(() => checkOptions(z.strictObject({ a: z.number() }), { a: 1 }), /not registered/);
});

/** A value the new key's schema accepts, to give under the old name. */
function sampleFor(schema: z.core.$ZodType, key: string): unknown {
  const d = defOf(unwrap(schema));
  const shape = d.type === "object" ? (d["shape"] as Record<string, z.ZodType>) : undefined;
  const field = shape?.[key];
  assert.ok(field, `the schema has the new key ${key}`);
  const candidate = [1, 300, 1000, () => 0, true, "x"].find((v) => field.safeParse(v).success);
  assert.ok(candidate !== undefined, `a sample value for ${key}`);
  return candidate;
}

test("each renamed key: the old name is read as the new one, warns once per process, and old + new together is refused", async () => {
  const warnings: { code?: string; name: string; message: string }[] = [];
  const listen = (w: Error & { code?: string }) =>
    void warnings.push({ code: w.code, name: w.name, message: w.message });
  process.on("warning", listen);
  try {
    const schemas = (await allSchemas()).filter((s) => Object.keys(s.renamed).length > 0);
    const used = new Set<string>();
    for (const { name, schema, renamed } of schemas) {
      for (const [from, to] of Object.entries(renamed)) {
        const value = sampleFor(schema, to);
        for (let i = 0; i < 2; i++) {
          const result = checkOptions(schema, { [from]: value });
          const issues = result.success ? [] : result.issues;
          assert.ok(
            !issues.some((issue) => issue.key === from),
            `${name}: ${from} is accepted (${JSON.stringify(issues)})`,
          );
          if (result.success)
            assert.equal((result.data as Record<string, unknown>)[to], value, `${name}: ${from} is read as ${to}`);
        }
        const both = checkOptions(schema, { [from]: value, [to]: value });
        assert.equal(both.success, false, `${name}: ${from} and ${to} together are refused`);
        if (!both.success) {
          assert.ok(
            both.issues.some((issue) => issue.key === from && issue.message.includes(`renamed "${to}"`)),
            `${name}: the issue names ${from} and ${to}: ${JSON.stringify(both.issues)}`,
          );
        }
        used.add(`PROTECTED_MCP_DEP_${RENAMED_OPTIONS.findIndex(([a, b]) => a === from && b === to) + 1}`);
      }
    }
    await new Promise((r) => setImmediate(r));
    const deprecations = warnings.filter(
      (w) => w.name === "DeprecationWarning" && w.code?.startsWith("PROTECTED_MCP_DEP_"),
    );
    for (const code of used) {
      assert.equal(deprecations.filter((w) => w.code === code).length, 1, `${code} is emitted exactly once`);
    }
    assert.equal(deprecations.length, used.size, "no other deprecation warning");
  } finally {
    process.off("warning", listen);
  }
});

test("every renamed pair is taken by some schema or by a function's own options", async () => {
  const schemas = await allSchemas();
  const taken = new Set(schemas.flatMap((s) => Object.entries(s.renamed).map(([a, b]) => `${a}→${b}`)));
  // Options no schema parses (functions called per request): their own rename tables.
  for (const pair of [
    "resourceMetadataUrl→resource_metadata_url",
    "dpopAlgorithms→dpop_algorithms",
    "dpopRequired→dpop_required",
  ])
    taken.add(pair);
  for (const pair of [
    "accessToken→access_token",
    "accessTokenHash→access_token_hash",
    "iatWindow→iat_window_seconds",
    "now→now_ms",
    "keyCache→key_cache",
  ])
    taken.add(pair);
  assert.deepEqual(
    RENAMED_OPTIONS.map(([a, b]) => `${a}→${b}`).filter((p) => !taken.has(p)),
    [],
  );
  assert.equal(new Set(RENAMED_OPTIONS.map(([a, b]) => `${a}→${b}`)).size, RENAMED_OPTIONS.length, "no pair twice");
  // A schema registered with a pair that is not in the list is a programming error.
  assert.throws(() => optionsSchema("x", z.strictObject({ b: z.number() }), { a: "b" }), /not in RENAMED_OPTIONS/);
});

test("options no schema parses (challengeResponse, verifyDpopProof): old names are read as the new ones; old + new together is refused", async () => {
  const { challengeResponse, MissingToken } = await import("../../src/index.js");
  const { verifyDpopProof } = await import("../../src/dpop/index.js");
  const url = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
  const legacy = challengeResponse(new MissingToken(), {
    resourceMetadataUrl: url,
    dpopAlgorithms: ["ES256"],
    dpopRequired: true,
  });
  const current = challengeResponse(new MissingToken(), {
    resource_metadata_url: url,
    dpop_algorithms: ["ES256"],
    dpop_required: true,
  });
  assert.equal(legacy.headers.get("www-authenticate"), current.headers.get("www-authenticate"));
  assert.match(current.headers.get("www-authenticate") ?? "", /^DPoP .*resource_metadata=".*algs="ES256"/);
  assert.throws(
    () => challengeResponse(new MissingToken(), { resourceMetadataUrl: url, resource_metadata_url: url }),
    (e: unknown) => (e as { code?: string }).code === "ERR_INVALID_CONFIG",
  );
  const req = new Request("https://mcp.example.com/mcp", { method: "POST" });
  await assert.rejects(
    verifyDpopProof(req, { htu: "https://mcp.example.com/mcp", now: 1, now_ms: 1 }),
    (e: unknown) => (e as { code?: string }).code === "ERR_INVALID_CONFIG",
  );
  // Old names alone: accepted (the missing proof is what is refused).
  await assert.rejects(
    verifyDpopProof(req, { htu: "https://mcp.example.com/mcp", now: 1, iatWindow: 5 }),
    (e: unknown) => /DPoP proof is required/.test((e as Error).message),
  );
});

test("renamed options end to end: MCPServer's log and session_idle_timeout, serve()'s timeouts, the dev authorization server's authenticateUser", async () => {
  const { MCPServer } = await import("../../src/index.js");
  const { createDevAuthorizationServer } = await import("../../src/dev-authorization-server/index.js");
  const notices: string[] = [];
  const server = new MCPServer("renamed", { log: (m) => notices.push(m), session_idle_timeout: 60 });
  await server.serve({ port: 0, headers_timeout: 1000, request_timeout: 2000, keep_alive_timeout: 500 });
  try {
    assert.equal(notices.length, 1, "the old log receives the startup warning");
  } finally {
    await server.close();
  }
  await assert.rejects(
    new MCPServer("both").serve({ port: 0, headers_timeout: 1000, headers_timeout_ms: 1000 }),
    (e: unknown) => (e as { code?: string; issues?: { key: string }[] }).code === "ERR_INVALID_CONFIG",
  );
  assert.throws(
    () => new MCPServer("both", { log: () => {}, on_warning: () => {} }),
    (e: unknown) => (e as { issues?: { key: string }[] }).issues?.[0]?.key === "log",
  );
  const as = await createDevAuthorizationServer({
    issuer: "http://127.0.0.1:1",
    resources: ["http://127.0.0.1:2/mcp"],
    authenticateUser: () => "alice",
    access_token_ttl: 60,
  });
  const { expires_in } = await as.issueAccessToken({ subject: "alice" });
  assert.equal(expires_in, 60, "access_token_ttl is read as access_token_ttl_seconds");
});
