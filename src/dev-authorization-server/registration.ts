/**
 * RFC 7591 dynamic client registration, public clients only.
 *
 * Redirect URIs must be `https`, or `http` on a loopback host (RFC 8252 §7.3); no fragments, no
 * userinfo. Unknown metadata fields are accepted and ignored (RFC 7591 §2), never echoed.
 *
 * @see RFC 7591 §2, §3.2
 * @module
 */
import { z } from "zod";
import { isLoopbackHost, OAuthError, randomToken } from "./lib/http.js";
import type { ResolvedOptions } from "./options.js";
import type { RegisteredClient } from "./storage.js";

const RegistrationSchema = z.looseObject({
  redirect_uris: z.array(z.string().max(2000)).min(1).max(10),
  client_name: z.string().max(200).optional(),
  token_endpoint_auth_method: z.string().optional(),
  grant_types: z.array(z.string()).max(5).optional(),
  response_types: z.array(z.string()).max(5).optional(),
  scope: z.string().max(1000).optional(),
});

/** Why a redirect URI is unacceptable, or `undefined` when it is fine. */
export function redirectUriProblem(value: string): string | undefined {
  if (!URL.canParse(value)) return "Redirect URIs must be absolute URLs";
  const u = new URL(value);
  if (u.hash || value.includes("#")) return "Redirect URIs must not contain a fragment";
  if (u.username || u.password) return "Redirect URIs must not contain userinfo";
  if (u.protocol === "https:") return undefined;
  if (u.protocol === "http:" && isLoopbackHost(u.hostname)) return undefined;
  return "Redirect URIs must use https, or http on a loopback host (127.0.0.1, [::1], localhost)";
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
  const parsed = RegistrationSchema.safeParse(raw);
  if (!parsed.success) {
    const onRedirects = parsed.error.issues.some((i) => i.path[0] === "redirect_uris");
    throw new OAuthError(onRedirects ? "invalid_redirect_uri" : "invalid_client_metadata", onRedirects ? "redirect_uris must be 1 to 10 URLs" : "Invalid client metadata");
  }
  const m = parsed.data;
  for (const uri of m.redirect_uris) {
    const problem = redirectUriProblem(uri);
    if (problem) throw new OAuthError("invalid_redirect_uri", problem);
  }
  if (m.token_endpoint_auth_method !== undefined && m.token_endpoint_auth_method !== "none") {
    throw new OAuthError("invalid_client_metadata", 'Only public clients are supported: token_endpoint_auth_method must be "none"');
  }
  const grantTypes = m.grant_types ?? ["authorization_code", "refresh_token"];
  if (!grantTypes.includes("authorization_code") || grantTypes.some((g) => g !== "authorization_code" && g !== "refresh_token")) {
    throw new OAuthError("invalid_client_metadata", "grant_types must be authorization_code, optionally with refresh_token");
  }
  const responseTypes = m.response_types ?? ["code"];
  if (responseTypes.length !== 1 || responseTypes[0] !== "code") {
    throw new OAuthError("invalid_client_metadata", 'response_types must be ["code"]');
  }
  let scope: string | undefined;
  if (m.scope !== undefined) {
    const scopes = m.scope.split(" ").filter(Boolean);
    if (scopes.some((s) => !o.scopes_supported.includes(s))) throw new OAuthError("invalid_client_metadata", "scope contains an unsupported scope");
    scope = scopes.join(" ") || undefined;
  }
  const client: RegisteredClient = {
    client_id: `dev_${randomToken(16)}`,
    client_id_issued_at: Math.floor(o.clock() / 1000),
    client_name: m.client_name,
    redirect_uris: [...new Set(m.redirect_uris)],
    grant_types: [...new Set(grantTypes)],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
    scope,
  };
  await o.storage.saveClient(client);
  return client;
}
