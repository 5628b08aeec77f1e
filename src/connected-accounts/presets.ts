/**
 * What `preset: "github"` and `preset: "google"` fill in: endpoints, client authentication, API
 * origins, and each provider's departures from RFC 6749 / RFC 7009, each with where it is documented.
 * Options given explicitly win over the preset's.
 *
 * @internal
 * @module
 */
import type { ClientAuthMethod } from "../lib/client-auth.js";

/** How a provider revokes a grant. */
export type RevocationStyle =
  /** RFC 7009: form POST of `token` + `token_type_hint` to `revocation_endpoint`, client authenticated. */
  | "rfc7009"
  /** GitHub: `DELETE /applications/{client_id}/grant`, Basic client_id:client_secret, JSON `{ access_token }`. */
  | "github_grant";

/** A provider's defaults and quirks. */
export interface ProviderPreset {
  /** Shown on pages when `display_name` is not set. */
  readonly display_name: string;
  /** The authorization endpoint. */
  readonly authorization_endpoint: string;
  /** The token endpoint. */
  readonly token_endpoint: string;
  /** The revocation URL for a client id, when the provider has one. */
  readonly revocation_endpoint?: (client_id: string) => string;
  /** How {@link ProviderPreset.revocation_endpoint} is called. */
  readonly revocation: RevocationStyle;
  /** The client authentication the provider expects when `client_auth_method` is not given. */
  readonly client_auth_method: ClientAuthMethod;
  /** Added to the authorization request (the user's `authorization_params` win). */
  readonly authorization_params: Readonly<Record<string, string>>;
  /** Where its tokens may be sent when `api_origins` is not given. */
  readonly api_origins: readonly string[];
  /** A token response may omit `token_type`. */
  readonly token_type_optional: boolean;
  /** Separator of the token response's `scope`. */
  readonly scope_separator: RegExp;
  /** Provider error codes → the RFC 6749 §5.2 code they mean. */
  readonly error_codes: Readonly<Record<string, string>>;
}

/**
 * GitHub (OAuth apps and GitHub apps' user access tokens).
 *
 * - Endpoints `https://github.com/login/oauth/authorize` and `https://github.com/login/oauth/access_token`
 *   (GitHub Docs, "Authorizing OAuth apps", web application flow). Scopes default to none: GitHub then
 *   grants public read access only.
 * - The token endpoint answers `application/x-www-form-urlencoded` unless asked for JSON: every token
 *   request sends `Accept: application/json`, and a form answer is parsed as well (same page, step 2).
 * - Errors come back with HTTP 200 and an `error` member (`bad_verification_code`,
 *   `incorrect_client_credentials`, `redirect_uri_mismatch`; GitHub Docs, "Troubleshooting OAuth app
 *   access token request errors"); refreshes fail with `bad_refresh_token` ("Refreshing user access
 *   tokens"). Any 200 carrying `error` is a refusal; `bad_verification_code` and `bad_refresh_token`
 *   are reported as `invalid_grant`, `incorrect_client_credentials` as `invalid_client`.
 * - `scope` in the response is comma-separated (`repo,gist`).
 * - Tokens of OAuth apps do not expire (no `expires_in`, no refresh token). GitHub apps with expiring
 *   user tokens answer `expires_in` (8 h), `refresh_token` and `refresh_token_expires_in` (6 months),
 *   as strings; a refresh rotates the refresh token and the old one stops working ("Refreshing user
 *   access tokens").
 * - Client authentication: `client_id` and `client_secret` in the body (`client_secret_post`).
 * - No RFC 7009 endpoint: a grant is deleted with `DELETE https://api.github.com/applications/{client_id}/grant`,
 *   Basic authentication with the client id and secret, body `{"access_token": …}`, answer 204; this
 *   deletes every token of the app for that user (GitHub REST API, "Delete an app authorization").
 */
const github: ProviderPreset = {
  display_name: "GitHub",
  authorization_endpoint: "https://github.com/login/oauth/authorize",
  token_endpoint: "https://github.com/login/oauth/access_token",
  revocation_endpoint: (client_id) => `https://api.github.com/applications/${encodeURIComponent(client_id)}/grant`,
  revocation: "github_grant",
  client_auth_method: "client_secret_post",
  authorization_params: {},
  api_origins: ["https://api.github.com"],
  token_type_optional: true,
  scope_separator: /[\s,]+/,
  error_codes: {
    bad_verification_code: "invalid_grant",
    bad_refresh_token: "invalid_grant",
    incorrect_client_credentials: "invalid_client",
  },
};

/**
 * Google (OAuth 2.0 for web server applications).
 *
 * - Endpoints as in `https://accounts.google.com/.well-known/openid-configuration`: authorization
 *   `https://accounts.google.com/o/oauth2/v2/auth`, token `https://oauth2.googleapis.com/token`, revocation
 *   `https://oauth2.googleapis.com/revoke` (RFC 7009 style: a form POST of `token`). Given explicitly,
 *   so no discovery request is made.
 * - A refresh token is issued only for `access_type=offline`, and on a repeated authorization only with
 *   `prompt=consent` (Google Identity, "Using OAuth 2.0 for Web Server Applications", offline access):
 *   both are sent.
 * - Google does not rotate refresh tokens: a refresh answer has none, and the old one is kept.
 * - Revoking either token revokes the grant.
 * - Client authentication: `client_secret_post`, as Google's examples do.
 */
const google: ProviderPreset = {
  display_name: "Google",
  authorization_endpoint: "https://accounts.google.com/o/oauth2/v2/auth",
  token_endpoint: "https://oauth2.googleapis.com/token",
  revocation_endpoint: () => "https://oauth2.googleapis.com/revoke",
  revocation: "rfc7009",
  client_auth_method: "client_secret_post",
  authorization_params: { access_type: "offline", prompt: "consent" },
  api_origins: ["https://www.googleapis.com"],
  token_type_optional: false,
  scope_separator: /\s+/,
  error_codes: {},
};

/** The presets by name. */
export const PRESETS: Readonly<Record<"github" | "google", ProviderPreset>> = Object.freeze({ github, google });

/** What a provider without a preset follows: RFC 6749 and RFC 7009 to the letter. */
export const STANDARD: Omit<
  ProviderPreset,
  "display_name" | "authorization_endpoint" | "token_endpoint" | "client_auth_method" | "api_origins"
> = {
  revocation: "rfc7009",
  authorization_params: {},
  token_type_optional: false,
  scope_separator: /\s+/,
  error_codes: {},
};
