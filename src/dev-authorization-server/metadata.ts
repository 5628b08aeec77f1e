/**
 * RFC 8414 authorization server metadata, and where the endpoints live under the issuer.
 *
 * @see RFC 8414 §2 (fields), §3.1 (path-inserted well-known URL)
 * @module
 */
import type { ResolvedOptions } from "./options.js";

/**
 * The RFC 8414 document the development authorization server publishes. Not the metadata a resource
 * server discovers (`DiscoveredAuthorizationServerMetadata` in `protected-mcp`).
 */
export interface DevAuthorizationServerMetadata {
  /** Issuer identifier. */
  issuer: string;
  /** Where the user is sent to log in and consent. */
  authorization_endpoint: string;
  /** Code and refresh-token exchange. */
  token_endpoint: string;
  /** RFC 7591 dynamic client registration. */
  registration_endpoint: string;
  /** Public signing keys. */
  jwks_uri: string;
  /** Scopes clients may request. */
  scopes_supported: string[];
  /** `["code"]`. */
  response_types_supported: ["code"];
  /** `["query"]`. */
  response_modes_supported: ["query"];
  /**
   * `["authorization_code", "refresh_token"]`, plus `urn:ietf:params:oauth:grant-type:token-exchange` when token
   * exchange is on.
   */
  grant_types_supported: string[];
  /**
   * `["none"]` (public clients), plus `client_secret_basic` and `client_secret_post` when token exchange is on or a
   * confidential client is configured (`clients`).
   */
  token_endpoint_auth_methods_supported: string[];
  /** `["S256"]`: PKCE is required, `plain` is refused. */
  code_challenge_methods_supported: ["S256"];
  /** RFC 9207: the authorization response carries `iss`. */
  authorization_response_iss_parameter_supported: true;
  /** RFC 9449, only when a DPoP verifier is configured. */
  dpop_signing_alg_values_supported?: string[];
  /** Client ID Metadata Documents: an https URL may serve as `client_id`. Present unless turned off. */
  client_id_metadata_document_supported?: true;
}

/** @deprecated Use {@link DevAuthorizationServerMetadata}. Removed in 0.3. */
export type AuthorizationServerMetadata = DevAuthorizationServerMetadata;

/** Endpoint paths under the issuer's path. */
export interface EndpointPaths {
  /** `{issuer path}/authorize` (GET). */
  authorize: string;
  /** `{issuer path}/consent` (POST from the consent page). */
  consent: string;
  /** `{issuer path}/token`. */
  token: string;
  /** `{issuer path}/register`. */
  register: string;
  /** `{issuer path}/jwks`. */
  jwks: string;
  /** Every path the metadata document is served at. */
  metadata: string[];
}

/** Compute the endpoint paths for an issuer, e.g. `http://h:1/` or `http://h:1/oauth`. */
export function endpointPaths(issuer: string): EndpointPaths {
  const base = new URL(issuer).pathname.replace(/\/+$/, "");
  const metadata = base
    ? [
        `/.well-known/oauth-authorization-server${base}`,
        `/.well-known/openid-configuration${base}`,
        `${base}/.well-known/openid-configuration`,
      ]
    : ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"];
  return {
    authorize: `${base}/authorize`,
    consent: `${base}/consent`,
    token: `${base}/token`,
    register: `${base}/register`,
    jwks: `${base}/jwks`,
    metadata,
  };
}

/** Build the metadata document. */
export function buildMetadata(
  o: Pick<
    ResolvedOptions,
    | "issuer"
    | "scopes_supported"
    | "verify_dpop_proof"
    | "dpop_signing_alg_values_supported"
    | "client_id_metadata_documents"
  > &
    Partial<Pick<ResolvedOptions, "token_exchange" | "clients">>,
): DevAuthorizationServerMetadata {
  const origin = new URL(o.issuer).origin;
  const p = endpointPaths(o.issuer);
  const doc: DevAuthorizationServerMetadata = {
    issuer: o.issuer,
    authorization_endpoint: origin + p.authorize,
    token_endpoint: origin + p.token,
    registration_endpoint: origin + p.register,
    jwks_uri: origin + p.jwks,
    scopes_supported: [...o.scopes_supported],
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ["authorization_code", "refresh_token"],
    token_endpoint_auth_methods_supported: ["none"],
    code_challenge_methods_supported: ["S256"],
    authorization_response_iss_parameter_supported: true,
  };
  if (o.verify_dpop_proof) doc.dpop_signing_alg_values_supported = [...o.dpop_signing_alg_values_supported];
  if (o.client_id_metadata_documents) doc.client_id_metadata_document_supported = true;
  if (o.token_exchange) doc.grant_types_supported.push("urn:ietf:params:oauth:grant-type:token-exchange");
  if (o.token_exchange || o.clients?.some((c) => c.client_secret !== undefined))
    doc.token_endpoint_auth_methods_supported.push("client_secret_basic", "client_secret_post");
  return doc;
}
