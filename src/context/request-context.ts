/**
 * Building request contexts: the principal ({@link createAuthContext}, its token hidden from
 * enumeration), the context a tool sees with the server's token exchange bound to it, and the scope
 * check `tool()`, `resource()` and `prompt()` make before running.
 *
 * @module
 */
import { missingFrom } from "../lib/scope.js";
import { TokenExchangeError } from "../token-exchange/errors.js";
import { ConnectionRefused } from "../connected-accounts/errors.js";
import type {
  Connection,
  ConnectionRequest,
  ExchangedToken,
  ExchangeTokenRequest,
  ProviderConnectionRequest,
} from "../token-exchange/types.js";
import type { AuthContext, ContextAccounts, ContextExchange, RequestContext } from "./types.js";

/** A request context: the principal, and the server's token exchange and connected accounts bound to it. */
class Context implements RequestContext {
  readonly auth: AuthContext | null;
  readonly authorization_enabled: boolean;
  readonly #exchange: ContextExchange | undefined;
  readonly #accounts: ContextAccounts | undefined;
  constructor(
    auth: AuthContext | null,
    authorizationEnabled: boolean,
    exchange: ContextExchange | undefined,
    accounts: ContextAccounts | undefined,
  ) {
    this.auth = auth;
    this.authorization_enabled = authorizationEnabled;
    this.#exchange = exchange;
    this.#accounts = accounts;
    if (accounts) accountsOfContext.set(this, accounts);
    Object.freeze(this);
  }
  exchangeToken(request: ExchangeTokenRequest): Promise<ExchangedToken> {
    try {
      return this.#exchanger(request).exchangeToken(this.auth, request);
    } catch (e) {
      return Promise.reject(e);
    }
  }
  connection(request: ConnectionRequest | ProviderConnectionRequest): Connection {
    if (typeof request === "object" && request !== null && "provider" in request)
      return this.#connected(request.provider).connection(this.auth, request.provider);
    return this.#exchanger(request).connection(this.auth, request);
  }
  disconnect(provider: string): Promise<boolean> {
    try {
      return this.#connected(provider).disconnect(this.auth, provider);
    } catch (e) {
      return Promise.reject(e);
    }
  }
  #connected(provider: unknown): ContextAccounts {
    if (this.#accounts) return this.#accounts;
    throw new ConnectionRefused(String(provider), "not_configured");
  }
  #exchanger(request: { audience?: unknown } | undefined): ContextExchange {
    if (this.#exchange) return this.#exchange;
    const audience = typeof request?.audience === "string" ? request.audience : undefined;
    throw new TokenExchangeError(this.auth ? "not_configured" : "no_caller", { audience });
  }
}

/**
 * Build a {@link RequestContext}. `exchange` is the server's token exchange (`token_exchange`
 * option); without it, `exchangeToken()` and `connection({ audience })` throw a `TokenExchangeError`
 * (`protected-mcp/token-exchange`). `accounts` is its `connected_accounts`; without it,
 * `connection({ provider })` and `disconnect()` throw `ConnectionRefused` (`not_configured`).
 *
 * @internal
 */
export function createRequestContext(
  auth: AuthContext | null,
  authorizationEnabled: boolean,
  exchange?: ContextExchange,
  accounts?: ContextAccounts,
): RequestContext {
  return new Context(auth, authorizationEnabled, exchange, accounts);
}

/** The connected accounts a context was built with, for the tool wrapper that answers their elicitations. */
const accountsOfContext = new WeakMap<RequestContext, ContextAccounts>();

/** @internal the connected accounts behind `context`, when its server has them. */
export function contextAccounts(context: RequestContext): ContextAccounts | undefined {
  return accountsOfContext.get(context);
}

/** Build an {@link AuthContext}, hiding the token from enumeration. */
export function createAuthContext(fields: Omit<AuthContext, "token">, token: string): AuthContext {
  const ctx = { ...fields };
  Object.defineProperty(ctx, "token", { value: token, enumerable: false });
  return Object.freeze(ctx) as AuthContext;
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
