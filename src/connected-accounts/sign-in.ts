/**
 * The connect page's sign-in at the MCP server's own authorization server: authorization code with
 * PKCE (S256), `resource` = this server, endpoints from the AS metadata (RFC 8414 discovery). The
 * access token it yields is checked by the server's own validator, so the browser user is identified
 * exactly as the MCP client's user was.
 *
 * @see RFC 6749 §4.1, RFC 7636, RFC 8707, RFC 9207 (`iss` in the authorization response)
 * @internal
 * @module
 */
import type { Clock } from "../lib/clock.js";
import { ClientAuthentication } from "../lib/client-auth.js";
import { sha256 } from "../lib/hash.js";
import { randomToken } from "../lib/secrets.js";
import type { Fetch } from "../lib/fetch.js";
import { AuthorizationServerDiscovery } from "../validators/discovery.js";
import { fetchJson, isSecureOrLoopback } from "../validators/remote-json.js";
import type { SignInOptions } from "./types.js";

/** Largest token response read, in bytes. */
const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;

/** Why the sign-in could not finish; carries no code, token or secret. */
export class SignInFailed extends Error {
  /** `"unavailable"`: the AS could not be reached or answered 5xx; `"refused"`: it answered an error or nonsense. */
  readonly reason: "unavailable" | "refused";
  /** @param reason - see {@link SignInFailed.reason}; @param options - `cause`, never shown. */
  constructor(reason: "unavailable" | "refused", options?: { cause?: unknown }) {
    super(reason === "unavailable" ? "The authorization server is unavailable" : "The sign-in was refused", options);
    this.name = "SignInFailed";
    this.reason = reason;
  }
}

/** What a started sign-in keeps (in the flow record) until the browser comes back. */
export interface SignInStart {
  /** Where to send the browser. */
  url: string;
  /** The `state` sent. */
  state: string;
  /** The PKCE verifier. */
  verifier: string;
}

interface Endpoints {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
}

/** Options of {@link AuthorizationServerSignIn}. */
export interface SignInClientOptions {
  /** The client at the AS (`client_id`, optional `client_secret`, optional `scopes`). */
  sign_in: SignInOptions & { client_id: string };
  /** Issuer of the MCP server's own AS. */
  issuer: string;
  /** This server's canonical resource URI (RFC 8707 `resource`). */
  resource: string;
  /** `<origin><base_path>/signed-in`. */
  redirect_uri: string;
  /** For discovery and the token request. */
  fetch: Fetch;
  /** For the discovery cache. */
  clock: Clock;
}

/** An OAuth client of the MCP server's own authorization server, for the connect page only. */
export class AuthorizationServerSignIn {
  readonly #o: SignInClientOptions;
  readonly #discovery: AuthorizationServerDiscovery;
  readonly #auth: ClientAuthentication | undefined;

  /** @param o - see {@link SignInClientOptions}. */
  constructor(o: SignInClientOptions) {
    this.#o = o;
    this.#discovery = new AuthorizationServerDiscovery({ fetch: o.fetch, clock: o.clock });
    const { client_id, client_secret } = o.sign_in;
    this.#auth =
      client_secret === undefined
        ? undefined
        : new ClientAuthentication({ client_id, client_secret, client_auth_method: "client_secret_basic" }, o.issuer);
  }

  /** The issuer this client signs in at (what `iss` in the authorization response must equal). */
  get issuer(): string {
    return this.#o.issuer;
  }

  /** The AS's endpoints, discovered; an endpoint that is not https (http on loopback) is refused. */
  async #endpoints(): Promise<Endpoints> {
    let meta;
    try {
      meta = await this.#discovery.metadata(this.#o.issuer);
    } catch (e) {
      throw new SignInFailed("unavailable", { cause: e });
    }
    const url = (v: unknown) => typeof v === "string" && URL.canParse(v) && isSecureOrLoopback(new URL(v));
    if (!url(meta.authorization_endpoint) || !url(meta.token_endpoint)) throw new SignInFailed("refused");
    return meta as unknown as Endpoints;
  }

  /** Start: a fresh state and PKCE verifier, and the authorization request URL. */
  async start(): Promise<SignInStart> {
    const ep = await this.#endpoints();
    const state = randomToken();
    const verifier = randomToken();
    const url = new URL(ep.authorization_endpoint);
    const params: Record<string, string> = {
      response_type: "code",
      client_id: this.#o.sign_in.client_id,
      redirect_uri: this.#o.redirect_uri,
      state,
      code_challenge: sha256(verifier),
      code_challenge_method: "S256",
      resource: this.#o.resource,
    };
    if (this.#o.sign_in.scopes?.length) params.scope = this.#o.sign_in.scopes.join(" ");
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return { url: url.href, state, verifier };
  }

  /**
   * Exchange the code for an access token at the token endpoint (PKCE verifier, client authentication).
   *
   * @throws {@link SignInFailed}
   */
  async finish(code: string, verifier: string): Promise<string> {
    const ep = await this.#endpoints();
    const headers = new Headers({
      accept: "application/json",
      "content-type": "application/x-www-form-urlencoded",
    });
    const body = new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: this.#o.redirect_uri,
      code_verifier: verifier,
      resource: this.#o.resource,
    });
    if (this.#auth) await this.#auth.apply(headers, body);
    else body.set("client_id", this.#o.sign_in.client_id);
    let res;
    try {
      res = await fetchJson(
        this.#o.fetch,
        ep.token_endpoint,
        { method: "POST", headers, body: body.toString() },
        { timeout_ms: 10_000, max_bytes: MAX_TOKEN_RESPONSE_BYTES },
      );
    } catch (e) {
      throw new SignInFailed("unavailable", { cause: e });
    }
    if (res.status >= 500 || res.status === 429) throw new SignInFailed("unavailable");
    const token = (res.json as { access_token?: unknown } | undefined)?.access_token;
    if (res.status !== 200 || typeof token !== "string" || token.length === 0) throw new SignInFailed("refused");
    return token;
  }
}
