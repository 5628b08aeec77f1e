/**
 * `protect()`: an SDK `McpServer` (or a factory for one) behind OAuth, as a Web-standard handler.
 *
 * @module
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import { authorize, type DpopCheck } from "./authenticate.js";
import { challengeResponse, type ChallengeOptions } from "./challenges.js";
import { createDpopCheck, type DpopOptions } from "./dpop/check.js";
import { isLoopbackHost, parseAuthorizationConfig, type AuthorizationConfig, type ResolvedAuthorizationConfig } from "./config.js";
import { createRequestContext, toAuthInfo, type AuthContext } from "./context.js";
import { AuthError, InsufficientScope } from "./errors.js";
import { asksForList, buildScopePolicy, filterListResponse, stepUpScopes, unmetRequirement, type ScopedDefinition } from "./policy.js";
import { emitSafely, type AuthEventListener } from "./events.js";
import { buildProtectedResourceMetadata, metadataPaths, resourceMetadataUrl, type ProtectedResourceMetadata } from "./metadata.js";
import { ANONYMOUS_PRINCIPAL } from "./sessions.js";
import { DEFAULT_MAX_BODY_BYTES, kReadsBodyLazily, readJsonBody, type HandlerExtras, type McpBackend } from "./serving/backend.js";
import { createV1Backend, type McpServerSource } from "./serving/v1.js";
import { createDualBackend, createV2Backend, isMcpHttpHandler, loadSdkV2, type McpHttpHandlerLike } from "./serving/v2.js";
import type { AuthorizationProvider } from "./validators/provider.js";
import { createTokenExchange } from "./token-exchange/exchanger.js";
import type { TokenExchangeOptions } from "./token-exchange/options.js";

export type { HandlerExtras } from "./serving/backend.js";
export type { McpServerSource } from "./serving/v1.js";
export type { McpHttpHandlerLike } from "./serving/v2.js";

/**
 * A Web-standard request handler, usable with Hono, Bun, Deno, workers, or {@link toNodeHandler}.
 * `extras` is for adapters (see {@link HandlerExtras}); callers with a plain `Request` omit it.
 */
export type FetchHandler = (req: Request, extras?: HandlerExtras) => Promise<Response>;

/** The handler returned by {@link protect}: a {@link FetchHandler} with a few extras. */
export interface ProtectedHandler extends FetchHandler {
  /** The canonical resource URI the handler protects. */
  readonly resource: string;
  /** The RFC 9728 document it serves. */
  readonly metadata: ProtectedResourceMetadata;
  /** Whether a path is served by this handler (the MCP endpoint or a metadata path). */
  handles(path: string): boolean;
  /** Close every open session. */
  close(): Promise<void>;
}

/** Options of {@link protect}. */
export interface ProtectOptions {
  /** The authorization config (validated here; the caller's object is not kept or mutated). */
  authorization: AuthorizationConfig;
  /** The token checker. Required when `authorization.enabled` is true. */
  provider?: AuthorizationProvider | undefined;
  /**
   * Which SDK the source is for, when it is a factory: `"v1"` (default; `@modelcontextprotocol/sdk`)
   * or `"v2"` (a factory of `@modelcontextprotocol/server` servers, served through its
   * `createMcpHandler`: protocol 2026-07-28 and its stateless 2025-era fallback). A handler from
   * `createMcpHandler(...)` is recognised without it.
   */
  engine?: "v1" | "v2";
  /**
   * `stateful` (default): `Mcp-Session-Id` sessions, each bound to the principal that opened it.
   * `stateless`: a fresh server per request (needs a factory); every request is self-contained.
   */
  session_mode?: "stateful" | "stateless";
  /** Most open sessions in all (the last line; see `max_sessions_per_principal`). Default 1000. */
  max_sessions?: number;
  /**
   * Most open sessions per principal (issuer, subject, client). A principal opening one more loses
   * its own least recently used session, never another principal's. Default 32.
   */
  max_sessions_per_principal?: number;
  /** Most open anonymous sessions (authorization disabled, or `fail_open`), all together. Default 100. */
  max_anonymous_sessions?: number;
  /** Seconds an idle session is kept. Default 1800. */
  session_idle_timeout?: number;
  /**
   * Largest request body in bytes. Default 4 MiB (the SDK transports' limit). Bodies are read only
   * after the request is authorized, and reading stops at the limit: the answer is 413 with a
   * JSON-RPC error, and the connection is closed.
   */
  max_body_bytes?: number;
  /** CORS origins allowed on the MCP endpoint: `"*"` (default; tokens are not cookies) or a list. */
  cors_origins?: "*" | string[];
  /** Scopes used by tools, advertised in the metadata when `scopes_supported` is not configured. */
  tool_scopes?: readonly string[];
  /**
   * The `tool()`, `resource()` and `prompt()` definitions served, for the per-item policy enforced at
   * the HTTP level: `authorization.step_up` and `authorization.hide_unauthorized_tools`. Their scopes
   * are also advertised in the metadata (with `tool_scopes`). The definitions' own checks (`isError`,
   * JSON-RPC error) work without this.
   */
  definitions?: readonly ScopedDefinition[];
  /**
   * DPoP (RFC 9449). Default: on, with {@link createDpopCheck}'s defaults (in-memory replay store),
   * so tokens bound with `cnf.jkt` are verified and DPoP is advertised in challenges and metadata.
   * Pass options (e.g. a shared `replay_store`, nonces), a ready {@link DpopCheck}, or `false` to
   * accept bearer tokens only (bound tokens are then refused).
   */
  dpop?: DpopOptions | DpopCheck | false | undefined;
  /** Receives every auth decision (no token material). */
  onAuthEvent?: AuthEventListener | undefined;
  /**
   * Behind a reverse proxy that sets `X-Forwarded-Proto` and `X-Forwarded-Host`: derive the canonical
   * resource (metadata, challenges, token audience, DPoP `htu`) from those headers — but only for the
   * hosts listed in `allowed_hosts` (compared case-insensitively, with the port when not the
   * default). Any other forwarded host, and any request without the headers, gets the configured
   * `authorization.resource`. Off by default: the headers then change nothing.
   *
   * The allowlist is not optional: a client reaching the server without the proxy could otherwise
   * name any host and have tokens for *that* resource accepted here.
   */
  trust_proxy?: TrustProxyOptions | false | undefined;
  /**
   * Token exchange (RFC 8693, or Entra on-behalf-of) for `getContext().exchangeToken()` and
   * `getContext().connection()` in tools: the authorization server's token endpoint and this
   * server's own client credentials. Presets: `TokenExchange.keycloak/okta/auth0/entra` from
   * `protected-mcp/token-exchange`. Needs `authorization.enabled`. Default: none (both throw
   * `ERR_TOKEN_EXCHANGE_NOT_CONFIGURED`).
   */
  token_exchange?: TokenExchangeOptions | undefined;
}

/** Options of {@link ProtectOptions.trust_proxy}. */
export interface TrustProxyOptions {
  /** Hosts (`name` or `name:port`) the proxy may name in `X-Forwarded-Host`; at least one. */
  allowed_hosts: string[];
}

function resolveDpop(o: ProtectOptions["dpop"]): DpopCheck | undefined {
  if (o === false) return undefined;
  if (o && typeof (o as DpopCheck).verify === "function") return o as DpopCheck;
  return createDpopCheck((o ?? {}) as DpopOptions);
}

// Mcp-Method / Mcp-Name: request headers of protocol revision 2026-07-28; a browser client's preflight must allow them.
const CORS_ALLOW_HEADERS = "Authorization, Content-Type, DPoP, Mcp-Session-Id, Mcp-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID";
const CORS_EXPOSE_HEADERS = "WWW-Authenticate, Mcp-Session-Id, DPoP-Nonce, Retry-After";
const CORS_EXPOSE = ["Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS] as const;
const CORS_ANY_ORIGIN = Object.freeze([["Access-Control-Allow-Origin", "*"], CORS_EXPOSE] as const);

/** Who may use a session: issuer, subject and client together. */
function principalOf(auth: AuthContext | null): string {
  if (!auth) return ANONYMOUS_PRINCIPAL;
  // A verified-token cache hit hands back the same AuthContext: compute its key once.
  let key = principalKeys.get(auth);
  if (key === undefined) principalKeys.set(auth, (key = JSON.stringify([auth.issuer ?? "", auth.subject, auth.client_id ?? ""])));
  return key;
}
const principalKeys = new WeakMap<AuthContext, string>();

const positiveInt = z.number().int().positive().optional();
const LimitsSchema = z.looseObject({
  trust_proxy: z
    .union([
      z.literal(false),
      z.strictObject({
        allowed_hosts: z.array(z.string().regex(/^[a-z0-9.-]+(?::\d{1,5})?$/i, "a host name, optionally with :port")).min(1),
      }),
    ])
    .optional(),
  max_sessions: positiveInt,
  max_sessions_per_principal: positiveInt,
  max_anonymous_sessions: positiveInt,
  session_idle_timeout: z.number().positive().optional(),
  max_body_bytes: z.number().int().positive().max(1024 * 1024 * 1024).optional(),
});

/**
 * Put an MCP server behind OAuth 2.1 resource-server checks.
 *
 * Every request to the MCP endpoint is authorized (not only `initialize`); the RFC 9728 metadata is
 * served at `metadata_path` and at the path-inserted form for the endpoint. The endpoint path is the
 * path of `authorization.resource` (e.g. `/mcp`).
 *
 * Pass a factory when more than one client connects: an SDK `McpServer` talks to one transport at a
 * time, so a single instance serves one session at a time (a second `initialize` is refused while the
 * first session is open).
 *
 * @example
 * ```ts
 * const handler = protect(() => buildMyMcpServer(), {
 *   authorization: { enabled: true, authorization_servers: ["https://auth.example.com"],
 *                    resource: "https://mcp.example.com/mcp" },
 *   provider: new JWTValidator({ jwks_uri, issuer, audience: "https://mcp.example.com/mcp" }),
 * });
 * http.createServer(toNodeHandler(handler)).listen(8000);
 * ```
 */
export function protect(source: McpServerSource | McpHttpHandlerLike | V2ServerFactory, options: ProtectOptions): ProtectedHandler {
  const config = checkOptions(options);
  const engine = options.engine ?? "v1";
  if (engine !== "v1" && engine !== "v2") throw new TypeError('protect(): "engine" must be "v1" or "v2"');
  let backend: McpBackend;
  if (isMcpHttpHandler(source)) {
    // A handler from the SDK v2's createMcpHandler(): it serves both eras itself.
    backend = createV2Backend(source);
  } else if (engine === "v2") {
    if (source instanceof McpServer) throw new TypeError('protect(): engine "v2" needs a v2 server factory or createMcpHandler(...), not a v1 McpServer');
    const factory = source as (ctx: unknown) => unknown;
    backend = createV2Backend(async () => (await loadSdkV2()).createMcpHandler(factory));
  } else {
    backend = v1BackendFor(source as McpServerSource, options);
  }
  return createHandler(backend, config, options);
}

/**
 * `authorization_servers` defaults to the provider's `issuers` (an {@link IssuerRouter}, an
 * introspection or discovered validator), so the RFC 9728 document lists every trusted server.
 */
function withProviderIssuers(authorization: AuthorizationConfig, provider: AuthorizationProvider | undefined): AuthorizationConfig {
  if (authorization?.authorization_servers?.length) return authorization;
  const issuers = (provider as { issuers?: unknown } | undefined)?.issuers;
  if (!Array.isArray(issuers) || issuers.length === 0 || !issuers.every((i) => typeof i === "string")) return authorization;
  return { ...authorization, authorization_servers: [...issuers] };
}

/**
 * A factory of SDK v2 servers (`@modelcontextprotocol/server`'s `McpServerFactory`), for
 * `engine: "v2"`. Typed loosely so this package does not depend on the optional peer's types.
 */
export type V2ServerFactory = (ctx: { era: "legacy" | "modern"; authInfo?: unknown; requestInfo?: Request }) => unknown;

/** Validate everything but the source, once; returns the parsed authorization config. */
function checkOptions(options: ProtectOptions): Readonly<ResolvedAuthorizationConfig> {
  const config = parseAuthorizationConfig(withProviderIssuers(options.authorization, options.provider));
  if (config.enabled && !config.resource) {
    throw new TypeError('protect(): "authorization.resource" (the canonical URL of the MCP endpoint) is required when enabled');
  }
  if (config.enabled && !options.provider) {
    throw new TypeError('protect(): "provider" is required when authorization is enabled');
  }
  if (config.dpop_required && options.dpop === false) {
    throw new TypeError('protect(): "authorization.dpop_required" needs DPoP, but "dpop" is false');
  }
  const limits = LimitsSchema.safeParse(options);
  if (!limits.success) {
    const issue = limits.error.issues[0]!;
    throw new TypeError(`protect(): "${issue.path.join(".")}" ${issue.message}`);
  }
  return config;
}

function v1BackendFor(source: McpServerSource, options: ProtectOptions): McpBackend {
  const mode = options.session_mode ?? "stateful";
  if (mode === "stateless" && source instanceof McpServer) {
    throw new TypeError('protect(): session_mode "stateless" needs a factory, not an McpServer instance');
  }
  return createV1Backend(source, mode, {
    max_sessions: options.max_sessions,
    max_sessions_per_principal: options.max_sessions_per_principal,
    max_anonymous_sessions: options.max_anonymous_sessions,
    idle_timeout_ms: (options.session_idle_timeout ?? 1800) * 1000,
  });
}

/**
 * Both eras on one endpoint, for {@link MCPServer}'s `engine: "v2"`: 2026-07-28 requests through a v2
 * server from `modernFactory`, 2025-era requests through v1 servers from `legacyFactory` (stateful
 * sessions, bound to their principal, unless `session_mode` is `stateless`).
 *
 * @internal
 */
export function protectBothEras(
  modernFactory: (ctx: unknown) => unknown,
  legacyFactory: () => McpServer | Promise<McpServer>,
  options: ProtectOptions,
): ProtectedHandler {
  const config = checkOptions(options);
  const modern = async () => (await loadSdkV2()).createMcpHandler(modernFactory, { legacy: "reject" });
  return createHandler(createDualBackend(modern, v1BackendFor(legacyFactory, options)), config, options);
}

function createHandler(backend: McpBackend, config: Readonly<ResolvedAuthorizationConfig>, options: ProtectOptions): ProtectedHandler {
  const resource = config.resource ?? "http://localhost/mcp";
  const endpointPath = new URL(resource).pathname;
  const dpop = resolveDpop(options.dpop);
  // With authorization disabled there is nothing to advertise: no metadata is served.
  const wellKnown = new Set(config.enabled ? metadataPaths(config.metadata_path, resource) : []);

  /** Everything that depends on the canonical resource URI, built once per URI. */
  const viewOf = (uri: string): ResourceView => {
    const metadata = buildProtectedResourceMetadata(config, {
      resource: uri,
      toolScopes: [...new Set([...(options.tool_scopes ?? []), ...(options.definitions ?? []).flatMap((d) => d.required_scopes)])],
      ...(dpop ? { dpopAlgorithms: dpop.algorithms } : {}),
    });
    return {
      resource: uri,
      metadata,
      metadataBody: JSON.stringify(metadata),
      challenge: {
        resourceMetadataUrl: resourceMetadataUrl(config.metadata_path, uri),
        scopes: config.required_scopes,
        ...(dpop ? { dpopAlgorithms: dpop.algorithms, dpopRequired: config.dpop_required } : {}),
      },
    };
  };
  const configured = viewOf(resource);
  const viewFor = forwardedViews(options.trust_proxy, configured, endpointPath, viewOf, config.allow_insecure_http);
  const corsOrigins = options.cors_origins ?? "*";
  const emit = options.onAuthEvent;
  const exchange = createTokenExchange(options.token_exchange, config.enabled, emit, "protect()");
  const maxBody = options.max_body_bytes ?? DEFAULT_MAX_BODY_BYTES;
  const policy = config.enabled && options.definitions?.length ? buildScopePolicy(options.definitions) : undefined;
  if ((config.step_up || config.hide_unauthorized_tools) && config.enabled && !options.definitions) {
    throw new TypeError('protect(): "authorization.step_up" and "hide_unauthorized_tools" need "definitions" (the tool(), resource() and prompt() definitions served)');
  }

  /** CORS response headers for `req`, as name/value pairs (a shared constant in the usual `"*"` case). */
  const corsPairs = (req: Request, publicDocument: boolean): ReadonlyArray<readonly [string, string]> => {
    if (publicDocument || corsOrigins === "*") return CORS_ANY_ORIGIN;
    const origin = req.headers.get("origin");
    if (origin && corsOrigins.includes(origin)) return [["Access-Control-Allow-Origin", origin], ["Vary", "Origin"], CORS_EXPOSE];
    return [CORS_EXPOSE];
  };
  const corsHeaders = (req: Request, publicDocument: boolean): Headers => new Headers(corsPairs(req, publicDocument) as [string, string][]);

  /** Add `extra` to the transport's response: in place when its headers are mutable (the usual case), else on a copy. */
  const withHeaders = (res: Response, extra: ReadonlyArray<readonly [string, string]>): Response => {
    try {
      for (const [k, v] of extra) res.headers.set(k, v);
      return res;
    } catch {
      // Immutable headers (e.g. a Response.error() or a fetched response): re-wrap.
      const headers = new Headers(res.headers);
      for (const [k, v] of extra) headers.set(k, v);
      return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
    }
  };

  const refuse = (err: AuthError, req: Request, view: ResourceView): Response => {
    const res = challengeResponse(err, view.challenge, corsHeaders(req, false));
    emitSafely(emit, { type: "refused", code: err.code, reason: err.reason, status: res.status });
    return res;
  };

  const serveMetadata = (req: Request, view: ResourceView): Response => {
    const h = corsHeaders(req, true);
    if (req.method === "OPTIONS") {
      h.set("Access-Control-Allow-Methods", "GET, OPTIONS");
      h.set("Access-Control-Allow-Headers", "MCP-Protocol-Version, Content-Type");
      h.set("Access-Control-Max-Age", "86400");
      return new Response(null, { status: 204, headers: h });
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      h.set("Allow", "GET, HEAD, OPTIONS");
      return new Response(null, { status: 405, headers: h });
    }
    h.set("Content-Type", "application/json");
    h.set("Cache-Control", `public, max-age=${config.cache_ttl}`);
    return new Response(req.method === "HEAD" ? null : view.metadataBody, { status: 200, headers: h });
  };

  const handler = async (req: Request, extras?: HandlerExtras): Promise<Response> => {
    const path = new URL(req.url).pathname;
    const view = viewFor(req);
    if (wellKnown.has(path)) return serveMetadata(req, view);
    if (path !== endpointPath) return new Response("Not Found", { status: 404, headers: { "Content-Type": "text/plain" } });

    if (req.method === "OPTIONS") {
      const cors = corsHeaders(req, false);
      cors.set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
      cors.set("Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
      cors.set("Access-Control-Max-Age", "86400");
      return new Response(null, { status: 204, headers: cors });
    }

    let auth: AuthContext | null = null;
    const principal = (): string => principalOf(auth);
    try {
      if (config.enabled) {
        const decided = authorize(req, { config, provider: options.provider as AuthorizationProvider, resource: view.resource, dpop, onAuthEvent: emit });
        auth = decided instanceof Promise ? await decided : decided;
        backend.checkSession?.(req, principal());
        if (auth && emit) emitSafely(emit, { type: "accepted", subject: auth.subject, client_id: auth.client_id, scopes: auth.scopes, jkt: auth.jkt });
      }
    } catch (e) {
      if (e instanceof AuthError) return refuse(e, req, view);
      throw e;
    }
    // Only an authorized request gets this far: the body is read now, once, bounded.
    const read = await readJsonBody(req, extras, maxBody);
    const cors = corsPairs(req, false);
    if ("response" in read) return withHeaders(read.response, cors);
    if (policy && config.step_up && auth) {
      // Step-up: refuse before the handler runs, naming the scopes to ask for (body decides, never Mcp-Name).
      const required = unmetRequirement(read.body, policy, auth.scopes);
      if (required) return refuse(new InsufficientScope(stepUpScopes(auth.scopes, required, config.step_up_scope)), req, view);
    }
    let res = await backend.handle({
      req,
      auth,
      authInfo: auth ? toAuthInfo(auth, view.resource) : undefined,
      principal: principal(),
      parsedBody: read.body,
      context: createRequestContext(auth, config.enabled, exchange),
    });
    if (policy && config.hide_unauthorized_tools && asksForList(read.body)) res = await filterListResponse(res, policy, auth?.scopes ?? []);
    return withHeaders(res, cors);
  };

  return Object.assign(handler, {
    [kReadsBodyLazily]: true,
    resource,
    metadata: configured.metadata,
    handles: (path: string) => path === endpointPath || wellKnown.has(path),
    close: () => backend.close(),
  });
}

/** What depends on the canonical resource URI: the RFC 9728 document and the challenge parameters. */
interface ResourceView {
  resource: string;
  metadata: ProtectedResourceMetadata;
  metadataBody: string;
  challenge: ChallengeOptions;
}

/** First value of a possibly comma-joined forwarded header, trimmed and lower-cased. */
const firstForwarded = (v: string | null): string | undefined => v?.split(",", 1)[0]?.trim().toLowerCase() || undefined;

/**
 * The view for a request: the configured one, or — with `trust_proxy` — the one for the forwarded
 * origin when its host is allowed. Views are cached per allowed origin (a bounded set: hosts × 2 schemes).
 */
function forwardedViews(
  trust: ProtectOptions["trust_proxy"],
  configured: ResourceView,
  endpointPath: string,
  viewOf: (uri: string) => ResourceView,
  allowInsecureHttp: boolean,
): (req: Request) => ResourceView {
  if (!trust) return () => configured;
  const allowed = new Set(trust.allowed_hosts.map((h) => h.toLowerCase()));
  const fallbackProto = new URL(configured.resource).protocol.slice(0, -1);
  const views = new Map<string, ResourceView>();
  return (req) => {
    const host = firstForwarded(req.headers.get("x-forwarded-host"));
    if (!host || !allowed.has(host)) return configured;
    const proto = firstForwarded(req.headers.get("x-forwarded-proto")) ?? fallbackProto;
    if (proto !== "https" && proto !== "http") return configured;
    // The same rule as for the configured resource: plain http only on loopback, unless allowed.
    if (proto === "http" && !allowInsecureHttp && !isLoopbackHost(host.replace(/:\d+$/, ""))) return configured;
    const uri = `${proto}://${host}${endpointPath}`;
    let view = views.get(uri);
    if (!view) views.set(uri, (view = viewOf(uri)));
    return view;
  };
}
