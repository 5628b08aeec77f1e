/**
 * One message for bad options, naming every offending key — shared by the validators' constructors.
 *
 * @module
 */
import { z } from "zod";

/** `"<what>: key: message; other: unknown key"` from zod issues. */
export function describeIssues(what: string, issues: readonly z.core.$ZodIssue[]): string {
  const parts = issues.map((i) => {
    const unknown = i.code === "unrecognized_keys";
    const key = i.path.join(".") || (unknown ? (i as { keys: string[] }).keys.join(", ") : "(options)");
    return `${key}: ${unknown ? "unknown key" : i.message}`;
  });
  return `Invalid ${what} options: ${parts.join("; ")}`;
}

/** A back-off window option (`initial_ms`, `max_ms`, each at most an hour, initial ≤ max), checked once. */
export const backoffWindowSchema = z
  .strictObject({ initial_ms: z.number().int().positive().max(3_600_000).optional(), max_ms: z.number().int().positive().max(3_600_000).optional() })
  .refine((b) => (b.initial_ms ?? 1000) <= (b.max_ms ?? 30_000), { error: "initial_ms must not exceed max_ms" });
