/**
 * `protected-mcp/dev-authorization-server`: an embedded **development** OAuth 2.1 authorization
 * server, so the whole MCP authorization flow runs on one machine with no account anywhere.
 *
 * Standards it follows: RFC 8414 metadata, RFC 7591 dynamic client registration (public clients,
 * OpenID Connect `application_type`), OAuth Client ID Metadata Documents (an https URL as
 * `client_id`), RFC 7636 PKCE (S256 only), RFC 8707 resource indicators, RFC 9068 JWT access tokens, RFC 9207
 * `iss` in responses, refresh-token rotation with reuse detection (RFC 9700), DPoP binding through a
 * pluggable proof verifier (RFC 9449). The default login takes any username without a password:
 * development only.
 *
 * @packageDocumentation
 */
export { createDevAuthorizationServer } from "./handler.js";
export type { DevAuthorizationServer } from "./handler.js";
export { startDevAuthorizationServer } from "./start.js";
export type { RunningDevAuthorizationServer, StartOptions } from "./start.js";
export type { AuthenticateUser, DevAuthorizationServerOptions, SigningKeyPair, VerifyDpopProof } from "./options.js";
export type { DevTokenExchangeOptions, DevWhoamiApiOptions } from "./options.js";
export type { DevClientOptions } from "./clients.js";
export type { WhoamiResponse } from "./whoami-api.js";
export { developmentLogin } from "./authorize.js";
export type { AuthorizationServerMetadata, DevAuthorizationServerMetadata } from "./metadata.js";
export type { ClientIdMetadataDocumentOptions, FetchDocument, LookupAddress, LookupAddresses } from "./types.js";
export type { JsonWebKeySet } from "./keys.js";
export type { IssueAccessTokenOptions, TokenResponse } from "./types.js";
export { ClientStoreFull } from "./errors.js";
export { MemoryStorage } from "./storage.js";
export type {
  ApplicationType,
  AuthorizationCodeRecord,
  Consumed,
  DevAuthorizationServerStorage,
  MemoryStorageOptions,
  PendingAuthorization,
  RefreshTokenRecord,
  RegisteredClient,
} from "./storage.js";
