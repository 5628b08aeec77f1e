/**
 * Connected accounts' errors, one family under {@link ConnectedAccountError}: no usable credential
 * ({@link ConnectionRequired}, answered by the library with a URL-mode elicitation or its fallback),
 * the provider unreachable ({@link ProviderUnavailable}), a misuse in tool code
 * ({@link ConnectionRefused}). None ever carries a token, code, key or connect-flow secret other than
 * the connect URL itself, which is meant for the user.
 *
 * @module
 */

/** Why a {@link ConnectionRequired} was thrown. */
export type ConnectionRequiredReason =
  /** The user has never connected this provider (or disconnected it). */
  | "not_connected"
  /** The provider refused the refresh token (`invalid_grant`): revoked or expired; the record is gone. */
  | "refresh_failed"
  /** The API answered 401 after a refresh, or there was nothing to refresh with. */
  | "revoked"
  /** The stored grant lacks scopes the tool asked for. */
  | "insufficient_scope";

/** Base of every connected-accounts error. */
export abstract class ConnectedAccountError extends Error {
  /** `ERR_CONNECTED_ACCOUNT_GENERIC`. */
  static readonly code: string = "ERR_CONNECTED_ACCOUNT_GENERIC";
  /** Stable code of the condition. */
  abstract readonly code: string;
  /** The provider's name in `connected_accounts.providers`. */
  readonly provider: string;
  /** @param provider - the provider's name; @param message - safe for clients and logs. */
  constructor(provider: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.provider = provider;
  }
}

/**
 * The caller has no usable credential for a provider: the library answers the tool call with a URL-mode
 * elicitation of `url` (or, for a client without URL mode, an `isError` result carrying `message`).
 * Tool code normally lets it propagate. `url` is the connect link: opaque, single-use, short-lived and
 * bound to the caller; it is meant for the user and carries nothing else.
 */
export class ConnectionRequired extends ConnectedAccountError {
  /** `ERR_CONNECTION_REQUIRED`. */
  static override readonly code: string = "ERR_CONNECTION_REQUIRED";
  /** Always `ERR_CONNECTION_REQUIRED`. */
  readonly code = "ERR_CONNECTION_REQUIRED" as const;
  /** Why no credential could be used. */
  readonly reason: ConnectionRequiredReason;
  /** The provider's display name. */
  readonly display_name: string;
  /** The connect URL to open in a browser. */
  readonly url: string;
  /** The elicitation's id (2025-11-25 `elicitationId`; the `notifications/elicitation/complete` key). */
  readonly elicitation_id: string;
  /** When the connect URL stops working, seconds since the epoch. */
  readonly expires_at: number;
  /** @param fields - what the elicitation says. */
  constructor(fields: {
    provider: string;
    display_name: string;
    reason: ConnectionRequiredReason;
    url: string;
    elicitation_id: string;
    expires_at: number;
  }) {
    super(fields.provider, `Connect your ${fields.display_name} account to continue: ${fields.url}`);
    this.name = "ConnectionRequired";
    this.reason = fields.reason;
    this.display_name = fields.display_name;
    this.url = fields.url;
    this.elicitation_id = fields.elicitation_id;
    this.expires_at = fields.expires_at;
  }
}

/**
 * The provider (its token or revocation endpoint, or its discovery document) could not be reached or
 * answered 5xx. Not a reason to connect again: the stored credential is kept, and calls back off (failing
 * fast with `retry_after`) like the key set does.
 */
export class ProviderUnavailable extends ConnectedAccountError {
  /** `ERR_CONNECTED_PROVIDER_UNAVAILABLE`. */
  static override readonly code: string = "ERR_CONNECTED_PROVIDER_UNAVAILABLE";
  /** Always `ERR_CONNECTED_PROVIDER_UNAVAILABLE`. */
  readonly code = "ERR_CONNECTED_PROVIDER_UNAVAILABLE" as const;
  /** Whole seconds until the provider is asked again. */
  readonly retry_after: number;
  /** @param provider - its name; @param retry_after - seconds; @param options - `cause`, never sent to clients. */
  constructor(provider: string, display_name: string, retry_after: number, options?: { cause?: unknown }) {
    super(provider, `${display_name} is unavailable; try again in ${retry_after} s`, options);
    this.name = "ProviderUnavailable";
    this.retry_after = retry_after;
  }
}

/** Why a {@link ConnectionRefused} was thrown. */
export type ConnectionRefusedReason =
  /** No authorized caller (outside a request, authorization disabled, or `fail_open`). */
  | "no_caller"
  /** The server has no `connected_accounts` option. */
  | "not_configured"
  /** No provider of that name. */
  | "unknown_provider"
  /** `fetch()` to a URL outside the provider's API origins. */
  | "origin_mismatch"
  /** The API redirected outside its origins. */
  | "redirect_off_origin"
  /** More than 5 redirects. */
  | "too_many_redirects";

/** A connection was used in a way the library refuses before anything is sent. */
export class ConnectionRefused extends ConnectedAccountError {
  /** `ERR_CONNECTION_REFUSED`. */
  static override readonly code: string = "ERR_CONNECTION_REFUSED";
  /** Always `ERR_CONNECTION_REFUSED`. */
  readonly code = "ERR_CONNECTION_REFUSED" as const;
  /** What was refused. */
  readonly reason: ConnectionRefusedReason;
  /** @param provider - the name asked for; @param reason - what was refused. */
  constructor(provider: string, reason: ConnectionRefusedReason) {
    super(provider, REFUSAL_TEXT[reason](provider));
    this.name = "ConnectionRefused";
    this.reason = reason;
  }
}

const REFUSAL_TEXT: Readonly<Record<ConnectionRefusedReason, (p: string) => string>> = {
  no_caller: () => "Connected accounts need an authorized caller",
  not_configured: () => "This server has no connected accounts",
  unknown_provider: (p) => `No connected-account provider named ${JSON.stringify(p)}`,
  origin_mismatch: (p) => `Refused: that URL is outside the API origins of ${JSON.stringify(p)}`,
  redirect_off_origin: (p) => `Refused: the API of ${JSON.stringify(p)} redirected outside its origins`,
  too_many_redirects: (p) => `Refused: the API of ${JSON.stringify(p)} redirected more than 5 times`,
};

/**
 * The provider answered an OAuth error at its token endpoint (`invalid_grant` for a revoked or expired
 * refresh token or code, `invalid_client`, …) or something that is not a token response. `error` is
 * the provider's code when it sent a well-formed one; `error_description` is never copied (it is the
 * provider's free text).
 */
export class ProviderRefused extends ConnectedAccountError {
  /** `ERR_CONNECTED_PROVIDER_REFUSED`. */
  static override readonly code: string = "ERR_CONNECTED_PROVIDER_REFUSED";
  /** Always `ERR_CONNECTED_PROVIDER_REFUSED`. */
  readonly code = "ERR_CONNECTED_PROVIDER_REFUSED" as const;
  /** The OAuth `error` code (`[a-z_]+`, else `"invalid_response"`). */
  readonly error: string;
  /** @param provider - its name; @param display_name - shown; @param error - the OAuth error code. */
  constructor(provider: string, display_name: string, error: string) {
    const code = /^[a-z_]{1,64}$/.test(error) ? error : "invalid_response";
    super(provider, `${display_name} refused the request (${code})`);
    this.name = "ProviderRefused";
    this.error = code;
  }
}

/**
 * The token vault could not answer: its store (Redis) failed, did not answer within `timeout_ms`, or
 * is being backed off after a failure (calls then fail at once until `retry_after` has passed). Not a
 * reason to connect again: nothing was read, and nothing stored is lost. `provider` is `""` (the vault
 * serves every provider). The message carries no key, token or record; the store's error is the `cause`.
 */
export class VaultUnavailable extends ConnectedAccountError {
  /** `ERR_VAULT_UNAVAILABLE`. */
  static override readonly code: string = "ERR_VAULT_UNAVAILABLE";
  /** Always `ERR_VAULT_UNAVAILABLE`. */
  readonly code = "ERR_VAULT_UNAVAILABLE" as const;
  /** Whole seconds until the store is asked again. */
  readonly retry_after: number;
  /** @param retry_after - seconds until the next attempt; @param options - `cause`, never sent to clients. */
  constructor(retry_after: number, options?: { cause?: unknown }) {
    super("", `The token vault is unavailable; try again in ${retry_after} s`, options);
    this.name = "VaultUnavailable";
    this.retry_after = retry_after;
  }
}
