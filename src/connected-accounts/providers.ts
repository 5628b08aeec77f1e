/**
 * Providers resolved from `connected_accounts.providers`: the server as an OAuth client of each
 * (authorization code + PKCE S256, code exchange, refresh, revocation), and the API-key providers.
 *
 * Token responses are read bounded and checked before anything is stored; a provider that cannot be
 * reached backs off (failing fast with `retry_after`) rather than being hammered. No token, code or
 * secret ever goes into an error, its message or its `cause`.
 *
 * @see RFC 6749 §4.1 (authorization code), §6 (refresh), RFC 7636 (PKCE), RFC 7009 (revocation)
 * @internal
 * @module
 */
import { Backoff, type BackoffWindow } from "../lib/backoff.js";
import { ClientAuthentication, type ClientCredentialOptions } from "../lib/client-auth.js";
import type { Clock } from "../lib/clock.js";
import type { Fetch } from "../lib/fetch.js";
import { AuthorizationServerDiscovery } from "../validators/discovery.js";
import { fetchJson, isSecureOrLoopback, RemoteFetchFailed } from "../validators/remote-json.js";
import { ProviderRefused, ProviderUnavailable } from "./errors.js";
import type { ResolvedApiKeyProvider, ResolvedOAuthProvider, ResolvedProvider } from "./internal-types.js";
import { PRESETS, STANDARD, type ProviderPreset } from "./presets.js";
import { effectiveAuthMethod, parseProviders } from "./provider-options.js";
import type { ApiKeyProviderOptions, OAuthProviderOptions, ProviderOptions, StoredCredential } from "./types.js";

/** Largest token or revocation response read, in bytes. */
export const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;

/** What providers need from their surroundings. */
export interface ProviderDependencies {
  /** `fetch` for token, revocation and discovery requests. Default `globalThis.fetch`. */
  fetch?: Fetch | undefined;
  /** Clock (epoch ms): `expires_at`, `obtained_at` and the back-off. Default `Date.now`. */
  clock?: Clock | undefined;
  /** Discovery for providers configured by `issuer`. Default: one created on first use with `fetch` and `clock`. */
  discovery?: AuthorizationServerDiscovery | undefined;
  /** Timeout of one request to a provider, body included, ms. Default 10,000. */
  timeout_ms?: number | undefined;
  /** Back-off per provider after it could not be reached. Default 1 s doubling to 30 s. */
  backoff?: BackoffWindow | undefined;
  /** Randomness of the back-off's jitter, for tests. Default `Math.random`. */
  random?: (() => number) | undefined;
  /** The component whose options these are, for `ConfigError` messages. Default `connected_accounts`. */
  where?: string | undefined;
}

/**
 * Check `connected_accounts.providers` and resolve each entry. Nothing is fetched here: endpoints of a
 * provider configured by `issuer` are discovered on first use and kept.
 *
 * @throws `ConfigError` naming every problem (`connected_accounts.providers.<name>.<key>`).
 */
export function resolveProviders(
  providers: Readonly<Record<string, ProviderOptions>>,
  deps: ProviderDependencies = {},
): ReadonlyMap<string, ResolvedProvider> {
  const checked = parseProviders(providers, deps.where ?? "connected_accounts");
  let discovery = deps.discovery;
  const shared: Shared = {
    fetch: deps.fetch ?? ((url, init) => globalThis.fetch(url, init)),
    clock: deps.clock ?? Date.now,
    timeout_ms: deps.timeout_ms ?? 10_000,
    discovery: () => (discovery ??= new AuthorizationServerDiscovery({ fetch: deps.fetch, clock: deps.clock })),
    backoff: () => new Backoff({ ...deps.backoff, clock: deps.clock ?? Date.now, random: deps.random }),
  };
  const out = new Map<string, ResolvedProvider>();
  for (const [name, p] of Object.entries(checked)) {
    out.set(name, p.type === "api_key" ? apiKeyProvider(name, p) : new OAuthProvider(name, p, shared));
  }
  return out;
}

function apiKeyProvider(name: string, p: ApiKeyProviderOptions): ResolvedApiKeyProvider {
  return Object.freeze({
    type: "api_key",
    name,
    display_name: p.display_name ?? name,
    api_origins: origins(p.api_origins),
    header: p.header ?? "authorization",
    prefix: p.prefix ?? "",
    key_label: p.key_label ?? "API key",
  });
}

interface Shared {
  fetch: Fetch;
  clock: Clock;
  timeout_ms: number;
  discovery: () => AuthorizationServerDiscovery;
  backoff: () => Backoff;
}

interface Endpoints {
  authorization_endpoint: string;
  token_endpoint: string;
  revocation_endpoint: string | undefined;
}

/** An answer read whole (bounded): status, content type and parsed members (JSON object or form). */
interface Answer {
  status: number;
  members: Record<string, unknown> | undefined;
}

const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/** One OAuth provider. Its back-off is its own: one provider down does not slow the others. */
class OAuthProvider implements ResolvedOAuthProvider {
  readonly type = "oauth" as const;
  readonly name: string;
  readonly display_name: string;
  readonly api_origins: readonly string[];
  readonly header = "authorization";
  readonly prefix = "Bearer ";
  readonly scopes: readonly string[];
  readonly #o: Readonly<OAuthProviderOptions>;
  readonly #quirks: Omit<ProviderPreset, "display_name" | "authorization_endpoint" | "token_endpoint">;
  readonly #params: Readonly<Record<string, string>>;
  readonly #shared: Shared;
  readonly #backoff: Backoff;
  #endpoints: Endpoints | undefined;
  #auth: ClientAuthentication | undefined;

  constructor(name: string, o: Readonly<OAuthProviderOptions>, shared: Shared) {
    const preset = o.preset ? PRESETS[o.preset] : undefined;
    this.name = name;
    this.display_name = o.display_name ?? preset?.display_name ?? name;
    this.api_origins = origins(o.api_origins ?? preset?.api_origins ?? []);
    this.scopes = Object.freeze([...(o.scopes ?? [])]);
    this.#o = o;
    this.#quirks = preset ?? { ...STANDARD, client_auth_method: "client_secret_basic", api_origins: [] };
    this.#params = Object.freeze({ ...preset?.authorization_params, ...o.authorization_params });
    this.#shared = shared;
    this.#backoff = shared.backoff();
    const authorization_endpoint = o.authorization_endpoint ?? preset?.authorization_endpoint;
    const token_endpoint = o.token_endpoint ?? preset?.token_endpoint;
    const revocation_endpoint = o.revocation_endpoint ?? preset?.revocation_endpoint?.(o.client_id);
    // With an issuer, discovery fills in what is neither explicit nor the preset's (revocation included).
    if (authorization_endpoint && token_endpoint && (revocation_endpoint || !o.issuer))
      this.#endpoints = { authorization_endpoint, token_endpoint, revocation_endpoint };
  }

  async authorizationUrl(p: { redirect_uri: string; state: string; code_challenge: string }): Promise<string> {
    // Programming errors of the connect routes, not the user's: PKCE S256 and state are never optional.
    if (!S256_CHALLENGE.test(p.code_challenge)) throw new TypeError("code_challenge must be an S256 challenge");
    if (!p.state) throw new TypeError("state is required");
    const url = new URL((await this.#resolveEndpoints()).authorization_endpoint);
    const q = url.searchParams;
    q.set("response_type", "code");
    q.set("client_id", this.#o.client_id);
    q.set("redirect_uri", p.redirect_uri);
    if (this.scopes.length > 0) q.set("scope", this.scopes.join(" "));
    q.set("state", p.state);
    q.set("code_challenge", p.code_challenge);
    q.set("code_challenge_method", "S256");
    for (const [k, v] of Object.entries(this.#params)) q.set(k, v);
    return url.href;
  }

  async exchangeCode(p: { code: string; redirect_uri: string; code_verifier: string }): Promise<StoredCredential> {
    const body = await this.#tokenRequest({
      grant_type: "authorization_code",
      code: p.code,
      redirect_uri: p.redirect_uri,
      code_verifier: p.code_verifier,
    });
    return this.#credential(body, undefined);
  }

  canRefresh(credential: StoredCredential): boolean {
    return (
      credential.kind === "oauth" && typeof credential.refresh_token === "string" && credential.refresh_token !== ""
    );
  }

  async refresh(credential: StoredCredential): Promise<StoredCredential> {
    if (!this.canRefresh(credential)) throw new ProviderRefused(this.name, this.display_name, "invalid_grant");
    const body = await this.#tokenRequest({ grant_type: "refresh_token", refresh_token: credential.refresh_token! });
    return this.#credential(body, credential);
  }

  async revoke(credential: StoredCredential): Promise<boolean> {
    try {
      const endpoint = (await this.#resolveEndpoints()).revocation_endpoint;
      if (!endpoint || credential.kind !== "oauth") return false;
      if (this.#quirks.revocation === "github_grant") return await this.#revokeGitHubGrant(endpoint, credential);
      // The refresh token first: revoking it ends the grant (RFC 7009 §2.1), the access token with it at most servers.
      const first = credential.refresh_token
        ? await this.#revokeOne(endpoint, credential.refresh_token, "refresh_token")
        : await this.#revokeOne(endpoint, credential.access_token, "access_token");
      if (credential.refresh_token) await this.#revokeOne(endpoint, credential.access_token, "access_token");
      return first;
    } catch {
      return false;
    }
  }

  async #revokeOne(endpoint: string, token: string, hint: string): Promise<boolean> {
    const headers = new Headers({ "content-type": "application/x-www-form-urlencoded", accept: "application/json" });
    const body = new URLSearchParams({ token, token_type_hint: hint });
    await this.#authenticate(headers, body);
    const answer = await this.#send(endpoint, { method: "POST", headers, body: body.toString() });
    return answer.status === 200;
  }

  /** GitHub's "Delete an app authorization": see the GitHub preset. */
  async #revokeGitHubGrant(endpoint: string, credential: StoredCredential): Promise<boolean> {
    const o = this.#o;
    if (o.client_secret === undefined) return false;
    const basic = Buffer.from(`${o.client_id}:${o.client_secret}`).toString("base64");
    const headers = new Headers({
      authorization: `Basic ${basic}`,
      accept: "application/vnd.github+json",
      "content-type": "application/json",
      "x-github-api-version": "2022-11-28",
    });
    const body = JSON.stringify({ access_token: credential.access_token });
    const answer = await this.#send(endpoint, { method: "DELETE", headers, body });
    return answer.status === 204 || answer.status === 200;
  }

  /** The endpoints: explicit or the preset's, else discovered once (backing off while discovery fails). */
  async #resolveEndpoints(): Promise<Endpoints> {
    if (this.#endpoints) return this.#endpoints;
    this.#ready();
    const o = this.#o;
    let found: Endpoints;
    try {
      const meta = await this.#shared.discovery().metadata(o.issuer!);
      const preset = o.preset ? PRESETS[o.preset] : undefined;
      const pick = (k: keyof Endpoints, fromPreset: string | undefined) => {
        const v = o[k] ?? fromPreset ?? meta[k];
        if (v === undefined && k === "revocation_endpoint") return undefined;
        if (typeof v !== "string" || !URL.canParse(v) || !isSecureOrLoopback(new URL(v)))
          throw new Error(`discovered ${k} is missing or not an https URL`);
        return v;
      };
      found = {
        authorization_endpoint: pick("authorization_endpoint", preset?.authorization_endpoint)!,
        token_endpoint: pick("token_endpoint", preset?.token_endpoint)!,
        revocation_endpoint: pick("revocation_endpoint", preset?.revocation_endpoint?.(o.client_id)),
      };
    } catch (e) {
      throw this.#unavailable(e);
    }
    return (this.#endpoints = found);
  }

  /** Fail fast while backing off. */
  #ready(): void {
    if (!this.#backoff.ready())
      throw new ProviderUnavailable(this.name, this.display_name, this.#backoff.retryAfterSeconds());
  }

  #unavailable(cause: unknown): ProviderUnavailable {
    this.#backoff.failed();
    return new ProviderUnavailable(this.name, this.display_name, this.#backoff.retryAfterSeconds(), { cause });
  }

  /** Client authentication per the method; a `private_key_jwt` assertion is addressed to the issuer, else the token endpoint. */
  async #authenticate(headers: Headers, body: URLSearchParams): Promise<void> {
    const o = this.#o;
    const method = effectiveAuthMethod(o);
    if (method === "none") {
      body.set("client_id", o.client_id);
      return;
    }
    this.#auth ??= new ClientAuthentication(
      { ...(o as ClientCredentialOptions), client_auth_method: method },
      o.issuer ?? (await this.#resolveEndpoints()).token_endpoint,
      this.#shared.clock,
    );
    await this.#auth.apply(headers, body);
  }

  /**
   * POST a grant to the token endpoint; the answer's members when it is a token response.
   * @throws `ProviderRefused` (an OAuth error, or not a token response) or `ProviderUnavailable`.
   */
  async #tokenRequest(grant: Record<string, string>): Promise<Record<string, unknown>> {
    const { token_endpoint } = await this.#resolveEndpoints();
    this.#ready();
    // GitHub answers form-encoded unless asked for JSON (see the preset); others ignore it or agree.
    const headers = new Headers({ accept: "application/json", "content-type": "application/x-www-form-urlencoded" });
    const body = new URLSearchParams(grant);
    await this.#authenticate(headers, body);
    let answer: Answer;
    try {
      answer = await this.#send(token_endpoint, { method: "POST", headers, body: body.toString() });
    } catch (e) {
      if (e instanceof RemoteFetchFailed && e.too_large) throw this.#refused("invalid_response");
      throw this.#unavailable(e);
    }
    if (answer.status >= 500 || answer.status === 429)
      throw this.#unavailable(new Error(`token endpoint answered ${answer.status}`));
    this.#backoff.succeeded();
    const m = answer.members;
    // GitHub answers its errors with 200 and an `error` member: an error member is a refusal, whatever the status.
    if (m && typeof m["error"] === "string") throw this.#refused(m["error"]);
    if (answer.status !== 200 || !m) throw this.#refused("invalid_response");
    return m;
  }

  #refused(error: string): ProviderRefused {
    return new ProviderRefused(this.name, this.display_name, this.#quirks.error_codes[error] ?? error);
  }

  /**
   * One request, its body read whole within the timeout and at most {@link MAX_TOKEN_RESPONSE_BYTES}, as
   * JSON or form members (GitHub). Redirects are not followed: a code or secret goes only to the
   * configured URL.
   * @throws `RemoteFetchFailed` (network, timeout, or `too_large`).
   */
  async #send(url: string, init: { method: "POST" | "DELETE"; headers: Headers; body: string }): Promise<Answer> {
    const res = await fetchJson(this.#shared.fetch, url, init, {
      timeout_ms: this.#shared.timeout_ms,
      max_bytes: MAX_TOKEN_RESPONSE_BYTES,
      error_json: true,
      parse: (bytes, contentType) => parseMembers(contentType, bytes),
    });
    return { status: res.status, members: res.json as Record<string, unknown> | undefined };
  }

  /** A token response → a credential; `previous` is the credential refreshed (its refresh token and scopes kept). */
  #credential(m: Record<string, unknown>, previous: StoredCredential | undefined): StoredCredential {
    const bad = () => this.#refused("invalid_response");
    const access_token = m["access_token"];
    if (typeof access_token !== "string" || access_token === "") throw bad();
    const token_type = m["token_type"];
    const bearer = typeof token_type === "string" && token_type.toLowerCase() === "bearer";
    if (token_type === undefined ? !this.#quirks.token_type_optional : !bearer) throw bad();
    const refresh = m["refresh_token"];
    if (refresh !== undefined && (typeof refresh !== "string" || refresh === "")) throw bad();
    const now = Math.floor(this.#shared.clock() / 1000);
    const expires_in = seconds(m["expires_in"]);
    if (expires_in === null) throw bad();
    const scope = m["scope"];
    const scopes =
      typeof scope === "string"
        ? scope.split(this.#quirks.scope_separator).filter(Boolean)
        : (previous?.scopes ?? [...this.scopes]);
    return {
      kind: "oauth",
      access_token,
      refresh_token: refresh ?? previous?.refresh_token,
      expires_at: expires_in === undefined ? undefined : now + expires_in,
      scopes,
      obtained_at: now,
    };
  }
}

/** Origins as `URL.origin` spells them (a trailing `/` given in the options dropped), for exact comparison. */
function origins(list: readonly string[]): readonly string[] {
  return Object.freeze(list.map((o) => new URL(o).origin));
}

/** `expires_in`: a non-negative integer, or its decimal text (GitHub, form answers); `null` when malformed. */
function seconds(v: unknown): number | undefined | null {
  if (v === undefined) return undefined;
  const n = typeof v === "string" && /^\d{1,10}$/.test(v) ? Number(v) : v;
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** The members of a JSON object or form-encoded body; `undefined` for anything else. */
function parseMembers(contentType: string | null, bytes: Uint8Array): Record<string, unknown> | undefined {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (type === "application/x-www-form-urlencoded") return Object.fromEntries(new URLSearchParams(text));
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
