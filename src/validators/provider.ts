/**
 * The pluggable seam between the protected server and whatever checks tokens.
 *
 * @module
 */
import type { AuthContext } from "../context/types.js";
import type { AuthEventListener } from "../events.js";

/** What the server tells a provider about the request being authorized. */
export interface VerifyContext {
  /** Canonical resource URI of this server; the default audience. */
  readonly resource: string;
  /** The HTTP request, for providers that need more than the token (read-only use). */
  readonly request?: Request;
  /** The server's `cache_ttl` in seconds, for providers that cache (keys, verified tokens). */
  readonly cache_ttl?: number;
  /** Report events such as `jwks_refreshed`. */
  readonly emit?: AuthEventListener;
}

/**
 * Checks an access token and says who it belongs to.
 *
 * Implementations must throw an {@link AuthError}: {@link InvalidToken} / {@link TokenExpired} for a
 * token that is not acceptable, {@link AuthorizationUnavailable} only when the check *could not be
 * completed* (that is the one error `fail_open` turns into an anonymous request). Anything else thrown
 * is treated as {@link AuthorizationUnavailable}.
 *
 * @example
 * ```ts
 * const provider: AuthorizationProvider = {
 *   async verify(token, { resource }) {
 *     const r = await introspect(token);           // RFC 7662
 *     if (!r.active || r.aud !== resource) throw new InvalidToken("The access token is not active");
 *     return createAuthContext({ subject: r.sub, scopes: r.scope.split(" "), claims: r,
 *       client_id: r.client_id, issuer: r.iss, expires_at: r.exp }, token);
 *   },
 * };
 * ```
 */
export interface AuthorizationProvider {
  /** Verify `token` for `context.resource`; resolve to the principal or throw an {@link AuthError}. */
  verify(token: string, context: VerifyContext): Promise<AuthContext>;
  /**
   * Optional, synchronous: the principal `verify` would resolve to for `token`, when this provider
   * already verified it and that result is still valid; otherwise `undefined`. Never throws and never
   * does I/O: an `undefined` answer only means that the server calls `verify`.
   *
   * The server asks this first, so that a request with a cached token is authorized without a
   * promise or a turn of the microtask queue (measured in `bench/`: a few percent of a trivial tool
   * call on Node 24, more on Node 20, where every promise pays for `AsyncLocalStorage`). A provider
   * that caches must answer exactly as its `verify` would for the same token and context. The cost:
   * on a miss `verify` looks the token up again, next to a signature check or a network call.
   *
   * For the usual `Authorization: Bearer <token>` header the server probes with the token before
   * checking its characters (see `cacheProbeToken` in `src/protect/credentials.ts`): answer only for a token
   * `verify` accepted, which was always checked first; never for a token merely seen.
   */
  verifyCached?(token: string, context: VerifyContext): AuthContext | undefined;
}
