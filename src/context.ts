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
}

const storage = new AsyncLocalStorage<RequestContext>();
const OUTSIDE: RequestContext = Object.freeze({ auth: null, authorization_enabled: true });

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
  return current.auth || !authInfo ? current : { auth: fromAuthInfo(authInfo), authorization_enabled: true };
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
