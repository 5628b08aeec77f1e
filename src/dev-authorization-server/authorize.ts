/**
 * The authorization endpoint (`GET /authorize`) and the consent form post (`POST /consent`).
 *
 * Errors about the client or its redirect URI are shown on an error page and never redirected
 * (RFC 6749 §4.1.2.1); every other error goes back to the verified redirect URI with `state` and
 * `iss` (RFC 9207).
 *
 * @see RFC 6749 §4.1, RFC 7636 (PKCE, S256 only), RFC 8707 (resource), RFC 9207 (iss)
 * @module
 */
import { isClientIdUrl, type ClientLookup } from "./client-metadata-document.js";
import { assertNoRepeats, getCookie, randomToken, readForm, safeEqual, sha256 } from "./lib/http.js";
import { OAuthError, unsupportedScopeDescription } from "./errors.js";
import type { EndpointPaths } from "./metadata.js";
import type { AuthenticateUser, ResolvedOptions } from "./options.js";
import { consentPage, errorPage, pageHeaders } from "./page.js";
import { redirectUriMatches } from "./registration.js";
import type { PendingAuthorization, RegisteredClient } from "./storage.js";

/** What the authorization and consent endpoints need. */
export interface AuthorizeContext {
  /** Resolved options. */
  o: ResolvedOptions;
  /** Endpoint paths. */
  paths: EndpointPaths;
  /** Finds clients: registered, or by metadata document. */
  clients: ClientLookup;
}

const CODE_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const USERNAME = /^[A-Za-z0-9._@-]{1,64}$/;
const MAX_STATE = 1024;

/**
 * The development default for {@link AuthenticateUser}: **any** username signs in, with no password.
 * The username (letters, digits, `._@-`, at most 64) becomes the subject.
 */
export const developmentLogin: AuthenticateUser = (_request, form) => {
  const username = (form.get("username") ?? "").trim();
  return USERNAME.test(username) ? username : null;
};

function html(body: string, status: number, headers: Record<string, string>): Response {
  return new Response(body, { status, headers });
}

function showError(ctx: AuthorizeContext, error: string, description: string, status = 400): Response {
  return html(errorPage(ctx.o.title, error, description), status, pageHeaders());
}

function redirectTo(
  redirectUri: string,
  params: Record<string, string | undefined>,
  status = 302,
  extra: Record<string, string> = {},
): Response {
  const url = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return new Response(null, {
    status,
    headers: { location: url.href, "cache-control": "no-store", "referrer-policy": "no-referrer", ...extra },
  });
}

function csrfCookieName(pendingId: string): string {
  return `dev_as_csrf_${pendingId}`;
}

function csrfCookie(ctx: AuthorizeContext, pending: PendingAuthorization | string, maxAge: number): string {
  const id = typeof pending === "string" ? pending : pending.id;
  const value = typeof pending === "string" ? "" : pending.csrf;
  const secure = new URL(ctx.o.issuer).protocol === "https:" ? "; Secure" : "";
  return `${csrfCookieName(id)}=${value}; Path=${ctx.paths.consent}; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure}`;
}

/**
 * Where a redirect URI leads, for the page and the CSP `form-action`: the origin, or `scheme:` for a private-use
 * scheme.
 */
function redirectTarget(redirectUri: string): string {
  const u = new URL(redirectUri);
  return u.protocol === "http:" || u.protocol === "https:" ? u.origin : u.protocol;
}

/** Look a client up; `undefined` plus the error page when it cannot be used. */
async function findClient(ctx: AuthorizeContext, clientId: string | null): Promise<RegisteredClient | Response> {
  try {
    return await ctx.clients(clientId ?? "");
  } catch (err) {
    if (err instanceof OAuthError) return showError(ctx, err.error, err.description);
    throw err;
  }
}

function scopeView(ctx: AuthorizeContext, scopes: readonly string[]) {
  return scopes.map((name) => ({ name, description: ctx.o.scope_descriptions[name] }));
}

function renderConsent(
  ctx: AuthorizeContext,
  p: PendingAuthorization,
  client: RegisteredClient,
  extra: { error?: string; username?: string } = {},
) {
  return consentPage({
    title: ctx.o.title,
    client_name: client.client_name,
    client_id: client.client_id,
    client_id_host: isClientIdUrl(client.client_id) ? new URL(client.client_id).host : undefined,
    redirect_origin: redirectTarget(p.redirect_uri),
    resource: p.resource,
    scopes: scopeView(ctx, p.scopes),
    action: ctx.paths.consent,
    pending: p.id,
    csrf: p.csrf,
    username_field: ctx.o.username_field,
    error: extra.error,
    username: extra.username,
  });
}

/**
 * The redirect URI of an authorization request: the one asked for when the client registered it, the
 * only registered one when none is asked for; else the error page (never a redirect to an unchecked URI).
 */
function resolveRedirectUri(
  ctx: AuthorizeContext,
  client: RegisteredClient,
  requested: string | null,
): string | Response {
  if (requested === null) {
    if (client.redirect_uris.length !== 1) return showError(ctx, "invalid_request", "redirect_uri is required.");
    return client.redirect_uris[0]!;
  }
  if (redirectUriMatches(client.redirect_uris, requested)) return requested;
  return showError(ctx, "invalid_request", "The redirect_uri is not registered for this client.");
}

/** Handle `GET /authorize`: validate the request, then show the login + consent page. */
export async function authorize(req: Request, ctx: AuthorizeContext): Promise<Response> {
  const { o } = ctx;
  const params = new URL(req.url).searchParams;
  try {
    assertNoRepeats(params);
  } catch {
    return showError(ctx, "invalid_request", "A parameter was repeated.");
  }
  const client = await findClient(ctx, params.get("client_id"));
  if (client instanceof Response) return client;
  const redirectUri = resolveRedirectUri(ctx, client, params.get("redirect_uri"));
  if (redirectUri instanceof Response) return redirectUri;

  // From here on the redirect URI is trusted: errors go back to the client.
  const state = params.get("state") ?? undefined;
  const fail = (error: string, description: string) =>
    redirectTo(redirectUri, {
      error,
      error_description: description,
      state: state && state.length <= MAX_STATE ? state : undefined,
      iss: o.issuer,
    });
  if (state !== undefined && state.length > MAX_STATE) return fail("invalid_request", "state is too long");
  if (params.get("response_type") !== "code") return fail("unsupported_response_type", 'response_type must be "code"');
  const challenge = params.get("code_challenge");
  if (!challenge) return fail("invalid_request", "PKCE is required: code_challenge is missing");
  if (params.get("code_challenge_method") !== "S256")
    return fail("invalid_request", 'PKCE code_challenge_method must be "S256"');
  if (!CODE_CHALLENGE.test(challenge))
    return fail("invalid_request", "code_challenge is not a base64url SHA-256 value");

  const resourceParam = params.get("resource");
  let resource: string;
  if (resourceParam === null) {
    if (o.resources.length !== 1) return fail("invalid_target", "resource is required");
    resource = o.resources[0]!;
  } else if (o.resources.includes(resourceParam)) {
    resource = resourceParam;
  } else {
    return fail("invalid_target", "The requested resource is not served by this authorization server");
  }

  // A registered `scope` (RFC 7591) is not a ceiling here: MCP clients register with the scope of
  // their first challenge and later step up (403 insufficient_scope) to more. Any supported scope
  // may be asked for; the consent page shows the user exactly what is granted.
  const scopeParam = params.get("scope");
  let scopes: string[];
  if (scopeParam === null || scopeParam.trim() === "") {
    scopes = [...(o.default_scopes ?? o.scopes_supported)];
  } else {
    scopes = [...new Set(scopeParam.split(" ").filter(Boolean))];
    const unsupported = scopes.filter((s) => !o.scopes_supported.includes(s));
    if (unsupported.length) return fail("invalid_scope", unsupportedScopeDescription(unsupported));
  }

  const pending: PendingAuthorization = {
    id: randomToken(16),
    csrf: randomToken(32),
    client_id: client.client_id,
    redirect_uri: redirectUri,
    state,
    code_challenge: challenge,
    scopes,
    resource,
    expires_at: o.clock() + o.consent_ttl_seconds * 1000,
  };
  await o.storage.savePending(pending);
  const headers = {
    ...pageHeaders(redirectTarget(redirectUri)),
    "set-cookie": csrfCookie(ctx, pending, o.consent_ttl_seconds),
  };
  return html(renderConsent(ctx, pending, client), 200, headers);
}

/**
 * Handle `POST /consent`: check the CSRF token, authenticate the user, then redirect with a code or `access_denied`.
 */
export async function consent(req: Request, ctx: AuthorizeContext): Promise<Response> {
  const { o } = ctx;
  let form: URLSearchParams;
  try {
    form = await readForm(req);
  } catch (err) {
    return showError(
      ctx,
      "invalid_request",
      err instanceof OAuthError ? err.description : "Malformed form",
      err instanceof OAuthError ? err.status : 400,
    );
  }
  if (req.headers.get("sec-fetch-site") === "cross-site")
    return showError(ctx, "invalid_request", "Cross-site form posts are refused.", 403);
  const id = form.get("pending") ?? "";
  const pending = id ? await o.storage.getPending(id) : undefined;
  if (!pending || pending.expires_at <= o.clock()) {
    return showError(
      ctx,
      "invalid_request",
      "This sign-in page has expired or was already used. Start again from the application.",
    );
  }
  const token = form.get("csrf_token") ?? "";
  const cookie = getCookie(req, csrfCookieName(pending.id)) ?? "";
  if (!token || !cookie || !safeEqual(token, pending.csrf) || !safeEqual(cookie, pending.csrf)) {
    return showError(
      ctx,
      "invalid_request",
      "The form's CSRF token is missing or invalid. Reload the page from the application and try again.",
      403,
    );
  }
  const client = await findClient(ctx, pending.client_id);
  if (client instanceof Response) return client;
  const decision = form.get("decision");
  const clearCookie = { "set-cookie": csrfCookie(ctx, pending.id, 0) };
  const back = (params: Record<string, string | undefined>) =>
    redirectTo(pending.redirect_uri, { ...params, state: pending.state, iss: o.issuer }, 303, clearCookie);

  if (decision === "deny") {
    await o.storage.takePending(pending.id);
    return back({ error: "access_denied", error_description: "The user denied the request" });
  }
  if (decision !== "approve") return showError(ctx, "invalid_request", "Choose Approve or Deny.");

  const subject = await (o.authenticate_user ?? developmentLogin)(req, form);
  if (typeof subject !== "string" || subject.length === 0 || subject.length > 255) {
    const headers = pageHeaders(redirectTarget(pending.redirect_uri));
    const username = (form.get("username") ?? "").slice(0, 64);
    return html(
      renderConsent(ctx, pending, client, { error: "Sign-in failed. Check the username and try again.", username }),
      401,
      headers,
    );
  }
  // Single use: of two concurrent approvals only one gets the pending authorization.
  const taken = await o.storage.takePending(pending.id);
  if (!taken) return showError(ctx, "invalid_request", "This sign-in page was already used.");
  const code = randomToken(32);
  await o.storage.saveCode(sha256(code), {
    client_id: taken.client_id,
    redirect_uri: taken.redirect_uri,
    code_challenge: taken.code_challenge,
    subject,
    scopes: taken.scopes,
    resource: taken.resource,
    expires_at: o.clock() + o.code_ttl_seconds * 1000,
    family_id: randomToken(16),
  });
  return back({ code });
}
