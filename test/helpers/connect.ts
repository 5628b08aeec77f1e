/**
 * The connect routes on a loopback server, for the connect tests: the development authorization
 * server twice (the MCP server's own AS, and a third-party provider wrapped in a small
 * `ResolvedOAuthProvider`), the `MemoryTokenVault` on an injected clock (recorded), handles minted as the
 * runtime would, and an HTTP client that walks both consent pages with a cookie jar.
 */
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { toNodeHandler } from "../../src/adapters/node.js";
import { ProviderRefused, ProviderUnavailable } from "../../src/connected-accounts/errors.js";
import { MemoryTokenVault } from "../../src/connected-accounts/vault.js";
import { createConnectRoutes, type ConnectRoutes } from "../../src/connected-accounts/connect-routes.js";
import type {
  ConnectedNotice,
  ResolvedApiKeyProvider,
  ResolvedOAuthProvider,
  ResolvedProvider,
} from "../../src/connected-accounts/internal-types.js";
import type { AccountKey, SignInOptions, StoredCredential, TokenVault } from "../../src/connected-accounts/types.js";
import {
  startDevAuthorizationServer,
  type RunningDevAuthorizationServer,
} from "../../src/dev-authorization-server/index.js";
import { JWTValidator } from "../../src/validators/jwt.js";

/**
 * The real `MemoryTokenVault` (sealed records, TTLs on the test's clock), recording which credentials
 * were written and which transient records were put, so that a test can say "nothing was stored".
 */
export class RecordingVault implements TokenVault {
  /** Every credential written and not deleted since the last {@link RecordingVault.clearCredentials}. */
  readonly credentials = new Map<string, AccountKey>();
  readonly #ids = new Set<string>();
  readonly inner: MemoryTokenVault;
  constructor(clock: () => number) {
    this.inner = new MemoryTokenVault({ clock });
  }
  static key(a: AccountKey): string {
    return JSON.stringify([a.issuer, a.subject, a.provider]);
  }
  get(a: AccountKey) {
    return this.inner.get(a);
  }
  set(a: AccountKey, c: StoredCredential) {
    this.credentials.set(RecordingVault.key(a), { ...a });
    return this.inner.set(a, c);
  }
  delete(a: AccountKey) {
    this.credentials.delete(RecordingVault.key(a));
    return this.inner.delete(a);
  }
  lock(a: AccountKey, ttl_ms: number) {
    return this.inner.lock(a, ttl_ms);
  }
  putTransient(id: string, value: Readonly<Record<string, unknown>>, ttl_ms: number) {
    this.#ids.add(id);
    return this.inner.putTransient(id, value, ttl_ms);
  }
  peekTransient(id: string) {
    return this.inner.peekTransient(id);
  }
  takeTransient(id: string) {
    return this.inner.takeTransient(id);
  }
  seal(purpose: string, value: Readonly<Record<string, unknown>>) {
    return this.inner.seal(purpose, value);
  }
  open(purpose: string, sealed: string) {
    return this.inner.open(purpose, sealed);
  }
  /** Live transient records of one kind (`handle:` or `flow:`). */
  async count(prefix: string): Promise<number> {
    let n = 0;
    for (const id of this.#ids) if (id.startsWith(prefix) && (await this.inner.peekTransient(id))) n++;
    return n;
  }
  async clearCredentials(): Promise<void> {
    for (const a of this.credentials.values()) await this.inner.delete(a);
    this.credentials.clear();
  }
  async clearTransients(): Promise<void> {
    for (const id of this.#ids) await this.inner.takeTransient(id);
    this.#ids.clear();
  }
}

/** The third-party provider: a second development AS, as a `ResolvedOAuthProvider`. */
export function devProvider(
  as: RunningDevAuthorizationServer,
  client_id: string,
  o: { name?: string; display_name?: string } = {},
): ResolvedOAuthProvider {
  const name = o.name ?? "acme";
  const display_name = o.display_name ?? "Acme";
  const meta = as.server.metadata;
  return {
    type: "oauth",
    name,
    display_name,
    api_origins: [as.issuer],
    header: "authorization",
    prefix: "Bearer ",
    scopes: ["files:read"],
    authorizationUrl({ redirect_uri, state, code_challenge }) {
      const url = new URL(meta.authorization_endpoint);
      const params = { response_type: "code", client_id, redirect_uri, state, code_challenge };
      for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
      url.searchParams.set("code_challenge_method", "S256");
      url.searchParams.set("scope", "files:read");
      return Promise.resolve(url.href);
    },
    async exchangeCode({ code, redirect_uri, code_verifier }) {
      let res: Response;
      try {
        res = await fetch(meta.token_endpoint, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri, code_verifier, client_id }),
        });
      } catch (e) {
        throw new ProviderUnavailable(name, display_name, 1, { cause: e });
      }
      const body = (await res.json()) as Record<string, unknown>;
      if (res.status !== 200) throw new ProviderRefused(name, display_name, String(body.error));
      return {
        kind: "oauth",
        access_token: body.access_token as string,
        refresh_token: body.refresh_token as string | undefined,
        expires_at: Math.floor(Date.now() / 1000) + (body.expires_in as number),
        scopes: String(body.scope).split(" "),
        obtained_at: Math.floor(Date.now() / 1000),
      };
    },
    canRefresh: () => false,
    refresh: () => Promise.reject(new Error("not used")),
    revoke: () => Promise.resolve(false),
  };
}

/** An API-key provider. */
export const keyProvider: ResolvedApiKeyProvider = {
  type: "api_key",
  name: "keyed",
  display_name: "Keyed Service",
  api_origins: ["https://api.keyed.example"],
  header: "authorization",
  prefix: "Bearer ",
  key_label: "Service role key",
};

export interface ConnectSetup {
  origin: string;
  base: string;
  resource: string;
  mcpAs: RunningDevAuthorizationServer;
  providerAs: RunningDevAuthorizationServer;
  vault: RecordingVault;
  routes: ConnectRoutes;
  connected: ConnectedNotice[];
  refused: string[];
  /** Move the routes' (and the vault's) clock. */
  advance(ms: number): void;
  now(): number;
  /** Mint a handle as the runtime does: 32 random bytes, a `handle:` record living `ttl_seconds`. */
  mintHandle(subject: string, o?: { provider?: string; ttl_seconds?: number; issuer?: string }): Promise<string>;
  close(): Promise<void>;
}

async function registerClient(as: RunningDevAuthorizationServer, redirect_uri: string): Promise<string> {
  const res = await fetch(`${as.issuer}/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ client_name: "Connect test", redirect_uris: [redirect_uri] }),
  });
  return ((await res.json()) as { client_id: string }).client_id;
}

/** Everything on loopback: the routes server, the MCP AS, the provider AS. */
export async function startConnect(
  o: {
    identify?: SignInOptions["identify"];
    providers?: (p: ResolvedOAuthProvider) => ResolvedProvider[];
  } = {},
): Promise<ConnectSetup> {
  let now = Date.now();
  const clock = () => now;
  let handler: (req: Request) => Promise<Response> = () => Promise.resolve(new Response("not ready", { status: 503 }));
  const http: Server = createServer(toNodeHandler((req) => handler(req)));
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const base = "/connect";
  const resource = `${origin}/mcp`;
  const quiet = { on_warning: () => {} };
  const mcpAs = await startDevAuthorizationServer({ resources: [resource], scopes_supported: ["mcp:read"], ...quiet });
  const providerAs = await startDevAuthorizationServer({
    resources: ["https://api.acme.example"],
    scopes_supported: ["files:read"],
    ...quiet,
  });
  const signInClient = await registerClient(mcpAs, `${origin}${base}/signed-in`);
  const providerClient = await registerClient(providerAs, `${origin}${base}/callback`);
  const provider = devProvider(providerAs, providerClient);
  const providers = new Map((o.providers?.(provider) ?? [provider, keyProvider]).map((p) => [p.name, p]));
  const validator = new JWTValidator({ issuer: mcpAs.issuer, jwks_uri: mcpAs.server.metadata.jwks_uri });
  const vault = new RecordingVault(clock);
  const connected: ConnectedNotice[] = [];
  const refused: string[] = [];
  const routes = createConnectRoutes({
    base_path: base,
    origin,
    providers,
    vault,
    sign_in: o.identify ? { identify: o.identify } : { client_id: signInClient },
    authorization_server: mcpAs.issuer,
    resource,
    async verify_token(token) {
      const ctx = await validator.verify(token, { resource });
      return { issuer: ctx.issuer ?? "", subject: ctx.subject };
    },
    fetch: (url, init) => fetch(url, init),
    clock,
    on_connected: (n) => void connected.push(n),
    on_refused: (r) => void refused.push(r),
  });
  handler = (req) => routes.handle(req);
  return {
    origin,
    base,
    resource,
    mcpAs,
    providerAs,
    vault,
    routes,
    connected,
    refused,
    advance: (ms) => void (now += ms),
    now: clock,
    async mintHandle(subject, h = {}) {
      const handle = randomBytes(32).toString("base64url");
      const ttl = h.ttl_seconds ?? 600;
      await vault.putTransient(
        `handle:${handle}`,
        {
          issuer: h.issuer ?? mcpAs.issuer,
          subject,
          provider: h.provider ?? "acme",
          elicitation_id: `elicit-${subject}`,
          expires_at: Math.floor(now / 1000) + ttl,
        },
        ttl * 1000,
      );
      return handle;
    },
    async close() {
      await new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeAllConnections();
      await mcpAs.close();
      await providerAs.close();
    },
  };
}

/** A browser-like HTTP client: one cookie jar per origin+name, manual redirects. */
export class Browser {
  readonly jar = new Map<string, string>();
  cookieHeader(): string {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join("; ");
  }
  async request(url: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.jar.size) headers.cookie = this.cookieHeader();
    const res = await fetch(url, { ...init, headers, redirect: "manual" });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(";");
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const maxAge = attrs.find((a) => a.trim().toLowerCase().startsWith("max-age="));
      if (maxAge && Number(maxAge.split("=")[1]) <= 0) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return res;
  }
  post(url: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
    return this.request(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams(fields).toString(),
    });
  }
}

/** Fill a development AS consent page as `username` and approve (or deny); returns the redirect back. */
export async function consent(
  b: Browser,
  authorizeUrl: string,
  username: string,
  decision: "approve" | "deny" = "approve",
): Promise<string> {
  const page = await b.request(authorizeUrl);
  const html = await page.text();
  if (page.status !== 200) throw new Error(`authorize page: ${page.status}`);
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? "";
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1] ?? "";
  const res = await b.post(new URL(action, authorizeUrl).href, {
    pending: field("pending"),
    csrf_token: field("csrf_token"),
    username,
    decision,
  });
  const location = res.headers.get("location");
  if (res.status !== 303 || !location) throw new Error(`consent: ${res.status}`);
  return location;
}

/** The hidden CSRF token of a confirmation page. */
export function csrfOf(html: string): string {
  return /name="csrf_token" value="([^"]*)"/.exec(html)?.[1] ?? "";
}

/**
 * Open a connect link and sign in at the MCP AS as `username`: the confirmation page's response
 * (or the refusal) from `/signed-in`.
 */
export async function openAndSignIn(s: ConnectSetup, b: Browser, handle: string, username: string): Promise<Response> {
  const start = await b.request(`${s.origin}${s.base}/start?handle=${handle}`);
  if (start.status !== 303) return start;
  const back = await consent(b, start.headers.get("location")!, username);
  return b.request(back);
}
