/**
 * `oidc-provider` playing a third-party service for connected accounts, on 127.0.0.1: a confidential
 * client `mcp-server` (client_secret_basic, PKCE required, refresh tokens rotated, RFC 7009 revocation,
 * short access-token TTL), the user's interaction finished programmatically (the user named by the
 * `user` query parameter the connect walker adds), and a tiny API on its own origin that checks each
 * Bearer token by RFC 7662 introspection at the provider and answers who it belongs to.
 *
 * Counters are kept at the provider (token endpoint requests, refresh grants from its own events) and at
 * the API (200s and 401s), so tests measure what the provider and the API saw, not what the runtime says.
 */
import type { OAuthProviderOptions } from "../../src/connected-accounts/types.js";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair } from "jose";
import Provider from "oidc-provider";
import { Browser } from "./connect.js";

export const THIRD_PARTY_SECRET = `third-party-secret-${"s".repeat(32)}`;
const API_SECRET = `whoami-api-secret-${"a".repeat(32)}`;
/** The API key the API's `/keyed/whoami` accepts, while `apiKeyValid` is true. */
export const GOOD_API_KEY = "sk_live_connected_accounts_test_key_5f2c";

export interface OidcThirdParty {
  issuer: string;
  provider: Provider;
  /** The API's origin (`/api/whoami` for OAuth tokens, `/keyed/whoami` for the API key). */
  api: string;
  /** POSTs to the token endpoint that reached the server (during an outage too). */
  tokenRequests: number;
  /** Refresh grants oidc-provider ran (its `grant.success` and `grant.error` events). */
  refreshGrants: number;
  /** Successful refresh grants. */
  refreshSuccesses: number;
  /** Answers from the API. */
  api200: number;
  api401: number;
  /** While true the token endpoint answers 503 without reaching oidc-provider. */
  outage: boolean;
  /** While true the API answers 401 to every request. */
  apiRejectAll: boolean;
  /** While false the API refuses the API key. */
  apiKeyValid: boolean;
  /** A refresh_token grant sent as the client: the status and the OAuth error, if any. */
  refreshDirectly(refresh_token: string): Promise<{ status: number; error: string | undefined }>;
  /** RFC 7009 revocation as the client. */
  revoke(token: string, hint: "access_token" | "refresh_token"): Promise<number>;
  /** End one access token at the provider and nothing else (RFC 7009 revocation would end its whole grant). */
  killAccessToken(token: string): Promise<boolean>;
  /** RFC 7662 introspection as the API: whether the token is active. */
  active(token: string): Promise<boolean>;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<void> {
  for await (const chunk of req) void chunk;
}

/** Start it; `redirect_uris` are the MCP server's connect callbacks. */
/** The `connected_accounts` provider entry for this third party: the MCP server as its confidential client. */
export function acmeProvider(tp: Pick<OidcThirdParty, "issuer" | "api">): OAuthProviderOptions {
  return {
    display_name: "Acme",
    issuer: tp.issuer,
    client_id: "mcp-server",
    client_secret: THIRD_PARTY_SECRET,
    scopes: ["openid", "offline_access"],
    authorization_params: { prompt: "consent" },
    api_origins: [tp.api],
  };
}

export async function startOidcThirdParty(o: {
  redirect_uris: string[];
  access_token_ttl_seconds?: number;
}): Promise<OidcThirdParty> {
  const http: Server = createServer();
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: "k1", alg: "ES256", use: "sig" };
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: "mcp-server",
        client_secret: THIRD_PARTY_SECRET,
        token_endpoint_auth_method: "client_secret_basic",
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        redirect_uris: o.redirect_uris,
        id_token_signed_response_alg: "ES256",
      },
      {
        client_id: "whoami-api",
        client_secret: API_SECRET,
        token_endpoint_auth_method: "client_secret_basic",
        grant_types: [],
        response_types: [],
        redirect_uris: [],
        id_token_signed_response_alg: "ES256",
      },
    ],
    jwks: { keys: [jwk as never] },
    cookies: { keys: ["third-party-test-cookie-key-0123456789"] },
    scopes: ["openid", "offline_access"],
    pkce: { required: () => true },
    rotateRefreshToken: () => true,
    ttl: {
      AccessToken: o.access_token_ttl_seconds ?? 120,
      Grant: 3600,
      Interaction: 600,
      Session: 3600,
      RefreshToken: 3600,
      AuthorizationCode: 60,
      IdToken: 600,
    },
    features: {
      devInteractions: { enabled: false },
      revocation: {
        enabled: true,
        allowedPolicy: (_ctx: unknown, client: { clientId: string }, token: { clientId: string }) =>
          client.clientId === token.clientId,
      },
      introspection: {
        enabled: true,
        allowedPolicy: (_ctx: unknown, client: { clientId: string }) => client.clientId === "whoami-api",
      },
    },
    interactions: { url: (_ctx: unknown, i: { uid: string }) => `/interaction/${i.uid}` },
    findAccount: (_ctx: unknown, id: string) => ({ accountId: id, claims: () => ({ sub: id }) }),
  } as never);
  const tp: OidcThirdParty = {
    issuer,
    provider,
    api: "",
    tokenRequests: 0,
    refreshGrants: 0,
    refreshSuccesses: 0,
    api200: 0,
    api401: 0,
    outage: false,
    apiRejectAll: false,
    apiKeyValid: true,
    refreshDirectly,
    revoke,
    killAccessToken,
    active,
    close,
  };
  const isRefresh = (ctx: unknown) =>
    (ctx as { oidc?: { params?: { grant_type?: unknown } } }).oidc?.params?.grant_type === "refresh_token";
  provider.on("grant.success", (ctx: unknown) => {
    if (!isRefresh(ctx)) return;
    tp.refreshGrants++;
    tp.refreshSuccesses++;
  });
  provider.on("grant.error", (ctx: unknown) => {
    if (isRefresh(ctx)) tp.refreshGrants++;
  });
  const callback = provider.callback();
  http.on("request", (req: IncomingMessage, res: ServerResponse) => {
    if (req.method === "POST" && req.url === "/token") {
      tp.tokenRequests++;
      if (tp.outage) {
        void readBody(req).then(() => res.writeHead(503, { "content-type": "text/plain" }).end("down for maintenance"));
        return;
      }
    }
    if (req.url?.startsWith("/interaction/")) void finishInteraction(req, res);
    else void callback(req, res);
  });

  /** The user named by `?user=` signs in and consents to what was asked, as a browser would. */
  async function finishInteraction(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const user = new URL(req.url!, issuer).searchParams.get("user") ?? "someone";
    const details = await provider.interactionDetails(req, res);
    const grant = new provider.Grant({ accountId: user, clientId: String(details.params["client_id"]) });
    grant.addOIDCScope(String(details.params["scope"] ?? "openid"));
    const grantId = await grant.save();
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: user }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
  }

  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;
  const form = (auth: string, fields: Record<string, string>) => ({
    method: "POST",
    headers: { authorization: auth, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString(),
  });
  const client = basic("mcp-server", THIRD_PARTY_SECRET);

  async function refreshDirectly(refresh_token: string) {
    const res = await fetch(`${issuer}/token`, form(client, { grant_type: "refresh_token", refresh_token }));
    const body = (await res.json()) as { error?: string };
    return { status: res.status, error: body.error };
  }
  async function revoke(token: string, token_type_hint: string) {
    const res = await fetch(`${issuer}/token/revocation`, form(client, { token, token_type_hint }));
    await res.arrayBuffer();
    return res.status;
  }
  async function killAccessToken(token: string) {
    const at = await provider.AccessToken.find(token);
    if (!at) return false;
    await at.destroy();
    return true;
  }
  async function active(token: string) {
    const res = await fetch(`${issuer}/token/introspection`, form(basic("whoami-api", API_SECRET), { token }));
    const body = (await res.json()) as { active?: boolean; token_type?: string };
    return body.active === true && body.token_type === "Bearer";
  }

  // The API: Bearer tokens checked by introspection; the API key compared; 401 + WWW-Authenticate otherwise.
  const apiServer: Server = createServer((req, res) => void answerApi(req, res));
  async function answerApi(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const auth = req.headers.authorization ?? "";
    const deny = () => {
      tp.api401++;
      res.writeHead(401, { "www-authenticate": 'Bearer error="invalid_token"', "content-type": "application/json" });
      res.end(JSON.stringify({ error: "invalid_token" }));
    };
    if (tp.apiRejectAll) return deny();
    if (req.url === "/keyed/whoami") {
      if (!tp.apiKeyValid || auth !== `Bearer ${GOOD_API_KEY}`) return deny();
      tp.api200++;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ project: "keyed-project" }));
      return;
    }
    const token = /^Bearer (\S+)$/.exec(auth)?.[1];
    if (req.url !== "/api/whoami" || !token) return deny();
    const r = await fetch(`${issuer}/token/introspection`, form(basic("whoami-api", API_SECRET), { token }));
    const info = (await r.json()) as { active?: boolean; sub?: string; client_id?: string };
    if (!info.active) return deny();
    tp.api200++;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ subject: info.sub, client_id: info.client_id }));
  }
  await new Promise<void>((r) => apiServer.listen(0, "127.0.0.1", r));
  tp.api = `http://127.0.0.1:${(apiServer.address() as AddressInfo).port}`;

  async function close(): Promise<void> {
    for (const s of [http, apiServer]) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }
  return tp;
}

/**
 * Walk the rest of a connect flow at oidc-provider as `user`: from the confirm page's redirect to the
 * provider, through its interaction (finished as `user`), to the MCP server's callback; the callback's
 * response (the done page, or a refusal).
 */
export async function walkProvider(browser: Browser, authorizeUrl: string, user: string): Promise<Response> {
  let next = authorizeUrl;
  for (let i = 0; i < 10; i++) {
    const url = new URL(next);
    if (url.pathname.startsWith("/interaction/")) url.searchParams.set("user", user);
    const res = await browser.request(url.href);
    if (url.pathname.endsWith("/connect/callback")) return res;
    const location = res.headers.get("location");
    if (!location) throw new Error(`the provider answered ${res.status} at ${url.pathname} without a redirect`);
    await res.arrayBuffer();
    next = new URL(location, url).href;
  }
  throw new Error("the provider never sent the browser back to the callback");
}
