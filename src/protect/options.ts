/**
 * The options of `protect()`, their one strict schema, and the checks across keys — every problem
 * reported at once as an {@link ConfigError}.
 *
 * @module
 */
import type { ConnectedAccountsOptions } from "../connected-accounts/types.js";
import { z } from "zod";
import type { DpopCheck } from "./authenticate.js";
import { AuthorizationConfigSchema, type AuthorizationConfig, type ResolvedAuthorizationConfig } from "../config.js";
import type { DpopOptions } from "../dpop/check.js";
import { ConfigError, type ConfigIssue } from "../errors.js";
import type { AuthEventListener } from "../events.js";
import { checkOptions, functionSchema, optionsSchema, withMethods, withNewNames } from "../lib/options.js";
import { SCOPE_TOKEN } from "../lib/scope.js";
import type { ScopedDefinition } from "../items/policy.js";
import type { TokenExchangeOptions } from "../token-exchange/options.js";
import {
  takenOverIssues,
  TransportOptionsSchema,
  V2HandlerOptionsSchema,
  type TransportOptions,
  type V2HandlerOptions,
} from "../serving/transport-options.js";
import type { AuthorizationProvider } from "../validators/provider.js";

/** Options of `protect()`. Keys are snake_case, like {@link AuthorizationConfig}'s. */
export interface ProtectOptions {
  /** The authorization config (validated here; the caller's object is not kept or mutated). */
  authorization: AuthorizationConfig;
  /**
   * The token checker. Required when `authorization.enabled` is true, and refused when it is not: a
   * provider with protection switched off would look protected and check nothing.
   */
  provider?: AuthorizationProvider | undefined;
  /**
   * Which SDK the source is for, when it is a factory: `"v1"` (default; `@modelcontextprotocol/sdk`)
   * or `"v2"` (a factory of `@modelcontextprotocol/server` servers: protocol 2026-07-28 through its
   * `createMcpHandler`, 2025-era clients in stateful v2 sessions bound to their principal — or the
   * SDK's stateless fallback with `session_mode: "stateless"`). A handler from `createMcpHandler(...)`
   * is recognised without it, and serves 2025-era clients as it was built.
   */
  engine?: "v1" | "v2" | undefined;
  /**
   * `stateful` (default): `Mcp-Session-Id` sessions, each bound to the principal that opened it.
   * `stateless`: a fresh server per request (needs a factory); every request is self-contained.
   */
  session_mode?: "stateful" | "stateless" | undefined;
  /** Most open sessions in all (the last line; see `max_sessions_per_principal`). Default 1000. */
  max_sessions?: number | undefined;
  /**
   * Most open sessions per principal (issuer, subject, client). A principal opening one more loses
   * its own least recently used session, never another principal's. Default 32.
   */
  max_sessions_per_principal?: number | undefined;
  /** Most open anonymous sessions (authorization disabled, or `fail_open`), all together. Default 100. */
  max_anonymous_sessions?: number | undefined;
  /** Seconds an idle session is kept. Default 1800. */
  session_idle_timeout_seconds?: number | undefined;
  /** @deprecated Use `session_idle_timeout_seconds`. Removed in 0.3. */
  session_idle_timeout?: number | undefined;
  /**
   * Largest request body in bytes. Default 4 MiB (the SDK transports' limit). Bodies are read only
   * after the request is authorized, and reading stops at the limit: the answer is 413 with a
   * JSON-RPC error, and the connection is closed.
   */
  max_body_bytes?: number | undefined;
  /**
   * CORS origins allowed on the MCP endpoint: `"*"` (default; tokens are not cookies) or a list of
   * exact origins (`scheme://host[:port]`), compared exactly.
   */
  cors_origins?: "*" | string[] | undefined;
  /** Scopes used by tools, advertised in the metadata when `scopes_supported` is not configured. */
  tool_scopes?: readonly string[] | undefined;
  /**
   * The `tool()`, `resource()` and `prompt()` definitions served, for the per-item policy enforced at
   * the HTTP level: `authorization.step_up` and `authorization.hide_unauthorized_tools`. Their scopes
   * are also advertised in the metadata (with `tool_scopes`). The definitions' own checks (`isError`,
   * JSON-RPC error) work without this.
   */
  definitions?: readonly ScopedDefinition[] | undefined;
  /**
   * DPoP (RFC 9449). Default: on, with `createDpopCheck`'s defaults (in-memory replay store), so
   * tokens bound with `cnf.jkt` are verified and DPoP is advertised in challenges and metadata. Pass
   * options (e.g. a shared `replay_store`, nonces), a ready {@link DpopCheck}, or `false` to accept
   * bearer tokens only (bound tokens are then refused).
   */
  dpop?: DpopOptions | DpopCheck | false | undefined;
  /** Receives every auth decision (no token material). */
  on_auth_event?: AuthEventListener | undefined;
  /**
   * Behind a reverse proxy that sets `X-Forwarded-Proto` and `X-Forwarded-Host`: derive the canonical
   * resource (metadata, challenges, token audience, DPoP `htu`) from those headers — but only for the
   * hosts listed in `allowed_hosts` (compared case-insensitively; a default port, `:443` for https and
   * `:80` for http, is the same as none). A forwarded header with more than one value is refused (400):
   * an appending proxy puts the client's own value first. Any other forwarded host, and any request
   * without the headers, gets the configured `authorization.resource`. Off by default: the headers then
   * change nothing.
   *
   * The allowlist is not optional: a client reaching the server without the proxy could otherwise
   * name any host and have tokens for *that* resource accepted here.
   */
  trust_proxy?: TrustProxyOptions | false | undefined;
  /**
   * DNS-rebinding protection, on by default: `Host` and `Origin` are checked before anything else
   * (metadata and preflight included), and a request failing either is answered 403.
   *
   * - A loopback resource (`localhost`, `127.0.0.0/8`, `[::1]`) accepts only loopback `Host`s and, when
   *   an `Origin` is sent, only loopback origins: a web page on another site that rebinds its name
   *   to 127.0.0.1 cannot talk to a local server.
   * - Any other resource requires `Host` to be the resource's host (or a `trust_proxy` allowed host),
   *   and an `Origin`, when sent, to be allowed by `cors_origins` (any origin with the default `"*"`).
   *
   * Widen with `allowed_hosts` (e.g. the name a proxy puts in `Host`) and `allowed_origins` (a
   * browser client served from elsewhere); `false` switches the check off (not advised for a server
   * on loopback).
   */
  dns_rebinding_protection?: boolean | DnsRebindingOptions | undefined;
  /**
   * Token exchange (RFC 8693, or Entra on-behalf-of) for `getContext().exchangeToken()` and
   * `getContext().connection()` in tools: the authorization server's token endpoint and this
   * server's own client credentials. Presets: `TokenExchange.keycloak/okta/auth0/entra` from
   * `protected-mcp/token-exchange`. Needs `authorization.enabled`. Default: none (both throw
   * `ERR_TOKEN_EXCHANGE_NOT_CONFIGURED`).
   */
  token_exchange?: TokenExchangeOptions | undefined;
  /**
   * Connected accounts: third-party APIs (GitHub, Google, an API-key service) called as the user through
   * `getContext().connection({ provider })`. The server is the OAuth client of each provider, keeps each
   * user's credential sealed in `vault` keyed by (issuer, subject, provider), and serves the connect
   * pages under `base_path` (default `/connect`) on the resource's origin: they sign the browser user in
   * at this server's own authorization server (`sign_in`) and refuse anyone but the user the connect
   * link was made for. See the connected-accounts guide. Needs `authorization.enabled`. Default: none.
   */
  connected_accounts?: ConnectedAccountsOptions | undefined;
  /**
   * Options of the SDK's Streamable HTTP transport for stateful sessions (v1 sessions, and 2025-era
   * sessions under `engine: "v2"`), snake_case: `event_store` (resumability: priming events and
   * `Last-Event-ID` replay), `retry_interval_ms`, `json_response`, `keep_alive_ms`. The SDK options
   * `protect()` sets itself — session ids and callbacks, `Host`/`Origin` checks, body size, protocol
   * versions — are refused with an {@link ConfigError} saying why (see {@link TransportOptions}).
   * Not with `session_mode: "stateless"`, where every request has a fresh JSON-only transport.
   */
  transport?: TransportOptions | undefined;
  /**
   * Options of the SDK v2's `createMcpHandler` serving 2026-07-28 requests (`engine: "v2"`):
   * `bus` (the `subscriptions/listen` event bus), `response_mode`, `max_subscriptions`,
   * `keep_alive_ms`, `on_error`. `legacy` and `max_request_body_size` are set by `protect()` and
   * refused (see {@link V2HandlerOptions}).
   */
  v2_handler_options?: V2HandlerOptions | undefined;
}

/** Options of {@link ProtectOptions.trust_proxy}. */
export interface TrustProxyOptions {
  /** Hosts (`name` or `name:port`) the proxy may name in `X-Forwarded-Host`; at least one. */
  allowed_hosts: string[];
}

/** Options of {@link ProtectOptions.dns_rebinding_protection}. */
export interface DnsRebindingOptions {
  /** More `Host` values to accept (`name` or `name:port`, compared case-insensitively). */
  allowed_hosts?: string[] | undefined;
  /** More `Origin` values to accept (`scheme://host[:port]`, compared exactly). */
  allowed_origins?: string[] | undefined;
}

const positiveInt = z.number().int().positive();
const hostName = z
  .string()
  .regex(/^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i, "a host name, optionally with :port")
  .refine((h) => !/:\d+$/.test(h) || Number(h.slice(h.lastIndexOf(":") + 1)) <= 65535, "a port is at most 65535");
/** An origin as browsers send it: scheme, host, optional port, nothing else. */
const exactOrigin = z.string().refine((o) => URL.canParse(o) && new URL(o).origin === o, {
  error: "an origin: scheme://host[:port], no path or trailing slash",
});
const scope = z.string().regex(SCOPE_TOKEN, "a scope is printable ASCII without space, '\"' or '\\'");

const dpopCheckSchema = withMethods<DpopCheck>("verify");
/** DPoP options are checked in full by `createDpopCheck`; here only their shape. */
const dpopOptionsSchema = z.looseObject({}).refine((o) => typeof (o as { verify?: unknown }).verify !== "function");

/** The schema behind {@link resolveProtectOptions}. Exported for {@link MCPServer}, which derives its own from it. */
export const ProtectOptionsSchema = optionsSchema(
  "protect()",
  z.strictObject({
    authorization: AuthorizationConfigSchema,
    provider: withMethods<AuthorizationProvider>("verify").optional(),
    engine: z.enum(["v1", "v2"]).optional(),
    session_mode: z.enum(["stateful", "stateless"]).optional(),
    max_sessions: positiveInt.optional(),
    max_sessions_per_principal: positiveInt.optional(),
    max_anonymous_sessions: positiveInt.optional(),
    session_idle_timeout_seconds: z.number().positive().optional(),
    max_body_bytes: positiveInt.max(1024 * 1024 * 1024).optional(),
    cors_origins: z.union([z.literal("*"), z.array(exactOrigin)]).optional(),
    tool_scopes: z.array(scope).optional(),
    definitions: z.array(z.looseObject({ required_scopes: z.array(z.string()) })).optional(),
    dpop: z.union([z.literal(false), dpopCheckSchema, dpopOptionsSchema]).optional(),
    on_auth_event: functionSchema.optional(),
    trust_proxy: z.union([z.literal(false), z.strictObject({ allowed_hosts: z.array(hostName).min(1) })]).optional(),
    dns_rebinding_protection: z
      .union([
        z.boolean(),
        z.strictObject({
          allowed_hosts: z.array(hostName).optional(),
          allowed_origins: z.array(exactOrigin).optional(),
        }),
      ])
      .optional(),
    // Checked in full (with its own schema) when the exchanger is built.
    token_exchange: z.looseObject({}).optional(),
    // Checked in full (with its own schema) when the handler is built.
    connected_accounts: z.looseObject({}).optional(),
    transport: TransportOptionsSchema.optional(),
    v2_handler_options: V2HandlerOptionsSchema.optional(),
  }),
  { session_idle_timeout: "session_idle_timeout_seconds" },
);

/** {@link ProtectOptions} after validation, with the authorization config resolved. */
export interface ResolvedProtectOptions extends Omit<ProtectOptions, "authorization"> {
  /** The validated authorization config, defaults filled in. */
  config: Readonly<ResolvedAuthorizationConfig>;
}

/**
 * Validate `protect()`'s options once: the strict schema, then the rules across keys. Every problem
 * found is reported together.
 *
 * @param where - the caller's name for messages (`protect()` or `MCPServer`).
 * @throws {@link ConfigError}
 */
export function resolveProtectOptions(options: ProtectOptions, where = "protect()"): ResolvedProtectOptions {
  const input =
    options === null || typeof options !== "object"
      ? options
      : copyWith(options, { authorization: withProviderIssuers(options) });
  const parsed = checkOptions(ProtectOptionsSchema, input);
  if (!parsed.success) throw new ConfigError(where, parsed.issues);
  const config = Object.freeze(parsed.data.authorization) as Readonly<ResolvedAuthorizationConfig>;
  const renamed = withNewNames(ProtectOptionsSchema, options);
  const issues = crossKeyIssues(renamed, config);
  if (issues.length) throw new ConfigError(where, issues);
  // Keep the caller's own objects (provider, stores, definitions): the schema only checked them.
  const { authorization: _authorization, ...rest } = renamed;
  return { ...rest, config };
}

/** Rules that involve more than one key. */
function crossKeyIssues(options: ProtectOptions, config: Readonly<ResolvedAuthorizationConfig>): ConfigIssue[] {
  const issues: ConfigIssue[] = takenOverIssues(options.transport, options.v2_handler_options);
  if (options.transport && options.session_mode === "stateless") {
    issues.push({
      key: "transport",
      message:
        'applies to stateful sessions: with session_mode "stateless" every request gets a fresh JSON-only transport',
    });
  }
  if (options.v2_handler_options && options.engine !== "v2") {
    issues.push({
      key: "v2_handler_options",
      message: 'needs engine "v2" (a handler from createMcpHandler(...) is configured where you create it)',
    });
  }
  if (config.enabled && !config.resource) {
    issues.push({
      key: "authorization.resource",
      message: "required when enabled: the canonical URL of the MCP endpoint",
    });
  }
  if (config.enabled && !options.provider) {
    issues.push({ key: "provider", message: "required when authorization is enabled (e.g. a JWTValidator)" });
  }
  if (!config.enabled && options.provider) {
    issues.push({
      key: "provider",
      message:
        "a provider is set but authorization.enabled is not true, so nothing would be checked: set authorization.enabled to true to protect the server, or remove the provider to serve it unprotected",
    });
  }
  if (config.dpop_required && options.dpop === false) {
    issues.push({ key: "dpop", message: "authorization.dpop_required needs DPoP, but dpop is false" });
  }
  if ((config.step_up || config.hide_unauthorized_tools) && config.enabled && !options.definitions) {
    issues.push({
      key: "definitions",
      message:
        "authorization.step_up and hide_unauthorized_tools need the tool(), resource() and prompt() definitions served",
    });
  }
  return issues;
}

/**
 * `authorization_servers` defaults to the provider's `issuers` (an `IssuerRouter`, an introspection
 * or discovered validator), so the RFC 9728 document lists every trusted server.
 */
function withProviderIssuers(options: ProtectOptions): AuthorizationConfig {
  const authorization = options.authorization;
  if (authorization === null || typeof authorization !== "object" || authorization.authorization_servers?.length)
    return authorization;
  const issuers = (options.provider as { issuers?: unknown } | undefined)?.issuers;
  if (!Array.isArray(issuers) || issuers.length === 0 || !issuers.every((i) => typeof i === "string"))
    return authorization;
  return copyWith(authorization, { authorization_servers: [...issuers] });
}

/**
 * `{ ...o, ...extra }` on `o`'s own prototype: the copy keeps what the checks must see — an own
 * `__proto__` key stays a key, and keys `o` only inherits stay inherited (both are refused by name).
 */
function copyWith<T extends object>(base: T, extra: Partial<T>): T {
  return Object.setPrototypeOf({ ...base, ...extra }, Object.getPrototypeOf(base) as object | null) as T;
}
