/**
 * One message for bad options, naming every offending key — shared by the validators' constructors.
 *
 * @module
 */
import type { z } from "zod";

/** `"<what>: key: message; other: unknown key"` from zod issues. */
export function describeIssues(what: string, issues: readonly z.core.$ZodIssue[]): string {
  const parts = issues.map((i) => {
    const unknown = i.code === "unrecognized_keys";
    const key = i.path.join(".") || (unknown ? (i as { keys: string[] }).keys.join(", ") : "(options)");
    return `${key}: ${unknown ? "unknown key" : i.message}`;
  });
  return `Invalid ${what} options: ${parts.join("; ")}`;
}
