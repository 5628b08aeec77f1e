/**
 * Types the development authorization server's modules share: token responses, what
 * `issueAccessToken` takes, and the Client ID Metadata Document options. A leaf: it imports nothing
 * of the server's.
 *
 * @module
 */

/** A successful token response (RFC 6749 §5.1). */
export interface TokenResponse {
  /** RFC 9068 JWT access token. */
  access_token: string;
  /** `Bearer`, or `DPoP` when the token is bound to a DPoP key. */
  token_type: "Bearer" | "DPoP";
  /** Seconds until the access token expires. */
  expires_in: number;
  /** Granted scopes, space-separated. */
  scope: string;
  /** A new refresh token (rotated on every use), when the client may refresh. */
  refresh_token?: string;
  /** RFC 8693: the type of the issued token (token exchange only). */
  issued_token_type?: string;
}

/** What `DevAuthorizationServer.issueAccessToken` needs to mint a token outside the OAuth flow. */
export interface IssueAccessTokenOptions {
  /** Subject (`sub`). */
  subject: string;
  /** Scopes; each must be supported. Default: every supported scope. */
  scopes?: string[];
  /** `client_id` claim. Default `"dev-cli"`. */
  client_id?: string;
  /** Audience. Default: the only configured resource (required when there are several). */
  resource?: string;
  /** Bind to this DPoP key thumbprint (`cnf.jkt`). */
  jkt?: string;
}

/** One resolved address, as `dns.promises.lookup` returns it. */
export interface LookupAddress {
  /** IPv4 or IPv6 address. */
  address: string;
  /** 4 or 6. */
  family: number;
}

/** Resolve a hostname to every address, like `dns.promises.lookup(hostname, { all: true })`. */
export type LookupAddresses = (hostname: string) => Promise<readonly LookupAddress[]>;

/**
 * Gets a metadata document: `GET url` with `init` (`redirect: "manual"`, an abort signal, `accept`),
 * connecting only to `addresses`, the addresses already checked (the default does; the global `fetch`
 * fits the signature but resolves the name again, see the module notes).
 */
export type FetchDocument = (url: string, init: RequestInit, addresses: readonly LookupAddress[]) => Promise<Response>;

/** Options of Client ID Metadata Document support. Every field is optional. */
export interface ClientIdMetadataDocumentOptions {
  /**
   * Fetches documents. Default: a `node:http(s)` GET that connects only to the checked addresses. See {@link
   * FetchDocument}.
   */
  fetch?: FetchDocument;
  /** Resolves hostnames before fetching, for the address checks. Default: `node:dns` `lookup` (all addresses). */
  lookup?: LookupAddresses;
  /** Time limit of resolution, fetch and body together, in milliseconds. Default 3000. */
  timeout_ms?: number;
  /** Largest document accepted, in bytes. Default 5120. */
  max_bytes?: number;
  /** How long a document without `Cache-Control: max-age` is cached, in seconds. Default 300. */
  default_cache_ttl_seconds?: number;
  /** @deprecated Use `default_cache_ttl_seconds`. Removed in 0.3. */
  default_cache_ttl?: number;
  /** Upper bound of a document's cache lifetime, in seconds (`max-age` above it is capped). Default 3600. */
  max_cache_ttl_seconds?: number;
  /** @deprecated Use `max_cache_ttl_seconds`. Removed in 0.3. */
  max_cache_ttl?: number;
  /** Most documents cached. Default 100. */
  max_cached?: number;
  /**
   * Fetch documents from loopback addresses (127.0.0.0/8, ::1): for local testing only, since it lets
   * any client make this server request its own local services. Default `false`.
   */
  allow_loopback?: boolean;
  /**
   * With `allow_loopback`, also accept `http` client_id URLs on loopback hosts (local development clients). Default
   * `true`.
   */
  allow_http_loopback?: boolean;
}

/** Resolved {@link ClientIdMetadataDocumentOptions}. */
export type ResolvedClientIdMetadataDocumentOptions = Required<
  Omit<ClientIdMetadataDocumentOptions, "default_cache_ttl" | "max_cache_ttl">
>;
