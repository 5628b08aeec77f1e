/**
 * The token endpoint: `authorization_code` (PKCE S256 verified, codes single-use) and
 * `refresh_token` (rotation; a reused refresh token revokes its whole family), for public clients and
 * the confidential clients of the `clients` option (authenticated first, see clients.ts).
 *
 * @see RFC 6749 §4.1.3, §6; RFC 7636 §4.6; RFC 8707 §2.2; RFC 9700 §4.14 (refresh-token rotation)
 * @module
 */
import type { ClientLookup } from "./client-metadata-document.js";
import type { Signer } from "./keys.js";
import { resolveIssueOptions } from "./issue-options.js";
import { randomToken, readForm, safeEqual, sha256 } from "./lib/http.js";
import { OAuthError } from "./errors.js";
import type { ResolvedOptions } from "./options.js";
import type { RefreshTokenRecord } from "./storage.js";
import type { IssueAccessTokenOptions, TokenResponse } from "./types.js";
import { TOKEN_EXCHANGE_GRANT_TYPE, tokenExchange } from "./token-exchange.js";
import { authenticateTokenClient } from "./clients.js";

/** What the token endpoint needs. */
export interface TokenContext {
  /** Resolved options. */
  o: ResolvedOptions;
  /** Access-token signer. */
  signer: Signer;
  /** Finds clients: registered, or by metadata document. */
  clients: ClientLookup;
}

const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

function required(form: URLSearchParams, name: string): string {
  const v = form.get(name);
  if (!v) throw new OAuthError("invalid_request", `${name} is required`);
  return v;
}

async function mint(
  ctx: TokenContext,
  c: { subject: string; client_id: string; scopes: readonly string[]; resource: string; jkt?: string | undefined },
) {
  const iat = Math.floor(ctx.o.clock() / 1000);
  const scope = c.scopes.join(" ");
  const access_token = await ctx.signer.sign({
    iss: ctx.o.issuer,
    aud: c.resource,
    sub: c.subject,
    client_id: c.client_id,
    scope,
    iat,
    exp: iat + ctx.o.access_token_ttl_seconds,
    jkt: c.jkt,
  });
  return {
    access_token,
    token_type: c.jkt ? ("DPoP" as const) : ("Bearer" as const),
    expires_in: ctx.o.access_token_ttl_seconds,
    scope,
  };
}

/**
 * Mint an access token directly, without a client or a user interaction: for printing a ready
 * token in a demo or a test. Same claims as the flow's tokens.
 *
 * @throws `ConfigError` (`ERR_INVALID_CONFIG`) naming every invalid input.
 */
export async function issueAccessToken(ctx: TokenContext, input: IssueAccessTokenOptions): Promise<TokenResponse> {
  return mint(ctx, resolveIssueOptions(input, ctx.o));
}

async function issueRefreshToken(ctx: TokenContext, record: RefreshTokenRecord): Promise<string> {
  const token = randomToken(32);
  await ctx.o.storage.saveRefreshToken(sha256(token), record);
  return token;
}

/** What both public-client grants share: the form, the client, its DPoP key (if any), the time. */
interface GrantRequest {
  form: URLSearchParams;
  clientId: string;
  client: Awaited<ReturnType<TokenContext["clients"]>>;
  jkt: string | undefined;
  now: number;
  resourceParam: string | null;
}

/** Handle `POST /token`. Throws {@link OAuthError} for every refusal. */
export async function token(req: Request, ctx: TokenContext): Promise<TokenResponse> {
  const { o } = ctx;
  const form = await readForm(req);
  // RFC 8693: confidential clients only, authenticated their own way (token-exchange.ts).
  if (form.get("grant_type") === TOKEN_EXCHANGE_GRANT_TYPE) {
    if (!o.token_exchange)
      throw new OAuthError("unsupported_grant_type", "Token exchange is not enabled on this server");
    return tokenExchange(req, form, {
      o,
      signer: ctx.signer,
      isPublicClient: (id) =>
        ctx.clients(id).then(
          () => true,
          () => false,
        ),
    });
  }
  const clientId = authenticateTokenClient(req, form, o.clients ?? []);
  let client;
  try {
    client = await ctx.clients(clientId);
  } catch (err) {
    if (err instanceof OAuthError) throw new OAuthError("invalid_client", err.description, 401);
    throw err;
  }
  let jkt: string | undefined;
  if (o.verify_dpop_proof) {
    try {
      jkt = await o.verify_dpop_proof(req);
    } catch {
      throw new OAuthError("invalid_dpop_proof", "The DPoP proof is invalid");
    }
  }
  const grantType = required(form, "grant_type");
  const grant: GrantRequest = { form, clientId, client, jkt, now: o.clock(), resourceParam: form.get("resource") };
  if (grantType === "authorization_code") return authorizationCodeGrant(ctx, grant);
  if (grantType === "refresh_token") return refreshTokenGrant(ctx, grant);
  throw new OAuthError("unsupported_grant_type", "grant_type must be authorization_code or refresh_token");
}

/** RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6): a code for tokens, once. */
async function authorizationCodeGrant(ctx: TokenContext, g: GrantRequest): Promise<TokenResponse> {
  const { o } = ctx;
  const { form, clientId, client, jkt, now, resourceParam } = g;
  const code = required(form, "code");
  const redirectUri = required(form, "redirect_uri");
  const verifier = required(form, "code_verifier");
  const consumed = await o.storage.consumeCode(sha256(code));
  if (!consumed) throw new OAuthError("invalid_grant", "The authorization code is invalid or expired");
  const { record } = consumed;
  if (!consumed.first_use) {
    // RFC 6749 §4.1.2: a replayed code revokes what it was exchanged for.
    await o.storage.revokeFamily(record.family_id, now + o.refresh_token_ttl_seconds * 1000);
    throw new OAuthError("invalid_grant", "The authorization code was already used");
  }
  if (record.expires_at <= now) throw new OAuthError("invalid_grant", "The authorization code is invalid or expired");
  if (record.client_id !== clientId)
    throw new OAuthError("invalid_grant", "The authorization code was issued to another client");
  if (record.redirect_uri !== redirectUri)
    throw new OAuthError("invalid_grant", "redirect_uri does not match the authorization request");
  if (!VERIFIER.test(verifier))
    throw new OAuthError("invalid_request", "code_verifier must be 43-128 unreserved characters");
  if (!safeEqual(sha256(verifier), record.code_challenge))
    throw new OAuthError("invalid_grant", "PKCE verification failed");
  if (resourceParam !== null && resourceParam !== record.resource)
    throw new OAuthError("invalid_target", "resource does not match the authorization request");

  const issued: TokenResponse = await mint(ctx, {
    subject: record.subject,
    client_id: clientId,
    scopes: record.scopes,
    resource: record.resource,
    jkt,
  });
  if (client.grant_types.includes("refresh_token")) {
    issued.refresh_token = await issueRefreshToken(ctx, {
      family_id: record.family_id,
      client_id: clientId,
      subject: record.subject,
      scopes: record.scopes,
      resource: record.resource,
      jkt,
      expires_at: now + o.refresh_token_ttl_seconds * 1000,
    });
  }
  return issued;
}

/** RFC 6749 §6 with rotation (RFC 9700 §4.14.2): a refresh token for new tokens, never wider. */
async function refreshTokenGrant(ctx: TokenContext, g: GrantRequest): Promise<TokenResponse> {
  const { o } = ctx;
  const { form, clientId, client, jkt, now, resourceParam } = g;
  if (!client.grant_types.includes("refresh_token"))
    throw new OAuthError("unauthorized_client", "The client may not use refresh tokens");
  const consumed = await o.storage.consumeRefreshToken(sha256(required(form, "refresh_token")));
  if (!consumed) throw new OAuthError("invalid_grant", "The refresh token is invalid or expired");
  const { record } = consumed;
  if (!consumed.first_use || record.client_id !== clientId) {
    // RFC 9700 §4.14.2: reuse of a rotated refresh token means it leaked; end the whole family.
    await o.storage.revokeFamily(record.family_id, record.expires_at);
    throw new OAuthError("invalid_grant", "The refresh token was already used; its grant is revoked");
  }
  if (await o.storage.isFamilyRevoked(record.family_id)) throw new OAuthError("invalid_grant", "The grant was revoked");
  if (record.expires_at <= now) throw new OAuthError("invalid_grant", "The refresh token is invalid or expired");
  // RFC 9449 §5: a public client's refresh token is bound to its DPoP key.
  if (record.jkt !== undefined && record.jkt !== jkt)
    throw new OAuthError("invalid_grant", "The refresh token is bound to another DPoP key");
  if (resourceParam !== null && resourceParam !== record.resource)
    throw new OAuthError("invalid_target", "resource does not match the grant");
  const scopeParam = form.get("scope");
  let scopes = record.scopes;
  if (scopeParam !== null) {
    const asked = [...new Set(scopeParam.split(" ").filter(Boolean))];
    if (asked.some((s) => !record.scopes.includes(s)))
      throw new OAuthError("invalid_scope", "A refresh cannot widen the granted scopes");
    scopes = asked;
  }
  const issued: TokenResponse = await mint(ctx, {
    subject: record.subject,
    client_id: clientId,
    scopes,
    resource: record.resource,
    jkt: record.jkt ?? jkt,
  });
  issued.refresh_token = await issueRefreshToken(ctx, { ...record });
  return issued;
}
