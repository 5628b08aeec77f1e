/**
 * A real, OpenID-certified authorization server (`oidc-provider`) on 127.0.0.1, issuing RFC 9068 JWT
 * access tokens for our resource through resource indicators (RFC 8707) and `client_credentials`.
 * It stands in for Auth0 / Okta / Keycloak in tests.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair } from "jose";
import Provider, { errors } from "oidc-provider";

export interface RealAuthorizationServer {
  issuer: string;
  jwksUri: string;
  tokenEndpoint: string;
  /** client_credentials token for `resource`, from the token endpoint. */
  getToken(o: {
    resource: string;
    scope?: string;
    clientId?: string;
  }): Promise<{ access_token: string; token_type: string }>;
  jwksFetches(): number;
  close(): Promise<void>;
}

export async function startOidcProvider(o: {
  resources: string[];
  scopes: string[];
}): Promise<RealAuthorizationServer> {
  const http: Server = createServer();
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: "oidc-es256", alg: "ES256", use: "sig" };
  const scope = o.scopes.join(" ");
  const clients = ["test-client", "other-client"].map((client_id) => ({
    client_id,
    client_secret: `${client_id}-secret-${"x".repeat(32)}`,
    grant_types: ["client_credentials"],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: "client_secret_post",
    id_token_signed_response_alg: "ES256",
    scope,
  }));
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [jwk as never] },
    cookies: { keys: ["test-cookie-key-not-secret-0123456789"] },
    scopes: o.scopes,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => o.resources[0]!,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resourceIndicator: string) => {
          if (!o.resources.includes(resourceIndicator)) throw new errors.InvalidTarget();
          return {
            scope,
            audience: resourceIndicator,
            accessTokenTTL: 3600,
            accessTokenFormat: "jwt",
            jwt: { sign: { alg: "ES256" } },
          };
        },
      },
    },
  } as never);
  const callback = provider.callback();
  let jwksFetches = 0;
  http.on("request", (req, res) => {
    if (req.url === "/jwks") jwksFetches++;
    void callback(req, res);
  });
  const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as {
    jwks_uri: string;
    token_endpoint: string;
  };
  return {
    issuer,
    jwksUri: discovery.jwks_uri,
    tokenEndpoint: discovery.token_endpoint,
    async getToken({ resource, scope: s = scope, clientId = "test-client" }) {
      const client = clients.find((c) => c.client_id === clientId)!;
      const res = await fetch(discovery.token_endpoint, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_id: client.client_id,
          client_secret: client.client_secret,
          resource,
          scope: s,
        }),
      });
      const body = (await res.json()) as { access_token: string; token_type: string; error?: string };
      if (!res.ok) throw new Error(`token endpoint ${res.status} ${body.error}`);
      return body;
    },
    jwksFetches: () => jwksFetches,
    close: () =>
      new Promise<void>((r) => {
        http.closeAllConnections();
        http.close(() => r());
      }),
  };
}
