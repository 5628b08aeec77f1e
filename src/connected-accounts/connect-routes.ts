/**
 * The connect routes: where a URL-mode elicitation's link leads, on the MCP server's own origin. They
 * establish who the browser user is (the server's own authorization server, or the app's `identify`),
 * refuse anyone but the user the link was made for (MCP 2025-11-25 client/elicitation, "Phishing"),
 * ask that user to confirm, then run the provider's authorization code flow (or take a pasted API key)
 * and store the credential under the link's account.
 *
 * - `GET  {base}/start?handle=H`  the link: the handle is peeked, the user identified
 * - `GET  {base}/signed-in`       the sign-in's redirect URI: code exchanged, identity compared
 * - `POST {base}/confirm`         the confirmation form: CSRF, Origin, then the handle is taken (once)
 * - `GET  {base}/callback`        the provider's redirect URI: code exchanged, credential stored
 *
 * The browser carries only a random flow id in an HttpOnly cookie; the flow itself (stage, state,
 * PKCE verifier, CSRF token, identity) is a vault transient record, so a fleet may answer any step on
 * any instance. Every refusal is a fixed text; nothing from the request is ever reflected.
 *
 * @see MCP 2025-11-25 client/elicitation ("URL Mode Elicitation for OAuth Flows", "Phishing")
 * @internal
 * @module
 */
import { z } from "zod";
import { readFormBody, type BodyReader } from "../lib/body.js";
import type { Clock } from "../lib/clock.js";
import { visibleControls } from "../lib/display.js";
import type { Fetch } from "../lib/fetch.js";
import { confirmPage, donePage, messagePage, pageHeaders } from "./connect-pages.js";
import { ProviderRefused } from "./errors.js";
import type { ConnectedNotice, ResolvedOAuthProvider, ResolvedProvider } from "./internal-types.js";
import { AuthorizationServerSignIn, SignInFailed } from "./sign-in.js";
import { getCookie } from "../lib/cookie.js";
import { sha256 } from "../lib/hash.js";
import { randomToken, safeEqual } from "../lib/secrets.js";
import type { AccountKey, BrowserIdentity, SignInOptions, TokenVault } from "./types.js";

/** What {@link createConnectRoutes} needs (built by the connected-accounts runtime, options already checked). */
export interface ConnectRoutesOptions {
  /** Path prefix of the routes, e.g. `"/connect"` (no trailing slash). */
  base_path: string;
  /** The resource's origin, e.g. `"https://mcp.example.com"`: links and redirect URIs are built on it. */
  origin: string;
  /** Name → provider. */
  providers: ReadonlyMap<string, ResolvedProvider>;
  /** Handles, flows and credentials. */
  vault: TokenVault;
  /** `identify(request)`, or the client of the sign-in at {@link ConnectRoutesOptions.authorization_server}. */
  sign_in: SignInOptions | undefined;
  /** Issuer of the MCP server's own authorization server (the first of `authorization_servers`). */
  authorization_server: string | undefined;
  /** This MCP server's canonical resource URI (`resource` of the sign-in). */
  resource: string;
  /** The server's own validator: issuer and subject of an access token, or a throw. */
  verify_token(token: string): Promise<BrowserIdentity>;
  /** For the sign-in's discovery and token requests. */
  fetch: Fetch;
  /** Expiry decisions. */
  clock: Clock;
  /** A credential was stored (the runtime emits `account_connected` and `notifications/elicitation/complete`). */
  on_connected(notice: ConnectedNotice): void | Promise<void>;
  /** A request was refused: the reason only (`"identity_mismatch"`, `"handle_unknown"`, …), never a value. */
  on_refused?(reason: string): void;
}

/** The connect routes as a Web handler, and whether a path is theirs. */
export interface ConnectRoutes {
  /** Whether `path` is under `base_path` (everything there is answered, unknown paths with 404). */
  handles(path: string): boolean;
  /**
   * Answer a request whose path {@link ConnectRoutes.handles}. `readBody` reads the body instead of
   * `req.body` when the adapter hands it over that way (`HandlerExtras.readBody`).
   */
  handle(req: Request, readBody?: BodyReader): Promise<Response>;
}

/**
 * The connect link of a handle: `${origin}${base_path}/start?handle=${handle}`. The handle is opaque,
 * single-use and short-lived; the link carries nothing else (no user data, never pre-authenticated).
 */
export function connectUrl(origin: string, base_path: string, handle: string): string {
  return `${origin}${base_path}/start?handle=${encodeURIComponent(handle)}`;
}

/** The fixed texts of refusals and failures (and their HTTP status); nothing else is ever shown. */
const REFUSALS = {
  handle_unknown: [410, "This connect link is invalid or has expired. Ask for a new one from your MCP client."],
  not_signed_in: [401, "You are not signed in. Sign in to this application, then open the connect link again."],
  identity_mismatch: [403, "This link was made for another account. Nothing was connected."],
  flow_missing: [
    400,
    "This page is not part of a connect flow in this browser, or the flow has expired. Nothing was connected. Open the connect link from your MCP client again.",
  ],
  state_mismatch: [400, "This response does not belong to the connect flow of this browser. Nothing was connected."],
  csrf_mismatch: [403, "This form could not be verified. Nothing was connected."],
  cross_origin: [403, "Form posts from other sites are refused. Nothing was connected."],
  bad_form: [400, "The form could not be read. Nothing was connected."],
  body_too_large: [413, "The form is too large. Nothing was connected."],
  api_key_invalid: [400, "The key must be 1 to 4096 characters without control characters. Nothing was connected."],
  sign_in_denied: [403, "The sign-in was not completed. Nothing was connected."],
  sign_in_unavailable: [502, "The sign-in service could not be reached. Nothing was connected. Try again later."],
  sign_in_refused: [502, "The sign-in could not be completed. Nothing was connected."],
  sign_in_invalid: [401, "The sign-in could not be verified. Nothing was connected."],
  provider_unavailable: [502, "The provider could not be reached. Nothing was connected. Try again later."],
  not_configured: [500, "This server has no way to identify you for connected accounts. Nothing was connected."],
  internal_error: [500, "Something went wrong. Nothing was connected."],
} as const satisfies Record<string, readonly [number, string]>;

type RefusalReason = keyof typeof REFUSALS;

/** OAuth error codes a provider's redirect may carry that the page may name (RFC 6749 §4.1.2.1, OIDC). */
const KNOWN_OAUTH_ERRORS = new Set([
  "access_denied",
  "invalid_request",
  "unauthorized_client",
  "unsupported_response_type",
  "invalid_scope",
  "server_error",
  "temporarily_unavailable",
  "invalid_grant",
  "invalid_client",
  "login_required",
  "consent_required",
  "interaction_required",
  "account_selection_required",
]);

/** Handles are 32 random bytes, base64url; so are flow ids. Anything else is not looked up. */
const RANDOM_ID = /^[A-Za-z0-9_-]{43}$/;
/** Largest confirm form read, in bytes (an API key of 4096 characters, percent-encoded, fits). */
const MAX_FORM_BYTES = 16 * 1024;
/** An API key: 1 to 4096 characters, none of them a control or bidi character (C0, C1, overrides, isolates). */
const MAX_API_KEY = 4096;

const HandleSchema = z.looseObject({
  issuer: z.string(),
  subject: z.string().min(1),
  provider: z.string().min(1),
  elicitation_id: z.string(),
  expires_at: z.number(),
});
type HandleRecord = z.infer<typeof HandleSchema>;

const IdentitySchema = z.object({ issuer: z.string(), subject: z.string(), display_name: z.string().optional() });

/** The flow record (`flow:<id>`): one browser's way through the routes. */
const FlowSchema = z.object({
  /** `done`: an API key was stored; kept so that a replayed confirm is told the link was used. */
  stage: z.enum(["signing_in", "identified", "authorizing", "done"]),
  handle: z.string(),
  provider: z.string(),
  /** Epoch ms: the handle's expiry, which the whole flow shares. */
  expires_at: z.number(),
  state: z.string().optional(),
  verifier: z.string().optional(),
  csrf: z.string().optional(),
  identity: IdentitySchema.optional(),
  account: z.object({ issuer: z.string(), subject: z.string(), provider: z.string() }).optional(),
  elicitation_id: z.string().optional(),
});
type Flow = z.infer<typeof FlowSchema>;

function sameUser(a: { issuer: string; subject: string }, b: { issuer: string; subject: string }): boolean {
  return a.issuer === b.issuer && a.subject === b.subject;
}

/** Create the connect routes. See the module comment for what each route does. */
export function createConnectRoutes(o: ConnectRoutesOptions): ConnectRoutes {
  if (!/^(?:\/[A-Za-z0-9._~-]+)+$/.test(o.base_path))
    throw new TypeError("base_path must be a path like /connect (no trailing slash)");
  if (!URL.canParse(o.origin) || new URL(o.origin).origin !== o.origin)
    throw new TypeError("origin must be an origin like https://mcp.example.com");
  const routes = new Routes(o);
  return {
    handles: (path) => path === o.base_path || path.startsWith(`${o.base_path}/`),
    handle: (req, readBody) => routes.handle(req, readBody),
  };
}

/** Thrown inside a route to end it with a fixed-text refusal. */
class Refusal extends Error {
  constructor(
    readonly reason: RefusalReason,
    readonly clearCookie = false,
  ) {
    super(reason);
  }
}

const ROUTES: ReadonlyMap<string, "GET" | "POST"> = new Map([
  ["/start", "GET"],
  ["/signed-in", "GET"],
  ["/confirm", "POST"],
  ["/callback", "GET"],
]);

class Routes {
  readonly #o: ConnectRoutesOptions;
  readonly #signIn: AuthorizationServerSignIn | undefined;
  readonly #cookie: string;
  readonly #cookieAttributes: string;

  constructor(o: ConnectRoutesOptions) {
    this.#o = o;
    const secure = new URL(o.origin).protocol === "https:";
    // Browsers refuse a `__Host-` cookie without Secure, so plain http (loopback development) drops the prefix.
    this.#cookie = secure ? "__Host-protected-mcp-connect" : "protected-mcp-connect";
    this.#cookieAttributes = `Path=/; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`;
    const clientId = o.sign_in?.identify ? undefined : o.sign_in?.client_id;
    this.#signIn =
      clientId !== undefined && o.authorization_server !== undefined
        ? new AuthorizationServerSignIn({
            sign_in: { ...o.sign_in, client_id: clientId },
            issuer: o.authorization_server,
            resource: o.resource,
            redirect_uri: `${o.origin}${o.base_path}/signed-in`,
            fetch: o.fetch,
            clock: o.clock,
          })
        : undefined;
  }

  async handle(req: Request, readBody?: BodyReader): Promise<Response> {
    const url = new URL(req.url);
    const route = url.pathname.startsWith(this.#o.base_path) ? url.pathname.slice(this.#o.base_path.length) : "";
    const method = ROUTES.get(route);
    if (method === undefined) return text(404, "Not found.");
    if (req.method !== method) return text(405, "Method not allowed.", { allow: method });
    try {
      if (route === "/start") return await this.#start(req, url.searchParams);
      if (route === "/signed-in") return await this.#signedIn(req, url.searchParams);
      if (route === "/confirm") return await this.#confirm(req, readBody);
      return await this.#callback(req, url.searchParams);
    } catch (e) {
      if (e instanceof Refusal) return this.#refuse(e.reason, e.clearCookie);
      // A vault or provider failure: its message might quote a value, so only the fixed text is shown.
      return this.#refuse("internal_error", false);
    }
  }

  #refuse(reason: RefusalReason, clearCookie: boolean): Response {
    try {
      this.#o.on_refused?.(reason);
    } catch {
      // A listener's failure must not turn a refusal into something else.
    }
    const [status, message] = REFUSALS[reason];
    return html(status, messagePage(message), clearCookie ? { "set-cookie": this.#setCookie("", 0) } : {});
  }

  #setCookie(value: string, maxAge: number): string {
    return `${this.#cookie}=${value}; Max-Age=${maxAge}; ${this.#cookieAttributes}`;
  }

  // ---- records ----

  async #handle(id: string | null, take: boolean): Promise<HandleRecord> {
    if (id === null || !RANDOM_ID.test(id)) throw new Refusal("handle_unknown");
    const raw = take
      ? await this.#o.vault.takeTransient(`handle:${id}`)
      : await this.#o.vault.peekTransient(`handle:${id}`);
    const parsed = HandleSchema.safeParse(raw);
    if (!parsed.success || parsed.data.expires_at * 1000 <= this.#o.clock()) throw new Refusal("handle_unknown", take);
    return parsed.data;
  }

  /**
   * The flow this browser's cookie names, in `stage`; a missing, expired or other-stage flow is refused (a
   * confirm replayed after the handle was taken is told so: the link is used up).
   */
  async #flow(req: Request, stage: Flow["stage"]): Promise<{ id: string; flow: Flow }> {
    const id = getCookie(req, this.#cookie);
    if (id === undefined || !RANDOM_ID.test(id)) throw new Refusal("flow_missing");
    const parsed = FlowSchema.safeParse(await this.#o.vault.peekTransient(`flow:${id}`));
    if (!parsed.success || parsed.data.expires_at <= this.#o.clock()) throw new Refusal("flow_missing");
    if (parsed.data.stage === stage) return { id, flow: parsed.data };
    const used = stage === "identified" && (parsed.data.stage === "authorizing" || parsed.data.stage === "done");
    throw new Refusal(used ? "handle_unknown" : "flow_missing");
  }

  /** Take the flow (atomically: of two concurrent requests one goes on), checking it is still the one peeked. */
  async #takeFlow(id: string, peeked: Flow): Promise<void> {
    const parsed = FlowSchema.safeParse(await this.#o.vault.takeTransient(`flow:${id}`));
    if (!parsed.success || parsed.data.stage !== peeked.stage || parsed.data.state !== peeked.state)
      throw new Refusal("flow_missing", true);
  }

  async #putFlow(id: string, flow: Flow): Promise<void> {
    await this.#o.vault.putTransient(`flow:${id}`, flow, Math.max(1, flow.expires_at - this.#o.clock()));
  }

  /** Burn the handle and the flow after an identity mismatch: the link is dead for everyone. */
  async #burn(handle: string, flowId: string | undefined): Promise<never> {
    await this.#o.vault.takeTransient(`handle:${handle}`);
    if (flowId !== undefined) await this.#o.vault.takeTransient(`flow:${flowId}`);
    throw new Refusal("identity_mismatch", true);
  }

  // ---- routes ----

  async #start(req: Request, params: URLSearchParams): Promise<Response> {
    const handleId = params.get("handle");
    const handle = await this.#handle(handleId, false);
    const provider = this.#o.providers.get(handle.provider);
    if (!provider) throw new Refusal("handle_unknown");
    const id = randomToken();
    const base = { handle: handleId!, provider: provider.name, expires_at: handle.expires_at * 1000 };
    const maxAge = Math.max(1, Math.floor((base.expires_at - this.#o.clock()) / 1000));
    const identify = this.#o.sign_in?.identify;
    if (identify) {
      const identity = await identify(req);
      if (identity === null) throw new Refusal("not_signed_in");
      if (!sameUser(identity, handle)) return this.#burn(handleId!, undefined);
      const flow: Flow = { ...base, stage: "identified", identity: plainIdentity(identity), csrf: randomToken() };
      await this.#putFlow(id, flow);
      return this.#confirmation(flow, provider, { "set-cookie": this.#setCookie(id, maxAge) });
    }
    if (!this.#signIn) throw new Refusal("not_configured");
    const started = await this.#startSignIn();
    await this.#putFlow(id, { ...base, stage: "signing_in", state: started.state, verifier: started.verifier });
    return redirect(started.url, { "set-cookie": this.#setCookie(id, maxAge) });
  }

  async #startSignIn() {
    try {
      return await this.#signIn!.start();
    } catch (e) {
      throw new Refusal(
        e instanceof SignInFailed && e.reason === "refused" ? "sign_in_refused" : "sign_in_unavailable",
      );
    }
  }

  async #signedIn(req: Request, params: URLSearchParams): Promise<Response> {
    if (!this.#signIn) throw new Refusal("not_configured");
    const { id, flow } = await this.#flow(req, "signing_in");
    if (!safeEqual(params.get("state") ?? "", flow.state ?? "")) throw new Refusal("state_mismatch");
    const iss = params.get("iss");
    // RFC 9207: an `iss` naming another server is a mix-up; refuse before the code goes anywhere.
    if (iss !== null && iss !== this.#signIn.issuer) throw new Refusal("state_mismatch");
    await this.#takeFlow(id, flow);
    const code = params.get("code");
    if (params.has("error") || code === null) throw new Refusal("sign_in_denied", true);
    let token: string;
    try {
      token = await this.#signIn.finish(code, flow.verifier ?? "");
    } catch (e) {
      const refused = e instanceof SignInFailed && e.reason === "refused";
      throw new Refusal(refused ? "sign_in_refused" : "sign_in_unavailable", true);
    }
    let identity: BrowserIdentity;
    try {
      identity = plainIdentity(await this.#o.verify_token(token));
    } catch {
      throw new Refusal("sign_in_invalid", true);
    }
    const handle = await this.#handle(flow.handle, false).catch(() => {
      throw new Refusal("handle_unknown", true);
    });
    if (!sameUser(identity, handle)) return this.#burn(flow.handle, undefined);
    const provider = this.#o.providers.get(flow.provider);
    if (!provider) throw new Refusal("handle_unknown", true);
    const next: Flow = {
      ...flow,
      stage: "identified",
      identity,
      csrf: randomToken(),
      state: undefined,
      verifier: undefined,
    };
    await this.#putFlow(id, next);
    return this.#confirmation(next, provider, {});
  }

  async #confirmation(flow: Flow, provider: ResolvedProvider, headers: Record<string, string>): Promise<Response> {
    const view = {
      provider: provider.display_name,
      who: flow.identity?.display_name || flow.identity?.subject || "",
      action: `${this.#o.base_path}/confirm`,
      csrf: flow.csrf ?? "",
    };
    if (provider.type === "api_key")
      return html(200, confirmPage({ ...view, key_label: provider.key_label }), headers, undefined, "same-origin");
    // The confirm post is answered with a redirect to the provider: the form's CSP must allow its origin.
    const target = await authorizationOrigin(provider, this.#callbackUri());
    return html(200, confirmPage(view), headers, target, "same-origin");
  }

  /** Origin and Sec-Fetch-Site, when present, must say the post comes from this origin. */
  #sameOrigin(req: Request): boolean {
    const origin = req.headers.get("origin");
    const site = req.headers.get("sec-fetch-site");
    return (origin === null || origin === this.#o.origin) && (site === null || site === "same-origin");
  }

  async #confirm(req: Request, readBody: BodyReader | undefined): Promise<Response> {
    if (!this.#sameOrigin(req)) throw new Refusal("cross_origin");
    const form = await readForm(req, readBody);
    const { id, flow } = await this.#flow(req, "identified");
    if (!safeEqual(form.get("csrf_token") ?? "", flow.csrf ?? "")) throw new Refusal("csrf_mismatch");
    const identity = flow.identity!;
    const identify = this.#o.sign_in?.identify;
    if (identify) {
      // The app's session may have changed since the link was opened: the user confirming must still match.
      const now = await identify(req);
      if (now === null || !sameUser(now, identity)) return this.#burn(flow.handle, id);
    }
    const provider = this.#o.providers.get(flow.provider);
    if (!provider) throw new Refusal("handle_unknown");
    if (provider.type === "api_key") return this.#confirmApiKey(id, flow, provider.display_name, form);
    const state = randomToken();
    // PKCE S256: the challenge is the verifier's SHA-256, base64url (RFC 7636 §4.2).
    const verifier = randomToken();
    const location = await provider
      .authorizationUrl({ redirect_uri: this.#callbackUri(), state, code_challenge: sha256(verifier) })
      .catch(() => {
        throw new Refusal("provider_unavailable");
      });
    const handle = await this.#takeHandleFor(flow);
    const account: AccountKey = { issuer: handle.issuer, subject: handle.subject, provider: handle.provider };
    const next: Flow = { ...flow, stage: "authorizing", state, verifier, csrf: undefined, account };
    await this.#putFlow(id, { ...next, elicitation_id: handle.elicitation_id });
    return redirect(location, {});
  }

  /** Take the flow's handle (single use) and check it names the flow's user. */
  async #takeHandleFor(flow: Flow): Promise<HandleRecord> {
    const handle = await this.#handle(flow.handle, true);
    if (!sameUser(handle, flow.identity!) || handle.provider !== flow.provider)
      throw new Refusal("identity_mismatch", true);
    return handle;
  }

  async #confirmApiKey(id: string, flow: Flow, display: string, form: URLSearchParams): Promise<Response> {
    const key = form.get("api_key") ?? "";
    if (key.length === 0 || key.length > MAX_API_KEY || visibleControls(key) !== key)
      throw new Refusal("api_key_invalid");
    const handle = await this.#takeHandleFor(flow);
    await this.#takeFlow(id, flow);
    await this.#putFlow(id, { ...flow, stage: "done", csrf: undefined });
    const account: AccountKey = { issuer: handle.issuer, subject: handle.subject, provider: handle.provider };
    const obtained_at = Math.floor(this.#o.clock() / 1000);
    await this.#o.vault.set(account, { kind: "api_key", access_token: key, obtained_at });
    await this.#connected({ account, elicitation_id: handle.elicitation_id, identity: flow.identity! });
    return html(200, donePage(display), { "set-cookie": this.#setCookie("", 0) });
  }

  #callbackUri(): string {
    return `${this.#o.origin}${this.#o.base_path}/callback`;
  }

  async #callback(req: Request, params: URLSearchParams): Promise<Response> {
    const { id, flow } = await this.#flow(req, "authorizing");
    if (!safeEqual(params.get("state") ?? "", flow.state ?? "")) throw new Refusal("state_mismatch");
    await this.#takeFlow(id, flow);
    const clear = { "set-cookie": this.#setCookie("", 0) };
    const provider = this.#o.providers.get(flow.provider);
    if (provider?.type !== "oauth" || !flow.account) throw new Refusal("handle_unknown", true);
    const error = params.get("error");
    const code = params.get("code");
    if (error !== null || code === null) return this.#providerError(provider.display_name, error ?? "", clear);
    let credential;
    try {
      credential = await provider.exchangeCode({
        code,
        redirect_uri: this.#callbackUri(),
        code_verifier: flow.verifier!,
      });
    } catch (e) {
      if (e instanceof ProviderRefused) return this.#providerError(provider.display_name, e.error, clear);
      throw new Refusal("provider_unavailable", true);
    }
    await this.#o.vault.set(flow.account, credential);
    await this.#connected({
      account: flow.account,
      elicitation_id: flow.elicitation_id ?? "",
      identity: flow.identity!,
    });
    return html(200, donePage(provider.display_name), clear);
  }

  /** The provider refused: a page naming the OAuth error code only when it is a known one. */
  #providerError(display: string, error: string, headers: Record<string, string>): Response {
    this.#o.on_refused?.("provider_error");
    const named = KNOWN_OAUTH_ERRORS.has(error) ? ` (${error})` : "";
    const status = error === "access_denied" ? 403 : 400;
    return html(status, messagePage(`${display} did not grant access${named}. Nothing was connected.`), headers);
  }

  async #connected(notice: ConnectedNotice): Promise<void> {
    try {
      await this.#o.on_connected(notice);
    } catch {
      // The credential is stored; a failed notification must not tell the user otherwise.
    }
  }
}

/** Only the three fields: an identity from `identify` or a validator may carry more (claims, tokens). */
function plainIdentity(i: BrowserIdentity): BrowserIdentity {
  return { issuer: i.issuer, subject: i.subject, ...(i.display_name ? { display_name: i.display_name } : {}) };
}

/** The origin the provider's authorization URL lives on (for the confirmation page's `form-action`). */
async function authorizationOrigin(provider: ResolvedOAuthProvider, redirect_uri: string): Promise<string | undefined> {
  try {
    const probe = randomToken();
    return new URL(await provider.authorizationUrl({ redirect_uri, state: probe, code_challenge: probe })).origin;
  } catch {
    return undefined;
  }
}

async function readForm(req: Request, readBody: BodyReader | undefined): Promise<URLSearchParams> {
  let read: Awaited<ReturnType<typeof readFormBody>>;
  try {
    read = await readFormBody(req, MAX_FORM_BYTES, readBody);
  } catch {
    throw new Refusal("bad_form");
  }
  if ("form" in read) return read.form;
  throw new Refusal(read.problem === "too_large" ? "body_too_large" : "bad_form");
}

function html(
  status: number,
  body: string,
  headers: Record<string, string>,
  formTarget?: string,
  referrer?: "same-origin",
): Response {
  return new Response(body, { status, headers: { ...pageHeaders(formTarget, referrer), ...headers } });
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return html(status, messagePage(body), headers);
}

function redirect(location: string, headers: Record<string, string>): Response {
  return new Response(null, {
    status: 303,
    headers: {
      location,
      "cache-control": "no-store",
      "referrer-policy": "no-referrer",
      "x-frame-options": "DENY",
      "content-security-policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
      ...headers,
    },
  });
}
