/**
 * One way to check options: a strict zod schema per options object, and {@link parseOptions} turning
 * every problem into a {@link ConfigError} issue (unknown keys with the closest valid name).
 *
 * @module
 */
import { z } from "zod";
import { ConfigError, type ConfigIssue } from "../errors.js";

/**
 * Validate `input` against a strict schema and return the parsed value (defaults filled in, the
 * caller's object never kept or mutated).
 *
 * @param where - the component, e.g. `protect()` or `MemoryReplayStore`; it starts the message.
 * @throws {@link ConfigError} naming every problem, not only the first.
 */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, where: string): z.output<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  throw new ConfigError(where, issuesOf(schema, result.error.issues));
}

/** zod issues → {@link ConfigIssue}s: one per unknown key (with a suggestion), one per other problem. */
export function issuesOf(schema: z.ZodType, issues: readonly z.core.$ZodIssue[]): ConfigIssue[] {
  return issues.flatMap((issue): ConfigIssue[] => {
    if (issue.code === "unrecognized_keys") {
      const known = keysAt(schema, issue.path);
      return issue.keys.map((k) => {
        const near = closest(k, known);
        return { key: [...issue.path, k].join("."), message: near ? `unknown key (did you mean "${near}"?)` : "unknown key" };
      });
    }
    return [{ key: issue.path.join(".") || "(options)", message: issue.message }];
  });
}

/** The keys an object schema accepts at `path` (through optional, default, nullable, union and array wrappers). */
function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  const found = new Set<string>();
  const visit = (s: z.core.$ZodType | undefined, rest: readonly PropertyKey[]): void => {
    if (!s) return;
    const def = s._zod.def as unknown as Record<string, unknown> & { type: string };
    switch (def.type) {
      case "optional":
      case "nullable":
      case "default":
      case "prefault":
      case "readonly":
      case "nonoptional":
      case "catch":
        return visit(def["innerType"] as z.core.$ZodType, rest);
      case "pipe":
        return visit(def["in"] as z.core.$ZodType, rest);
      case "union":
        for (const o of def["options"] as z.core.$ZodType[]) visit(o, rest);
        return;
      case "intersection":
        visit(def["left"] as z.core.$ZodType, rest);
        visit(def["right"] as z.core.$ZodType, rest);
        return;
      case "array":
        return visit(def["element"] as z.core.$ZodType, rest.slice(1));
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
 * The known key nearest to `key`, when near enough to be a likely slip, else `undefined`: an edit
 * distance of at most a third of the key's length (at least 2), a difference of case only, or one
 * key being the start of the other (`grace` for `grace_ms`, at least 4 characters).
 */
export function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  const lower = key.toLowerCase();
  for (const k of known) {
    const kl = k.toLowerCase();
    const prefix = Math.min(k.length, key.length) >= 4 && (kl.startsWith(lower) || lower.startsWith(kl));
    const d = kl === lower || prefix ? 1 : editDistance(key, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
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

/** A back-off window option (`initial_ms`, `max_ms`, each at most an hour, initial ≤ max), checked once. */
export const backoffWindowSchema = z
  .strictObject({
    initial_ms: z.number().int().positive().max(3_600_000).optional(),
    max_ms: z.number().int().positive().max(3_600_000).optional(),
  })
  .refine((b) => (b.initial_ms ?? 1000) <= (b.max_ms ?? 30_000), { error: "initial_ms must not exceed max_ms" });

/** A callback option: any function (zod 4's `z.function()` is not a schema). */
export const functionSchema = z.custom<(...args: never[]) => unknown>((v) => typeof v === "function", { error: "must be a function" });

/** An object with the named methods (duck-typed interfaces such as a replay store or a provider). */
export function withMethods<T>(...methods: string[]) {
  return z.custom<T>(
    (v) => typeof v === "object" && v !== null && methods.every((m) => typeof (v as Record<string, unknown>)[m] === "function"),
    { error: `must be an object with ${methods.map((m) => `${m}()`).join(" and ")}` },
  );
}

/**
 * The principal options every token validator takes (JWT, Entra, introspection), checked the same
 * way: which claim is the subject, whether it may be missing, and the oldest `iat` accepted.
 */
export const principalOptionsShape = {
  subject_claim: z.string().min(1).optional(),
  allow_missing_subject: z.boolean().optional(),
  max_token_age: z
    .number()
    .int()
    .positive()
    .max(365 * 86_400)
    .optional(),
};
