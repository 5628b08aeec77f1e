/**
 * Connected accounts, as types: the third-party providers a server connects its users to, the vault
 * that keeps their credentials, and how the connect page knows who the browser user is. Leaf module:
 * no runtime code, imported by every other module of the folder.
 *
 * @module
 */
import type { ClientCredentialOptions } from "../lib/client-auth.js";
import type { Fetch } from "../lib/fetch.js";
import type { Clock } from "../lib/clock.js";

/**
 * Whose credential a vault record is: the MCP principal (issuer + subject, as the server's own
 * validator verified them) and the provider's name. Never an MCP session or client: a user who
 * connects GitHub once is connected in every client and session they use.
 */
export interface AccountKey {
  /** `iss` of the MCP access token (`""` when the validator reports none). */
  readonly issuer: string;
  /** `sub` of the MCP access token. */
  readonly subject: string;
  /** The provider's name in `connected_accounts.providers`. */
  readonly provider: string;
}

/** What the vault keeps for one account: the provider's token response, normalised, or a pasted API key. */
export interface StoredCredential {
  /** `"oauth"`: from a token endpoint; `"api_key"`: pasted on the connect page. */
  kind: "oauth" | "api_key";
  /** The access token, or the API key. */
  access_token: string;
  /** The refresh token, when the provider issued one. */
  refresh_token?: string | undefined;
  /** Seconds since the epoch when `access_token` expires; absent when the provider said nothing (GitHub classic). */
  expires_at?: number | undefined;
  /** Granted scopes (the token response's `scope`, else those asked for). */
  scopes?: string[] | undefined;
  /** Seconds since the epoch when this credential was stored. */
  obtained_at: number;
}

/**
 * A vault key: 32 bytes for AES-256-GCM, as base64url text or bytes, with an id stored beside every
 * record it seals (so a record names the key that opens it). A bare string is a key whose id is
 * derived from it (the first 8 base64url characters of its SHA-256).
 */
export type VaultKey =
  | string
  | Uint8Array
  | {
      /** The key's id, stored with every record it seals (`[A-Za-z0-9_-]{1,32}`). */
      id: string;
      /** 32 bytes, as base64url text or bytes. */
      key: string | Uint8Array;
    };

/**
 * Where connected-account credentials live, sealed (AES-256-GCM, WebCrypto) under a key ring whose
 * first key seals and all keys open. Implemented by `MemoryTokenVault` (one process) and
 * `RedisTokenVault` (a fleet).
 *
 * Besides credentials the vault keeps the connect flow's short-lived records (handles, sign-in and
 * provider round trips), so that a browser may land on any instance of a fleet, and it seals the
 * small state blobs that travel through clients (`requestState`).
 */
export interface TokenVault {
  /** The credential of `account`, or `undefined` (none, or a record that does not open for this account). */
  get(account: AccountKey): Promise<StoredCredential | undefined>;
  /** Store (replace) the credential of `account`. */
  set(account: AccountKey, credential: StoredCredential): Promise<void>;
  /** Remove the credential of `account`; `true` when there was one. */
  delete(account: AccountKey): Promise<boolean>;
  /**
   * A lease on `account` for `ttl_ms` (one refresh in flight per account across a fleet): a function
   * that releases it, or `undefined` when another holder has it.
   */
  lock(account: AccountKey, ttl_ms: number): Promise<(() => Promise<void>) | undefined>;
  /** Keep a short-lived record under `id` for `ttl_ms`, sealed like credentials. */
  putTransient(id: string, value: Readonly<Record<string, unknown>>, ttl_ms: number): Promise<void>;
  /** Read a short-lived record without consuming it. */
  peekTransient(id: string): Promise<Record<string, unknown> | undefined>;
  /** Read and remove a short-lived record atomically: of two concurrent takes, one gets it. */
  takeTransient(id: string): Promise<Record<string, unknown> | undefined>;
  /** Seal a small value for `purpose` into opaque text (AES-256-GCM under a key derived for that purpose). */
  seal(purpose: string, value: Readonly<Record<string, unknown>>): Promise<string>;
  /** Open what {@link TokenVault.seal} sealed for the same `purpose`; `undefined` for anything else. */
  open(purpose: string, sealed: string): Promise<Record<string, unknown> | undefined>;
}

/** An OAuth 2.0 provider (GitHub, Google, Slack, …): the server is its client. */
export interface OAuthProviderOptions extends Partial<
  Omit<ClientCredentialOptions, "client_auth_method" | "client_id">
> {
  /** The server's client id at the provider. */
  client_id: string;
  /** `"oauth"` (the default). */
  type?: "oauth" | undefined;
  /** Start from a preset: `"github"` or `"google"` (their endpoints, quirks and API origin). */
  preset?: "github" | "google" | undefined;
  /** Human-readable name on the connect pages and in messages. Default: the preset's, else the provider key. */
  display_name?: string | undefined;
  /** Issuer for RFC 8414 / OpenID discovery of the endpoints below (those given explicitly win). */
  issuer?: string | undefined;
  /** The provider's authorization endpoint. */
  authorization_endpoint?: string | undefined;
  /** The provider's token endpoint. */
  token_endpoint?: string | undefined;
  /** RFC 7009 revocation endpoint: `disconnect()` revokes there when set. */
  revocation_endpoint?: string | undefined;
  /** `"none"`: a public client (PKCE only). Default: `client_secret_basic`, or `private_key_jwt` with a `private_key`. */
  client_auth_method?: ClientCredentialOptions["client_auth_method"] | "none" | undefined;
  /** Scopes to ask for. */
  scopes?: string[] | undefined;
  /** Extra authorization-request parameters (Google: `access_type=offline`, `prompt=consent`). */
  authorization_params?: Record<string, string> | undefined;
  /** The origins the tokens may be sent to (`https://api.github.com`). The first is `connection().origin`. */
  api_origins?: string[] | undefined;
}

/** A provider whose credential is an API key the user pastes on the connect page (Supabase-style). */
export interface ApiKeyProviderOptions {
  /** `"api_key"`. */
  type: "api_key";
  /** Human-readable name on the connect page and in messages. Default: the provider key. */
  display_name?: string | undefined;
  /** The origins the key may be sent to. The first is `connection().origin`. */
  api_origins: string[];
  /** The header the key goes in. Default `"authorization"`. */
  header?: string | undefined;
  /** Text before the key in that header. Default `"Bearer "` for `authorization`, else `""`. */
  prefix?: string | undefined;
  /** What the form asks for (`"Service role key"`). Default `"API key"`. */
  key_label?: string | undefined;
}

/** One entry of `connected_accounts.providers`. */
export type ProviderOptions = OAuthProviderOptions | ApiKeyProviderOptions;

/** The browser user as the connect page established them. */
export interface BrowserIdentity {
  /** The issuer the identity comes from (compared with the MCP token's `iss`). */
  issuer: string;
  /** The subject (compared with the MCP token's `sub`). */
  subject: string;
  /** A name to show ("Connect GitHub to ⟨name⟩"). Default: the subject. */
  display_name?: string | undefined;
}

/** How the connect page identifies the browser user. */
export interface SignInOptions {
  /**
   * The OAuth client the connect page signs users in with at the MCP server's own authorization server
   * (the first of `authorization_servers`): authorization code + PKCE, `resource` = this server, the
   * token then checked by the server's own validator. Register `<origin><base_path>/signed-in` as its
   * redirect URI.
   */
  client_id?: string | undefined;
  /** Its secret, for a confidential client (sent with `client_secret_basic`). */
  client_secret?: string | undefined;
  /** Scopes to ask for at sign-in. Default: none beyond what the server requires. */
  scopes?: string[] | undefined;
  /**
   * For apps with their own web session: who the request's browser user is, or `null` when not signed
   * in (the page then answers 401 with a fixed text). Replaces the sign-in above.
   */
  identify?: ((request: Request) => BrowserIdentity | null | Promise<BrowserIdentity | null>) | undefined;
}

/** The `connected_accounts` option of `protect()` and `MCPServer`. */
export interface ConnectedAccountsOptions {
  /** Name → provider. Names are what tools pass to `getContext().connection({ provider })`. */
  providers: Record<string, ProviderOptions>;
  /** Where credentials live. Default: a `MemoryTokenVault` with a random key (one process; lost on restart). */
  vault?: TokenVault | undefined;
  /** How the connect page identifies the browser user: `client_id` (a sign-in) or `identify`. Required. */
  sign_in: SignInOptions;
  /** Path prefix of the connect routes, on the resource's origin. Default `"/connect"`. */
  base_path?: string | undefined;
  /** Lifetime of a connect link. Default 600, at most 600 (the spec's "short-lived"). */
  handle_ttl_seconds?: number | undefined;
  /**
   * A 2026-07-28 client retries the tool call as soon as the user accepted to open the connect URL, long
   * before they finish in the browser: the retry waits this long for the account before it asks again.
   * Default 120, at most 600; 0 asks again at once.
   */
  retry_wait_seconds?: number | undefined;
  /** `fetch` for providers and the sign-in (tests, proxies). Default `globalThis.fetch`. */
  fetch?: Fetch | undefined;
  /** Clock for expiry decisions. Default `Date.now`. */
  clock?: Clock | undefined;
}
