/**
 * Auth decisions as events, for logs, metrics and audit trails.
 *
 * Events never carry the token, a key or a stack trace: only codes, the principal's identifiers and
 * the scopes granted.
 *
 * @module
 */
import type { AuthErrorCode, RefusalReason } from "./errors.js";
import type { TokenExchangeErrorCode, TokenExchangeFailureReason } from "./token-exchange/errors.js";
import type { ConnectionRequiredReason } from "./connected-accounts/errors.js";

/** A request was authorized. */
export interface AcceptedEvent {
  /** Discriminator. */
  type: "accepted";
  /** `sub` of the token. */
  subject: string;
  /** OAuth client of the token. */
  client_id: string | undefined;
  /** Granted scopes. */
  scopes: readonly string[];
  /** DPoP key thumbprint when the token is sender-constrained. */
  jkt?: string | undefined;
}

/** A request was refused. */
export interface RefusedEvent {
  /** Discriminator. */
  type: "refused";
  /** Stable error code (what the client was told). */
  code: AuthErrorCode;
  /** Why, for the operator: see {@link RefusalReason}. */
  reason: RefusalReason;
  /** HTTP status sent. */
  status: number;
}

/** Validation could not be completed and `fail_open` let the request through as anonymous. */
export interface FailOpenEvent {
  /** Discriminator. */
  type: "fail_open";
  /** Always `ERR_AUTHORIZATION_UNAVAILABLE`. */
  code: AuthErrorCode;
}

/** A JWKS was fetched (first use, expiry, or an unknown `kid`). */
export interface JwksRefreshedEvent {
  /** Discriminator. */
  type: "jwks_refreshed";
  /** The key set's URL. */
  jwks_uri: string;
  /** Whether the fetch succeeded. */
  ok: boolean;
}

/**
 * A key set refresh failed and the last good keys stay in use (stale-if-error). Emitted once per
 * failed refresh, not per request.
 */
export interface JwksStaleEvent {
  /** Discriminator. */
  type: "jwks_stale";
  /** The key set's URL. */
  jwks_uri: string;
  /** Age of the keys still in use, in seconds. */
  age_seconds: number;
  /** Seconds until the next fetch attempt. */
  retry_after: number;
}

/**
 * The provider (or the DPoP check) threw something that is not an auth error: answered 500, nobody
 * admitted. Names the error's class only (its message might quote the token).
 */
export interface ProviderErrorEvent {
  /** Discriminator. */
  type: "provider_error";
  /** Class of what was thrown, e.g. `TypeError`. */
  error_class: string;
}

/**
 * The DPoP replay store could not record a proof without forgetting a live one, so the proof was
 * refused (and a `refused` event with reason `replay_store_full` follows). `scope: "key"`: one client
 * key used up its share (401 to that client only); `scope: "store"`: the whole store is full (503 to
 * every new proof until `retry_after` seconds have passed). Carries no key, `jti` or token.
 */
export interface ReplayStoreFullEvent {
  /** Discriminator. */
  type: "replay_store_full";
  /** Which limit was hit: one key's share or the whole store. */
  scope: "key" | "store";
  /** Seconds until a place frees up (`scope: "store"`), as sent in `Retry-After`. */
  retry_after?: number | undefined;
}

/**
 * The authorization server exchanged a caller's token for one for another audience (RFC 8693). Not emitted for cache
 * hits.
 */
export interface TokenExchangedEvent {
  /** Discriminator. */
  type: "token_exchanged";
  /** The target audience. */
  audience: string;
  /** The caller (`sub`) the token was exchanged for. */
  subject: string;
  /** The caller's OAuth client. */
  client_id: string | undefined;
  /** Granted scopes, space-separated, when known. */
  scope: string | undefined;
  /** Expiry of the exchanged token, seconds since the epoch, when known. */
  expires_at: number | undefined;
}

/** A token exchange or a connection handle failed (no token material). */
export interface TokenExchangeFailedEvent {
  /** Discriminator. */
  type: "token_exchange_failed";
  /** The target audience, when there was one. */
  audience: string | undefined;
  /** Stable code of the `TokenExchangeError` (`protected-mcp/token-exchange`). */
  code: TokenExchangeErrorCode;
  /** Why. */
  reason: TokenExchangeFailureReason;
  /** The authorization server's `error`, when it answered one (e.g. `invalid_target`). */
  error: string | undefined;
}

/** A user connected a third-party account through the connect page (no token, code or key). */
export interface AccountConnectedEvent {
  /** Discriminator. */
  type: "account_connected";
  /** The provider's name in `connected_accounts.providers`. */
  provider: string;
  /** The MCP principal (`sub`) the account is now bound to. */
  subject: string;
}

/** A connected account was removed (`getContext().disconnect()`, or a refresh token the provider refused). */
export interface AccountDisconnectedEvent {
  /** Discriminator. */
  type: "account_disconnected";
  /** The provider's name. */
  provider: string;
  /** The MCP principal (`sub`). */
  subject: string;
  /** Whether the provider confirmed revocation (RFC 7009); `false` when it has nowhere to revoke or failed. */
  revoked: boolean;
}

/** A tool needed a connected account the caller has no usable credential for; a connect link was made. */
export interface ConnectionRequiredEvent {
  /** Discriminator. */
  type: "connection_required";
  /** The provider's name. */
  provider: string;
  /** The MCP principal (`sub`). */
  subject: string;
  /** Why: `not_connected`, `refresh_failed`, `revoked` or `insufficient_scope`. */
  reason: ConnectionRequiredReason;
}

/** Refreshing a connected account's token failed. */
export interface ConnectionRefreshFailedEvent {
  /** Discriminator. */
  type: "connection_refresh_failed";
  /** The provider's name. */
  provider: string;
  /** The MCP principal (`sub`). */
  subject: string;
  /** `invalid_grant` (the record was removed; the next call asks to connect again) or `unavailable` (kept). */
  reason: "invalid_grant" | "unavailable";
}

/** Any auth event. Switch on `type`. */
export type AuthEvent =
  | AcceptedEvent
  | RefusedEvent
  | FailOpenEvent
  | JwksRefreshedEvent
  | JwksStaleEvent
  | ProviderErrorEvent
  | ReplayStoreFullEvent
  | TokenExchangedEvent
  | TokenExchangeFailedEvent
  | AccountConnectedEvent
  | AccountDisconnectedEvent
  | ConnectionRequiredEvent
  | ConnectionRefreshFailedEvent;

/** Receives {@link AuthEvent}s. Must not throw; exceptions are caught and ignored. */
export type AuthEventListener = (event: AuthEvent) => void;

/** Call a listener, shielding the request from its failures. */
export function emitSafely(listener: AuthEventListener | undefined, event: AuthEvent): void {
  if (!listener) return;
  try {
    listener(event);
  } catch {
    // An observer must never change an auth decision.
  }
}
