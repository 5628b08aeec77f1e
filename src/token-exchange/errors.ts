/**
 * `TokenExchangeError`: every way a token exchange or a connection handle can fail, with a stable
 * `code`, a finer `reason`, and the authorization server's own `error` / `error_description` when it
 * answered one. Never carries token material.
 *
 * @module
 */

/** Stable codes of {@link TokenExchangeError}. */
export type TokenExchangeErrorCode =
  | "ERR_TOKEN_EXCHANGE_FAILED"
  | "ERR_TOKEN_EXCHANGE_UNAVAILABLE"
  | "ERR_TOKEN_EXCHANGE_NO_CALLER"
  | "ERR_TOKEN_EXCHANGE_NOT_CONFIGURED"
  | "ERR_TOKEN_EXCHANGE_AUDIENCE_NOT_ALLOWED"
  | "ERR_CONNECTION_URL_REFUSED";

/**
 * Why an exchange failed, for operators (carried by `token_exchange_failed` events).
 *
 * | reason | code | meaning |
 * |---|---|---|
 * | `refused` | `ERR_TOKEN_EXCHANGE_FAILED` | the authorization server answered an OAuth error (`error` says which) |
 * | `invalid_response` | `ERR_TOKEN_EXCHANGE_FAILED` | it answered something that is not a usable token response |
 * | `unreachable` | `ERR_TOKEN_EXCHANGE_UNAVAILABLE` | network error, timeout or 5xx; the calls back off |
 * | `backing_off` | `ERR_TOKEN_EXCHANGE_UNAVAILABLE` | an earlier failure is still being waited out (`retry_after`) |
 * | `no_caller` | `ERR_TOKEN_EXCHANGE_NO_CALLER` | no authorized caller: outside a request, authorization disabled, or
 * `fail_open` |
 * | `caller_expired` | `ERR_TOKEN_EXCHANGE_NO_CALLER` | the caller's token has expired since the request was authorized
 * |
 * | `not_configured` | `ERR_TOKEN_EXCHANGE_NOT_CONFIGURED` | the server has no `token_exchange` option |
 * | `audience_not_allowed` | `ERR_TOKEN_EXCHANGE_AUDIENCE_NOT_ALLOWED` | the audience is not in
 * `token_exchange.audiences` |
 * | `origin_unknown` | `ERR_TOKEN_EXCHANGE_AUDIENCE_NOT_ALLOWED` | a connection to an audience that is not a URL and
 * has no configured `origin` |
 * | `origin_mismatch` | `ERR_CONNECTION_URL_REFUSED` | `connection.fetch()` to a URL outside the audience's origin |
 * | `redirect_off_origin` | `ERR_CONNECTION_URL_REFUSED` | the API redirected outside the audience's origin |
 * | `too_many_redirects` | `ERR_CONNECTION_URL_REFUSED` | more than 5 redirects |
 */
export type TokenExchangeFailureReason =
  | "refused"
  | "invalid_response"
  | "unreachable"
  | "backing_off"
  | "no_caller"
  | "caller_expired"
  | "not_configured"
  | "audience_not_allowed"
  | "origin_unknown"
  | "origin_mismatch"
  | "redirect_off_origin"
  | "too_many_redirects";

const CODE_OF: Readonly<Record<TokenExchangeFailureReason, TokenExchangeErrorCode>> = {
  refused: "ERR_TOKEN_EXCHANGE_FAILED",
  invalid_response: "ERR_TOKEN_EXCHANGE_FAILED",
  unreachable: "ERR_TOKEN_EXCHANGE_UNAVAILABLE",
  backing_off: "ERR_TOKEN_EXCHANGE_UNAVAILABLE",
  no_caller: "ERR_TOKEN_EXCHANGE_NO_CALLER",
  caller_expired: "ERR_TOKEN_EXCHANGE_NO_CALLER",
  not_configured: "ERR_TOKEN_EXCHANGE_NOT_CONFIGURED",
  audience_not_allowed: "ERR_TOKEN_EXCHANGE_AUDIENCE_NOT_ALLOWED",
  origin_unknown: "ERR_TOKEN_EXCHANGE_AUDIENCE_NOT_ALLOWED",
  origin_mismatch: "ERR_CONNECTION_URL_REFUSED",
  redirect_off_origin: "ERR_CONNECTION_URL_REFUSED",
  too_many_redirects: "ERR_CONNECTION_URL_REFUSED",
};

const SENTENCE: Readonly<Record<TokenExchangeFailureReason, string>> = {
  refused: "was refused by the authorization server",
  invalid_response: "got an unusable answer from the authorization server",
  unreachable: "could not reach the authorization server",
  backing_off: "is paused: the authorization server was unreachable",
  no_caller: "needs an authorized caller",
  caller_expired: "needs an authorized caller (the caller's token has expired)",
  not_configured: "is not configured on this server (token_exchange option)",
  audience_not_allowed: "is not allowed for this audience",
  origin_unknown: "needs an origin for this audience (token_exchange.audiences)",
  origin_mismatch: "refused a URL outside the audience's origin",
  redirect_off_origin: "refused a redirect outside the audience's origin",
  too_many_redirects: "refused more than 5 redirects",
};

/** Options of {@link TokenExchangeError}. */
export interface TokenExchangeErrorOptions {
  /** Internal detail for debugging (never token material). */
  cause?: unknown;
  /** The target audience. */
  audience?: string | undefined;
  /** The authorization server's `error` (RFC 6749 §5.2 / RFC 8693 §2.2.2), e.g. `invalid_target`. */
  error?: string | undefined;
  /** The authorization server's `error_description`. */
  error_description?: string | undefined;
  /** HTTP status of the authorization server's answer. */
  status?: number | undefined;
  /** Whole seconds until an exchange is tried again (while backing off). */
  retry_after?: number | undefined;
}

/** RFC 6749 §5.2: `error` and `error_description` are printable ASCII without `"` and `\`. Anything else is dropped. */
const OAUTH_TEXT = /^[\x20\x21\x23-\x5B\x5D-\x7E]{1,512}$/;
const cleanText = (v: string | undefined): string | undefined =>
  v !== undefined && OAUTH_TEXT.test(v) ? v : undefined;

/**
 * A token exchange (or a connection handle) failed. Branch on `code` (or `reason`), never on the
 * message. The message names the audience and, when the authorization server answered one, its
 * `error` code; it never contains a token.
 *
 * Inside a `tool()`, an uncaught one becomes an `isError` result with this message.
 *
 * @example
 * ```ts
 * try { await getContext().exchangeToken({ audience: "https://api.example.com" }) }
 * catch (e) {
 *   if (e instanceof TokenExchangeError && e.error === "invalid_scope") { … }
 * }
 * ```
 */
export class TokenExchangeError extends Error {
  /** The family's generic code (`ERR_TOKEN_EXCHANGE_GENERIC`); an instance carries the code its `reason` decides. */
  static readonly code: string = "ERR_TOKEN_EXCHANGE_GENERIC";
  /** Stable machine-readable code. */
  readonly code: TokenExchangeErrorCode;
  /** Why, finer than `code`. */
  readonly reason: TokenExchangeFailureReason;
  /** The target audience, when there was one. */
  readonly audience: string | undefined;
  /** The authorization server's `error`, when it answered one. */
  readonly error: string | undefined;
  /** The authorization server's `error_description`, when it answered one. */
  readonly error_description: string | undefined;
  /** HTTP status of the authorization server's answer, when there was one. */
  readonly status: number | undefined;
  /** Seconds until an exchange is tried again, while backing off. */
  readonly retry_after: number | undefined;

  /**
   * @param reason - why; it decides the `code`.
   * @param options - audience, the server's error fields, `cause` (internal detail).
   */
  constructor(reason: TokenExchangeFailureReason, options: TokenExchangeErrorOptions = {}) {
    const error = cleanText(options.error);
    const target =
      options.audience !== undefined
        ? ` for audience "${options.audience.replace(/[\\"\r\n]/g, "?").slice(0, 200)}"`
        : "";
    super(
      `Token exchange${target} ${SENTENCE[reason]}${error ? ` (${error})` : ""}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "TokenExchangeError";
    this.reason = reason;
    this.code = CODE_OF[reason];
    this.audience = options.audience;
    this.error = error;
    this.error_description = cleanText(options.error_description);
    this.status = options.status;
    this.retry_after = options.retry_after;
  }
}
