/**
 * What a tool learns about the current request: the verified principal ({@link AuthContext}) and the
 * request context around it ({@link RequestContext}). Types only; `getContext()` is in `storage.ts`.
 *
 * @module
 */
import type { JWTPayload } from "jose";
import type {
  Connection,
  ConnectionRequest,
  ExchangedToken,
  ExchangeTokenRequest,
  ProviderConnectionRequest,
} from "../token-exchange/types.js";

/**
 * The verified principal of the current request.
 *
 * `token` is present but non-enumerable: it does not appear in `JSON.stringify(auth)`,
 * `Object.keys` or a spread, so a tool that returns or logs `auth` does not leak it. Read it
 * explicitly only if you must call a downstream API *as this client* — and prefer a token exchange:
 * passing the token through to another resource is what RFC 8707 audience checks exist to stop.
 */
export interface AuthContext {
  /** `sub` claim (or the preset's user-id claim). */
  readonly subject: string;
  /** Granted scopes, from `scope` (space-separated) or `scp` (array), plus preset extras. */
  readonly scopes: readonly string[];
  /** All verified claims. */
  readonly claims: Readonly<JWTPayload>;
  /** OAuth client: `client_id`, else `azp` (or the preset's client claim). */
  readonly client_id: string | undefined;
  /** `iss` claim. */
  readonly issuer: string | undefined;
  /** `exp` claim, seconds since the epoch. */
  readonly expires_at: number | undefined;
  /** RFC 7638 thumbprint of the DPoP key the token is bound to (`cnf.jkt`), when sender-constrained. */
  readonly jkt?: string | undefined;
  /** The raw access token (non-enumerable; see the interface note). */
  readonly token: string;
}

/** Everything a tool can learn about the current request. */
export interface RequestContext {
  /** The caller, or `null` when anonymous (authorization disabled, or `fail_open` used). */
  readonly auth: AuthContext | null;
  /**
   * Whether authorization is enforced for this request. `false` when `enabled: false`, in which case
   * per-tool scopes are not checked either.
   */
  readonly authorization_enabled: boolean;
  /**
   * Exchange the caller's token for one for another API (RFC 8693 token exchange, or Entra
   * on-behalf-of), as configured by the server's `token_exchange` option. Cached until shortly
   * before it expires; one call in flight per caller, audience and scope.
   *
   * Prefer {@link RequestContext.connection}: it attaches the token itself, so the tool never holds it.
   *
   * @throws `TokenExchangeError` (`protected-mcp/token-exchange`) — `ERR_TOKEN_EXCHANGE_NO_CALLER` without an
   * authorized caller,
   *   `ERR_TOKEN_EXCHANGE_FAILED` with the server's `error`, `ERR_TOKEN_EXCHANGE_UNAVAILABLE`, …
   * @example
   * ```ts
   * const { access_token } = await getContext().exchangeToken({ audience: "https://api.example.com", scope: "read" });
   * ```
   */
  exchangeToken(request: ExchangeTokenRequest): Promise<ExchangedToken>;
  /**
   * A handle on a downstream API as the caller; the credential never reaches the tool.
   *
   * - `{ audience }`: token exchange — `fetch()` exchanges the caller's token, attaches it, and refuses any
   *   URL or redirect outside the audience's origin.
   * - `{ provider }`: a connected account (`connected_accounts` option) — `fetch()` attaches the caller's
   *   stored third-party credential (refreshed when due, and once after a 401) and refuses any URL or
   *   redirect outside the provider's API origins. Without a usable credential it throws
   *   `ConnectionRequired`, which `tool()` answers for you: a URL-mode elicitation of a connect
   *   link bound to the caller (`-32042` on 2025-11-25, `InputRequiredResult` on 2026-07-28), or an
   *   `isError` result naming the provider and the link for a client without URL elicitation.
   *
   * @throws `TokenExchangeError` / `ConnectionRefused` at once without a caller, for an audience or provider
   *   that is not configured, or whose origin is unknown.
   * @example
   * ```ts
   * const api = getContext().connection({ audience: "https://api.example.com" });
   * const me = await (await api.fetch("/v1/me")).json();
   * const github = getContext().connection({ provider: "github" });
   * const repos = await (await github.fetch("/user/repos")).json();
   * ```
   */
  connection(request: ConnectionRequest | ProviderConnectionRequest): Connection;
  /**
   * Forget the caller's connected account for `provider`: the vault record is removed and the token
   * revoked at the provider when it has a revocation endpoint. Resolves `true` when there was a record.
   *
   * @throws `ConnectionRefused` without a caller or for an unknown provider.
   */
  disconnect(provider: string): Promise<boolean>;
}

/**
 * The capability behind `getContext().connection({ provider })` / `.disconnect()`, bound to a server's
 * `connected_accounts`. @internal
 */
export interface ContextAccounts {
  /** A connection handle on `provider` for the caller. */
  connection(auth: AuthContext | null, provider: unknown): Connection;
  /** Forget the caller's account at `provider`. */
  disconnect(auth: AuthContext | null, provider: unknown): Promise<boolean>;
}

/**
 * The capability behind `getContext().exchangeToken()` / `.connection()`, bound to a server's
 * `token_exchange` options. @internal
 */
export interface ContextExchange {
  /** Exchange the caller's token. */
  exchangeToken(auth: AuthContext | null, request: ExchangeTokenRequest): Promise<ExchangedToken>;
  /** A connection handle for the caller. */
  connection(auth: AuthContext | null, request: ConnectionRequest): Connection;
}
