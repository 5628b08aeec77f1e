/**
 * `JWTValidatorConfig`: build {@link JWTValidatorOptions} from an identity provider's tenant, absorbing
 * each provider's quirks (issuer form, JWKS path, audience, where scopes and the client id live).
 *
 * @module
 */
import { z } from "zod";
import { optionsSchema, parseOptions, urlOption } from "../lib/options.js";
import { jwtOptionsShape, jwtRenamed, type JWTValidatorOptions } from "./jwt.js";

/** Options every preset accepts on top of its tenant fields; they override the preset's choices. */
export type PresetOverrides = Partial<Omit<JWTValidatorOptions, "jwks_uri" | "issuer">>;

const trimSlash = (s: string): string => s.replace(/\/+$/, "");
const hostOf = (domain: string): string => trimSlash(domain.replace(/^https?:\/\//, ""));

// Every preset checks its own fields and the overrides (each with the validator's own schema) in
// one strict schema: a misspelt tenant field is a ConfigError naming the closest key, never a
// TypeError or a URL with "undefined" in it.
const { jwks_uri: _jwksUri, issuer: _issuer, ...overrideShape } = jwtOptionsShape;
const audience = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
/** A host name as the IdP's console shows it: `tenant.eu.auth0.com`, optionally with `https://` and a port. */
const domain = z
  .string()
  .regex(
    /^(?:https?:\/\/)?[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::\d{1,5})?\/?$/i,
    "a host name, e.g. tenant.eu.auth0.com",
  );

const Auth0Schema = optionsSchema(
  "JWTValidatorConfig.auth0()",
  z.strictObject({ ...overrideShape, domain, audience }),
  jwtRenamed,
);
const OktaSchema = optionsSchema(
  "JWTValidatorConfig.okta()",
  z.strictObject({
    ...overrideShape,
    domain,
    authorization_server_id: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, "an authorization server id, e.g. default or aus1…")
      .optional(),
    audience: audience.optional(),
  }),
  jwtRenamed,
);
const KeycloakSchema = optionsSchema(
  "JWTValidatorConfig.keycloak()",
  z.strictObject({
    ...overrideShape,
    base_url: urlOption({ no_query: "the realm path is appended to it" }),
    realm: z.string().min(1),
    audience: audience.optional(),
  }),
  jwtRenamed,
);
const EntraSchema = optionsSchema(
  "JWTValidatorConfig.entra()",
  z.strictObject({
    ...overrideShape,
    tenant_id: z.string().regex(/^[A-Za-z0-9.-]+$/, "a tenant id (GUID) or domain, e.g. contoso.onmicrosoft.com"),
    audience,
    version: z.union([z.literal(1), z.literal(2)]).optional(),
  }),
  jwtRenamed,
);
const CognitoSchema = optionsSchema(
  "JWTValidatorConfig.cognito()",
  z.strictObject({
    ...overrideShape,
    region: z.string().regex(/^[a-z]{2}(?:-[a-z]+)+-\d+$/, "an AWS region, e.g. eu-west-1"),
    user_pool_id: z.string().regex(/^[\w-]+_[0-9A-Za-z]+$/, "a user pool id, e.g. eu-west-1_AbCdEfGhI"),
    client_ids: z.array(z.string().min(1)).min(1),
  }),
  jwtRenamed,
);

/**
 * Presets for common identity providers. Each returns plain {@link JWTValidatorOptions}; spread
 * and override anything.
 *
 * @example
 * ```ts
 * new JWTValidator(JWTValidatorConfig.auth0({ domain: "tenant.eu.auth0.com", audience: "https://mcp.example.com/mcp" }));
 * ```
 */
export const JWTValidatorConfig = Object.freeze({
  /**
   * Auth0. Issuer is `https://{domain}/` *with* the trailing slash; JWKS at `/.well-known/jwks.json`.
   * `audience` is the API identifier (Auth0 may add its userinfo URL to `aud`; any match is enough).
   * Scopes come from `scope` and, with RBAC, `permissions`. Client id is `azp`.
   * Without `audience` in the authorize request Auth0 issues opaque tokens: the error says so.
   *
   * @throws {@link ConfigError} naming each bad or unknown key (with the closest valid name).
   */
  auth0(o: { domain: string; audience: string | string[] } & PresetOverrides): JWTValidatorOptions {
    const { domain, ...rest } = parseOptions(Auth0Schema, o, "JWTValidatorConfig.auth0()");
    const host = hostOf(domain);
    return {
      jwks_uri: `https://${host}/.well-known/jwks.json`,
      issuer: `https://${host}/`,
      scope_claims: ["scope", "permissions"],
      client_id_claims: ["azp", "client_id"],
      opaque_token_hint:
        "Auth0 issues opaque tokens when the authorization request has no audience: request the API identifier as audience",
      ...rest,
    };
  },

  /**
   * Okta custom authorization server. Issuer `https://{domain}/oauth2/{authorization_server_id}`
   * (`default` by default); JWKS at `{issuer}/v1/keys`; audience `api://default` unless configured;
   * scopes in `scp` (array); client id in `cid`.
   *
   * @throws {@link ConfigError} naming each bad or unknown key (with the closest valid name).
   */
  okta(
    o: { domain: string; authorization_server_id?: string; audience?: string | string[] } & PresetOverrides,
  ): JWTValidatorOptions {
    const {
      domain,
      authorization_server_id = "default",
      audience = "api://default",
      ...rest
    } = parseOptions(OktaSchema, o, "JWTValidatorConfig.okta()");
    const issuer = `https://${hostOf(domain)}/oauth2/${authorization_server_id}`;
    return {
      jwks_uri: `${issuer}/v1/keys`,
      issuer,
      audience,
      scope_claims: ["scp", "scope"],
      client_id_claims: ["cid", "client_id"],
      ...rest,
    };
  },

  /**
   * Keycloak. Issuer `{base_url}/realms/{realm}`; JWKS at `{issuer}/protocol/openid-connect/certs`.
   * Header `typ` is `JWT`, so no `typ` is required. `aud` is often `account` unless an audience mapper
   * is added: configure the mapper and pass its value as `audience` rather than accepting `account`.
   * Scopes from `scope`; roles stay in `claims` (`realm_access.roles`) unless added to `scope_claims`.
   *
   * @throws {@link ConfigError} naming each bad or unknown key (with the closest valid name).
   */
  keycloak(
    o: { base_url: string; realm: string; audience?: string | string[] } & PresetOverrides,
  ): JWTValidatorOptions {
    const { base_url, realm, ...rest } = parseOptions(KeycloakSchema, o, "JWTValidatorConfig.keycloak()");
    const issuer = `${trimSlash(base_url)}/realms/${encodeURIComponent(realm)}`;
    return {
      jwks_uri: `${issuer}/protocol/openid-connect/certs`,
      issuer,
      scope_claims: ["scope"],
      client_id_claims: ["azp", "client_id"],
      ...rest,
    };
  },

  /**
   * Microsoft Entra ID (v2 endpoint, single tenant). Issuer
   * `https://login.microsoftonline.com/{tenant}/v2.0`; JWKS at `…/discovery/v2.0/keys`. The audience
   * is the application (client) ID GUID or its `api://…` URI, not the resource URL: pass it. Delegated
   * scopes in `scp` (space-separated), application permissions in `roles`. Client id `azp` (v2) or
   * `appid` (v1). Set `version: 1` for v1 tokens (issuer `https://sts.windows.net/{tenant}/`).
   *
   * @throws {@link ConfigError} naming each bad or unknown key (with the closest valid name).
   */
  entra(o: { tenant_id: string; audience: string | string[]; version?: 1 | 2 } & PresetOverrides): JWTValidatorOptions {
    const { tenant_id, version = 2, ...rest } = parseOptions(EntraSchema, o, "JWTValidatorConfig.entra()");
    const tenant = encodeURIComponent(tenant_id);
    return {
      jwks_uri: `https://login.microsoftonline.com/${tenant}/discovery/v2.0/keys`,
      issuer: version === 1 ? `https://sts.windows.net/${tenant}/` : `https://login.microsoftonline.com/${tenant}/v2.0`,
      scope_claims: ["scp", "roles"],
      client_id_claims: ["azp", "appid"],
      subject_claim: "sub",
      ...rest,
    };
  },

  /**
   * Amazon Cognito user pool. Issuer `https://cognito-idp.{region}.amazonaws.com/{user_pool_id}`;
   * JWKS at `{issuer}/.well-known/jwks.json`. Cognito access tokens carry **no `aud`**: the token's
   * `client_id` must be one of `client_ids` instead, and `token_use` must be `access` (an ID token is
   * refused).
   *
   * @throws {@link ConfigError} naming each bad or unknown key (with the closest valid name).
   */
  cognito(o: { region: string; user_pool_id: string; client_ids: string[] } & PresetOverrides): JWTValidatorOptions {
    const { region, user_pool_id, client_ids, ...rest } = parseOptions(
      CognitoSchema,
      o,
      "JWTValidatorConfig.cognito()",
    );
    const issuer = `https://cognito-idp.${region}.amazonaws.com/${user_pool_id}`;
    return {
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      issuer,
      allowed_client_ids: client_ids,
      required_claims: { token_use: "access" },
      scope_claims: ["scope"],
      client_id_claims: ["client_id"],
      ...rest,
    };
  },
});
