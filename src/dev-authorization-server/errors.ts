/**
 * The development authorization server's errors: {@link OAuthError} (every OAuth error answer, mapped
 * to its JSON response in one place), {@link ClientStoreFull} (registration when no client can be
 * added), and the `invalid_scope` description that names the unsupported scopes.
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

/**
 * The base of the development authorization server's errors, thrown inside the endpoints and mapped
 * to a JSON OAuth error response in one place. `error` is the RFC 6749 / 7591 wire code sent to the
 * client (`invalid_request`, …); `code` is the same in this library's form (`ERR_OAUTH_INVALID_REQUEST`).
 */
export class OAuthError extends Error {
  /** The family's generic code (`ERR_OAUTH_GENERIC`); an instance carries `ERR_OAUTH_` and its wire `error`. */
  static readonly code: string = "ERR_OAUTH_GENERIC";
  /** `ERR_OAUTH_` followed by the wire `error` in upper case, e.g. `ERR_OAUTH_INVALID_GRANT`. */
  readonly code: string;
  /**
   * @param error - the RFC 6749 / 7591 error code.
   * @param description - a short fixed sentence (no secrets, no echoed input).
   * @param status - HTTP status. Default 400.
   * @param headers - extra response headers (e.g. `Retry-After` on a 503).
   */
  constructor(
    readonly error: string,
    readonly description: string,
    readonly status = 400,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(description);
    this.name = "OAuthError";
    this.code = `ERR_OAUTH_${error.toUpperCase().replace(/[^A-Z0-9]+/g, "_")}`;
  }
}

/**
 * Thrown by `DevAuthorizationServerStorage.saveClient` when no client can be added without
 * forgetting one that may still be in use. Registration answers `503 temporarily_unavailable` with
 * `Retry-After: retry_after`; no registered client is ever evicted to make room.
 */
export class ClientStoreFull extends Error {
  /** `ERR_CLIENT_STORE_FULL`. */
  static readonly code: string = "ERR_CLIENT_STORE_FULL";
  /** Always `ERR_CLIENT_STORE_FULL`. */
  readonly code = "ERR_CLIENT_STORE_FULL" as const;
  /** Seconds until a slot is expected to free up (at least 1). */
  readonly retry_after: number;
  /** @param retry_after - seconds until a slot is expected to free up. */
  constructor(retry_after: number) {
    super("The client store is full");
    this.name = "ClientStoreFull";
    this.retry_after = Math.max(1, Math.ceil(retry_after));
  }
}
