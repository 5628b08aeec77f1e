/**
 * RFC 8693 token exchange at the development authorization server: a **confidential** client named
 * in the `token_exchange` option (client id + secret) trades an access token this server issued for
 * one whose `aud` is an allowed audience. `sub` is kept, `act: { sub: <client id> }` says who acts
 * (nesting an earlier `act`), scopes are never wider than the subject token's, and the new token
 * never outlives it.
 *
 * @see RFC 8693 §2.1 (request), §2.2 (response, errors), §4.1 (`act`)
 * @module
 */
import { createLocalJWKSet, jwtVerify, type JWTPayload } from "jose";
import type { Signer } from "./keys.js";
import { basicCredentials } from "./clients.js";
import { safeEqual } from "./lib/http.js";
import { OAuthError } from "./errors.js";
import type { ResolvedOptions } from "./options.js";
import type { TokenResponse } from "./types.js";

/** RFC 8693 grant type. */
export const TOKEN_EXCHANGE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";
const JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt";

/** What the grant needs from the server. */
export interface TokenExchangeContext {
  o: ResolvedOptions;
  signer: Signer;
  /** Whether a client id belongs to a registered (public) client. */
  isPublicClient(client_id: string): Promise<boolean>;
}

const keySets = new WeakMap<Signer, ReturnType<typeof createLocalJWKSet>>();

/** The authenticated confidential client's id; public and unknown clients are refused. */
async function authenticateClient(req: Request, form: URLSearchParams, ctx: TokenExchangeContext): Promise<string> {
  const clients = ctx.o.token_exchange!.clients;
  const basic = basicCredentials(req.headers.get("authorization"));
  const postSecret = form.get("client_secret");
  if (basic && postSecret !== null) throw new OAuthError("invalid_request", "Use one client authentication method");
  const id = basic?.id ?? form.get("client_id");
  const secret = basic?.secret ?? postSecret;
  if (basic && form.get("client_id") !== null && form.get("client_id") !== basic.id)
    throw new OAuthError("invalid_request", "client_id does not match the credentials");
  if (!id) throw new OAuthError("invalid_client", "Client authentication failed", 401);
  const client = clients.find((c) => c.client_id === id);
  if (secret === null) {
    // A public client (registered, or unknown here) cannot act for anyone.
    if (!client && (await ctx.isPublicClient(id)))
      throw new OAuthError("unauthorized_client", "Public clients may not use token exchange");
    throw new OAuthError("invalid_client", "Client authentication failed", 401);
  }
  if (!client || !safeEqual(secret, client.client_secret))
    throw new OAuthError("invalid_client", "Client authentication failed", 401);
  return client.client_id;
}

/** Handle a token request with `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`. */
export async function tokenExchange(
  req: Request,
  form: URLSearchParams,
  ctx: TokenExchangeContext,
): Promise<TokenResponse & { issued_token_type: string }> {
  const { o } = ctx;
  const te = o.token_exchange!;
  const clientId = await authenticateClient(req, form, ctx);

  const subjectToken = form.get("subject_token");
  if (!subjectToken) throw new OAuthError("invalid_request", "subject_token is required");
  if (form.get("subject_token_type") !== ACCESS_TOKEN_TYPE)
    throw new OAuthError("invalid_request", "subject_token_type must be urn:ietf:params:oauth:token-type:access_token");
  if (form.get("actor_token") !== null || form.get("actor_token_type") !== null)
    throw new OAuthError("invalid_request", "actor_token is not supported");
  const requested = form.get("requested_token_type");
  if (requested !== null && requested !== ACCESS_TOKEN_TYPE && requested !== JWT_TYPE)
    throw new OAuthError("invalid_request", "Only access tokens can be issued");

  // The target: `audience` and/or `resource` (RFC 8693 §2.1), one value, on the allowlist.
  const targets = [
    ...new Set([form.get("audience"), form.get("resource")].filter((v): v is string => v !== null && v !== "")),
  ];
  if (targets.length === 0) throw new OAuthError("invalid_target", "audience or resource is required");
  if (targets.length > 1) throw new OAuthError("invalid_target", "audience and resource name different targets");
  const audience = targets[0]!;
  if (!te.audiences.includes(audience)) throw new OAuthError("invalid_target", "The audience is not allowed");

  let subject: JWTPayload;
  try {
    let jwks = keySets.get(ctx.signer);
    if (!jwks) keySets.set(ctx.signer, (jwks = createLocalJWKSet(ctx.signer.jwks)));
    ({ payload: subject } = await jwtVerify(subjectToken, jwks, {
      issuer: o.issuer,
      typ: "at+jwt",
      algorithms: ["ES256"],
      currentDate: new Date(o.clock()),
      clockTolerance: 0,
      requiredClaims: ["sub", "exp", "aud"],
    }));
  } catch {
    throw new OAuthError("invalid_grant", "The subject token is invalid, expired or not issued by this server");
  }
  const subjectAud = ([] as string[]).concat(subject.aud ?? []);
  if (!subjectAud.some((a) => o.resources.includes(a)))
    throw new OAuthError("invalid_grant", "The subject token was not issued for a protected resource of this server");

  const granted = typeof subject.scope === "string" ? subject.scope.split(" ").filter(Boolean) : [];
  const scopeParam = form.get("scope");
  let scopes = granted;
  if (scopeParam !== null) {
    const asked = [...new Set(scopeParam.split(" ").filter(Boolean))];
    if (asked.some((s) => !granted.includes(s)))
      throw new OAuthError("invalid_scope", "The requested scope is wider than the subject token's");
    scopes = asked;
  }

  const iat = Math.floor(o.clock() / 1000);
  // Never outlive the subject token.
  const exp = Math.min(iat + o.access_token_ttl_seconds, subject.exp!);
  const prior =
    typeof subject.act === "object" && subject.act !== null ? (subject.act as Record<string, unknown>) : undefined;
  const scope = scopes.join(" ");
  const access_token = await ctx.signer.sign({
    iss: o.issuer,
    aud: audience,
    sub: subject.sub!,
    client_id: clientId,
    scope,
    iat,
    exp,
    act: { sub: clientId, ...(prior ? { act: prior } : {}) },
  });
  return { access_token, issued_token_type: ACCESS_TOKEN_TYPE, token_type: "Bearer", expires_in: exp - iat, scope };
}
