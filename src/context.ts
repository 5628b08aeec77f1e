/**
 * `getContext()`: who is calling, from anywhere inside a tool, without threading arguments.
 *
 * Backed by `AsyncLocalStorage`, so concurrent requests never see each other's principal.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type { JWTPayload } from "jose";
import { missingFrom } from "./lib/scope.js";
import { TokenExchangeError } from "./token-exchange/errors.js";
import type { Connection, ConnectionRequest, ContextExchange, ExchangedToken, ExchangeTokenRequest } from "./token-exchange/types.js";

/**
 * The verified principal of the current request.
 *
 * `token` is present but non-enumerable: it does not appear in `JSON.stringify(auth)`,
 * `Object.keys` or a spread, so a tool that returns or logs `auth` does not leak it. Read it
 * explicitly only if you must call a downstream API *as this client* — and prefer a token exchange:
 * passing the token through to another resource is what RFC 8707 audience checks exist to stop.
 */
export interface AuthContext {
  /** `sub` claim (or the preset's user-id claim). */
  readonly subject: string;
  /** Granted scopes, from `scope` (space-separated) or `scp` (array), plus preset extras. */
  readonly scopes: readonly string[];
  /** All verified claims. */
  readonly claims: Readonly<JWTPayload>;
  /** OAuth client: `client_id`, else `azp` (or the preset's client claim). */
  readonly client_id: string | undefined;
  /** `iss` claim. */
  readonly issuer: string | undefined;
  /** `exp` claim, seconds since the epoch. */
  readonly expires_at: number | undefined;
  /** RFC 7638 thumbprint of the DPoP key the token is bound to (`cnf.jkt`), when sender-constrained. */
  readonly jkt?: string | undefined;
  /** The raw access token (non-enumerable; see the interface note). */
  readonly token: string;
}

/** Everything a tool can learn about the current request. */
export interface RequestContext {
  /** The caller, or `null` when anonymous (authorization disabled, or `fail_open` used). */
  readonly auth: AuthContext | null;
  /**
   * Whether authorization is enforced for this request. `false` when `enabled: false`, in which case
   * per-tool scopes are not checked either.
   */
  readonly authorization_enabled: boolean;
  /**
   * Exchange the caller's token for one for another API (RFC 8693 token exchange, or Entra
   * on-behalf-of), as configured by the server's `token_exchange` option. Cached until shortly
   * before it expires; one call in flight per caller, audience and scope.
   *
   * Prefer {@link RequestContext.connection}: it attaches the token itself, so the tool never holds it.
   *
   * @throws `TokenExchangeError` (`protected-mcp/token-exchange`) — `ERR_TOKEN_EXCHANGE_NO_CALLER` without an authorized caller,
   *   `ERR_TOKEN_EXCHANGE_FAILED` with the server's `error`, `ERR_TOKEN_EXCHANGE_UNAVAILABLE`, …
   * @example
   * ```ts
   * const { access_token } = await getContext().exchangeToken({ audience: "https://api.example.com", scope: "read" });
   * ```
   */
  exchangeToken(request: ExchangeTokenRequest): Promise<ExchangedToken>;
  /**
   * A handle on a downstream API as the caller: its `fetch()` exchanges the token, attaches it, and
   * refuses any URL or redirect outside the audience's origin. The token never reaches the tool.
   *
   * @throws `TokenExchangeError` (`protected-mcp/token-exchange`) at once without a caller, for an audience that is not allowed
   *   or whose origin is unknown.
   * @example
   * ```ts
   * const api = getContext().connection({ audience: "https://api.example.com" });
   * const me = await (await api.fetch("/v1/me")).json();
   * ```
   */
  connection(request: ConnectionRequest): Connection;
}

/** A request context: the principal, and the server's token exchange bound to it. */
class Context implements RequestContext {
  readonly auth: AuthContext | null;
  readonly authorization_enabled: boolean;
  readonly #exchange: ContextExchange | undefined;
  constructor(auth: AuthContext | null, authorizationEnabled: boolean, exchange: ContextExchange | undefined) {
    this.auth = auth;
    this.authorization_enabled = authorizationEnabled;
    this.#exchange = exchange;
    Object.freeze(this);
  }
  exchangeToken(request: ExchangeTokenRequest): Promise<ExchangedToken> {
    try {
      return this.#exchanger(request).exchangeToken(this.auth, request);
    } catch (e) {
      return Promise.reject(e);
    }
  }
  connection(request: ConnectionRequest): Connection {
    return this.#exchanger(request).connection(this.auth, request);
  }
  #exchanger(request: { audience?: unknown } | undefined): ContextExchange {
    if (this.#exchange) return this.#exchange;
    const audience = typeof request?.audience === "string" ? request.audience : undefined;
    throw new TokenExchangeError(this.auth ? "not_configured" : "no_caller", { audience });
  }
}

/**
 * Build a {@link RequestContext}. `exchange` is the server's token exchange (`token_exchange`
 * option); without it, `exchangeToken()` and `connection()` throw a `TokenExchangeError` (`protected-mcp/token-exchange`).
 *
 * @internal
 */
export function createRequestContext(auth: AuthContext | null, authorizationEnabled: boolean, exchange?: ContextExchange): RequestContext {
  return new Context(auth, authorizationEnabled, exchange);
}

const storage = new AsyncLocalStorage<RequestContext>();
const OUTSIDE: RequestContext = createRequestContext(null, true);

/**
 * The context of the request being handled.
 *
 * Outside a request (or on a server this library does not protect) it returns
 * `{ auth: null, authorization_enabled: true }`: anonymous and enforced, so a scoped tool refuses.
 *
 * @example
 * ```ts
 * const whoami = tool({ name: "whoami", description: "Who am I" }, async () => {
 *   const { auth } = getContext();
 *   return { subject: auth?.subject ?? null, scopes: auth?.scopes ?? [] };
 * });
 * ```
 */
export function getContext(): RequestContext {
  return storage.getStore() ?? OUTSIDE;
}

/** Run `fn` with `context` as the current request context. */
export function runWithContext<T>(context: RequestContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** Build an {@link AuthContext}, hiding the token from enumeration. */
export function createAuthContext(fields: Omit<AuthContext, "token">, token: string): AuthContext {
  const ctx = { ...fields };
  Object.defineProperty(ctx, "token", { value: token, enumerable: false });
  return Object.freeze(ctx) as AuthContext;
}

const AUTH_INFO_KEY = "protectedMcpAuth";

/**
 * The SDK's `AuthInfo` for a verified principal, carrying our {@link AuthContext} in `extra` so
 * tools registered with {@link tool} see the same principal even on a transport set up by the user.
 */
export function toAuthInfo(auth: AuthContext, resource: string): AuthInfo {
  // A verified-token cache hit hands back the same AuthContext: build its AuthInfo once per resource.
  const cached = authInfoCache.get(auth);
  if (cached?.resource?.href === resource) return cached;
  const info: AuthInfo = {
    token: auth.token,
    clientId: auth.client_id ?? "",
    scopes: [...auth.scopes],
    resource: new URL(resource),
    extra: { [AUTH_INFO_KEY]: auth },
  };
  if (auth.expires_at !== undefined) info.expiresAt = auth.expires_at;
  Object.freeze(info.scopes);
  Object.freeze(info);
  authInfoCache.set(auth, info);
  return info;
}

/** AuthInfo per principal object; entries go with the AuthContext (the verified-token cache bounds those). */
const authInfoCache = new WeakMap<AuthContext, AuthInfo>();

/**
 * The principal behind an SDK `AuthInfo`: ours when {@link toAuthInfo} made it, otherwise one built
 * from the SDK fields (for tools on a server protected by the SDK's own `requireBearerAuth`):
 * subject from `extra.sub` when present, else the client id.
 */
export function fromAuthInfo(info: AuthInfo | undefined): AuthContext | null {
  if (!info) return null;
  const ours = info.extra?.[AUTH_INFO_KEY];
  if (ours && typeof ours === "object") return ours as AuthContext;
  const sub = info.extra?.sub;
  return createAuthContext(
    {
      subject: typeof sub === "string" ? sub : info.clientId,
      scopes: Object.freeze([...info.scopes]),
      claims: Object.freeze({ ...(info.extra ?? {}) }),
      client_id: info.clientId || undefined,
      issuer: undefined,
      expires_at: info.expiresAt,
    },
    info.token,
  );
}

/** What an SDK callback receives besides its arguments: v1 passes `authInfo`, v2 `http.authInfo`. */
export interface SdkCallbackExtra {
  /** SDK v1. */
  authInfo?: AuthInfo;
  /** SDK v2. */
  http?: { authInfo?: AuthInfo };
}

/**
 * The request context inside an SDK callback: ours when `protect()` set it, else rebuilt from the
 * SDK's `authInfo` (a transport the user wired without our AsyncLocalStorage context).
 *
 * @internal
 */
export function callbackContext(extra: SdkCallbackExtra | undefined): RequestContext {
  const current = getContext();
  const authInfo = extra?.authInfo ?? extra?.http?.authInfo;
  return current.auth || !authInfo ? current : createRequestContext(fromAuthInfo(authInfo), true);
}

/**
 * The scopes of `required` the caller lacks: none when authorization is disabled, all of them for an
 * anonymous caller (`fail_open`). What `tool()`, `resource()` and `prompt()` check before running.
 *
 * @internal
 */
export function missingScopesOf(context: RequestContext, required: readonly string[]): string[] {
  return context.authorization_enabled ? missingFrom(required, context.auth?.scopes) : [];
}
