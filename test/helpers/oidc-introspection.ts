/**
 * oidc-provider on 127.0.0.1 issuing **opaque** access tokens (resource indicators with
 * `accessTokenFormat: "opaque"`), with RFC 7662 introspection, RFC 7009 revocation and DPoP enabled.
 * Resource-server clients authenticate to the introspection endpoint with client_secret_basic,
 * client_secret_post or private_key_jwt.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, type JWK } from "jose";
import Provider, { errors } from "oidc-provider";
import { makeProof, type ClientKey } from "./dpop.js";

export interface IntrospectingAuthorizationServer {
  issuer: string;
  introspectionEndpoint: string;
  tokenEndpoint: string;
  /** Resource-server credentials, one client per authentication method. */
  rs: {
    basic: { client_id: string; client_secret: string };
    post: { client_id: string; client_secret: string };
    jwt: { client_id: string; private_key: JWK };
  };
  /** An opaque client_credentials token for `resource` (DPoP-bound when `dpopKey` is given). */
  getToken(o: {
    resource: string;
    scope?: string;
    dpopKey?: ClientKey;
  }): Promise<{ access_token: string; token_type: string }>;
  /** Revoke a token (RFC 7009) as the client it was issued to. */
  revoke(token: string): Promise<void>;
  /** Calls that reached the introspection endpoint. */
  introspectionCalls(): number;
  /** Any request to the JWKS. */
  jwksFetches(): number;
  /** While true the introspection endpoint answers 503 (still counted). */
  down: boolean;
  close(): Promise<void>;
}

export async function startIntrospectingProvider(o: {
  resources: string[];
  scopes: string[];
}): Promise<IntrospectingAuthorizationServer> {
  const http: Server = createServer();
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: "as-es256", alg: "ES256", use: "sig" };
  const rsKey = await generateKeyPair("ES256", { extractable: true });
  const rsPrivate: JWK = { ...(await exportJWK(rsKey.privateKey)), kid: "rs-jwt-1", alg: "ES256" };
  const rsPublic: JWK = { ...(await exportJWK(rsKey.publicKey)), kid: "rs-jwt-1", alg: "ES256", use: "sig" };
  const scope = o.scopes.join(" ");
  const secret = (id: string) => `${id}-secret-${"x".repeat(32)}`;
  const base = {
    grant_types: ["client_credentials"],
    redirect_uris: [],
    response_types: [],
    id_token_signed_response_alg: "ES256",
    scope,
  };
  const clients = [
    { ...base, client_id: "app", client_secret: secret("app"), token_endpoint_auth_method: "client_secret_post" },
    {
      ...base,
      client_id: "rs-basic",
      client_secret: secret("rs-basic"),
      token_endpoint_auth_method: "client_secret_basic",
    },
    {
      ...base,
      client_id: "rs-post",
      client_secret: secret("rs-post"),
      token_endpoint_auth_method: "client_secret_post",
    },
    { ...base, client_id: "rs-jwt", token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [rsPublic] } },
  ];
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [jwk as never] },
    cookies: { keys: ["test-cookie-key-not-secret-0123456789"] },
    scopes: o.scopes,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      dPoP: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => o.resources[0]!,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resourceIndicator: string) => {
          if (!o.resources.includes(resourceIndicator)) throw new errors.InvalidTarget();
          return { scope, audience: resourceIndicator, accessTokenTTL: 3600, accessTokenFormat: "opaque" };
        },
      },
    },
  } as never);
  const callback = provider.callback();
  let introspectionCalls = 0;
  let jwksFetches = 0;
  const server: IntrospectingAuthorizationServer = {
    issuer,
    introspectionEndpoint: "",
    tokenEndpoint: "",
    rs: {
      basic: { client_id: "rs-basic", client_secret: secret("rs-basic") },
      post: { client_id: "rs-post", client_secret: secret("rs-post") },
      jwt: { client_id: "rs-jwt", private_key: rsPrivate },
    },
    down: false,
    async getToken({ resource, scope: s = scope, dpopKey }) {
      const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" };
      if (dpopKey) headers.dpop = await makeProof({ key: dpopKey, htu: server.tokenEndpoint });
      const res = await fetch(server.tokenEndpoint, {
        method: "POST",
        headers,
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_id: "app",
          client_secret: secret("app"),
          resource,
          scope: s,
        }),
      });
      const body = (await res.json()) as { access_token: string; token_type: string; error?: string };
      if (!res.ok) throw new Error(`token endpoint ${res.status} ${body.error}`);
      return body;
    },
    async revoke(token) {
      const res = await fetch(`${issuer}/token/revocation`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token, client_id: "app", client_secret: secret("app") }),
      });
      if (res.status !== 200) throw new Error(`revocation ${res.status}`);
    },
    introspectionCalls: () => introspectionCalls,
    jwksFetches: () => jwksFetches,
    close: () =>
      new Promise<void>((r) => {
        http.closeAllConnections();
        http.close(() => r());
      }),
  };
  http.on("request", (req, res) => {
    if (req.url?.startsWith("/jwks")) jwksFetches++;
    if (req.url?.startsWith("/token/introspection")) {
      introspectionCalls++;
      if (server.down) {
        res.writeHead(503, { "content-type": "text/plain" }).end("down");
        return;
      }
    }
    void callback(req, res);
  });
  const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as {
    introspection_endpoint: string;
    token_endpoint: string;
  };
  server.introspectionEndpoint = discovery.introspection_endpoint;
  server.tokenEndpoint = discovery.token_endpoint;
  return server;
}
