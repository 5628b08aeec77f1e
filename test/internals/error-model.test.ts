/**
 * One error model (CONTRIBUTING, "Errors"): every error class an entry point of package.json's
 * `exports` exports has its own string `code` `ERR_…`, on the class and on every instance; codes are
 * unique per class; a class that names one condition has no `Error` suffix, a family's base (its
 * static code is `ERR_<FAMILY>_GENERIC`) ends in `Error`. A deprecated alias (the same class exported
 * under its old name) is exempt from the naming rule, and the class must also be exported under its
 * own name.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { OAuthError } from "../../src/dev-authorization-server/errors.js";
import type { TokenExchangeFailureReason } from "../../src/token-exchange/errors.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CODE = /^ERR_[A-Z0-9_]+$/;

type ErrorClass = (abstract new (...args: never[]) => Error) & { code?: unknown };

/**
 * Entry point → its source file, from package.json's `exports` (./dist/x.js → src/x.ts), as test/exports.test.ts reads
 * it.
 */
function entryPoints(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")) as {
    exports: Record<string, string | { default: string }>;
  };
  const out: Record<string, string> = {};
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (typeof target === "string") continue; // ./package.json
    out[subpath] = `${ROOT}${target.default.replace(/^\.\/dist\//, "src/").replace(/\.js$/, ".ts")}`;
  }
  return out;
}

const REASONS: readonly TokenExchangeFailureReason[] = [
  "refused",
  "invalid_response",
  "unreachable",
  "backing_off",
  "no_caller",
  "caller_expired",
  "not_configured",
  "audience_not_allowed",
  "origin_unknown",
  "origin_mismatch",
  "redirect_off_origin",
  "too_many_redirects",
];

/**
 * Constructor arguments for each exported error class (one list per instance to build); `abstract`
 * for a base that is never constructed itself (its subclasses are). A class missing here is
 * constructed without arguments.
 */
const SAMPLES: Readonly<Record<string, readonly (readonly unknown[])[] | "abstract">> = {
  AuthError: "abstract",
  MissingToken: [[]],
  InvalidRequest: [["Malformed Authorization header"]],
  InvalidToken: [["The access token is invalid"]],
  TokenExpired: [[]],
  InsufficientScope: [[["files:read"]]],
  AuthorizationUnavailable: [[], [{ retry_after: 5 }]],
  InvalidDpopProof: [["The DPoP proof is invalid"]],
  UseDpopNonce: [["nonce-1"]],
  SessionMismatch: [[]],
  ConfigError: [["protect()", [{ key: "sesion_mode", message: "unknown key" }]]],
  ProviderFailed: [[new TypeError("boom")]],
  InvalidAuthorizationServerMetadata: [["not_found", "No authorization server metadata was found for the issuer"]],
  MissingScopes: [["Resource", "file:///q3.txt", ["reports:read"], ["reports:read"]]],
  ReplayStoreFull: [["key"], ["store", 3]],
  ReplayStoreUnavailable: [[2]],
  ClientStoreFull: [[1]],
  ConnectedAccountError: "abstract",
  ConnectionRequired: [
    [
      {
        provider: "github",
        display_name: "GitHub",
        reason: "not_connected",
        url: "https://mcp.example.com/connect/start?handle=h",
        elicitation_id: "e",
        expires_at: 1,
      },
    ],
  ],
  ProviderUnavailable: [["github", "GitHub", 5]],
  ProviderRefused: [["github", "GitHub", "invalid_grant"]],
  ConnectionRefused: [["github", "unknown_provider"]],
  VaultUnavailable: [[3]],
  TokenExchangeError: REASONS.map((reason) => [reason, { audience: "https://api.example.com" }]),
};

/** Every exported error class, with the entry points and names it is exported under. */
async function exportedErrors(): Promise<Map<ErrorClass, string[]>> {
  const found = new Map<ErrorClass, string[]>();
  for (const [subpath, file] of Object.entries(entryPoints())) {
    const mod = (await import(file)) as Record<string, unknown>;
    for (const [name, value] of Object.entries(mod)) {
      if (typeof value !== "function" || !(value.prototype instanceof Error)) continue;
      const cls = value as ErrorClass;
      found.set(cls, [...(found.get(cls) ?? []), `${subpath}:${name}`]);
    }
  }
  return found;
}

const isBase = (cls: ErrorClass): boolean => typeof cls.code === "string" && cls.code.endsWith("_GENERIC");
/**
 * Names the design card fixes (DESIGN.md: "`ConfigError` … the one base of every configuration error"): kept as they
 * are.
 */
const CARD_NAMES = new Set(["ConfigError"]);

test("every exported error class has its own static string code ERR_…, unique per class", async () => {
  const errors = await exportedErrors();
  assert.ok(errors.size >= 18, `the walk found the exported errors (${errors.size})`);
  const owner = new Map<string, string>();
  for (const cls of errors.keys()) {
    assert.ok(
      Object.hasOwn(cls, "code"),
      `${cls.name} declares its own static code (like jose: \`static code = "ERR_…"\`)`,
    );
    assert.equal(typeof cls.code, "string", `${cls.name}.code is a string`);
    assert.match(cls.code as string, CODE, `${cls.name}.code has the ERR_ form`);
    assert.equal(
      owner.get(cls.code as string),
      undefined,
      `${cls.name}.code ${String(cls.code)} is not also another class's`,
    );
    owner.set(cls.code as string, cls.name);
  }
});

test("class names follow the rule: a family's base ends in Error, a class that names one condition does not", async () => {
  for (const [cls, names] of await exportedErrors()) {
    if (CARD_NAMES.has(cls.name)) assert.ok(cls.name.endsWith("Error"), `${cls.name} keeps the card's name`);
    else if (isBase(cls))
      assert.match(cls.name, /Error$/, `${cls.name} is a family base (${String(cls.code)}): its name ends in Error`);
    else assert.doesNotMatch(cls.name, /Error$/, `${cls.name} names one condition: no Error suffix`);
    const own = names.filter((n) => n.endsWith(`:${cls.name}`));
    assert.ok(own.length > 0, `${cls.name} is exported under its own name (exported as ${names.join(", ")})`);
    for (const alias of names.filter((n) => !n.endsWith(`:${cls.name}`))) {
      const entry = alias.slice(0, alias.lastIndexOf(":"));
      assert.ok(
        own.some((n) => n.startsWith(`${entry}:`)),
        `the deprecated alias ${alias} is the same class as ${cls.name}, exported from the same entry point`,
      );
    }
  }
});

test("every instance carries a string code ERR_…: its class's code, or, for a family base, a code no other class owns", async () => {
  const errors = await exportedErrors();
  const classCodes = new Map([...errors.keys()].map((cls) => [cls.code as string, cls]));
  for (const cls of errors.keys()) {
    const samples = SAMPLES[cls.name] ?? [[]];
    if (samples === "abstract") {
      assert.ok(
        [...errors.keys()].some((sub) => sub.prototype instanceof cls),
        `${cls.name} is abstract: its subclasses are exported and constructed`,
      );
      continue;
    }
    for (const args of samples) {
      let err: Error & { code?: unknown };
      try {
        err = Reflect.construct(cls, args) as Error & { code?: unknown };
      } catch (e) {
        assert.fail(`new ${cls.name}(…) threw ${String(e)}: add its constructor arguments to SAMPLES`);
      }
      assert.ok(Object.hasOwn(err, "code"), `a ${cls.name} has code on the instance`);
      assert.equal(typeof err.code, "string", `${cls.name}#code is a string`);
      assert.match(err.code as string, CODE, `${cls.name}#code has the ERR_ form`);
      assert.equal(err.name, cls.name, `${cls.name}#name is the class name`);
      if (isBase(cls)) {
        const other = classCodes.get(err.code as string);
        assert.ok(other === undefined || other === cls, `${cls.name}#code ${String(err.code)} is not ${other?.name}'s`);
      } else {
        assert.equal(err.code, cls.code, `${cls.name}#code equals ${cls.name}.code`);
      }
    }
  }
});

test("the dev authorization server's OAuthError keeps the RFC 6749 wire error and carries ERR_OAUTH_<error>", () => {
  const err = new OAuthError("invalid_grant", "The authorization code is invalid");
  assert.equal(err.error, "invalid_grant", "the wire error is unchanged");
  assert.equal(err.code, "ERR_OAUTH_INVALID_GRANT", "the library's code");
  assert.equal(OAuthError.code, "ERR_OAUTH_GENERIC", "the family's generic code");
  assert.match(OAuthError.name, /Error$/, "OAuthError is its family's base");
});
