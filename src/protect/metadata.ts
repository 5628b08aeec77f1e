/**
 * RFC 9728 OAuth 2.0 Protected Resource Metadata: the document and where it lives.
 *
 * @see RFC 9728 §2 (fields), §3.1 (path-inserted well-known URL)
 * @module
 */
import type { ResolvedAuthorizationConfig } from "../config.js";

const DEFAULT_METADATA_PATH = "/.well-known/oauth-protected-resource";

/** The RFC 9728 document this library serves. Extra members may be added by future options. */
export interface ProtectedResourceMetadata {
  /** The resource identifier: the canonical URI of the MCP endpoint. */
  resource: string;
  /** Issuer identifiers of the authorization servers. */
  authorization_servers: string[];
  /** Scopes a client can request for this resource. */
  scopes_supported?: string[];
  /** Only the `Authorization` header is supported (no query or form-body tokens). */
  bearer_methods_supported: ["header"];
  /** Human-readable name. */
  resource_name?: string;
  /** Human-readable documentation URL. */
  resource_documentation?: string;
  /** JWS algorithms accepted for DPoP proofs (RFC 9449 §5.1). */
  dpop_signing_alg_values_supported?: string[];
  /** True when every token must be DPoP-bound. */
  dpop_bound_access_tokens_required?: boolean;
}

/** Inputs to {@link buildProtectedResourceMetadata} beyond the config. */
export interface MetadataOptions {
  /** The canonical resource URI (config `resource`, or the address `serve()` listens on). */
  resource: string;
  /** Scopes used by tools; advertised when `scopes_supported` is not configured. */
  toolScopes?: readonly string[];
  /** DPoP algorithms, when DPoP proofs are accepted. */
  dpopAlgorithms?: readonly string[];
}

/**
 * Build the metadata document. `scopes_supported` is the configured list, or the union of
 * `required_scopes` and every tool's scopes, so clients can discover what to ask for.
 */
export function buildProtectedResourceMetadata(
  config: Pick<
    ResolvedAuthorizationConfig,
    | "authorization_servers"
    | "required_scopes"
    | "scopes_supported"
    | "resource_name"
    | "resource_documentation"
    | "dpop_required"
  >,
  options: MetadataOptions,
): ProtectedResourceMetadata {
  const scopes = config.scopes_supported ?? [...new Set([...config.required_scopes, ...(options.toolScopes ?? [])])];
  const doc: ProtectedResourceMetadata = {
    resource: options.resource,
    authorization_servers: [...config.authorization_servers],
    bearer_methods_supported: ["header"],
  };
  if (scopes.length) doc.scopes_supported = scopes;
  if (config.resource_name) doc.resource_name = config.resource_name;
  if (config.resource_documentation) doc.resource_documentation = config.resource_documentation;
  if (options.dpopAlgorithms?.length) {
    doc.dpop_signing_alg_values_supported = [...options.dpopAlgorithms];
    doc.dpop_bound_access_tokens_required = config.dpop_required;
  }
  return doc;
}

/**
 * The metadata paths to serve for a resource: the configured `metadata_path` and its
 * path-inserted form for the resource's path (RFC 9728 §3.1), e.g. for
 * `https://mcp.example.com/mcp` both `/.well-known/oauth-protected-resource` and
 * `/.well-known/oauth-protected-resource/mcp`.
 */
export function metadataPaths(metadataPath: string, resource: string): string[] {
  const resourcePath = new URL(resource).pathname.replace(/\/$/, "");
  const inserted = resourcePath ? `${DEFAULT_METADATA_PATH}${resourcePath}` : metadataPath;
  return [...new Set([metadataPath, inserted])];
}

/**
 * The absolute URL clients are pointed to in `resource_metadata`: the path-inserted form on the
 * resource's own origin (the one the MCP spec tells clients to try first), or the configured
 * `metadata_path` when it is not the default.
 */
export function resourceMetadataUrl(metadataPath: string, resource: string): string {
  const origin = new URL(resource).origin;
  if (metadataPath !== DEFAULT_METADATA_PATH) return new URL(metadataPath, origin).href;
  const paths = metadataPaths(metadataPath, resource);
  return new URL(paths[paths.length - 1] ?? metadataPath, origin).href;
}
