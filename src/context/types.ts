/**
 * What a tool learns about the current request: the verified principal ({@link AuthContext}) and the
 * request context around it ({@link RequestContext}). Types only; `getContext()` is in `storage.ts`.
 *
 * @module
 */
import type { JWTPayload } from "jose";
import type { Connection, ConnectionRequest, ExchangedToken, ExchangeTokenRequest } from "../token-exchange/types.js";

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
   * A handle on a downstream API as the caller: its `fetch()` exchanges the token, attaches it, and
   * refuses any URL or redirect outside the audience's origin. The token never reaches the tool.
   *
   * @throws `TokenExchangeError` (`protected-mcp/token-exchange`) at once without a caller, for an audience that is not
   * allowed
   *   or whose origin is unknown.
   * @example
   * ```ts
   * const api = getContext().connection({ audience: "https://api.example.com" });
   * const me = await (await api.fetch("/v1/me")).json();
   * ```
   */
  connection(request: ConnectionRequest): Connection;
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
