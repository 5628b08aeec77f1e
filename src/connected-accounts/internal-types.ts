/**
 * The contracts between the connected-accounts modules (not exported from the package): a provider
 * resolved from its options, the connect link's record, and what the connect routes report back.
 *
 * @internal
 * @module
 */
import type { AccountKey, BrowserIdentity, StoredCredential } from "./types.js";

/** A provider after its options were checked (and, for discovery, its endpoints found). */
export interface ResolvedProviderBase {
  /** Key in `connected_accounts.providers`. */
  readonly name: string;
  /** Shown on pages and in messages. */
  readonly display_name: string;
  /** Origins the credential may be sent to; the first is `connection().origin`. */
  readonly api_origins: readonly string[];
  /** Header the credential goes in (lower case), and the text before it. */
  readonly header: string;
  readonly prefix: string;
}

/** An OAuth provider: the server is its client (authorization code + PKCE S256, always). */
export interface ResolvedOAuthProvider extends ResolvedProviderBase {
  readonly type: "oauth";
  /** Scopes asked for. */
  readonly scopes: readonly string[];
  /** The authorization request URL (endpoints discovered on first use when configured by issuer). */
  authorizationUrl(p: { redirect_uri: string; state: string; code_challenge: string }): Promise<string>;
  /**
   * Exchange an authorization code.
   * @throws `ProviderRefused` (the provider's OAuth error) or `ProviderUnavailable`.
   */
  exchangeCode(p: { code: string; redirect_uri: string; code_verifier: string }): Promise<StoredCredential>;
  /** Whether a refresh is possible (a refresh token was issued). */
  canRefresh(credential: StoredCredential): boolean;
  /**
   * Refresh; the result carries the rotated refresh token when the provider rotated it, else the old one.
   * @throws `ProviderRefused` with `error: "invalid_grant"` (record to be removed) or `ProviderUnavailable`.
   */
  refresh(credential: StoredCredential): Promise<StoredCredential>;
  /** RFC 7009 revocation when configured; `false` when there is nowhere to revoke. Never throws. */
  revoke(credential: StoredCredential): Promise<boolean>;
}

/** An API-key provider: the key is pasted on the connect page. */
export interface ResolvedApiKeyProvider extends ResolvedProviderBase {
  readonly type: "api_key";
  /** What the form asks for. */
  readonly key_label: string;
}

/** Either kind. */
export type ResolvedProvider = ResolvedOAuthProvider | ResolvedApiKeyProvider;

/**
 * What a connect link's handle names (vault transient record `handle:<handle>`): the MCP principal the
 * elicitation was made for, the provider, the elicitation's id. Lives at most `handle_ttl_seconds`;
 * consumed (taken) when the user confirms, or when another identity opens it.
 */
export interface ConnectHandleRecord {
  issuer: string;
  subject: string;
  provider: string;
  elicitation_id: string;
  /** Seconds since the epoch. */
  expires_at: number;
}

/** What the connect routes tell the runtime when a flow ends with a stored credential. */
export interface ConnectedNotice {
  account: AccountKey;
  elicitation_id: string;
  identity: BrowserIdentity;
}
