/**
 * One way to check options: a strict zod schema per options object, and {@link parseOptions} turning
 * every problem into an {@link ConfigError} issue (unknown keys with the closest valid name).
 *
 * @module
 */
import { z } from "zod";
import { ConfigError, type ConfigIssue } from "../errors.js";
import { isSecureOrLoopback } from "../validators/remote-json.js";

/**
 * Option keys renamed by the naming rule (CONTRIBUTING, "Option names"), in the order they were
 * renamed: `[old, new]`. The old name is accepted for one minor with a `DeprecationWarning` whose
 * code is `PROTECTED_MCP_DEP_<n>`, `n` the pair's place in this list (from 1), and is removed in 0.3.
 * A schema takes a pair through its own rename table ({@link optionsSchema}).
 */
export const RENAMED_OPTIONS: readonly (readonly [string, string])[] = [
  ["session_idle_timeout", "session_idle_timeout_seconds"],
  ["headers_timeout", "headers_timeout_ms"],
  ["request_timeout", "request_timeout_ms"],
  ["keep_alive_timeout", "keep_alive_timeout_ms"],
  ["jwks_timeout", "jwks_timeout_ms"],
  ["timeout", "timeout_ms"],
  ["now", "clock"],
  ["log", "on_warning"],
  ["authenticateUser", "authenticate_user"],
  ["verifyDpopProof", "verify_dpop_proof"],
  ["jwks_cooldown", "jwks_cooldown_seconds"],
  ["jwks_max_wait", "jwks_max_wait_ms"],
  ["jwks_stale_if_error", "jwks_stale_if_error_seconds"],
  ["clock_tolerance", "clock_tolerance_seconds"],
  ["max_token_age", "max_token_age_seconds"],
  ["negative_cache_ttl", "negative_cache_ttl_seconds"],
  ["iat_window", "iat_window_seconds"],
  ["step", "step_seconds"],
  ["expiry_skew", "expiry_skew_seconds"],
  ["retry_interval", "retry_interval_ms"],
  ["access_token_ttl", "access_token_ttl_seconds"],
  ["code_ttl", "code_ttl_seconds"],
  ["refresh_token_ttl", "refresh_token_ttl_seconds"],
  ["consent_ttl", "consent_ttl_seconds"],
  ["default_cache_ttl", "default_cache_ttl_seconds"],
  ["max_cache_ttl", "max_cache_ttl_seconds"],
  ["client_idle_ttl", "client_idle_ttl_seconds"],
  ["resourceMetadataUrl", "resource_metadata_url"],
  ["dpopAlgorithms", "dpop_algorithms"],
  ["dpopRequired", "dpop_required"],
  ["accessToken", "access_token"],
  ["accessTokenHash", "access_token_hash"],
  ["iatWindow", "iat_window_seconds"],
  ["now", "now_ms"],
  ["keyCache", "key_cache"],
];

/** An options schema registered with {@link optionsSchema}: its name for messages and its rename table. */
export interface RegisteredOptionsSchema {
  /** Whose options these are, e.g. `protect()` or `JWTValidator`. */
  readonly name: string;
  /** The schema. */
  readonly schema: z.ZodType;
  /** Old key → new key, for keys renamed within the last minor. */
  readonly renamed: Readonly<Record<string, string>>;
}

const registry: RegisteredOptionsSchema[] = [];
const renameTables = new WeakMap<z.core.$ZodType, RegisteredOptionsSchema>();

/**
 * Register an options schema: every schema handed to {@link parseOptions} or {@link checkOptions}
 * (nested ones included) is defined through this, so `test/internals/option-names.test.ts` walks
 * them all, and its `renamed` table (old key → new key, each pair in {@link RENAMED_OPTIONS}) is
 * applied wherever the schema is met, at the top or nested.
 *
 * @throws `Error` when a rename is not in {@link RENAMED_OPTIONS} (a programming error).
 */
export function optionsSchema<S extends z.ZodType>(
  name: string,
  schema: S,
  renamed: Readonly<Record<string, string>> = {},
): S {
  for (const [from, to] of Object.entries(renamed)) {
    if (!RENAMED_OPTIONS.some(([a, b]) => a === from && b === to))
      throw new Error(`${name}: rename ${from} → ${to} is not in RENAMED_OPTIONS`);
  }
  const entry = Object.freeze({ name, schema, renamed: Object.freeze({ ...renamed }) });
  registry.push(entry);
  renameTables.set(schema, entry);
  return schema;
}

/**
 * `schema` with its cross-key checks, keeping the base's registration (rename table); for schemas
 * built per call from a registered base (`issueAccessToken()` checks scopes against its server's).
 */
export function derivedSchema<S extends z.ZodType>(base: z.ZodType, derived: S): S {
  const entry = renameTables.get(base);
  if (entry) renameTables.set(derived, entry);
  return derived;
}

/** Every registered options schema (those of the modules loaded so far). */
export function registeredOptionsSchemas(): readonly RegisteredOptionsSchema[] {
  return [...registry];
}

/** The old names a deprecation warning was emitted for in this process. */
const warned = new Set<string>();

/** Emit the `DeprecationWarning` of one renamed key, once per process. */
function warnRenamed(where: string, from: string, to: string): void {
  const n = RENAMED_OPTIONS.findIndex(([a, b]) => a === from && b === to) + 1;
  const code = `PROTECTED_MCP_DEP_${n}`;
  if (warned.has(code)) return;
  warned.add(code);
  process.emitWarning(`${where}: option "${from}" is renamed "${to}"; the old name is accepted until 0.3`, {
    type: "DeprecationWarning",
    code,
  });
}

/** The schema a wrapper (optional, nullable, default, readonly, catch, pipe, …) stands for; `undefined` for any other. */
function wrappedSchema(s: z.core.$ZodType): z.core.$ZodType | undefined {
  const def = s._zod.def as unknown as Record<string, unknown> & { type: string };
  switch (def.type) {
    case "optional":
    case "nullable":
    case "default":
    case "prefault":
    case "readonly":
    case "nonoptional":
    case "catch":
      return def["innerType"] as z.core.$ZodType;
    case "pipe":
      return def["in"] as z.core.$ZodType;
    default:
      return undefined;
  }
}
/**
 * `input` with every renamed key (of every registered schema met along `schema`) under its new
 * name: copies where something changed, the caller's objects never mutated. Old and new together is
 * an issue (which one was meant cannot be told).
 */
function applyRenames(schema: z.core.$ZodType, input: unknown, issues: ConfigIssue[]): unknown {
  const visit = (s: z.core.$ZodType | undefined, value: unknown, path: readonly PropertyKey[]): unknown => {
    if (!s || typeof value !== "object" || value === null || Array.isArray(value)) return value;
    let current = value as Record<string, unknown>;
    const entry = renameTables.get(s);
    if (entry) {
      for (const [from, to] of Object.entries(entry.renamed)) {
        if (!Object.hasOwn(current, from)) continue;
        if (Object.hasOwn(current, to)) {
          issues.push({ key: [...path, from].join("."), message: `renamed "${to}"; give only "${to}"` });
          continue;
        }
        warnRenamed(entry.name, from, to);
        const { [from]: moved, ...rest } = current;
        current = { ...rest, [to]: moved };
      }
    }
    const inner = wrappedSchema(s);
    if (inner) return visit(inner, current, path);
    const def = s._zod.def as unknown as Record<string, unknown> & { type: string };
    switch (def.type) {
      case "union": {
        let out: unknown = current;
        for (const o of def["options"] as z.core.$ZodType[]) out = visit(o, out, path);
        return out;
      }
      case "object": {
        const shape = def["shape"] as Record<string, z.core.$ZodType>;
        let copy: Record<string, unknown> | undefined;
        for (const k of Object.keys(current)) {
          if (!Object.hasOwn(shape, k) || REFUSED_KEYS.has(k)) continue;
          const next = visit(shape[k], current[k], [...path, k]);
          if (next !== current[k]) (copy ??= { ...current })[k] = next;
        }
        return copy ?? current;
      }
      default:
        return current;
    }
  };
  return visit(schema, input, []);
}

/**
 * The rename step of {@link checkOptions} for an options object no schema parses (a function called
 * per request, such as `verifyDpopProof` or `challengeResponse`): `input` itself when it has none of
 * the old keys (a few `in` checks), else a copy with them under their new names and the same
 * deprecation warning, once per process.
 *
 * @param where - the function, e.g. `verifyDpopProof()`, for the warning and the error.
 * @param renamed - old key → new key, each pair in {@link RENAMED_OPTIONS}.
 * @throws {@link ConfigError} when an old key and its new key are both given.
 */
export function renamedFields<T extends object>(where: string, input: T, renamed: Readonly<Record<string, string>>): T {
  let out: Record<string, unknown> | undefined;
  for (const from in renamed) {
    if (!(from in input)) continue;
    const to = renamed[from]!;
    if (to in input) throw new ConfigError(where, [{ key: from, message: `renamed "${to}"; give only "${to}"` }]);
    warnRenamed(where, from, to);
    out ??= { ...(input as Record<string, unknown>) };
    out[to] = out[from];
    delete out[from];
  }
  return (out ?? input) as T;
}

/**
 * `input` with its renamed keys under their new names, for code that reads the caller's object
 * after {@link parseOptions} accepted it (rather than the parsed copy): the same objects where nothing
 * was renamed, copies where something was, never the caller's mutated.
 */
export function withNewNames<T>(schema: z.ZodType, input: T): T {
  return applyRenames(schema, input, []) as T;
}

/**
 * Validate `input` against a strict schema and return the parsed value (defaults filled in, the
 * caller's object never kept or mutated).
 *
 * @param where - the component, e.g. `protect()` or `MemoryReplayStore`; it starts the message.
 * @throws {@link ConfigError} naming every problem, not only the first.
 */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, where: string): z.output<S> {
  const result = checkOptions(schema, input);
  if (result.success) return result.data;
  throw new ConfigError(where, result.issues);
}

/** What {@link checkOptions} found: the parsed value, or every problem as {@link ConfigIssue}s. */
export type OptionsCheck<T> = { success: true; data: T } | { success: false; issues: ConfigIssue[] };

/**
 * {@link parseOptions} without the throw: renamed keys taken under their new name (with a
 * deprecation warning once per process; old and new together is an issue), the schema's problems
 * (unknown keys with the closest valid name) and the keys refused by name (`__proto__`, `constructor`, `prototype`, and
 * keys an object
 * only inherits), all together.
 */
export function checkOptions<S extends z.ZodType>(schema: S, input: unknown): OptionsCheck<z.output<S>> {
  // A programming error, not the caller's: every options schema is registered, so the naming test sees it.
  if (!renameTables.has(schema)) throw new Error("checkOptions: options schema not registered with optionsSchema()");
  // Refused keys first, on the caller's own objects: the renamed copies keep no inherited keys.
  const refused = refusedKeyIssues(schema, input ?? {});
  const value = applyRenames(schema, input ?? {}, refused);
  const result = schema.safeParse(value);
  if (result.success && refused.length === 0) return { success: true, data: result.data };
  const named = new Set(refused.map((i) => i.key));
  const others = result.success ? [] : issuesOf(schema, result.error.issues).filter((i) => !named.has(i.key));
  return { success: false, issues: [...refused, ...others] };
}

/**
 * Keys no option object may have, whatever its schema: an own key with one of these names is how a
 * parsed JSON document or a computed key (`{ ["__proto__"]: x }`) reaches `Object.prototype`, and a
 * record (`token_exchange.audiences`) would otherwise drop it without a word.
 */
const REFUSED_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

/**
 * Walk `input` along `schema` and name every refused key of an object or record option: an own key
 * in {@link REFUSED_KEYS}, and enumerable keys an object only inherits (an object literal's
 * `{ __proto__: x }` sets its prototype: zod would read `x`'s keys as if they were the object's).
 * Values the schema does not describe as objects (providers, stores, callbacks) are not entered.
 */
function refusedKeyIssues(schema: z.ZodType, input: unknown): ConfigIssue[] {
  const issues = new Map<string, string>();
  const add = (path: readonly PropertyKey[], message: string): void => {
    const key = path.map(String).join(".");
    if (!issues.has(key)) issues.set(key, message);
  };
  const visit = (s: z.core.$ZodType | undefined, value: unknown, path: readonly PropertyKey[]): void => {
    if (!s || typeof value !== "object" || value === null) return;
    const inner = wrappedSchema(s);
    if (inner) return visit(inner, value, path);
    const def = s._zod.def as unknown as Record<string, unknown> & { type: string };
    switch (def.type) {
      case "union":
        for (const o of def["options"] as z.core.$ZodType[]) visit(o, value, path);
        return;
      case "intersection":
        visit(def["left"] as z.core.$ZodType, value, path);
        visit(def["right"] as z.core.$ZodType, value, path);
        return;
      case "array":
        if (Array.isArray(value)) value.forEach((v, i) => visit(def["element"] as z.core.$ZodType, v, [...path, i]));
        return;
      case "object":
      case "record": {
        if (Array.isArray(value)) return;
        const own = Object.keys(value);
        for (const k of own) {
          if (REFUSED_KEYS.has(k))
            add(
              [...path, k],
              `refused by name: __proto__, constructor and prototype are never option keys (prototype pollution)`,
            );
        }
        const inherited: string[] = [];
        for (const k in value) if (!Object.hasOwn(value, k)) inherited.push(k);
        if (inherited.length) {
          add(
            [...path, "__proto__"],
            `refused: inherited keys (${inherited.join(", ")}); { __proto__: … } sets the object's prototype, write the keys themselves`,
          );
        }
        const record = value as Record<string, unknown>;
        if (def.type === "object") {
          const shape = def["shape"] as Record<string, z.core.$ZodType>;
          for (const k of own)
            if (Object.hasOwn(shape, k) && !REFUSED_KEYS.has(k)) visit(shape[k], record[k], [...path, k]);
        } else {
          for (const k of own)
            if (!REFUSED_KEYS.has(k)) visit(def["valueType"] as z.core.$ZodType, record[k], [...path, k]);
        }
        return;
      }
      default:
        return;
    }
  };
  visit(schema, input, []);
  return [...issues].map(([key, message]) => ({ key, message }));
}

/** zod issues → {@link ConfigIssue}s: one per unknown key (with a suggestion), one per other problem. */
export function issuesOf(schema: z.ZodType, issues: readonly z.core.$ZodIssue[]): ConfigIssue[] {
  return issues.flatMap((issue): ConfigIssue[] => {
    if (issue.code === "unrecognized_keys") {
      const renamed = new Map<string, string>();
      const known = keysAt(schema, issue.path, renamed);
      return issue.keys.map((k) => {
        // Else a slip on a renamed key's old name (`stpe` for `step`) suggests its new name.
        const old = closest(k, [...renamed.keys()]);
        const near = closest(k, known) ?? (old === undefined ? undefined : renamed.get(old));
        return {
          key: [...issue.path, k].join("."),
          message: near ? `unknown key (did you mean "${near}"?)` : "unknown key",
        };
      });
    }
    if (issue.code === "invalid_union" && issue.errors.length > 0) {
      // A missing value of a union type: zod says only "Invalid input"; say what was expected, in zod's words.
      const expected = issue.errors.map((branch) => {
        const only = branch.length === 1 ? branch[0] : undefined;
        return only?.code === "invalid_type" && only.message.endsWith("received undefined") ? only.expected : undefined;
      });
      if (expected.every((e) => e !== undefined)) {
        const key = issue.path.join(".") || "(options)";
        return [{ key, message: `Invalid input: expected ${[...new Set(expected)].join(" | ")}, received undefined` }];
      }
    }
    if (issue.code === "invalid_key") {
      // A record's key (an IssuerRouter issuer URL): say what is wrong with it, not only that it is.
      const key = issue.path.join(".") || "(options)";
      return issue.issues.map((inner) => ({ key, message: `invalid key: ${inner.message}` }));
    }
    return [{ key: issue.path.join(".") || "(options)", message: issue.message }];
  });
}

/**
 * The keys an object schema accepts at `path` (through optional, default, nullable, union, array and
 * record wrappers); the old names of its renamed keys go into `renamed` (old → new).
 */
function keysAt(schema: z.ZodType, path: readonly PropertyKey[], renamed?: Map<string, string>): string[] {
  const found = new Set<string>();
  const visit = (s: z.core.$ZodType | undefined, rest: readonly PropertyKey[]): void => {
    if (!s) return;
    const table = rest.length === 0 ? renameTables.get(s)?.renamed : undefined;
    for (const [from, to] of Object.entries(table ?? {})) renamed?.set(from, to);
    const inner = wrappedSchema(s);
    if (inner) return visit(inner, rest);
    const def = s._zod.def as unknown as Record<string, unknown> & { type: string };
    switch (def.type) {
      case "union":
        for (const o of def["options"] as z.core.$ZodType[]) visit(o, rest);
        return;
      case "intersection":
        visit(def["left"] as z.core.$ZodType, rest);
        visit(def["right"] as z.core.$ZodType, rest);
        return;
      case "array":
        return visit(def["element"] as z.core.$ZodType, rest.slice(1));
      case "record":
        // `token_exchange.audiences.<any audience>.orign`: the record's own key is the user's.
        if (rest.length > 0) visit(def["valueType"] as z.core.$ZodType, rest.slice(1));
        return;
      case "object": {
        const shape = def["shape"] as Record<string, z.core.$ZodType>;
        if (rest.length === 0) for (const k of Object.keys(shape)) found.add(k);
        else visit(shape[String(rest[0])], rest.slice(1));
        return;
      }
      default:
        return;
    }
  };
  visit(schema, path);
  return [...found];
}

/**
 * The known key nearest to `key`, when near enough to be a likely slip, else `undefined`. In order:
 *
 * 1. the same words, whatever the case, separators, word order or URL synonym (`introspectionUrl`,
 *    `url_jwks` and `token_url` name `introspection_endpoint`, `jwks_uri` and `token_endpoint`);
 * 2. an edit distance of at most a third of the key's length (at least 2), a difference of case only,
 *    or one key being the start of the other (`grace` for `grace_ms`, at least 4 characters), the
 *    fewer edits winning between equally near keys;
 * 3. the one known key whose words differ from `key`'s by one missing, one extra or one replaced
 *    word (`allow_http` → `allow_insecure_http`, `token_cache_size` → `token_cache_max`), at least 4
 *    characters in common; a single shared word out of two (`cache_size`, `cache_ttl`) is not near,
 *    and two keys as near as each other get no suggestion rather than a guess.
 */
export function closest(key: string, known: readonly string[]): string | undefined {
  const words = wordsOf(key);
  const same = known.filter((k) => sameWords(words, wordsOf(k)));
  if (same.length === 1) return same[0];
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  let bestEdits = Infinity;
  const lower = key.toLowerCase();
  for (const k of known) {
    const kl = k.toLowerCase();
    const prefix = Math.min(k.length, key.length) >= 4 && (kl.startsWith(lower) || lower.startsWith(kl));
    const edits = editDistance(key, k);
    const d = kl === lower || prefix ? 1 : edits;
    // Equally near (two keys starting with `client_id`): the fewer edits wins (`client_ids`, not `client_id_claims`).
    if (d < bestDistance || (best !== undefined && d === bestDistance && edits < bestEdits))
      [best, bestDistance, bestEdits] = [k, d, edits];
  }
  return best ?? sharedWords(words, known);
}

/** URL-ish words that name the same thing in an option key. */
const SYNONYMS: Readonly<Record<string, string>> = { uri: "url", endpoint: "url", href: "url" };

/** A key's words: split at `_`, `-`, `.` and camelCase humps, lower-cased, URL synonyms folded. */
function wordsOf(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .toLowerCase()
    .split(/[_\-.\s]+/)
    .filter(Boolean)
    .map((w) => SYNONYMS[w] ?? w);
}

/** The same words, in any order. */
function sameWords(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join("\0") === [...b].sort().join("\0");
}

/** Step 3 of {@link closest}: the one known key whose words are nearest to the typed key's. */
function sharedWords(words: readonly string[], known: readonly string[]): string | undefined {
  const mine = [...new Set(words)];
  let best: string | undefined;
  let bestScore = 0;
  let tie = false;
  for (const k of known) {
    const theirs = [...new Set(wordsOf(k))];
    const shared = mine.filter((w) => theirs.includes(w));
    if (shared.reduce((n, w) => n + w.length, 0) < 4) continue;
    const missing = shared.length === mine.length; // every typed word is in the key: one or more left out
    const extra = shared.length === theirs.length && theirs.length >= 2; // the key's words and more
    const replaced = shared.length >= 2 && mine.length - shared.length <= 1 && theirs.length - shared.length <= 1;
    if (!missing && !extra && !replaced) continue;
    if (shared.length > bestScore) [best, bestScore, tie] = [k, shared.length, false];
    else if (shared.length === bestScore) tie = true;
  }
  return tie ? undefined : best;
}

/** Levenshtein distance with transpositions counted as one edit (optimal string alignment). */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 8) return Math.abs(a.length - b.length);
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}

/** What {@link urlOption} refuses besides userinfo and fragments. */
export interface UrlOptionRules {
  /** Refuse a query too (an empty `?` included), with this reason, e.g. `"RFC 8707 §2"`. */
  no_query?: string;
  /** Accept a fragment (a documentation link's `#section`; never an endpoint). Default `false`. */
  allow_fragment?: boolean;
  /** Refuse plain `http:` off loopback (`localhost`, `127.0.0.0/8`, `[::1]`). Default `false`. */
  https?: boolean;
}

/** `scheme://user:password@` or `scheme://@`: an authority with a userinfo part, however empty. */
const USERINFO = /^[a-z][a-z0-9+.-]*:[\\/]*[^\\/?#]*@/i;

/**
 * A URL option: an absolute `http(s)` URL with neither userinfo (credentials in a URL end up in logs
 * and in published metadata) nor a fragment (RFC 3986 §3.5: never sent to a server), each refused with
 * its own reason; a string that is no URL at all is one issue, never a `TypeError`. Every endpoint, issuer and resource
 * URL option is this one schema.
 */
export function urlOption(rules: UrlOptionRules = {}) {
  const error = (issue: { input?: unknown }) =>
    issue.input === undefined ? "required: an absolute http(s) URL" : "must be an absolute http(s) URL";
  return z.url({ protocol: /^https?$/, error }).superRefine((u, ctx) => {
    if (!URL.canParse(u)) return;
    const url = new URL(u);
    if (url.protocol !== "https:" && url.protocol !== "http:") return; // refused by z.url already
    if (url.username || url.password || USERINFO.test(u)) {
      ctx.addIssue({
        code: "custom",
        message: "must not contain userinfo (user:password@): credentials in a URL end up in logs and metadata",
      });
    }
    if (!rules.allow_fragment && u.includes("#"))
      ctx.addIssue({ code: "custom", message: "must not contain a fragment (#…)" });
    if (rules.no_query && u.split("#")[0]!.includes("?")) {
      ctx.addIssue({ code: "custom", message: `must not contain a query (${rules.no_query})` });
    }
    if (rules.https && !isSecureOrLoopback(url))
      ctx.addIssue({ code: "custom", message: "must be https (plain http only on loopback)" });
  });
}

/** A back-off window option (`initial_ms`, `max_ms`, each at most an hour, initial ≤ max), checked once. */
export const backoffWindowSchema = z
  .strictObject({
    initial_ms: z.number().int().positive().max(3_600_000).optional(),
    max_ms: z.number().int().positive().max(3_600_000).optional(),
  })
  .refine((b) => (b.initial_ms ?? 1000) <= (b.max_ms ?? 30_000), { error: "initial_ms must not exceed max_ms" });

/** A callback option: any function (zod 4's `z.function()` is not a schema). */
export const functionSchema = z.custom<(...args: never[]) => unknown>((v) => typeof v === "function", {
  error: "must be a function",
});

/** An object with the named methods (duck-typed interfaces such as a replay store or a provider). */
export function withMethods<T>(...methods: string[]) {
  return z.custom<T>(
    (v) =>
      typeof v === "object" &&
      v !== null &&
      methods.every((m) => typeof (v as Record<string, unknown>)[m] === "function"),
    { error: `must be an object with ${methods.map((m) => `${m}()`).join(" and ")}` },
  );
}

/**
 * The principal options every token validator takes (JWT, Entra, introspection), checked the same
 * way: which claim is the subject, whether it may be missing, and the oldest `iat` accepted.
 * {@link principalRenamed} goes with it into each validator's rename table.
 */
export const principalOptionsShape = {
  subject_claim: z.string().min(1).optional(),
  allow_missing_subject: z.boolean().optional(),
  max_token_age_seconds: z
    .number()
    .int()
    .positive()
    .max(365 * 86_400)
    .optional(),
};

/** The renamed keys of {@link principalOptionsShape} (old → new), for each validator's rename table. */
export const principalRenamed = { max_token_age: "max_token_age_seconds" } as const;
