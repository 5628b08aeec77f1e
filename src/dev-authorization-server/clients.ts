/**
 * Pre-registered clients (the `clients` option): clients known from the configuration instead of
 * dynamic registration, with a fixed redirect URI. A client with a `client_secret` is confidential
 * and must authenticate at the token endpoint (`client_secret_basic` or `client_secret_post`); one
 * without is public (PKCE only, like a registered client). This is how a web application that is the
 * OAuth client of this server is set up: an MCP server's connect page signing users in, or an MCP
 * server calling a third-party API that this server stands in for.
 *
 * @see RFC 6749 §2.3.1 (client password), §3.2.1 (client authentication at the token endpoint)
 * @module
 */
import { z } from "zod";
import { OAuthError } from "./errors.js";
import { safeEqual } from "./lib/http.js";
import { inferApplicationType, redirectUriProblem } from "./redirect-uris.js";
import type { RegisteredClient } from "./storage.js";

/** One entry of the development authorization server's `clients` option. */
export interface DevClientOptions {
  /** The client's id. Not URL-shaped (those name Client ID Metadata Documents). */
  client_id: string;
  /** Its secret, at least 16 characters: the client is then confidential. Absent: a public client. */
  client_secret?: string | undefined;
  /**
   * Its redirect URIs (1 to 10), compared exactly (loopback ports excepted, RFC 8252 §7.3): https, or http on a
   * loopback host.
   */
  redirect_uris: string[];
  /** Shown on the consent page. Default: the client id. */
  client_name?: string | undefined;
  /** Whether it receives refresh tokens. Default `true`. */
  refresh_tokens?: boolean | undefined;
}

/** Schema of the `clients` option (strict). */
export const devClientsSchema = z
  .array(
    z
      .strictObject({
        client_id: z
          .string()
          .min(1)
          .max(200)
          .refine((id) => !/^https?:\/\//i.test(id), { error: "a URL-shaped client_id names a metadata document" }),
        client_secret: z.string().min(16, "at least 16 characters").max(500).optional(),
        redirect_uris: z.array(z.string().max(2000)).min(1).max(10),
        client_name: z.string().min(1).max(200).optional(),
        refresh_tokens: z.boolean().optional(),
      })
      .superRefine((c, ctx) => {
        const type = inferApplicationType(c.redirect_uris);
        c.redirect_uris.forEach((uri, i) => {
          const problem = redirectUriProblem(uri, type);
          if (problem) ctx.addIssue({ code: "custom", path: ["redirect_uris", i], message: problem });
        });
      }),
  )
  .refine((c) => new Set(c.map((x) => x.client_id)).size === c.length, { error: "client ids must be unique" });

/** The record a pre-registered client is looked up as (it is never in the storage). */
export function staticClientRecord(c: DevClientOptions): RegisteredClient {
  return {
    client_id: c.client_id,
    client_id_issued_at: 0,
    client_name: c.client_name ?? c.client_id,
    redirect_uris: [...new Set(c.redirect_uris)],
    grant_types: c.refresh_tokens === false ? ["authorization_code"] : ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: c.client_secret === undefined ? "none" : "client_secret_basic",
    application_type: inferApplicationType(c.redirect_uris),
  };
}

/** RFC 6749 §2.3.1 Basic credentials: form-encoded id and secret. `undefined` when the header is not Basic. */
export function basicCredentials(header: string | null): { id: string; secret: string } | undefined {
  const m = /^Basic[ ]+([A-Za-z0-9+/=]+)$/i.exec(header ?? "");
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) throw new OAuthError("invalid_client", "Client authentication failed", 401);
  const formDecode = (s: string) => {
    try {
      return decodeURIComponent(s.replace(/\+/g, " "));
    } catch {
      throw new OAuthError("invalid_client", "Client authentication failed", 401);
    }
  };
  return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
}

/**
 * The `client_id` of a token request (authorization code or refresh), its credentials checked: a
 * confidential pre-registered client must present its secret (Basic or in the form, not both); a
 * secret for any other client is refused; without one, the id in the form is returned for the
 * public-client lookup.
 *
 * @throws {@link OAuthError} `invalid_client` (401) or `invalid_request`.
 */
export function authenticateTokenClient(
  req: Request,
  form: URLSearchParams,
  clients: readonly DevClientOptions[],
): string {
  const basic = basicCredentials(req.headers.get("authorization"));
  const postSecret = form.get("client_secret");
  if (basic && postSecret !== null) throw new OAuthError("invalid_request", "Use one client authentication method");
  if (basic && form.get("client_id") !== null && form.get("client_id") !== basic.id)
    throw new OAuthError("invalid_request", "client_id does not match the credentials");
  const id = basic?.id ?? form.get("client_id");
  if (!id) throw new OAuthError("invalid_request", "client_id is required");
  const secret = basic?.secret ?? postSecret;
  const configured = clients.find((c) => c.client_id === id);
  if (configured?.client_secret !== undefined) {
    if (secret === null || !safeEqual(secret, configured.client_secret))
      throw new OAuthError("invalid_client", "Client authentication failed", 401);
    return id;
  }
  // A public client has no secret to check: one sent anyway is a confused or forged client.
  if (secret !== null) throw new OAuthError("invalid_client", "Client authentication failed", 401);
  return id;
}
