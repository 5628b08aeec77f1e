/**
 * The `connected_accounts.providers` option, checked once with strict schemas: OAuth providers
 * (explicit endpoints, `issuer` discovery or a preset) and API-key providers. Every problem is one
 * `ConfigError` issue naming its key (`connected_accounts.providers.github.client_id`).
 *
 * @internal
 * @module
 */
import { z } from "zod";
import { clientCredentialShape, refineClientCredentials, type ClientAuthMethod } from "../lib/client-auth.js";
import { optionsSchema, parseOptions, urlOption } from "../lib/options.js";
import type { ApiKeyProviderOptions, OAuthProviderOptions, ProviderOptions } from "./types.js";
import { PRESETS } from "./presets.js";

/** A provider's name: what tools pass to `connection({ provider })`, and a path segment of the connect routes. */
export const PROVIDER_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** An endpoint: https (plain http on loopback only), neither userinfo nor fragment. */
const endpointUrl = urlOption({ https: true });
/** An issuer identifier: as an endpoint, and no query (RFC 8414 §2). */
const issuerUrl = urlOption({ https: true, no_query: "an issuer identifier has none, RFC 8414 §2" });

/**
 * An API origin: scheme, host and port only. A path, query, fragment or userinfo would suggest the
 * credential is confined to them, which an origin check cannot promise. zod runs refinements after a
 * failed URL check too: a string that is no URL stays that one issue.
 */
const originUrl = endpointUrl.refine(
  (u) => !URL.canParse(u) || new URL(u).origin === u.replace(/\/$/, "") || /[@#]/.test(u),
  { error: "must be a bare origin (scheme, host and port; no path, query or fragment)" },
);
const apiOrigins = z.array(originUrl).min(1, { error: "at least one origin" }).max(20);

/** RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`. */
const scopeToken = z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,256}$/, {
  error: 'a scope is printable ASCII without spaces, " or \\ (RFC 6749 §3.3)',
});

/** Authorization-request parameters the library sets itself: overriding one would undo PKCE, state or the redirect. */
export const RESERVED_AUTHORIZATION_PARAMS: ReadonlySet<string> = new Set([
  "response_type",
  "client_id",
  "redirect_uri",
  "scope",
  "state",
  "code_challenge",
  "code_challenge_method",
  "client_secret",
  "request",
  "request_uri",
]);

const authorizationParams = z
  .record(
    z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, { error: "a parameter name is letters, digits, _ . -" }),
    z.string().max(2048),
  )
  .superRefine((params, ctx) => {
    for (const k of Object.keys(params)) {
      if (RESERVED_AUTHORIZATION_PARAMS.has(k))
        ctx.addIssue({ code: "custom", path: [k], message: `${k} is set by the library and cannot be overridden` });
    }
  });

/** Text shown on pages: no control characters (they would reach HTML and log lines). */
const displayText = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[^\p{Cc}]*$/u, { error: "must not contain control characters" });

/** The method in effect: explicit, else `private_key_jwt` with a key, else the preset's, else `client_secret_basic`. */
export function effectiveAuthMethod(o: OAuthProviderOptions): ClientAuthMethod | "none" {
  if (o.client_auth_method) return o.client_auth_method;
  if (o.private_key !== undefined) return "private_key_jwt";
  return (o.preset && PRESETS[o.preset].client_auth_method) ?? "client_secret_basic";
}

const oauthObject = z.strictObject({
  type: z.literal("oauth").optional(),
  preset: z.enum(["github", "google"]).optional(),
  display_name: displayText.optional(),
  issuer: issuerUrl.optional(),
  authorization_endpoint: endpointUrl.optional(),
  token_endpoint: endpointUrl.optional(),
  revocation_endpoint: endpointUrl.optional(),
  ...clientCredentialShape,
  client_assertion_audience: endpointUrl.optional(),
  client_auth_method: z.enum(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]).optional(),
  scopes: z.array(scopeToken).max(100).optional(),
  authorization_params: authorizationParams.optional(),
  api_origins: apiOrigins.optional(),
});

/** Cross-key rules of an OAuth provider: where the endpoints come from, the API origins, the client credential. */
function refineOAuth(o: OAuthProviderOptions, ctx: z.RefinementCtx): void {
  const add = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
  const preset = o.preset ? PRESETS[o.preset] : undefined;
  if (!o.issuer && !preset) {
    if (!o.authorization_endpoint) add("authorization_endpoint", "required (or give issuer, or a preset)");
    if (!o.token_endpoint) add("token_endpoint", "required (or give issuer, or a preset)");
  }
  if (!o.api_origins && !preset) add("api_origins", "required: the origins the tokens may be sent to");
  const method = effectiveAuthMethod(o);
  if (method === "none") {
    // A public client proves nothing but PKCE: a secret or key here is a mistake (and would never be sent).
    for (const k of ["client_secret", "private_key", "private_key_alg", "private_key_kid"] as const)
      if (o[k] !== undefined) add(k, `${k} is not used with client_auth_method "none"`);
    if (o.client_assertion_audience !== undefined)
      add("client_assertion_audience", 'client_assertion_audience is not used with client_auth_method "none"');
    return;
  }
  refineClientCredentials({ ...o, client_auth_method: method }, ctx);
  if (method !== "private_key_jwt") {
    for (const k of ["private_key_alg", "private_key_kid", "client_assertion_audience"] as const)
      if (o[k] !== undefined) add(k, `${k} is only used with private_key_jwt`);
  }
}

/** RFC 9110 §5.6.2 token, lower case (header names are compared without case; one spelling here). */
const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9a-z-]{1,64}$/, { error: "must be a lower-case HTTP header name (RFC 9110 token)" })
  .refine((h) => !FORBIDDEN_HEADERS.has(h) && !h.startsWith("proxy-") && !h.startsWith("sec-"), {
    error: "must not be a header fetch or the connection itself manages (host, cookie, content-length, …)",
  });

/** Headers a credential must not go in: framing, routing and cookies. */
const FORBIDDEN_HEADERS: ReadonlySet<string> = new Set([
  "host",
  "cookie",
  "content-length",
  "content-type",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
  "expect",
]);

const apiKeyObject = z.strictObject({
  type: z.literal("api_key"),
  display_name: displayText.optional(),
  api_origins: apiOrigins,
  header: headerName.optional(),
  // Header value text (RFC 9110 §5.5): no control characters, or the key would split the header.
  prefix: z
    .string()
    .max(64)
    .regex(/^[\x20-\x7e]*$/, { error: "must be printable ASCII" })
    .optional(),
  key_label: displayText.optional(),
});

/** One entry of `connected_accounts.providers`. */
export const providerSchema = optionsSchema(
  "connected_accounts provider",
  z.discriminatedUnion("type", [oauthObject.superRefine(refineOAuth), apiKeyObject]),
);

/** The `connected_accounts.providers` map: name → provider, at least one. */
export const providersSchema = optionsSchema(
  "connected_accounts.providers",
  z
    .record(z.string().regex(PROVIDER_NAME, { error: "a provider name is [a-z0-9][a-z0-9_-]{0,63}" }), providerSchema)
    .refine((r) => Object.keys(r).length > 0, { error: "at least one provider" }),
);

/** Options as checked, with API-key defaults filled in. @internal */
export type CheckedProviders = Readonly<Record<string, Readonly<ProviderOptions>>>;

/**
 * Validate `connected_accounts.providers`. Issues are named from `connected_accounts.providers`.
 *
 * @param where - the component, e.g. `protect()`, for the message.
 * @throws `ConfigError` naming every problem.
 */
export function parseProviders(input: unknown, where: string): CheckedProviders {
  const wrapper = wrapperSchema();
  const parsed = parseOptions(wrapper, { connected_accounts: { providers: input } }, where);
  const out: Record<string, Readonly<ProviderOptions>> = {};
  for (const [name, p] of Object.entries(parsed.connected_accounts.providers as Record<string, ProviderOptions>)) {
    out[name] = Object.freeze(p.type === "api_key" ? withApiKeyDefaults(p) : { ...p });
  }
  return Object.freeze(out);
}

let wrapper: z.ZodType<{ connected_accounts: { providers: unknown } }> | undefined;
/** `{ connected_accounts: { providers } }`, so that issue keys carry the whole path. */
function wrapperSchema() {
  return (wrapper ??= optionsSchema(
    "connected_accounts (providers only)",
    z.strictObject({ connected_accounts: z.strictObject({ providers: providersSchema }) }),
  ));
}

function withApiKeyDefaults(p: ApiKeyProviderOptions): ApiKeyProviderOptions {
  const header = p.header ?? "authorization";
  return {
    ...p,
    header,
    prefix: p.prefix ?? (header === "authorization" ? "Bearer " : ""),
    key_label: p.key_label ?? "API key",
  };
}
