/**
 * `AuthorizationConfig`: the one object that turns protection on, validated once with zod.
 *
 * Keys are snake_case on purpose: they mirror the RFC 9728 metadata fields they feed
 * (`authorization_servers`, `scopes_supported`, `resource`, `resource_name`) and the design card's
 * Python-SDK names (`required_scopes`, `cache_ttl`, `fail_open`, `dpop_required`).
 *
 * @module
 */
import { z } from "zod";
import { SCOPE_TOKEN } from "./lib/scope.js";
import { optionsSchema, parseOptions, urlOption } from "./lib/options.js";

const scope = z.string().regex(SCOPE_TOKEN, "a scope is printable ASCII without space, '\"' or '\\'");

const WELL_KNOWN_PRM = "/.well-known/oauth-protected-resource";

/** True for `localhost`, `127.0.0.0/8` and `[::1]`: the hosts where plain `http` is acceptable (RFC 8252 §8.3). */
export function isLoopbackHost(hostname: string): boolean {
  return (
    hostname === "localhost" || hostname === "[::1]" || /^127(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}$/.test(hostname)
  );
}

function isSecureUrl(value: string): boolean {
  // Unparseable URLs are reported by the field's own check; do not report them twice.
  if (!URL.canParse(value)) return true;
  const url = new URL(value);
  return url.protocol === "https:" || (url.protocol === "http:" && isLoopbackHost(url.hostname));
}

/** An issuer identifier has neither query nor fragment (RFC 8414 §2); neither userinfo. */
const issuerUrl = urlOption({ no_query: "an issuer identifier has none, RFC 8414 §2" });

/** The zod schema behind {@link parseAuthorizationConfig}. */
export const AuthorizationConfigSchema = optionsSchema(
  "authorization config",
  z
    .strictObject({
      enabled: z.boolean().default(false),
      authorization_servers: z.array(issuerUrl).default([]),
      required_scopes: z.array(scope).default([]),
      metadata_path: z
        .string()
        .refine((p) => p === WELL_KNOWN_PRM || p.startsWith(`${WELL_KNOWN_PRM}/`), {
          error: `must be "${WELL_KNOWN_PRM}" or start with "${WELL_KNOWN_PRM}/" (RFC 9728 §3)`,
        })
        .default(WELL_KNOWN_PRM),
      cache_ttl: z.number().int().positive().max(86_400).default(300),
      fail_open: z.boolean().default(false),
      dpop_required: z.boolean().default(false),
      // RFC 8707 §2: a resource indicator "MUST NOT include a fragment component" and "SHOULD NOT include a
      // query component"; refused here, as it is published as is in the RFC 9728 document.
      resource: urlOption({ no_query: "RFC 8707 §2" }).optional(),
      scopes_supported: z.array(scope).optional(),
      resource_name: z.string().min(1).max(200).optional(),
      resource_documentation: urlOption({ allow_fragment: true }).optional(),
      allow_insecure_http: z.boolean().default(false),
      step_up: z.boolean().default(false),
      step_up_scope: z.enum(["union", "operation"]).default("union"),
      hide_unauthorized_tools: z.boolean().default(false),
    })
    .superRefine((c, ctx) => {
      if (c.enabled && c.authorization_servers.length === 0) {
        ctx.addIssue({
          code: "custom",
          path: ["authorization_servers"],
          message: "at least one authorization server is required when enabled is true",
        });
      }
      if (!c.allow_insecure_http) {
        const urls: [string, string][] = c.authorization_servers.map((u, i) => [`authorization_servers.${i}`, u]);
        if (c.resource) urls.push(["resource", c.resource]);
        for (const [path, u] of urls) {
          if (!isSecureUrl(u)) {
            ctx.addIssue({
              code: "custom",
              path: path.split(".").map((p) => (/^\d+$/.test(p) ? Number(p) : p)),
              message: "must use https (http is allowed only on loopback; set allow_insecure_http to override)",
            });
          }
        }
      }
    }),
);

/**
 * What the caller writes. Every key is optional except where `enabled: true` makes
 * `authorization_servers` necessary.
 *
 * @example
 * ```ts
 * const authorization: AuthorizationConfig = {
 *   enabled: true,
 *   authorization_servers: ["https://auth.example.com"],
 *   resource: "https://mcp.example.com/mcp",
 *   required_scopes: ["mcp"],
 * };
 * ```
 * @see RFC 9728 §2 for the metadata fields these keys feed.
 */
export interface AuthorizationConfig {
  /** Turn protection on. Default `false`: no checks at all, `getContext().auth` is `null`. */
  enabled?: boolean;
  /**
   * Issuer URLs of the authorization servers clients should use (RFC 9728 `authorization_servers`).
   * Neither userinfo, query nor fragment (RFC 8414 §2).
   */
  authorization_servers?: string[];
  /** Scopes every request must carry; missing ones give 403 `insufficient_scope`. Default `[]`. */
  required_scopes?: string[];
  /** Where the RFC 9728 document is served. Default `/.well-known/oauth-protected-resource`. */
  metadata_path?: string;
  /** Seconds to cache the key set and the metadata document (`Cache-Control: max-age`). Default 300. */
  cache_ttl?: number;
  /**
   * When validation *cannot be completed* (key set or authorization server unreachable), let the
   * request through as anonymous (`auth === null`) instead of answering 503. A bad, expired or
   * forged token is never let in. Default `false`. Dangerous: every use emits a `fail_open` event.
   */
  fail_open?: boolean;
  /** Refuse tokens that are not DPoP-bound (RFC 9449). Default `false`. */
  dpop_required?: boolean;
  /**
   * The canonical URI of the MCP endpoint (RFC 8707 §2), e.g. `https://mcp.example.com/mcp`.
   * Used as `resource` in the metadata, as the default token audience and for DPoP `htu` checks.
   * It is configuration: it is never derived from the request's `Host` or `X-Forwarded-*` headers.
   * {@link MCPServer.serve} fills it from the address it listens on when omitted. Neither userinfo,
   * query nor fragment (RFC 8707 §2).
   */
  resource?: string;
  /** Advertised scopes (RFC 9728 `scopes_supported`). Default: required scopes plus every tool's scopes. */
  scopes_supported?: string[];
  /** Human-readable name of this resource (RFC 9728 `resource_name`). */
  resource_name?: string;
  /** URL of human-readable documentation (RFC 9728 `resource_documentation`). No userinfo; a `#section` is fine. */
  resource_documentation?: string;
  /** Accept plain-http non-loopback URLs for `resource` and `authorization_servers`. Default `false`. */
  allow_insecure_http?: boolean;
  /**
   * Step-up authorization (MCP 2025-11-25 "Scope challenge handling"). When on, a `tools/call`,
   * `resources/read` or `prompts/get` whose authenticated caller lacks the item's `required_scopes`
   * is answered with HTTP 403 and `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`
   * before the handler runs, so the client can re-authorize with those scopes and retry. Default
   * `false`: the tool answers with its `isError` result (resources and prompts with a JSON-RPC error),
   * byte for byte as without this option. Needs the items' definitions (`MCPServer.collect`, or
   * `protect()`'s `definitions`).
   */
  step_up?: boolean;
  /**
   * Which scopes a step-up challenge names. `"union"` (default): the scopes already granted plus the
   * ones required — a client that *replaces* its scope with the challenge's (the SDK v1 client, 1.32)
   * keeps what it had, and one that unions (SEP-2350, the current spec) loses nothing. `"operation"`:
   * only the operation's scopes, as SEP-2350 has servers do; right for clients that union.
   */
  step_up_scope?: "union" | "operation";
  /**
   * `tools/list`, `resources/list` and `prompts/list` omit the items the caller's scopes do not
   * cover (an anonymous `fail_open` caller sees only items without scopes). Default `false`. Results
   * of the 2026-07-28 revision stay `cacheScope: "private"` (the SDK default), as they depend on the
   * caller. Needs the items' definitions, like `step_up`.
   */
  hide_unauthorized_tools?: boolean;
}

/** An {@link AuthorizationConfig} after validation, with every default filled in. */
export type ResolvedAuthorizationConfig = Required<
  Pick<
    AuthorizationConfig,
    | "enabled"
    | "authorization_servers"
    | "required_scopes"
    | "metadata_path"
    | "cache_ttl"
    | "fail_open"
    | "dpop_required"
    | "allow_insecure_http"
    | "step_up"
    | "step_up_scope"
    | "hide_unauthorized_tools"
  >
> &
  Pick<AuthorizationConfig, "resource" | "scopes_supported" | "resource_name" | "resource_documentation">;

// Compile-time proof that the schema produces exactly the documented type.
type Equal<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesType: Equal<z.output<typeof AuthorizationConfigSchema>, ResolvedAuthorizationConfig> = true;
void schemaMatchesType;

/**
 * Validate an {@link AuthorizationConfig} and fill in defaults. Unknown keys and wrong types are
 * refused. The caller's object is never mutated; a frozen copy is returned.
 *
 * @throws {@link ConfigError} naming each bad key.
 * @example
 * ```ts
 * parseAuthorizationConfig({ enabled: true, authorization_servers: ["https://auth.example.com"] });
 * parseAuthorizationConfig({ enabeld: true }); // throws: enabeld: Unrecognized key
 * ```
 */
export function parseAuthorizationConfig(input: unknown): Readonly<ResolvedAuthorizationConfig> {
  return Object.freeze(parseOptions(AuthorizationConfigSchema, input, "authorization config"));
}
