/**
 * The bridge to the SDK's `AuthInfo`: our principal rides in `AuthInfo.extra` under one key, so tools
 * see the same principal on a transport the user wired, and a principal is rebuilt from the SDK's fields
 * on a server protected by the SDK's own `requireBearerAuth`.
 *
 * @module
 */
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import { createAuthContext, createRequestContext } from "./request-context.js";
import { getContext } from "./storage.js";
import type { AuthContext, RequestContext } from "./types.js";

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
