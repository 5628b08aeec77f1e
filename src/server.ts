/**
 * `MCPServer`: the batteries-included way — tools, authorization and Streamable HTTP in one object.
 *
 * @module
 */
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { toNodeHandler } from "./adapters/node.js";
import { LazyJsonSchemaValidator } from "./lib/json-schema-validator.js";
import {
  isLoopbackHost,
  parseAuthorizationConfig,
  type AuthorizationConfig,
  type ResolvedAuthorizationConfig,
} from "./config.js";
import { z } from "zod";
import { ConfigError } from "./errors.js";
import { functionSchema, optionsSchema, parseOptions, withNewNames } from "./lib/options.js";
import { protect, protectBothEras, type ProtectedHandler, type ProtectOptions } from "./protect/index.js";
import { ProtectOptionsSchema } from "./protect/options.js";
import { checkConnectedAccountsOptions } from "./connected-accounts/options.js";
import { parseTokenExchangeOptions } from "./token-exchange/options.js";
import { takenOverIssues } from "./serving/transport-options.js";
import {
  createEventBus,
  loadSdkV2,
  notifierFor,
  type ServerEventBusLike,
  type ServerNotifierLike,
} from "./serving/v2.js";
import type { ToolDefinition, ToolRegistry } from "./items/tools.js";
import type { ResourceDefinition, ResourceRegistry } from "./items/resources.js";
import type { PromptDefinition, PromptRegistry } from "./items/prompts.js";
import type { AuthorizationProvider } from "./validators/provider.js";

/**
 * Options of {@link MCPServer}: those of {@link ProtectOptions} that make sense for a server this
 * object builds (the tools come from {@link MCPServer.collect}, the provider from
 * {@link MCPServer.setAuthorizationProvider}), plus what `initialize` reports.
 */
export interface MCPServerOptions extends Omit<
  ProtectOptions,
  "authorization" | "provider" | "definitions" | "engine"
> {
  /** Server version reported in `initialize`. Default `"0.0.0"`. */
  version?: string | undefined;
  /** Instructions reported in `initialize`. */
  instructions?: string | undefined;
  /** Authorization; see {@link AuthorizationConfig}. Default: disabled. */
  authorization?: AuthorizationConfig | undefined;
  /** Receives startup warnings (authorization disabled). Default `console.warn`. */
  on_warning?: ((message: string) => void) | undefined;
  /** @deprecated Use `on_warning`. Removed in 0.3. */
  log?: ((message: string) => void) | undefined;
  /**
   * Which SDK serves MCP. `"v1"` (default): `@modelcontextprotocol/sdk`, protocol revisions up to
   * 2025-11-25, stateful sessions. `"v2"`: both eras on one endpoint — 2026-07-28 requests through the
   * SDK v2 (`@modelcontextprotocol/server`, an optional peer dependency: install it), 2025-era requests
   * through the v1 path as before (sessions bound to their principal). The same `tool()` definitions
   * serve both; `configure()` applies to v1 servers, {@link MCPServer.configureV2} to v2 servers.
   */
  engine?: "v1" | "v2" | undefined;
  /**
   * The SDK v2's own `ServerOptions` for the v2 servers this object builds (`engine: "v2"`), passed
   * as they are (camelCase, the SDK's type) — e.g. `{ requestState: { verify } }` for SEP-2322
   * multi-round-trip tools, or `capabilities`. `instructions` above wins over one given here.
   */
  v2_server_options?: Record<string, unknown> | undefined;
}

/** {@link MCPServerOptions}' schema: derived from `protect()`'s, so the two cannot drift apart. */
const MCPServerOptionsSchema = optionsSchema(
  "MCPServer",
  ProtectOptionsSchema.omit({ authorization: true, provider: true, definitions: true }).extend({
    version: z.string().optional(),
    instructions: z.string().optional(),
    authorization: z.unknown().optional(), // checked by parseAuthorizationConfig, with its own messages
    on_warning: functionSchema.optional(),
    v2_server_options: z.looseObject({}).optional(),
  }),
  { session_idle_timeout: "session_idle_timeout_seconds", log: "on_warning" },
);

const ServeOptionsSchema = optionsSchema(
  "MCPServer.serve",
  z.strictObject({
    port: z.number().int().min(0).max(65_535).optional(),
    host: z.string().min(1).optional(),
    headers_timeout_ms: z.number().int().positive().max(3_600_000).optional(),
    request_timeout_ms: z.number().int().positive().max(3_600_000).optional(),
    keep_alive_timeout_ms: z.number().int().positive().max(3_600_000).optional(),
  }),
  {
    headers_timeout: "headers_timeout_ms",
    request_timeout: "request_timeout_ms",
    keep_alive_timeout: "keep_alive_timeout_ms",
  },
);

const CloseOptionsSchema = optionsSchema(
  "MCPServer.close",
  z.strictObject({ grace_ms: z.number().min(0).max(3_600_000).optional() }),
);

/** Where {@link MCPServer.serve} listens. */
export interface ServeOptions {
  /** TCP port; 0 picks a free one. Default 8000. */
  port?: number;
  /** Interface. Default `127.0.0.1`. A non-loopback host needs `authorization.resource`. */
  host?: string;
  /**
   * Milliseconds a client has to send the request headers (Node's `headersTimeout`): a
   * slowloris-style client trickling headers is cut with 408. Default 10,000.
   */
  headers_timeout_ms?: number;
  /**
   * Milliseconds a client has to send the whole request, body included (Node's `requestTimeout`): a
   * slow body is cut with 408. Long-lived SSE *responses* are not affected. Default 30,000.
   */
  request_timeout_ms?: number;
  /** Milliseconds an idle keep-alive connection is kept (Node's `keepAliveTimeout`). Default 5,000. */
  keep_alive_timeout_ms?: number;
  /** @deprecated Use `headers_timeout_ms`. Removed in 0.3. */
  headers_timeout?: number;
  /** @deprecated Use `request_timeout_ms`. Removed in 0.3. */
  request_timeout?: number;
  /** @deprecated Use `keep_alive_timeout_ms`. Removed in 0.3. */
  keep_alive_timeout?: number;
}

/** What {@link MCPServer.serve} resolves to. */
export interface ServeResult {
  /** The MCP endpoint: the canonical resource URI. */
  url: string;
  /** The local listener, `http://host:port`. */
  address: string;
}

/**
 * An MCP server protected by OAuth 2.1, built on the official SDK.
 *
 * @example
 * ```ts
 * const server = new MCPServer("files", {
 *   authorization: { enabled: true, authorization_servers: ["https://auth.example.com"], required_scopes: ["read"] },
 * });
 * server.setAuthorizationProvider(new JWTValidator(JWTValidatorConfig.keycloak({ … })));
 * server.collect(deleteFile, whoami);
 * const { url } = await server.serve({ port: 8000 });   // Streamable HTTP at /mcp
 * ```
 */
export class MCPServer {
  /** Server name reported in `initialize`. */
  readonly name: string;
  readonly #options: MCPServerOptions;
  readonly #config: Readonly<ResolvedAuthorizationConfig>;
  readonly #tools: (ToolDefinition<any> | ResourceDefinition | PromptDefinition)[] = [];
  readonly #configurers: ((server: McpServer) => void)[] = [];
  readonly #v2Configurers: ((server: any) => void)[] = [];
  #provider: AuthorizationProvider | undefined;
  #http: Server | undefined;
  /** Requests being answered, and whether a graceful close is under way. */
  #inflight = new Set<ServerResponse>();
  #closing = false;
  #onIdle: (() => void) | undefined;
  #handler: ProtectedHandler | undefined;
  readonly #bus: ServerEventBusLike;

  /**
   * Publishes list-changed events to the open `subscriptions/listen` streams of 2026-07-28 clients
   * (`engine: "v2"`; with `engine: "v1"` nothing listens), e.g. `server.notify.toolsChanged()`. The
   * bus is `v2_handler_options.bus` when given, else in-process, shared by every handler of this object.
   */
  readonly notify: ServerNotifierLike;

  /**
   * @param name - server name.
   * @param options - see {@link MCPServerOptions}.
   * @throws {@link ConfigError} when an option is unknown or invalid.
   */
  constructor(name: string, options: MCPServerOptions = {}) {
    if (typeof name !== "string" || !name)
      throw new ConfigError("MCPServer", [{ key: "name", message: "must be a non-empty string" }]);
    this.name = name;
    parseOptions(MCPServerOptionsSchema, options, "MCPServer");
    options = withNewNames(MCPServerOptionsSchema, options);
    const takenOver = takenOverIssues(options.transport, options.v2_handler_options);
    if (takenOver.length) throw new ConfigError("MCPServer", takenOver);
    // Checked here too, so a wrong token_exchange fails at construction rather than at serve().
    if (options.token_exchange !== undefined) parseTokenExchangeOptions(options.token_exchange, "MCPServer");
    if (options.connected_accounts !== undefined)
      checkConnectedAccountsOptions(options.connected_accounts, "MCPServer");
    this.#options = { ...options };
    this.#config = parseAuthorizationConfig(options.authorization ?? {});
    this.#bus = options.v2_handler_options?.bus ?? createEventBus(options.v2_handler_options?.on_error);
    this.notify = notifierFor(this.#bus);
  }

  /** The validated authorization config, defaults filled in. */
  get authorization(): Readonly<ResolvedAuthorizationConfig> {
    return this.#config;
  }

  /** Set the token checker (e.g. a {@link JWTValidator}). Required when authorization is enabled. */
  setAuthorizationProvider(provider: AuthorizationProvider): this {
    if (!provider || typeof provider.verify !== "function") {
      throw new ConfigError("MCPServer.setAuthorizationProvider", [
        { key: "provider", message: "must have a verify() method" },
      ]);
    }
    this.#provider = provider;
    return this;
  }

  /**
   * Add tools, resources and prompts defined with {@link tool}, {@link resource} and {@link prompt}. Names must be
   * unique per kind.
   */
  collect(...items: (ToolDefinition<any> | ResourceDefinition | PromptDefinition)[]): this {
    for (const t of items) {
      if (this.#tools.some((x) => x.kind === t.kind && x.name === t.name)) {
        throw new ConfigError("MCPServer.collect", [{ key: t.name, message: `duplicate ${t.kind} name` }]);
      }
      this.#tools.push(t);
    }
    return this;
  }

  /**
   * Escape hatch to the SDK: `fn` runs on every underlying `McpServer` this object creates (one per
   * session), to register resources, prompts or raw tools.
   *
   * @example
   * ```ts
   * server.configure((mcp) => mcp.registerResource("readme", "file:///README.md", {}, async (uri) => ({ contents: [] })));
   * ```
   */
  configure(fn: (server: McpServer) => void): this {
    this.#configurers.push(fn);
    return this;
  }

  /**
   * Like {@link MCPServer.configure}, for the SDK v2 servers that serve 2026-07-28 requests under
   * `engine: "v2"`. `fn` receives an `McpServer` of `@modelcontextprotocol/server`.
   */
  configureV2(fn: (server: any) => void): this {
    this.#v2Configurers.push(fn);
    return this;
  }

  /** Build a fresh SDK v2 `McpServer` with every collected tool and v2 configurer applied (`engine: "v2"`). */
  async createSdkV2Server(): Promise<object> {
    const sdk = await loadSdkV2();
    const server = new sdk.McpServer(
      { name: this.name, version: this.#options.version ?? "0.0.0" },
      {
        ...this.#options.v2_server_options,
        ...(this.#options.instructions ? { instructions: this.#options.instructions } : {}),
      },
    );
    for (const t of this.#tools) t.register(server as ToolRegistry & ResourceRegistry & PromptRegistry);
    for (const fn of this.#v2Configurers) fn(server);
    return server;
  }

  /** Build a fresh SDK `McpServer` with every collected tool and configurer applied. */
  createSdkServer(): McpServer {
    const server = new McpServer(
      { name: this.name, version: this.#options.version ?? "0.0.0" },
      {
        ...(this.#options.instructions ? { instructions: this.#options.instructions } : {}),
        // Ajv is built only if a tool elicits: a stateless server builds one SDK server per request.
        jsonSchemaValidator: new LazyJsonSchemaValidator(),
      },
    );
    for (const t of this.#tools) t.register(server);
    for (const fn of this.#configurers) fn(server);
    return server;
  }

  /**
   * The Web-standard handler for this server, for hosting it yourself (Hono, workers, Express via
   * {@link toNodeHandler}). `resource` overrides `authorization.resource`.
   */
  handler(resource?: string): ProtectedHandler {
    const authorization: AuthorizationConfig = { ...this.#config };
    const effective = resource ?? this.#config.resource;
    if (effective) authorization.resource = effective;
    if (this.#config.enabled && !this.#provider) {
      throw new ConfigError("MCPServer", [
        { key: "provider", message: "authorization is enabled but no provider is set (call setAuthorizationProvider)" },
      ]);
    }
    const {
      version: _version,
      instructions: _instructions,
      on_warning: _onWarning,
      authorization: _authorization,
      v2_server_options: _v2,
      ...rest
    } = this.#options;
    const options: ProtectOptions = {
      ...rest,
      authorization,
      provider: this.#provider,
      session_mode: this.#options.session_mode ?? "stateful",
      definitions: this.#tools,
    };
    if ((this.#options.engine ?? "v1") === "v2") {
      options.v2_handler_options = { ...this.#options.v2_handler_options, bus: this.#bus };
      return protectBothEras(
        () => this.createSdkV2Server(),
        () => this.createSdkServer(),
        options,
      );
    }
    return protect(() => this.createSdkServer(), options);
  }

  /**
   * Listen for Streamable HTTP at `/mcp` (or the path of `authorization.resource`).
   *
   * When `authorization.resource` is not set, the resource is `http://{host}:{port}/mcp` of the
   * address actually bound — configuration, not the request's `Host` header.
   *
   * @returns `url`, the MCP endpoint (the canonical resource), and `address`, the local listener.
   */
  async serve(options: ServeOptions = {}): Promise<ServeResult> {
    if (this.#http) throw new Error("MCPServer.serve: already serving");
    parseOptions(ServeOptionsSchema, options, "MCPServer.serve");
    options = withNewNames(ServeOptionsSchema, options);
    const host = options.host ?? "127.0.0.1";
    if (this.#config.enabled && !this.#config.resource && !isLoopbackHost(host.includes(":") ? `[${host}]` : host)) {
      throw new ConfigError("MCPServer.serve", [
        {
          key: "authorization.resource",
          message: "set it to the public URL of the MCP endpoint when listening on a non-loopback host",
        },
      ]);
    }
    if (this.#config.enabled && !this.#provider) {
      throw new ConfigError("MCPServer", [
        { key: "provider", message: "authorization is enabled but no provider is set (call setAuthorizationProvider)" },
      ]);
    }
    // engine "v2" needs the optional peer: say so at startup, not with a 500 on the first request.
    if (this.#options.engine === "v2") await loadSdkV2();
    const headersTimeout = options.headers_timeout_ms ?? 10_000;
    const requestTimeout = options.request_timeout_ms ?? 30_000;
    const keepAliveTimeout = options.keep_alive_timeout_ms ?? 5_000;
    if (headersTimeout > requestTimeout) {
      throw new ConfigError("MCPServer.serve", [
        { key: "headers_timeout_ms", message: "must not exceed request_timeout_ms" },
      ]);
    }
    const http = createServer({
      headersTimeout,
      requestTimeout,
      keepAliveTimeout,
      // Node checks the two timeouts every 30 s by default: a slow client would get up to 30 s extra.
      connectionsCheckingInterval: Math.min(1000, headersTimeout),
    });
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject);
      http.listen(options.port ?? 8000, host, () => resolve());
    });
    const { port } = http.address() as AddressInfo;
    const hostPart = host.includes(":") ? `[${host}]` : host;
    const resource = this.#config.resource ?? `http://${hostPart}:${port}/mcp`;
    const handler = this.handler(resource);
    const serveRequest = toNodeHandler(handler);
    http.on("request", (req, res) => {
      this.#inflight.add(res);
      res.once("close", () => {
        this.#inflight.delete(res);
        if (this.#inflight.size === 0) this.#onIdle?.();
      });
      // While closing, tell clients (and load balancers) not to reuse this connection.
      if (this.#closing) res.setHeader("Connection", "close");
      serveRequest(req, res);
    });
    this.#http = http;
    this.#handler = handler;
    if (!this.#config.enabled) {
      (this.#options.on_warning ?? console.warn)(
        `[protected-mcp] authorization is DISABLED for "${this.name}": every request is served without checks and getContext().auth is null`,
      );
    }
    return { url: resource, address: `http://${hostPart}:${port}` };
  }

  /**
   * Stop listening and close every session.
   *
   * With `grace_ms`, close gracefully first (for rolling restarts behind a load balancer): stop
   * accepting connections, close idle keep-alive connections, answer requests still arriving on open
   * connections with `Connection: close`, and wait up to `grace_ms` for the requests in flight to
   * finish. Then every remaining connection (e.g. an open SSE stream) is closed. Default 0: at once.
   */
  async close(options: { grace_ms?: number } = {}): Promise<void> {
    const grace = parseOptions(CloseOptionsSchema, options, "MCPServer.close").grace_ms ?? 0;
    const http = this.#http;
    this.#http = undefined;
    if (http) {
      this.#closing = true;
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeIdleConnections();
      for (const res of this.#inflight) if (!res.headersSent) res.setHeader("Connection", "close");
      if (grace > 0 && this.#inflight.size > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, grace);
          this.#onIdle = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.#onIdle = undefined;
      }
      await this.#handler?.close();
      http.closeAllConnections();
      await closed;
      this.#closing = false;
    } else {
      await this.#handler?.close();
    }
  }
}
