/**
 * What tools see of token exchange: the request, the exchanged token, the connection handle.
 *
 * @module
 */

/** What {@link RequestContext.exchangeToken} takes. */
export interface ExchangeTokenRequest {
  /**
   * The API the token is for: its identifier at the authorization server (RFC 8693 `audience`;
   * Keycloak: the target client id; Auth0: the API identifier; Entra: the App ID URI, e.g. `api://…`).
   */
  audience: string;
  /**
   * Scopes to ask for (space-separated or a list). Default: the audience's `scope` in `token_exchange.audiences`, else
   * none (the server decides). Never wider than the caller's.
   */
  scope?: string | readonly string[] | undefined;
  /** RFC 8693 `resource`: the URL of the target service, when the authorization server uses it. */
  resource?: string | undefined;
}

/** The result of an exchange (RFC 8693 §2.2.1), as a tool sees it. */
export interface ExchangedToken {
  /** The new access token, for `audience`. Prefer {@link Connection}: it keeps this out of tool code. */
  readonly access_token: string;
  /** Always `Bearer` (anything else is refused). */
  readonly token_type: "Bearer";
  /**
   * When it expires (seconds since the epoch), from `expires_in` or the token's `exp`; `undefined` when unknown (then
   * it is not cached).
   */
  readonly expires_at: number | undefined;
  /** Granted scopes: the answer's `scope`, else the scopes asked for, else `undefined`. */
  readonly scope: string | undefined;
  /**
   * `urn:ietf:params:oauth:token-type:access_token` (or `…:jwt`); Entra OBO, which does not say, gets `…:access_token`.
   */
  readonly issued_token_type: string;
}

/** What {@link RequestContext.connection} takes. */
export interface ConnectionRequest {
  /**
   * The API to call: see {@link ExchangeTokenRequest.audience}. A URL, or an audience with an `origin` in
   * `token_exchange.audiences`.
   */
  audience: string;
  /** Scopes to ask for; see {@link ExchangeTokenRequest.scope}. */
  scope?: string | readonly string[] | undefined;
}

/** A connected account to call as the current caller: a provider of the server's `connected_accounts`. */
export interface ProviderConnectionRequest {
  /** The provider's name in `connected_accounts.providers` (`"github"`). */
  provider: string;
}

/**
 * A handle on a downstream API, as the current caller: `fetch()` exchanges the caller's token for
 * one for `audience` (cached), attaches it as `Authorization: Bearer`, and refuses any URL — and any
 * redirect — outside `origin`. The token itself is never visible to the tool.
 */
export interface Connection {
  /** The audience the token is for (a connected account: its API's first origin). */
  readonly audience: string;
  /** A connected account's provider name (`getContext().connection({ provider })`); absent for token exchange. */
  readonly provider?: string | undefined;
  /** The only origin requests may go to (`https://api.example.com`). */
  readonly origin: string;
  /**
   * `fetch` with the exchanged token attached. `input` may be a path (`"/v1/me"`), resolved against
   * `origin`. An `Authorization` header in `init` is replaced. Redirects within `origin` are followed
   * (at most 5, token re-attached); one leaving it is refused.
   *
   * @throws `TokenExchangeError` (`protected-mcp/token-exchange`) `ERR_CONNECTION_URL_REFUSED` before anything is sent
   * to a URL
   *   outside `origin`; any exchange failure.
   */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
}
