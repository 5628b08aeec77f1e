/**
 * protected-mcp: make any MCP server an OAuth 2.1 protected resource.
 *
 * This barrel is the public API: any export added here is a promise to users, and
 * `test/exports.test.ts` fails when the surface changes without its snapshot. The core only:
 * serving (`protect`, `MCPServer`, `toNodeHandler`), tools, the context, the validators and their
 * presets, the replay stores and the errors. DPoP primitives are at `protected-mcp/dpop`, the
 * development authorization server at `protected-mcp/dev-authorization-server`, the test kit at
 * `protected-mcp/testing`.
 *
 * @packageDocumentation
 */

// Serving
export { protect } from "./protect/index.js";
export type {
  DnsRebindingOptions,
  EventBusOption,
  EventStoreLike,
  FetchHandler,
  HandlerExtras,
  HeaderPair,
  ListChangedEvent,
  McpHttpHandlerLike,
  McpServerSource,
  ProtectedHandler,
  ProtectOptions,
  ResourceUpdatedEvent,
  ServerEventBusLike,
  ServerEventLike,
  ServerNotifierLike,
  TransportOptions,
  TrustProxyOptions,
  V2HandlerOptions,
  V2ServerFactory,
} from "./protect/index.js";
export { MCPServer } from "./server.js";
export type { MCPServerOptions, ServeOptions, ServeResult } from "./server.js";
export { toNodeHandler } from "./adapters/node.js";
export type { NodeHandlerOptions, NodeRequest } from "./adapters/node.js";
export { parseAuthorizationConfig } from "./config.js";
export type { AuthorizationConfig, ResolvedAuthorizationConfig } from "./config.js";
export { authenticate } from "./protect/authenticate.js";
export type { AuthenticateOptions, DpopCheck } from "./protect/authenticate.js";
export { challengeResponse } from "./protect/challenges.js";
export type { ChallengeOptions } from "./protect/challenges.js";
export type { ProtectedResourceMetadata } from "./protect/metadata.js";

// Tools, resources, prompts and the request context
export { tool, registerTools } from "./items/tools.js";
export type { ToolDefinition, ToolHandler, ToolInputShape, ToolOptions, ToolRegistry } from "./items/tools.js";
export { resource } from "./items/resources.js";
export type { ResourceDefinition, ResourceHandler, ResourceOptions, ResourceRegistry } from "./items/resources.js";
export { prompt } from "./items/prompts.js";
export type {
  PromptArgsShape,
  PromptDefinition,
  PromptHandler,
  PromptOptions,
  PromptRegistry,
} from "./items/prompts.js";
export type { ScopedDefinition } from "./items/policy.js";
export { createAuthContext } from "./context/request-context.js";
export { getContext } from "./context/storage.js";
export type { AuthContext, RequestContext } from "./context/types.js";

// Validators and presets
export type { AuthorizationProvider, VerifyContext } from "./validators/provider.js";
export { JWTValidator } from "./validators/jwt.js";
export type { JwksBackoffOptions, JWTValidatorOptions } from "./validators/jwt.js";
export { JWTValidatorConfig } from "./validators/presets.js";
export type { PresetOverrides } from "./validators/presets.js";
export { IntrospectionValidator } from "./validators/introspection.js";
export type { IntrospectionClientAuthMethod, IntrospectionValidatorOptions } from "./validators/introspection.js";
export { IssuerRouter } from "./validators/issuer-router.js";
export type { IssuerFamily, IssuerRouterOptions } from "./validators/issuer-router.js";
export { EntraMultiTenantValidator } from "./validators/entra.js";
export type { EntraMultiTenantOptions } from "./validators/entra.js";
export {
  AuthorizationServerDiscovery,
  discoverIntrospectionValidator,
  discoverValidator,
} from "./validators/discovery.js";
export type {
  AuthorizationServerMetadata,
  DiscoveredAuthorizationServerMetadata,
  DiscoverIntrospectionValidatorOptions,
  DiscoverValidatorOptions,
  DiscoveryOptions,
} from "./validators/discovery.js";
export type { BackoffOptions, BackoffWindow } from "./lib/backoff.js";
export type { Clock } from "./lib/clock.js";
export type { Fetch } from "./lib/fetch.js";

// DPoP options and replay stores (the primitives are at protected-mcp/dpop)
export type { DpopOptions } from "./dpop/check.js";
export type { DpopNonceOptions } from "./dpop/nonce.js";
export { MemoryReplayStore, RedisReplayStore } from "./stores/replay.js";
export type {
  MemoryReplayStoreOptions,
  RedisReplayStoreOptions,
  RedisSetClient,
  ReplayStore,
} from "./stores/replay.js";

// Errors and events
export {
  AuthError,
  AuthorizationUnavailable,
  ConfigError,
  InsufficientScope,
  InvalidAuthorizationServerMetadata,
  InvalidDpopProof,
  InvalidRequest,
  InvalidToken,
  MissingToken,
  ProviderFailed,
  SessionMismatch,
  TokenExpired,
  UseDpopNonce,
} from "./errors.js";
export type { AuthErrorCode, AuthErrorOptions, ConfigIssue, DiscoveryFailure, RefusalReason } from "./errors.js";
export { MissingScopes } from "./items/scope-errors.js";
export type { MissingScopesData } from "./items/scope-errors.js";
export { ReplayStoreFull, ReplayStoreUnavailable } from "./stores/errors.js";
export type { ReplayStoreFullScope } from "./stores/errors.js";
export type {
  AcceptedEvent,
  AuthEvent,
  AuthEventListener,
  FailOpenEvent,
  JwksRefreshedEvent,
  JwksStaleEvent,
  ProviderErrorEvent,
  RefusedEvent,
  ReplayStoreFullEvent,
  TokenExchangedEvent,
  TokenExchangeFailedEvent,
  AccountConnectedEvent,
  AccountDisconnectedEvent,
  ConnectionRequiredEvent,
  ConnectionRefreshFailedEvent,
} from "./events.js";

// Token exchange (RFC 8693) from tools: options and types here, presets and the error at protected-mcp/token-exchange
export type { TokenExchangeOptions } from "./token-exchange/options.js";
export type {
  Connection,
  ConnectionRequest,
  ExchangedToken,
  ExchangeTokenRequest,
  ProviderConnectionRequest,
} from "./token-exchange/types.js";
