/**
 * `authenticate()`: one request in, one principal (or `null`) out, or a typed refusal.
 *
 * Pure decision logic over a Web `Request`; the HTTP plumbing lives in `protect.ts`.
 *
 * @module
 */
import type { ResolvedAuthorizationConfig } from "../config.js";
import type { AuthContext } from "../context/types.js";
import { cacheProbeToken, extractCredentials, type Credentials } from "./credentials.js";
import { AuthError, AuthorizationUnavailable, InsufficientScope, InvalidToken, ProviderFailed } from "../errors.js";
import { emitSafely, type AuthEventListener } from "../events.js";
import type { AuthorizationProvider } from "../validators/provider.js";

/**
 * Sender-constraint check for DPoP (RFC 9449), plugged in by the server when DPoP is configured.
 * Resolves when the request's proof binds it to `auth`; throws an {@link AuthError} otherwise.
 */
export interface DpopCheck {
  /** JWS algorithms accepted for proofs (advertised in challenges and metadata). */
  readonly algorithms: readonly string[];
  /**
   * Verify the request's `DPoP` proof for `token`, bound to `auth.jkt`, naming `htu` (the canonical
   * resource). `emit`, when given, receives events only the check can see (e.g. `replay_store_full`).
   */
  verify(req: Request, token: string, auth: AuthContext, htu: string, emit?: AuthEventListener): Promise<void>;
}

/** What {@link authenticate} needs. */
export interface AuthenticateOptions {
  /** The validated config. */
  config: Readonly<ResolvedAuthorizationConfig>;
  /** The token checker. */
  provider: AuthorizationProvider;
  /** Canonical resource URI. */
  resource: string;
  /** DPoP verification, when configured. Without it, DPoP-bound tokens are refused. */
  dpop?: DpopCheck | undefined;
  /** Event sink. */
  on_auth_event?: AuthEventListener | undefined;
}

/**
 * Authenticate one request: read its credential (`Authorization`, `DPoP`), verify the token with the
 * provider, check the DPoP binding, then the server-wide `required_scopes`.
 *
 * Resolves to the principal, or to `null` when validation could not be completed and `fail_open`
 * is on (a `fail_open` event is emitted). Throws an {@link AuthError} for every refusal; the caller
 * maps it with `challengeFor`. Throws a {@link ProviderFailed} when the provider throws anything that
 * is not an `AuthError` (a bug): that is never `fail_open`'s case.
 *
 * Order matters: the credential is read, the token verified, the DPoP binding checked, and only then
 * are scopes compared, so a forged token never learns which scopes it would need.
 */
export async function authenticate(req: Request, options: AuthenticateOptions): Promise<AuthContext | null> {
  return authenticateCachedFirst(req, options);
}

/**
 * {@link authenticate}, without a promise when none is needed: a bearer token the provider has
 * verified before ({@link AuthorizationProvider.verifyCached}), with the required scopes, is
 * returned as it is. Every other case (a miss, DPoP, a refusal) takes the full path, so the cache
 * only ever shortens an acceptance the full path would give, and every refusal keeps its exact error.
 * On the full path a DPoP token's verification may come from the same cache (no `verify` call), but its
 * proof is checked on every request.
 * Throws an {@link AuthError} for a bad credential, as the full path would first.
 *
 * @internal
 */
export function authenticateCachedFirst(
  req: Request,
  options: AuthenticateOptions,
): AuthContext | Promise<AuthContext | null> {
  const probed = cacheProbeToken(req);
  if (probed !== undefined) {
    const auth = acceptFromCache(req, { scheme: "bearer", token: probed }, options);
    if (auth) return auth;
  }
  const credentials = extractCredentials(req);
  // A token already probed is not probed twice: verify() looks it up again anyway.
  return (
    (probed === undefined ? acceptFromCache(req, credentials, options) : undefined) ??
    verifyCredentials(req, credentials, options)
  );
}

const hasScopes = (auth: AuthContext, required: readonly string[]): boolean =>
  required.every((s) => auth.scopes.includes(s));

function verifyContext(req: Request, options: AuthenticateOptions) {
  return { resource: options.resource, request: req, cache_ttl: options.config.cache_ttl, emit: options.on_auth_event };
}

/** The principal of a cached bearer token that needs nothing more, else `undefined`. */
function acceptFromCache(
  req: Request,
  credentials: Credentials,
  options: AuthenticateOptions,
): AuthContext | undefined {
  if (credentials.scheme !== "bearer" || options.config.dpop_required) return undefined;
  const auth = cachedPrincipal(req, credentials, options);
  // A DPoP-bound token, or one short of the required scopes, is refused by the full path.
  if (!auth || auth.jkt !== undefined || !hasScopes(auth, options.config.required_scopes)) return undefined;
  return auth;
}

/** The provider's cached answer for the token (any scheme), or `undefined` for a miss or a probe that throws. */
function cachedPrincipal(
  req: Request,
  credentials: Credentials,
  options: AuthenticateOptions,
): AuthContext | undefined {
  if (!options.provider.verifyCached) return undefined;
  try {
    return options.provider.verifyCached(credentials.token, verifyContext(req, options));
  } catch {
    return undefined;
  }
}

async function verifyCredentials(
  req: Request,
  credentials: Credentials,
  options: AuthenticateOptions,
): Promise<AuthContext | null> {
  const { config } = options;
  let auth: AuthContext;
  try {
    // A DPoP token the provider already verified needs no verify call (a bearer token was probed before);
    // the DPoP binding below is still checked on every request.
    auth =
      (credentials.scheme === "dpop" ? cachedPrincipal(req, credentials, options) : undefined) ??
      (await options.provider.verify(credentials.token, verifyContext(req, options)));
  } catch (e) {
    // Only an outage the provider reports as such may become anonymous; anything else it throws is a bug.
    if (!(e instanceof AuthError)) throw new ProviderFailed(e);
    const err = e;
    if (err instanceof AuthorizationUnavailable && config.fail_open) {
      emitSafely(options.on_auth_event, { type: "fail_open", code: err.code });
      return null;
    }
    throw err;
  }

  const bound = auth.jkt !== undefined;
  if (bound || credentials.scheme === "dpop" || config.dpop_required) {
    if (!options.dpop) throw new InvalidToken("DPoP-bound access tokens are not accepted by this resource");
    if (bound && credentials.scheme !== "dpop") {
      // RFC 9449 §7.2: a bound token must not be downgraded to a bearer token.
      throw new InvalidToken("A DPoP-bound access token must use the DPoP authorization scheme");
    }
    if (!bound) throw new InvalidToken("The access token is not DPoP-bound");
    await options.dpop.verify(req, credentials.token, auth, options.resource, options.on_auth_event);
  }

  if (!hasScopes(auth, config.required_scopes)) throw new InsufficientScope(config.required_scopes);
  return auth;
}
