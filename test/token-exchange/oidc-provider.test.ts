/**
 * Token exchange against a real authorization server: `oidc-provider` with an RFC 8693 grant
 * registered through its `registerGrantType` extension API, answering as Keycloak or Okta do
 * (`issued_token_type`, `act`, `invalid_target` / `invalid_scope`). The official SDK client calls a
 * tool whose `exchangeToken()` goes to it with `client_secret_basic`.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { createLocalJWKSet, decodeJwt, exportJWK, generateKeyPair, jwtVerify } from "jose";
import Provider, { errors } from "oidc-provider";
import { getContext, JWTValidator, MCPServer, tool, type AuthEvent } from "../../src/index.js";
import { TokenExchangeError } from "../../src/token-exchange/index.js";

const TE = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT = "urn:ietf:params:oauth:token-type:access_token";
const REPORTS = "https://reports.example.test";
const SCOPES = ["mcp", "reports:read", "reports:write"];

let http: Server;
let issuer: string;
let tokenEndpoint: string;
let mcpUrl: string;
let server: MCPServer;
const events: AuthEvent[] = [];
const seenByGrant: Record<string, string | undefined>[] = [];

before(async () => {
  http = createServer();
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  mcpUrl = `http://127.0.0.1:${port}/mcp`;

  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: "oidc-es256", alg: "ES256", use: "sig" };
  const scope = SCOPES.join(" ");
  const resourceServer = (id: string) => ({
    scope,
    audience: id,
    accessTokenTTL: 600,
    accessTokenFormat: "jwt",
    jwt: { sign: { alg: "ES256" } },
  });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: "app",
        client_secret: "app-secret-xxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        grant_types: ["client_credentials"],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: "client_secret_post",
        id_token_signed_response_alg: "ES256",
        scope,
      },
      {
        client_id: "mcp-server",
        client_secret: "mcp-secret-xxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        grant_types: [TE],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: "client_secret_basic",
        id_token_signed_response_alg: "ES256",
        scope,
      },
    ],
    jwks: { keys: [jwk as never] },
    cookies: { keys: ["test-cookie-key-not-secret-0123456789"] },
    scopes: SCOPES,
    // The exchanged token says who acts (RFC 8693 §4.1) and for whom (the subject token's `sub`).
    extraTokenClaims: (ctx: any) =>
      ctx.state.exchangedFor ? { act: { sub: ctx.oidc.client.clientId }, on_behalf_of: ctx.state.exchangedFor } : {},
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => mcpUrl,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, indicator: string) => {
          if (indicator !== mcpUrl) throw new errors.InvalidTarget();
          return resourceServer(indicator);
        },
      },
    },
  } as never);

  const ownKeys = createLocalJWKSet({ keys: [{ ...jwk, d: undefined }] });
  // RFC 8693 as Keycloak / Okta implement it: validate the subject token, check the target and the
  // scopes, issue a JWT for the audience with `act`, answer with `issued_token_type`.
  provider.registerGrantType(
    TE,
    async (ctx: any) => {
      const { params, client } = ctx.oidc;
      seenByGrant.push({ ...params });
      if (params.subject_token_type !== AT) throw new errors.InvalidRequest("unsupported subject_token_type");
      let subject;
      try {
        ({ payload: subject } = await jwtVerify(params.subject_token, ownKeys, { issuer, audience: mcpUrl }));
      } catch {
        throw new errors.InvalidGrant("subject token is invalid");
      }
      if (params.audience !== REPORTS) throw new errors.InvalidTarget("audience not allowed");
      const granted = String(subject.scope ?? "").split(" ");
      const asked = params.scope ? params.scope.split(" ") : granted;
      if (asked.some((s: string) => !granted.includes(s)))
        throw new errors.InvalidScope("requested scope exceeds the subject token's", params.scope);
      const token = new ctx.oidc.provider.ClientCredentials({ client, scope: asked.join(" ") });
      token.resourceServer = {
        ...resourceServer(REPORTS),
        identifier: () => REPORTS,
        get scopes() {
          return new Set(SCOPES);
        },
      };
      ctx.state.exchangedFor = subject.sub;
      const value = await token.save();
      ctx.body = {
        access_token: value,
        issued_token_type: AT,
        token_type: "Bearer",
        expires_in: token.expiration,
        scope: token.scope,
      };
    },
    ["subject_token", "subject_token_type", "audience", "scope", "resource", "requested_token_type"],
  );
  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- oidc-provider's callback handles its own errors
  http.on("request", provider.callback());
  const discovery = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as {
    jwks_uri: string;
    token_endpoint: string;
    grant_types_supported: string[];
  };
  tokenEndpoint = discovery.token_endpoint;
  assert.ok(discovery.grant_types_supported.includes(TE), "discovery lists the token-exchange grant");

  server = new MCPServer("oidc-te", {
    authorization: { enabled: true, authorization_servers: [issuer], resource: mcpUrl },
    on_auth_event: (e) => events.push(e),
    token_exchange: {
      token_endpoint: tokenEndpoint,
      client_id: "mcp-server",
      client_secret: "mcp-secret-xxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    },
  });
  server.setAuthorizationProvider(new JWTValidator({ jwks_uri: discovery.jwks_uri, issuer, required_typ: "at+jwt" }));
  server.collect(
    tool({ name: "reports_token", description: "" }, async () => {
      const t = await getContext().exchangeToken({ audience: REPORTS, scope: "reports:read" });
      const c = decodeJwt(t.access_token);
      return {
        aud: c.aud,
        act: c.act,
        on_behalf_of: c.on_behalf_of,
        scope: t.scope,
        issued_token_type: t.issued_token_type,
        iss: c.iss,
      };
    }),
    tool({ name: "wider", description: "" }, async () => {
      try {
        await getContext().exchangeToken({ audience: REPORTS, scope: "reports:read reports:write mcp" });
        return "unexpected";
      } catch (e) {
        if (e instanceof TokenExchangeError) return { code: e.code, error: e.error, status: e.status };
        throw e;
      }
    }),
    tool({ name: "elsewhere", description: "" }, () =>
      getContext().exchangeToken({ audience: "https://unknown.example.test" }),
    ),
  );
  await server.serve({ port, host: "127.0.0.1" });
});

after(async () => {
  await server.close();
  await new Promise<void>((r) => (http.closeAllConnections(), http.close(() => r())));
});

test("oidc-provider exchanges the caller's token; refusals come back as typed errors and isError results", async () => {
  const res = await fetch(tokenEndpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: "app",
      client_secret: "app-secret-xxxxxxxxxxxxxxxxxxxxxxxxxxxx",
      resource: mcpUrl,
      scope: "mcp reports:read",
    }),
  });
  const issued = (await res.json()) as { access_token: string };
  const { access_token } = issued;
  assert.ok(access_token?.split(".").length === 3, JSON.stringify(issued));
  const client = new Client({ name: "te", version: "1" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(mcpUrl), {
      requestInit: { headers: { authorization: `Bearer ${access_token}` } },
    }),
  );
  try {
    const ok = await client.callTool({ name: "reports_token", arguments: {} });
    assert.deepEqual(ok.structuredContent, {
      aud: REPORTS,
      act: { sub: "mcp-server" },
      on_behalf_of: "app",
      scope: "reports:read",
      issued_token_type: AT,
      iss: issuer,
    });
    assert.equal(seenByGrant[0]!.subject_token, access_token);
    assert.equal(seenByGrant[0]!.audience, REPORTS);

    const wider = await client.callTool({ name: "wider", arguments: {} });
    assert.deepEqual(wider.structuredContent, {
      code: "ERR_TOKEN_EXCHANGE_FAILED",
      error: "invalid_scope",
      status: 400,
    });

    const elsewhere = await client.callTool({ name: "elsewhere", arguments: {} });
    assert.equal(elsewhere.isError, true);
    assert.match(JSON.stringify(elsewhere.content), /https:\/\/unknown\.example\.test.*invalid_target/);
    assert.ok(
      !JSON.stringify([ok, wider, elsewhere, events]).includes(access_token),
      "the caller's access token appears in no answer and no event",
    );
    assert.deepEqual(
      events
        .filter((e) => e.type.startsWith("token_exchange"))
        .map((e) => [e.type, "error" in e ? e.error : undefined]),
      [
        ["token_exchanged", undefined],
        ["token_exchange_failed", "invalid_scope"],
        ["token_exchange_failed", "invalid_target"],
      ],
    );
  } finally {
    await client.close();
  }
});
