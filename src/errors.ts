/**
 * Typed errors with stable `code` strings: the resource server's family ({@link AuthError} and its
 * subclasses, {@link ConfigError}, {@link ProviderFailed}, {@link InvalidAuthorizationServerMetadata}).
 *
 * Every refusal the library makes is one of these classes. Callers (and tests) branch on `code`,
 * never on `message`. Like jose's errors, every class carries its code twice: on the instance
 * (`err.code`) and on the class (`TokenExpired.code`), so `err.code === TokenExpired.code` works. Messages are short,
 * fixed sentences: they never contain the token, a key, a
 * claim value taken from the token or a stack trace, so they are safe to put in a
 * `WWW-Authenticate` `error_description` and in logs. Context useful for debugging goes in `cause`,
 * which is never sent to a client.
 *
 * The mapping from these classes to HTTP status and `WWW-Authenticate` lives in one place:
 * {@link challengeFor} in `protect/challenges.ts`.
 *
 * @module
 */

/** Every stable error code this library produces. */
export type AuthErrorCode =
  | "ERR_MISSING_TOKEN"
  | "ERR_INVALID_REQUEST"
  | "ERR_INVALID_TOKEN"
  | "ERR_TOKEN_EXPIRED"
  | "ERR_INSUFFICIENT_SCOPE"
  | "ERR_AUTHORIZATION_UNAVAILABLE"
  | "ERR_INVALID_DPOP_PROOF"
  | "ERR_USE_DPOP_NONCE"
  | "ERR_SESSION_MISMATCH";

/**
 * Why a request was refused, for operators: finer than {@link AuthErrorCode} (which is what the
 * client sees), stable, and carried by every `refused` event. Never contains token material.
 *
 * | reason | meaning |
 * |---|---|
 * | `missing_token` | no credential was presented |
 * | `invalid_request` | malformed `Authorization` header, two credentials, token in the query, oversized |
 * | `malformed` | the token does not parse (not a JWS, bad JSON, wrong shape) |
 * | `algorithm_not_allowed` | the JWS `alg` is not in the allowlist (`none` and HMAC never are) |
 * | `key_unknown` | no key in the key set matches the token's `kid` |
 * | `signature_invalid` | the signature does not verify |
 * | `token_type` | `typ` is not the configured one (e.g. `at+jwt`), or `token_use` is wrong |
 * | `issuer_untrusted` | `iss` is not a trusted issuer |
 * | `audience_mismatch` | `aud` (or the configured stand-in) does not name this resource |
 * | `expired` | `exp` has passed |
 * | `not_yet_valid` | `nbf` is in the future |
 * | `issued_in_future` | `iat` is in the future beyond the clock tolerance |
 * | `too_old` | `iat` is older than the configured maximum token age |
 * | `claim_missing` | a required claim (e.g. `sub`) is absent |
 * | `claim_invalid` | a claim has the wrong type or value |
 * | `inactive` | introspection answered `active` other than `true` |
 * | `binding_unsupported` | `cnf` names a binding this resource cannot check (e.g. mTLS `x5t#S256`) |
 * | `bound_token_as_bearer` | a DPoP-bound token was sent with the `Bearer` scheme |
 * | `binding_required` | `dpop_required`, but the token is not DPoP-bound |
 * | `dpop_not_accepted` | DPoP is switched off, but the token or request uses it |
 * | `dpop_invalid` | the DPoP proof is missing, malformed or does not match the request or token |
 * | `dpop_replay` | the DPoP proof was used before |
 * | `dpop_nonce_required` | the proof must carry the server's current nonce |
 * | `replay_store_full` | the replay store cannot record one more proof right now |
 * | `insufficient_scope` | the token lacks a required scope |
 * | `session_mismatch` | the session belongs to another principal |
 * | `unavailable` | validation could not be completed (key set, introspection endpoint or store down) |
 * | `token_invalid` | any other refusal of the token |
 */
export type RefusalReason =
  | "missing_token"
  | "invalid_request"
  | "malformed"
  | "algorithm_not_allowed"
  | "key_unknown"
  | "signature_invalid"
  | "token_type"
  | "issuer_untrusted"
  | "audience_mismatch"
  | "expired"
  | "not_yet_valid"
  | "issued_in_future"
  | "too_old"
  | "claim_missing"
  | "claim_invalid"
  | "inactive"
  | "binding_unsupported"
  | "bound_token_as_bearer"
  | "binding_required"
  | "dpop_not_accepted"
  | "dpop_invalid"
  | "dpop_replay"
  | "dpop_nonce_required"
  | "replay_store_full"
  | "insufficient_scope"
  | "session_mismatch"
  | "unavailable"
  | "token_invalid";

/** Options every {@link AuthError} takes. */
export interface AuthErrorOptions {
  /** Internal detail for debugging; never sent to a client. */
  cause?: unknown;
  /** The operator-facing reason; each class has a default. */
  reason?: RefusalReason | undefined;
}

/**
 * Base class of every authorization failure.
 *
 * @example
 * ```ts
 * try { await validator.verify(token, ctx) }
 * catch (e) { if (e instanceof AuthError && e.code === "ERR_TOKEN_EXPIRED") { … } }
 * ```
 */
export abstract class AuthError extends Error {
  /** The family's generic code (`ERR_AUTH_GENERIC`); an instance carries its subclass's code. */
  static readonly code: string = "ERR_AUTH_GENERIC";
  /** Stable machine-readable code. */
  abstract readonly code: AuthErrorCode;
  /** Why, for operators (carried by `refused` events); finer than `code`. */
  readonly reason: RefusalReason;

  /**
   * @param message - a short fixed sentence, safe to show to a client (no token material).
   * @param options - `cause` carries internal detail (never sent to clients); `reason` overrides the class default.
   */
  constructor(message: string, options?: AuthErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.reason = options?.reason ?? new.target.defaultReason;
  }

  /** The reason used when none is given. */
  static readonly defaultReason: RefusalReason = "token_invalid";
}

/** No credentials were presented (RFC 6750 §3.1: the challenge carries no `error`). */
export class MissingToken extends AuthError {
  /** `ERR_MISSING_TOKEN`. */
  static override readonly code: string = "ERR_MISSING_TOKEN";
  static override readonly defaultReason: RefusalReason = "missing_token";
  override readonly code = "ERR_MISSING_TOKEN" as const;
  constructor() {
    super("No access token was presented");
  }
}

/**
 * The request is malformed in a way that RFC 6750 calls `invalid_request`: an empty or malformed
 * `Authorization` header, more than one credential, a token in the query string, an oversized token.
 */
export class InvalidRequest extends AuthError {
  /** `ERR_INVALID_REQUEST`. */
  static override readonly code: string = "ERR_INVALID_REQUEST";
  static override readonly defaultReason: RefusalReason = "invalid_request";
  override readonly code = "ERR_INVALID_REQUEST" as const;
}

/** The token is not acceptable: malformed, forged, for another audience, from another issuer, … */
export class InvalidToken extends AuthError {
  /** `ERR_INVALID_TOKEN`. */
  static override readonly code: string = "ERR_INVALID_TOKEN";
  override readonly code: "ERR_INVALID_TOKEN" | "ERR_TOKEN_EXPIRED" = "ERR_INVALID_TOKEN";
}

/** The token's `exp` has passed (beyond the clock tolerance). A subclass of {@link InvalidToken}. */
export class TokenExpired extends InvalidToken {
  /** `ERR_TOKEN_EXPIRED`. */
  static override readonly code: string = "ERR_TOKEN_EXPIRED";
  static override readonly defaultReason: RefusalReason = "expired";
  override readonly code = "ERR_TOKEN_EXPIRED" as const;
  constructor(options?: AuthErrorOptions) {
    super("The access token expired", options);
  }
}

/** The token is valid but lacks scopes this resource requires (RFC 6750 §3.1 `insufficient_scope`). */
export class InsufficientScope extends AuthError {
  /** `ERR_INSUFFICIENT_SCOPE`. */
  static override readonly code: string = "ERR_INSUFFICIENT_SCOPE";
  static override readonly defaultReason: RefusalReason = "insufficient_scope";
  override readonly code = "ERR_INSUFFICIENT_SCOPE" as const;
  /** The scopes that were required (all of them, not only the missing ones). */
  readonly required: readonly string[];
  /** @param required - every scope the request needs. */
  constructor(required: readonly string[]) {
    super("The access token lacks a required scope");
    this.required = [...required];
  }
}

/**
 * Validation could not be completed: the key set or the authorization server is unreachable or
 * answered with an error. This is the only error `fail_open` may turn into an anonymous request.
 */
export class AuthorizationUnavailable extends AuthError {
  /** `ERR_AUTHORIZATION_UNAVAILABLE`. */
  static override readonly code: string = "ERR_AUTHORIZATION_UNAVAILABLE";
  static override readonly defaultReason: RefusalReason = "unavailable";
  override readonly code = "ERR_AUTHORIZATION_UNAVAILABLE" as const;
  /** Whole seconds after which a retry may succeed (sent as `Retry-After`), when known. */
  readonly retry_after: number | undefined;
  /** @param options - `cause`: internal detail; `retry_after`: seconds until the dependency is tried again. */
  constructor(options?: AuthErrorOptions & { retry_after?: number | undefined }) {
    super("Token validation is temporarily unavailable", options);
    this.retry_after = options?.retry_after;
  }
}

/** The DPoP proof is missing, malformed, replayed or does not match the request or token (RFC 9449). */
export class InvalidDpopProof extends AuthError {
  /** `ERR_INVALID_DPOP_PROOF`. */
  static override readonly code: string = "ERR_INVALID_DPOP_PROOF";
  static override readonly defaultReason: RefusalReason = "dpop_invalid";
  override readonly code = "ERR_INVALID_DPOP_PROOF" as const;
}

/** The server requires a DPoP nonce the proof did not carry (RFC 9449 §8). */
export class UseDpopNonce extends AuthError {
  /** `ERR_USE_DPOP_NONCE`. */
  static override readonly code: string = "ERR_USE_DPOP_NONCE";
  static override readonly defaultReason: RefusalReason = "dpop_nonce_required";
  override readonly code = "ERR_USE_DPOP_NONCE" as const;
  /** The nonce the client must use in its next proof. */
  readonly nonce: string;
  /** @param nonce - the fresh nonce to send in the `DPoP-Nonce` header. */
  constructor(nonce: string) {
    super("Resource server requires nonce in DPoP proof");
    this.nonce = nonce;
  }
}

/**
 * A request carried an `Mcp-Session-Id` opened by another principal. Answered like an unknown
 * session (404), so a session id reveals nothing to whoever guessed or stole it.
 */
export class SessionMismatch extends AuthError {
  /** `ERR_SESSION_MISMATCH`. */
  static override readonly code: string = "ERR_SESSION_MISMATCH";
  static override readonly defaultReason: RefusalReason = "session_mismatch";
  override readonly code = "ERR_SESSION_MISMATCH" as const;
  constructor() {
    super("Session not found");
  }
}

/** One problem found in an options object: the dotted key and what is wrong with it. */
export interface ConfigIssue {
  /** Dotted path of the key, e.g. `authorization.authorization_servers.0`; `(options)` for the whole object. */
  key: string;
  /** What is wrong, e.g. `unknown key (did you mean "session_mode"?)`. */
  message: string;
}

/**
 * The one error for bad configuration, thrown at construction by every component that takes
 * options (`protect`, `MCPServer`, the validators, the stores, the DPoP check, the dev
 * authorization server, the testing kit, the CLI). It lists **every** problem, not only the first.
 *
 * It extends `TypeError` (a wrong option is a programming error) and is never an {@link AuthError}:
 * it is not mapped to an HTTP answer, because it happens before a server exists.
 *
 * @example
 * ```ts
 * try { protect(server, { authorization, sesion_mode: "stateless" } as never) }
 * catch (e) {
 *   if (e instanceof ConfigError) console.error(e.issues); // [{ key: "sesion_mode", message: 'unknown key (did you mean "session_mode"?)' }]
 * }
 * ```
 */
export class ConfigError extends TypeError {
  /** `ERR_INVALID_CONFIG`. */
  static readonly code: string = "ERR_INVALID_CONFIG";
  /** Always `ERR_INVALID_CONFIG`. */
  readonly code = "ERR_INVALID_CONFIG" as const;
  /** One entry per problem. */
  readonly issues: readonly ConfigIssue[];
  /**
   * @param where - the component whose options are wrong, e.g. `protect()`.
   * @param issues - every problem found (at least one).
   */
  constructor(where: string, issues: readonly ConfigIssue[]) {
    super(`Invalid ${where} options: ${issues.map((i) => `${i.key}: ${i.message}`).join("; ")}`);
    this.name = "ConfigError";
    this.issues = Object.freeze(issues.map((i) => Object.freeze({ ...i })));
  }
}

/**
 * The authorization provider (or the DPoP check) threw something that is not an {@link AuthError}:
 * a bug or a misconfiguration, not an outage. The request is answered 500 and nobody is admitted;
 * `fail_open` never applies (it admits only on {@link AuthorizationUnavailable}). The original error
 * is the `cause`; `error_class` names its class for the `provider_error` event (never its message,
 * which might quote the token).
 */
export class ProviderFailed extends Error {
  /** `ERR_PROVIDER_FAILED`. */
  static readonly code: string = "ERR_PROVIDER_FAILED";
  /** Always `ERR_PROVIDER_FAILED`. */
  readonly code = "ERR_PROVIDER_FAILED" as const;
  /** The thrown value's class name (`TypeError`, …), or its `typeof` when it is not an object. */
  readonly error_class: string;
  /** @param cause - what the provider threw. */
  constructor(cause: unknown) {
    super("The authorization provider failed", { cause });
    this.name = "ProviderFailed";
    this.error_class = classNameOf(cause);
  }
}

/** Why discovery refused what it found (as opposed to not reaching the server: {@link AuthorizationUnavailable}). */
export type DiscoveryFailure = "insecure" | "not_found" | "invalid" | "issuer_mismatch" | "missing_endpoint";

/**
 * Discovery found no usable metadata: the issuer URL is not https (nor loopback), no document
 * exists, the document is malformed, names another issuer (RFC 8414 §3.3), or lacks the endpoint
 * asked for. Retrying will not help until the configuration changes.
 */
export class InvalidAuthorizationServerMetadata extends Error {
  /** `ERR_AS_METADATA`. */
  static readonly code: string = "ERR_AS_METADATA";
  /** Always `ERR_AS_METADATA`. */
  readonly code = "ERR_AS_METADATA" as const;
  /** What exactly is wrong. */
  readonly reason: DiscoveryFailure;
  /**
   * @param reason - see {@link DiscoveryFailure}.
   * @param message - a fixed sentence (no document content).
   * @param options - `cause`: internal detail.
   */
  constructor(reason: DiscoveryFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "InvalidAuthorizationServerMetadata";
    this.reason = reason;
  }
}

/** A class name fit for logs: letters, digits, `_` and `$`, at most 64 characters. */
function classNameOf(value: unknown): string {
  const raw = typeof value === "object" && value !== null ? (value.constructor?.name ?? "Object") : typeof value;
  return raw.replace(/[^\w$]/g, "").slice(0, 64) || "Unknown";
}
