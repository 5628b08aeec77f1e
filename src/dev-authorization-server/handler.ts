/**
 * `createDevAuthorizationServer()`: every endpoint behind one Web-standard handler.
 *
 * @module
 */
import type { FetchHandler } from "../protect/index.js";
import { authorize, consent } from "./authorize.js";
import { createClientLookup } from "./client-metadata-document.js";
import { tokenEndpointDpop } from "./dpop.js";
import { createSigner, type JsonWebKeySet } from "./keys.js";
import { json, oauthErrorResponse, preflight, readBody } from "./lib/http.js";
import { OAuthError } from "./errors.js";
import { buildMetadata, endpointPaths, type DevAuthorizationServerMetadata } from "./metadata.js";
import { resolveOptions, type DevAuthorizationServerOptions } from "./options.js";
import { register } from "./registration.js";
import { issueAccessToken, token } from "./token.js";
import { createWhoamiApi, whoamiPath } from "./whoami-api.js";
import type { IssueAccessTokenOptions, TokenResponse } from "./types.js";

/** The development authorization server: a {@link FetchHandler} with a few extras. */
export interface DevAuthorizationServer extends FetchHandler {
  /** Issuer identifier. */
  readonly issuer: string;
  /** The RFC 8414 document it serves. */
  readonly metadata: DevAuthorizationServerMetadata;
  /** The public keys it serves at `jwks_uri`. */
  readonly jwks: JsonWebKeySet;
  /** Whether a path is served by this handler (to share a listener with other handlers). */
  handles(path: string): boolean;
  /**
   * Mint an access token without the OAuth flow (demo commands, tests). Throws `ConfigError` naming every invalid
   * input.
   */
  issueAccessToken(options: IssueAccessTokenOptions): Promise<TokenResponse>;
}

const METADATA_HEADERS = { "cache-control": "public, max-age=300" };

/**
 * Create the **development** authorization server: RFC 8414 metadata, JWKS, RFC 7591 dynamic
 * client registration (public clients, `application_type`), Client ID Metadata Documents (an https
 * URL as `client_id`), `/authorize` with a login + consent page (PKCE S256,
 * RFC 8707 `resource`), and `/token` issuing RFC 9068 JWT access tokens with rotating refresh tokens.
 *
 * It is correct and safe by default, but it is not an identity provider: the default login accepts
 * any username without a password, and state lives in memory. Use it on your own machine, in tests
 * and demos; point `authorization_servers` at a real IdP for anything else.
 *
 * The resource-server core never imports this module.
 *
 * @example
 * ```ts
 * import { createDevAuthorizationServer } from "protected-mcp/dev-authorization-server";
 * const as = await createDevAuthorizationServer({
 *   issuer: "http://127.0.0.1:8001",
 *   resources: ["http://127.0.0.1:8000/mcp"],
 *   scopes_supported: ["mcp:read", "files:delete"],
 * });
 * http.createServer(toNodeHandler(as)).listen(8001, "127.0.0.1");
 * ```
 * @throws `ConfigError` (`ERR_INVALID_CONFIG`, a `TypeError`) naming every invalid option.
 */
export async function createDevAuthorizationServer(
  options: DevAuthorizationServerOptions,
): Promise<DevAuthorizationServer> {
  const resolved = resolveOptions(options);
  const paths = endpointPaths(resolved.issuer);
  // DPoP-bound tokens out of the box: the same proof checks as the resource server, at /token.
  const o = resolved.verify_dpop_proof
    ? resolved
    : {
        ...resolved,
        verify_dpop_proof: tokenEndpointDpop({
          token_endpoint: new URL(paths.token, resolved.issuer).href,
          algorithms: resolved.dpop_signing_alg_values_supported,
          clock: resolved.clock,
        }),
      };
  const signer = await createSigner(o.signing_key);
  const metadata = Object.freeze(buildMetadata(o));
  const metadataPaths = new Set(paths.metadata);
  const ctx = { o, paths, signer, clients: createClientLookup(o) };
  const whoami = o.whoami_api ? { path: whoamiPath(o.issuer), handle: createWhoamiApi(o, signer) } : undefined;
  const ownPaths = new Set([...paths.metadata, paths.authorize, paths.consent, paths.token, paths.register]);
  for (const extra of [paths.jwks, whoami?.path]) if (extra) ownPaths.add(extra);

  async function route(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname;
    const method = req.method;
    if (metadataPaths.has(path) || path === paths.jwks) {
      if (method === "OPTIONS") return preflight("GET, OPTIONS");
      if (method !== "GET" && method !== "HEAD")
        return json({ error: "invalid_request", error_description: "Method not allowed" }, 405, { allow: "GET" });
      return json(path === paths.jwks ? signer.jwks : metadata, 200, METADATA_HEADERS);
    }
    if (path === paths.register || path === paths.token) {
      if (method === "OPTIONS") return preflight("POST, OPTIONS");
      if (method !== "POST")
        return json({ error: "invalid_request", error_description: "Method not allowed" }, 405, { allow: "POST" });
      try {
        if (path === paths.token) return json(await token(req, ctx), 200, { pragma: "no-cache" });
        const type = (req.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
        if (type !== "application/json")
          throw new OAuthError("invalid_client_metadata", "Content-Type must be application/json");
        return json(await register(await readBody(req), o), 201);
      } catch (err) {
        if (err instanceof OAuthError) return oauthErrorResponse(err);
        throw err;
      }
    }
    if (path === whoami?.path) return whoami.handle(req);
    if (path === paths.authorize) {
      if (method !== "GET") return new Response(null, { status: 405, headers: { allow: "GET" } });
      return authorize(req, ctx);
    }
    if (path === paths.consent) {
      if (method !== "POST") return new Response(null, { status: 405, headers: { allow: "POST" } });
      return consent(req, ctx);
    }
    return new Response("Not found", { status: 404, headers: { "content-type": "text/plain; charset=utf-8" } });
  }

  const handler = async (req: Request): Promise<Response> => {
    try {
      return await route(req);
    } catch {
      // Never leak internals: a storage or hook failure is a bare server_error.
      return json({ error: "server_error", error_description: "Internal error" }, 500);
    }
  };
  return Object.assign(handler, {
    issuer: o.issuer,
    metadata,
    jwks: signer.jwks,
    handles: (path: string) => ownPaths.has(path),
    issueAccessToken: (i: IssueAccessTokenOptions) => issueAccessToken(ctx, i),
  });
}
