/**
 * protected-mcp: make any MCP server an OAuth 2.1 protected resource.
 *
 * @packageDocumentation
 */
export { MCPServer } from "./server.js";
export type { MCPServerOptions, ServeOptions, ServeResult } from "./server.js";
export { protect } from "./protect.js";
export type { FetchHandler, HandlerExtras, McpHttpHandlerLike, McpServerSource, ProtectedHandler, ProtectOptions, TrustProxyOptions, V2ServerFactory } from "./protect.js";
export { toNodeHandler, toWebRequest, writeWebResponse } from "./adapters/node.js";
export type { NodeHandlerOptions, NodeRequest } from "./adapters/node.js";
export { parseAuthorizationConfig } from "./config.js";
export type { AuthorizationConfig, ResolvedAuthorizationConfig } from "./config.js";
export { authenticate } from "./authenticate.js";
export type { AuthenticateOptions, DpopCheck } from "./authenticate.js";
export { challengeFor, challengeResponse } from "./challenges.js";
export type { Challenge, ChallengeOptions } from "./challenges.js";
export { extractCredentials, MAX_TOKEN_LENGTH } from "./credentials.js";
export type { Credentials } from "./credentials.js";
export { buildProtectedResourceMetadata, metadataPaths, resourceMetadataUrl } from "./metadata.js";
export type { MetadataOptions, ProtectedResourceMetadata } from "./metadata.js";
export { createAuthContext, getContext } from "./context.js";
export type { AuthContext, RequestContext } from "./context.js";
export { missingScopesResult, registerTools, tool } from "./tools.js";
export type { ToolDefinition, ToolHandler, ToolInputShape, ToolOptions, ToolRegistry } from "./tools.js";
export { resource } from "./resources.js";
export type { ResourceDefinition, ResourceHandler, ResourceOptions, ResourceRegistry } from "./resources.js";
export { prompt } from "./prompts.js";
export type { PromptArgsShape, PromptDefinition, PromptHandler, PromptOptions, PromptRegistry } from "./prompts.js";
export { INSUFFICIENT_SCOPE_RPC_CODE, InsufficientScopeError } from "./scope-errors.js";
export type { InsufficientScopeData } from "./scope-errors.js";
export type { ScopedDefinition } from "./policy.js";
export {
  AuthError,
  AuthorizationUnavailable,
  ConfigError,
  InsufficientScope,
  InvalidDpopProof,
  InvalidRequest,
  InvalidToken,
  MissingToken,
  SessionMismatch,
  TokenExpired,
  UseDpopNonce,
} from "./errors.js";
export type { AuthErrorCode, AuthErrorOptions, ConfigIssue, RefusalReason } from "./errors.js";
export type {
  AcceptedEvent,
  AuthEvent,
  AuthEventListener,
  FailOpenEvent,
  JwksRefreshedEvent,
  JwksStaleEvent,
  RefusedEvent,
  TokenExchangedEvent,
  TokenExchangeFailedEvent,
} from "./events.js";
export type { Connection, ConnectionRequest, ExchangedToken, ExchangeTokenRequest } from "./token-exchange/types.js";
export type { TokenExchangeOptions } from "./token-exchange/options.js";
export { Backoff } from "./lib/backoff.js";
export type { BackoffOptions, BackoffWindow } from "./lib/backoff.js";
export type { AuthorizationProvider, VerifyContext } from "./validators/provider.js";
export { DEFAULT_ASYMMETRIC_ALGORITHMS, extractScopes, JWTValidator } from "./validators/jwt.js";
export type { JwksBackoffOptions, JWTValidatorOptions } from "./validators/jwt.js";
export { JWTValidatorConfig } from "./validators/presets.js";
export type { PresetOverrides } from "./validators/presets.js";
export { createDpopCheck } from "./dpop/check.js";
export type { DpopOptions } from "./dpop/check.js";
export { accessTokenHash, createDpopKeyCache, DEFAULT_DPOP_ALGORITHMS, normalizeHtu, verifyDpopProof } from "./dpop/verify.js";
export type { DpopKeyCache, DpopKeyEntry, VerifiedDpopProof, VerifyDpopProofOptions } from "./dpop/verify.js";
export { createDpopNonces } from "./dpop/nonce.js";
export type { DpopNonceOptions, DpopNonces } from "./dpop/nonce.js";
export { MemoryReplayStore, RedisReplayStore, ReplayStoreUnavailable } from "./stores/replay.js";
export type { MemoryReplayStoreOptions, RedisReplayStoreOptions, RedisSetClient, ReplayStore } from "./stores/replay.js";
export { IntrospectionValidator, MAX_INTROSPECTION_RESPONSE_BYTES } from "./validators/introspection.js";
export type { IntrospectionClientAuthMethod, IntrospectionValidatorOptions } from "./validators/introspection.js";
export { IssuerRouter } from "./validators/issuer-router.js";
export type { IssuerFamily, IssuerRouterOptions } from "./validators/issuer-router.js";
export { ENTRA_AUTHORITY_HOST, EntraMultiTenantValidator } from "./validators/entra.js";
export type { EntraMultiTenantOptions } from "./validators/entra.js";
export {
  AuthorizationServerDiscovery,
  AuthorizationServerMetadataError,
  discoverIntrospectionValidator,
  discoverValidator,
  MAX_METADATA_BYTES,
  metadataUrls,
} from "./validators/discovery.js";
export type {
  AuthorizationServerMetadata,
  DiscoverIntrospectionValidatorOptions,
  DiscoverValidatorOptions,
  DiscoveryFailure,
  DiscoveryOptions,
} from "./validators/discovery.js";
