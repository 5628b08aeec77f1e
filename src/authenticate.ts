/**
 * `authenticate()`: one request in, one principal (or `null`) out, or a typed refusal.
 *
 * Pure decision logic over a Web `Request`; the HTTP plumbing lives in `protect.ts`.
 *
 * @module
 */
import type { ResolvedAuthorizationConfig } from "./config.js";
import type { AuthContext } from "./context.js";
import { extractCredentials } from "./credentials.js";
import { AuthError, AuthorizationUnavailable, InsufficientScope, InvalidToken } from "./errors.js";
import { emitSafely, type AuthEventListener } from "./events.js";
import type { AuthorizationProvider } from "./validators/provider.js";

/**
 * Sender-constraint check for DPoP (RFC 9449), plugged in by the server when DPoP is configured.
 * Resolves when the request's proof binds it to `auth`; throws an {@link AuthError} otherwise.
 */
export interface DpopCheck {
  /** JWS algorithms accepted for proofs (advertised in challenges and metadata). */
  readonly algorithms: readonly string[];
  /** Verify the request's `DPoP` proof for `token`, bound to `auth.jkt`, naming `htu` (the canonical resource). */
  verify(req: Request, token: string, auth: AuthContext, htu: string): Promise<void>;
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
  onAuthEvent?: AuthEventListener | undefined;
}

/**
 * Authorize one request.
 *
 * Resolves to the principal, or to `null` when validation could not be completed and `fail_open`
 * is on (a `fail_open` event is emitted). Throws an {@link AuthError} for every refusal; the caller
 * maps it with `challengeFor`.
 *
 * Order matters: the credential is read, the token verified, the DPoP binding checked, and only then
 * are scopes compared, so a forged token never learns which scopes it would need.
 */
export async function authenticate(req: Request, o: AuthenticateOptions): Promise<AuthContext | null> {
  const { config } = o;
  const credentials = extractCredentials(req);
  let auth: AuthContext;
  try {
    auth = await o.provider.verify(credentials.token, { resource: o.resource, request: req, cache_ttl: config.cache_ttl, emit: o.onAuthEvent });
  } catch (e) {
    const err = e instanceof AuthError ? e : new AuthorizationUnavailable({ cause: e });
    if (err instanceof AuthorizationUnavailable && config.fail_open) {
      emitSafely(o.onAuthEvent, { type: "fail_open", code: err.code });
      return null;
    }
    throw err;
  }

  const bound = auth.jkt !== undefined;
  if (bound || credentials.scheme === "dpop" || config.dpop_required) {
    if (!o.dpop) throw new InvalidToken("DPoP-bound access tokens are not accepted by this resource");
    if (bound && credentials.scheme !== "dpop") {
      // RFC 9449 §7.2: a bound token must not be downgraded to a bearer token.
      throw new InvalidToken("A DPoP-bound access token must use the DPoP authorization scheme");
    }
    if (!bound) throw new InvalidToken("The access token is not DPoP-bound");
    await o.dpop.verify(req, credentials.token, auth, o.resource);
  }

  if (config.required_scopes.length > 0 && config.required_scopes.some((s) => !auth.scopes.includes(s))) throw new InsufficientScope(config.required_scopes);
  return auth;
}
