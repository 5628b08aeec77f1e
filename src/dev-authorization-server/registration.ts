/**
 * RFC 7591 dynamic client registration, public clients only, with OpenID Connect's
 * `application_type` and the redirect-URI rules that go with it:
 *
 * - `web`: `https` redirect URIs only.
 * - `native` (RFC 8252): `http` on a loopback host (any port, §7.3), a private-use URI scheme in
 *   reverse-domain form such as `com.example.app:/callback` (§7.1), or a claimed `https` URI (§7.2).
 *
 * When a client sends no `application_type` (every client built before MCP 2026-07-28, e.g. the
 * official SDK 1.32), it is inferred: `native` when a redirect URI is loopback `http` or a private-use
 * scheme, otherwise `web`. OpenID Connect's default would be `web`, which would refuse those clients'
 * loopback redirect URIs; this server is not an OpenID provider, so it infers instead (MCP allows a
 * server that does not implement OIDC to ignore the field). The value is echoed in the response.
 *
 * No fragments, no userinfo. Unknown metadata fields are accepted and ignored (RFC 7591 §2), never
 * echoed. The same checks apply to Client ID Metadata Documents.
 *
 * @see RFC 7591 §2, §3.2; RFC 8252 §7; OpenID Connect Dynamic Client Registration 1.0 §2
 * @module
 */
import { z } from "zod";
import { isLoopbackHost, randomToken } from "./lib/http.js";
import { inferApplicationType, redirectUriProblem } from "./redirect-uris.js";
import { ClientStoreFull, OAuthError, unsupportedScopeDescription } from "./errors.js";
import type { ResolvedOptions } from "./options.js";
import type { ApplicationType, RegisteredClient } from "./storage.js";

const RegistrationSchema = z.looseObject({
  redirect_uris: z.array(z.string().max(2000)).min(1).max(10),
  client_name: z.string().max(200).optional(),
  token_endpoint_auth_method: z.string().optional(),
  grant_types: z.array(z.string()).max(5).optional(),
  response_types: z.array(z.string()).max(5).optional(),
  scope: z.string().max(1000).optional(),
  application_type: z.string().optional(),
});

/** Client metadata after validation: what registration stores and a metadata document yields. */
export interface ValidatedClientMetadata {
  /** Human-readable name, unverified. */
  client_name?: string | undefined;
  /** Redirect URIs, deduplicated. */
  redirect_uris: string[];
  /** `authorization_code`, optionally with `refresh_token`. */
  grant_types: string[];
  /** Space-separated scopes the client may request, when it named some. */
  scope?: string | undefined;
  /** Sent or inferred. */
  application_type: ApplicationType;
}

/**
 * Validate client metadata (RFC 7591 §2) for a public client. Throws {@link OAuthError} with
 * `invalid_redirect_uri` or `invalid_client_metadata`.
 */
export function validateClientMetadata(
  raw: unknown,
  o: Pick<ResolvedOptions, "scopes_supported">,
): ValidatedClientMetadata {
  const parsed = RegistrationSchema.safeParse(raw);
  if (!parsed.success) {
    const onRedirects = parsed.error.issues.some((i) => i.path[0] === "redirect_uris");
    throw new OAuthError(
      onRedirects ? "invalid_redirect_uri" : "invalid_client_metadata",
      onRedirects ? "redirect_uris must be 1 to 10 URLs" : "Invalid client metadata",
    );
  }
  const m = parsed.data;
  if (m.application_type !== undefined && m.application_type !== "native" && m.application_type !== "web") {
    throw new OAuthError("invalid_client_metadata", 'application_type must be "native" or "web"');
  }
  const applicationType: ApplicationType = m.application_type ?? inferApplicationType(m.redirect_uris);
  for (const uri of m.redirect_uris) {
    const problem = redirectUriProblem(uri, applicationType);
    if (problem) throw new OAuthError("invalid_redirect_uri", problem);
  }
  if (m.token_endpoint_auth_method !== undefined && m.token_endpoint_auth_method !== "none") {
    throw new OAuthError(
      "invalid_client_metadata",
      'Only public clients are supported: token_endpoint_auth_method must be "none"',
    );
  }
  const grantTypes = m.grant_types ?? ["authorization_code", "refresh_token"];
  if (
    !grantTypes.includes("authorization_code") ||
    grantTypes.some((g) => g !== "authorization_code" && g !== "refresh_token")
  ) {
    throw new OAuthError(
      "invalid_client_metadata",
      "grant_types must be authorization_code, optionally with refresh_token",
    );
  }
  const responseTypes = m.response_types ?? ["code"];
  if (responseTypes.length !== 1 || responseTypes[0] !== "code") {
    throw new OAuthError("invalid_client_metadata", 'response_types must be ["code"]');
  }
  let scope: string | undefined;
  if (m.scope !== undefined) {
    const scopes = m.scope.split(" ").filter(Boolean);
    const unsupported = scopes.filter((s) => !o.scopes_supported.includes(s));
    if (unsupported.length) throw new OAuthError("invalid_scope", unsupportedScopeDescription(unsupported));
    scope = scopes.join(" ") || undefined;
  }
  return {
    client_name: m.client_name,
    redirect_uris: [...new Set(m.redirect_uris)],
    grant_types: [...new Set(grantTypes)],
    scope,
    application_type: applicationType,
  };
}

/**
 * Whether a redirect URI sent in a request matches a registered one: exact string comparison,
 * except that for `http` loopback redirect URIs the port may differ (RFC 8252 §7.3, OAuth 2.1 §8.4.2).
 */
export function redirectUriMatches(registered: readonly string[], requested: string): boolean {
  if (registered.includes(requested)) return true;
  if (!URL.canParse(requested)) return false;
  const r = new URL(requested);
  // Only an already-normalized loopback http URI qualifies for the port exception.
  if (r.protocol !== "http:" || !isLoopbackHost(r.hostname) || r.href !== requested) return false;
  return registered.some((candidate) => {
    const c = new URL(candidate);
    if (c.protocol !== "http:" || c.hostname !== r.hostname) return false;
    c.port = r.port;
    return c.href === r.href;
  });
}

/** Handle `POST /register`: validate, store, answer 201 with the client information. */
export async function register(body: string, o: ResolvedOptions): Promise<RegisteredClient> {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw new OAuthError("invalid_client_metadata", "The body must be a JSON object");
  }
  const client = publicClient(`dev_${randomToken(16)}`, validateClientMetadata(raw, o), o.clock());
  try {
    await o.storage.saveClient(client);
  } catch (err) {
    // Full of clients that may still be in use: refuse this one rather than evict any of them.
    if (err instanceof ClientStoreFull) {
      throw new OAuthError("temporarily_unavailable", "Too many registered clients are in use; retry later", 503, {
        "retry-after": String(err.retry_after),
      });
    }
    throw err;
  }
  return client;
}

/** The stored record of a public client (no secret, `none` auth), registered or from a metadata document. */
export function publicClient(clientId: string, m: ValidatedClientMetadata, nowMs: number): RegisteredClient {
  return {
    client_id: clientId,
    client_id_issued_at: Math.floor(nowMs / 1000),
    client_name: m.client_name,
    redirect_uris: m.redirect_uris,
    grant_types: m.grant_types,
    response_types: ["code"],
    token_endpoint_auth_method: "none",
    scope: m.scope,
    application_type: m.application_type,
  };
}
