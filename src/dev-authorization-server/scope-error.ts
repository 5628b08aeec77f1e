/**
 * The `invalid_scope` description: which requested scopes are not offered, and which option lists
 * the offered ones, so the developer knows what to change on which side.
 *
 * @module
 */
import { SCOPE_TOKEN } from "../lib/scope.js";

/** Most scopes named in one description (the rest are counted). */
const MAX_NAMED = 3;
/** Longest scope named verbatim. */
const MAX_NAME_LENGTH = 64;

/**
 * `Unsupported scope 'files:write': not in scopes_supported (dev authorization server option
 * \`scopes_supported\`)`. The scopes come from the client, so only well-formed ones (RFC 6749 §3.3
 * characters, which are also safe in an `error_description`) of bounded length are named; others are
 * counted as malformed.
 */
export function unsupportedScopeDescription(unsupported: readonly string[]): string {
  const nameable = unsupported.filter((s) => s.length <= MAX_NAME_LENGTH && SCOPE_TOKEN.test(s) && !s.includes("'"));
  const named = nameable.slice(0, MAX_NAMED).map((s) => `'${s}'`);
  const others = unsupported.length - named.length;
  const list = [...named, ...(others ? [`${others} more`] : [])].join(", ");
  return `Unsupported scope${unsupported.length === 1 ? "" : "s"} ${list}: not in scopes_supported (dev authorization server option \`scopes_supported\`)`;
}
