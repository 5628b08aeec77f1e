/**
 * The `token_exchange` option of `protect()` / `MCPServer`, checked once with a strict schema, and
 * the presets that fill it in for Keycloak, Okta, Auth0 and Entra ID.
 *
 * @module
 */
import { z } from "zod";
import type { BackoffWindow } from "../lib/backoff.js";
import { clientCredentialShape, refineClientCredentials, type ClientCredentialOptions } from "../lib/client-auth.js";
import type { Clock } from "../lib/clock.js";
import type { Fetch } from "../lib/fetch.js";
import { backoffWindowSchema, functionSchema, optionsSchema, parseOptions, urlOption } from "../lib/options.js";

/** RFC 8693 token type of an access token. */
export const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";
/** RFC 8693 token type of a JWT. */
export const JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt";
/** RFC 8693 §2.1 grant type. */
export const TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange";
/** RFC 7523 grant type (Entra's on-behalf-of request). */
export const JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/** @deprecated Use {@link Fetch} (from `protected-mcp`). Removed in 0.3. */
export type FetchLike = Fetch;

/** Per-audience settings of {@link TokenExchangeOptions.audiences}. */
export interface AudienceOptions {
  /**
   * The only origin a {@link Connection} for this audience may call, e.g. `https://api.example.com`.
   * Default: the audience's own origin when the audience is an `https:` URL (or `http:` on loopback).
   * Required for a connection when the audience is not a URL (a Keycloak client id, an Entra `api://…`).
   */
  origin?: string | undefined;
  /**
   * Scopes asked for when a call names none (space-separated). Okta needs one; Entra defaults to `{audience}/.default`.
   */
  scope?: string | undefined;
}

/**
 * Options of token exchange: where the authorization server's token endpoint is, how this server
 * authenticates there (its own client credentials), and what to ask for. Use a preset from
 * {@link TokenExchange} to get the IdP-specific parameters right.
 *
 * @example
 * ```ts
 * new MCPServer("files", {
 *   authorization: { … },
 *   token_exchange: TokenExchange.keycloak({
 *     issuer: "https://sso.example.com/realms/acme",
 *     client_id: "mcp-server", client_secret: process.env.MCP_SECRET!,
 *     audiences: { "reports-api": { origin: "https://reports.example.com" } },
 *   }),
 * });
 * ```
 */
export interface TokenExchangeOptions extends ClientCredentialOptions {
  /**
   * The authorization server's token endpoint. `https:` (plain `http:` only on loopback), neither
   * userinfo nor fragment. Redirects are not followed.
   */
  token_endpoint: string;
  /**
   * Request shape: `"rfc8693"` (default; RFC 8693 token exchange with `subject_token`, `audience`,
   * `scope`, `resource`) or `"entra_obo"` (Entra ID on-behalf-of: `grant_type=…:jwt-bearer`,
   * `assertion`, `requested_token_use=on_behalf_of`, `scope`).
   */
  profile?: "rfc8693" | "entra_obo" | undefined;
  /** `subject_token_type` sent (rfc8693). Default `urn:ietf:params:oauth:token-type:access_token`. */
  subject_token_type?: string | undefined;
  /** `requested_token_type` sent (rfc8693). Default: not sent (the server issues an access token). */
  requested_token_type?: string | undefined;
  /**
   * Refuse an exchange that names no scope (Okta needs one; Entra's defaults to `{audience}/.default`). Default
   * `false`.
   */
  scope_required?: boolean | undefined;
  /**
   * The audiences tools may ask for, with their settings. When set, any other audience is refused
   * (`ERR_TOKEN_EXCHANGE_AUDIENCE_NOT_ALLOWED`). When not set, any audience may be asked for, and a
   * connection derives its origin from an audience that is a URL.
   */
  audiences?: Record<string, AudienceOptions> | undefined;
  /**
   * Exchanged tokens kept in memory (per caller token, audience, scope and resource). 0 disables the cache. Default
   * 1000.
   */
  cache_max?: number | undefined;
  /** Seconds before `exp` a cached token stops being used. Default 30; at most 300. */
  expiry_skew_seconds?: number | undefined;
  /** @deprecated Use `expiry_skew_seconds`. Removed in 0.3. */
  expiry_skew?: number | undefined;
  /** Timeout of one call to the token endpoint (body included), in milliseconds. Default 5000. */
  timeout_ms?: number | undefined;
  /** @deprecated Use `timeout_ms`. Removed in 0.3. */
  timeout?: number | undefined;
  /**
   * Back-off after the token endpoint could not be reached (1 s doubling to 30 s by default); calls fail fast
   * meanwhile.
   */
  backoff?: BackoffWindow | undefined;
  /** Custom fetch (tests, proxies), for the token endpoint and connection handles. */
  fetch?: Fetch | undefined;
  /** Clock in epoch milliseconds, for tests. Default `Date.now`. */
  clock?: Clock | undefined;
  /** @deprecated Use `clock`. Removed in 0.3. */
  now?: Clock | undefined;
}

/** An endpoint: https (http on loopback), neither userinfo nor fragment. */
const secureUrl = urlOption({ https: true });
/** An issuer identifier (the presets'): as {@link secureUrl}, and no query either (RFC 8414 §2). */
const issuerUrl = urlOption({ https: true, no_query: "an issuer identifier has none, RFC 8414 §2" });
// zod runs a refinement even after the URL check failed: a string that is no URL is that one issue.
const originSchema = secureUrl.refine((u) => !URL.canParse(u) || new URL(u).origin === u.replace(/\/$/, ""), {
  error: "must be an origin (scheme, host and port only)",
});

const commonShape = {
  ...clientCredentialShape,
  audiences: z
    .record(z.string().min(1), z.strictObject({ origin: originSchema.optional(), scope: z.string().min(1).optional() }))
    .optional(),
  cache_max: z.number().int().min(0).max(1_000_000).optional(),
  expiry_skew_seconds: z.number().int().min(0).max(300).optional(),
  timeout_ms: z.number().int().positive().max(60_000).optional(),
  backoff: backoffWindowSchema.optional(),
  fetch: functionSchema.optional(),
  clock: functionSchema.optional(),
};

/** The keys renamed in 0.2 (old → new), accepted with a deprecation warning. */
const renamed = { expiry_skew: "expiry_skew_seconds", timeout: "timeout_ms", now: "clock" } as const;

const OptionsSchema = optionsSchema(
  "token_exchange",
  z
    .strictObject({
      ...commonShape,
      token_endpoint: secureUrl,
      profile: z.enum(["rfc8693", "entra_obo"]).optional(),
      subject_token_type: z.string().min(1).optional(),
      requested_token_type: z.string().min(1).optional(),
      scope_required: z.boolean().optional(),
    })
    .superRefine(refineClientCredentials),
  renamed,
);

/** Validated options. @internal */
export type ResolvedTokenExchangeOptions = Readonly<TokenExchangeOptions>;

/**
 * Validate `token_exchange` options (strict: unknown keys are named with the closest valid one).
 *
 * @param where - the component, e.g. `protect()`, for the message.
 * @throws {@link ConfigError}
 * @internal
 */
export function parseTokenExchangeOptions(input: unknown, where: string): ResolvedTokenExchangeOptions {
  const parsed = parseOptions(OptionsSchema, input, `${where} token_exchange`);
  const audiences = parsed.audiences ? Object.freeze({ ...parsed.audiences }) : undefined;
  return Object.freeze({ ...(parsed as TokenExchangeOptions), ...(audiences ? { audiences } : {}) });
}

/** What every preset takes: the common options, without the IdP-specific request parameters. */
export type TokenExchangePresetOptions = Omit<
  TokenExchangeOptions,
  "token_endpoint" | "profile" | "subject_token_type" | "requested_token_type" | "scope_required"
> & {
  /** Override the token endpoint the preset derives. */
  token_endpoint?: string | undefined;
};

const presetShape = { ...commonShape, token_endpoint: secureUrl.optional() };
/** The keys every preset takes (each preset's schema adds its own, `issuer`, `domain` or `tenant`). */
optionsSchema("TokenExchange presets", z.strictObject(presetShape), renamed);
/** Each preset's schema, built on its first use. */
const presetSchemas = new Map<string, z.ZodType>();
const trimSlash = (s: string) => s.replace(/\/+$/, "");

function preset<K extends string>(
  name: string,
  key: Record<K, z.ZodType<string>>,
  input: unknown,
): TokenExchangePresetOptions & Record<K, string> {
  let schema = presetSchemas.get(name);
  if (!schema) {
    schema = optionsSchema(
      `TokenExchange.${name}()`,
      z
        .strictObject({ ...presetShape, ...key })
        .superRefine((v, ctx) => refineClientCredentials(v as ClientCredentialOptions, ctx)),
      renamed,
    );
    presetSchemas.set(name, schema);
  }
  return parseOptions(schema, input, `TokenExchange.${name}()`) as TokenExchangePresetOptions & Record<K, string>;
}

/** Copy the common keys, dropping the preset's own. */
function common<T extends TokenExchangePresetOptions>(o: T, drop: string): TokenExchangePresetOptions {
  const { token_endpoint: _t, ...rest } = o;
  delete (rest as Record<string, unknown>)[drop];
  return rest;
}

/**
 * Presets for the identity providers' token exchange. Each returns plain {@link TokenExchangeOptions}
 * for the `token_exchange` option; pass the server's own client credentials and, usually, `audiences`.
 *
 * @see docs/token-exchange.md for what to enable at each provider.
 */
export const TokenExchange = Object.freeze({
  /**
   * Keycloak ≥ 26.2 standard token exchange (RFC 8693): `audience` is the **client id** of the
   * target client. Token endpoint `{issuer}/protocol/openid-connect/token`.
   *
   * @example
   * ```ts
   * TokenExchange.keycloak({ issuer: "https://sso.example.com/realms/acme", client_id: "mcp-server", client_secret })
   * ```
   */
  keycloak(o: TokenExchangePresetOptions & { issuer: string }): TokenExchangeOptions {
    const p = preset("keycloak", { issuer: issuerUrl }, o);
    return {
      ...common(p, "issuer"),
      token_endpoint: p.token_endpoint ?? `${trimSlash(p.issuer)}/protocol/openid-connect/token`,
      profile: "rfc8693",
      subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
    };
  },

  /**
   * Okta On-Behalf-Of token exchange (RFC 8693) on a custom authorization server: `audience` is the
   * target authorization server's audience, and a `scope` is required. Token endpoint `{issuer}/v1/token`.
   *
   * @example
   * ```ts
   * TokenExchange.okta({ issuer: "https://acme.okta.com/oauth2/aus1…", client_id, client_secret,
   *   audiences: { "api://reports": { origin: "https://reports.example.com", scope: "reports:read" } } })
   * ```
   */
  okta(o: TokenExchangePresetOptions & { issuer: string }): TokenExchangeOptions {
    const p = preset("okta", { issuer: issuerUrl }, o);
    return {
      ...common(p, "issuer"),
      token_endpoint: p.token_endpoint ?? `${trimSlash(p.issuer)}/v1/token`,
      profile: "rfc8693",
      subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
      scope_required: true,
    };
  },

  /**
   * Auth0 On-Behalf-Of token exchange (RFC 8693): `subject_token_type` and `requested_token_type`
   * are access tokens, `audience` is the target API identifier. Token endpoint
   * `https://{domain}/oauth/token`; credentials in the body by default (`client_secret_post`).
   *
   * @example
   * ```ts
   * TokenExchange.auth0({ domain: "acme.eu.auth0.com", client_id, client_secret })
   * ```
   */
  auth0(o: TokenExchangePresetOptions & { domain: string }): TokenExchangeOptions {
    const p = preset(
      "auth0",
      { domain: z.string().regex(/^[a-z0-9.-]+(?::\d{1,5})?$/i, "a host name, e.g. acme.eu.auth0.com") },
      o,
    );
    return {
      client_auth_method: p.private_key ? "private_key_jwt" : "client_secret_post",
      ...common(p, "domain"),
      token_endpoint: p.token_endpoint ?? `https://${p.domain}/oauth/token`,
      profile: "rfc8693",
      subject_token_type: ACCESS_TOKEN_TYPE,
      requested_token_type: ACCESS_TOKEN_TYPE,
    };
  },

  /**
   * Entra ID on-behalf-of flow: `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`, the caller's
   * token as `assertion`, `requested_token_use=on_behalf_of`, and a `scope` such as
   * `api://reports/.default` (default: `{audience}/.default`). Token endpoint
   * `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`; credentials in the body by default.
   *
   * @example
   * ```ts
   * TokenExchange.entra({ tenant: "contoso.onmicrosoft.com", client_id, client_secret,
   *   audiences: { "api://reports": { origin: "https://reports.contoso.com" } } })
   * ```
   */
  entra(o: TokenExchangePresetOptions & { tenant: string }): TokenExchangeOptions {
    const p = preset("entra", { tenant: z.string().regex(/^[A-Za-z0-9.-]+$/, "a tenant id or domain") }, o);
    return {
      client_auth_method: p.private_key ? "private_key_jwt" : "client_secret_post",
      ...common(p, "tenant"),
      token_endpoint: p.token_endpoint ?? `https://login.microsoftonline.com/${p.tenant}/oauth2/v2.0/token`,
      profile: "entra_obo",
    };
  },
});
