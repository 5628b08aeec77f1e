/**
 * The embedded development authorization server end to end, over loopback sockets, with the
 * official SDK client: 401 → resource metadata → AS metadata → registration → PKCE authorization
 * (consent form driven over HTTP) → code exchange → tool call; then refresh rotation and reuse
 * detection.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { refreshAuthorization } from "@modelcontextprotocol/sdk/client/auth.js";
import { InvalidGrantError } from "@modelcontextprotocol/sdk/server/auth/errors.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { startDemo, type Demo } from "../../examples/quickstart/demo.js";
import { connectWithOAuth, HeadlessOAuthProvider } from "../../examples/oauth-client.js";
import { freePortPair } from "../helpers/dev-as.js";

let demo: Demo;
const events: string[] = [];
before(async () => {
  demo = await startDemo({ port: await freePortPair(), log: () => {}, on_auth_event: (e) => events.push(e.type) });
});
after(() => demo.close());

async function whoamiWith(accessToken: string): Promise<unknown> {
  const client = new Client({ name: "t", version: "1" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(demo.url), {
      requestInit: { headers: { authorization: `Bearer ${accessToken}` } },
    }),
  );
  try {
    return (await client.callTool({ name: "whoami", arguments: {} })).structuredContent;
  } finally {
    await client.close();
  }
}

describe("discovery documents", () => {
  test("RFC 8414 metadata at the well-known path and the openid-configuration alias, CORS-readable", async () => {
    const res = await fetch(`${demo.as.issuer}/.well-known/oauth-authorization-server`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    const meta = await res.json();
    assert.equal(meta.issuer, demo.as.issuer);
    assert.deepEqual(meta.code_challenge_methods_supported, ["S256"]);
    // "none" for MCP clients; the secret methods for the demo's token exchange client (the MCP server itself).
    assert.deepEqual(meta.token_endpoint_auth_methods_supported, ["none", "client_secret_basic", "client_secret_post"]);
    assert.deepEqual(meta.response_types_supported, ["code"]);
    assert.deepEqual(meta.scopes_supported, ["mcp:read", "files:delete"]);
    assert.equal(meta.registration_endpoint, `${demo.as.issuer}/register`);
    assert.deepEqual(
      meta.dpop_signing_alg_values_supported,
      ["ES256", "EdDSA"],
      "DPoP proofs are checked at /token by default",
    );
    assert.deepEqual(await (await fetch(`${demo.as.issuer}/.well-known/openid-configuration`)).json(), meta);
    const jwks = await (await fetch(meta.jwks_uri)).json();
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0].alg, "ES256");
    assert.equal(jwks.keys[0].d, undefined, "never the private part");
  });

  test("the protected resource points at the embedded server", async () => {
    const unauth = await fetch(demo.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(unauth.status, 401);
    const prm = /resource_metadata="([^"]+)"/.exec(unauth.headers.get("www-authenticate") ?? "")?.[1];
    assert.ok(prm, "the challenge names resource_metadata");
    const doc = await (await fetch(prm)).json();
    assert.deepEqual(doc.authorization_servers, [demo.as.issuer]);
    assert.equal(doc.resource, demo.url);
  });
});

describe("official SDK client, whole flow", () => {
  const provider = new HeadlessOAuthProvider("alice");
  let firstRefresh: string;

  test("401 → discovery → registration → PKCE + consent → token → whoami", async () => {
    const client = await connectWithOAuth(demo.url, provider);
    try {
      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((t) => t.name).sort(), [
        "delete_file",
        "downstream_whoami",
        "echo",
        "upstream_whoami",
        "whoami",
      ]);
      const who = (await client.callTool({ name: "whoami", arguments: {} })).structuredContent as any;
      assert.equal(who.subject, "alice");
      assert.equal(who.client_id, provider.clientInformation()?.client_id);
      assert.deepEqual([...who.scopes].sort(), ["files:delete", "mcp:read"]);
      assert.deepEqual((await client.callTool({ name: "echo", arguments: { message: "hi" } })).content, [
        { type: "text", text: "hi" },
      ]);
    } finally {
      await client.close();
    }
    assert.ok(events.includes("refused") && events.includes("accepted"), "both refused and accepted events");
  });

  test("the access token is an RFC 9068 JWT bound to the resource", () => {
    const tokens = provider.tokens()!;
    assert.equal(tokens.token_type, "Bearer");
    assert.equal(tokens.expires_in, 3600);
    assert.ok(tokens.refresh_token, "the token answer carries a refresh token");
    firstRefresh = tokens.refresh_token!;
    const header = decodeProtectedHeader(tokens.access_token);
    assert.equal(header.typ, "at+jwt");
    assert.equal(header.alg, "ES256");
    assert.equal(header.kid, demo.as.server.jwks.keys[0]!.kid);
    const claims = decodeJwt(tokens.access_token);
    assert.equal(claims.iss, demo.as.issuer);
    assert.equal(claims.aud, demo.url);
    assert.equal(claims.sub, "alice");
    assert.equal(claims.client_id, provider.clientInformation()?.client_id);
    assert.equal(claims.scope, "mcp:read files:delete");
    assert.equal(typeof claims.jti, "string");
    assert.equal(claims.exp! - claims.iat!, 3600);
  });

  test("refresh rotates the refresh token; reusing an old one revokes the whole family", async () => {
    const metadata = await (await fetch(`${demo.as.issuer}/.well-known/oauth-authorization-server`)).json();
    const clientInformation = provider.clientInformation()!;
    const rotated = await refreshAuthorization(demo.as.issuer, {
      metadata,
      clientInformation,
      refreshToken: firstRefresh,
      resource: new URL(demo.url),
    });
    assert.ok(rotated.refresh_token && rotated.refresh_token !== firstRefresh, "the refresh token was rotated");
    assert.equal(((await whoamiWith(rotated.access_token)) as any).subject, "alice");

    // Narrowing on refresh is allowed, widening is not.
    const narrowed = await fetch(metadata.token_endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: rotated.refresh_token,
        client_id: clientInformation.client_id,
        scope: "mcp:read",
      }),
    });
    assert.equal(narrowed.status, 200);
    const third = await narrowed.json();
    assert.equal(third.scope, "mcp:read");
    assert.ok(third.refresh_token, "the third answer carries a refresh token");

    // The first refresh token was already rotated away: presenting it again is theft.
    await assert.rejects(
      refreshAuthorization(demo.as.issuer, {
        metadata,
        clientInformation,
        refreshToken: firstRefresh,
        resource: new URL(demo.url),
      }),
      InvalidGrantError,
    );
    // ...and the legitimate latest token of that family is now dead too.
    await assert.rejects(
      refreshAuthorization(demo.as.issuer, {
        metadata,
        clientInformation,
        refreshToken: third.refresh_token,
        resource: new URL(demo.url),
      }),
      InvalidGrantError,
    );
  });

  test("a minted demo token (issueAccessToken) is accepted and per-tool scopes still apply", async () => {
    const { access_token } = await demo.as.server.issueAccessToken({ subject: "demo-user", scopes: ["mcp:read"] });
    const client = new Client({ name: "t", version: "1" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(demo.url), {
        requestInit: { headers: { authorization: `Bearer ${access_token}` } },
      }),
    );
    try {
      const denied = await client.callTool({ name: "delete_file", arguments: { path: "/x" } });
      assert.equal(denied.isError, true);
      assert.deepEqual(denied.content, [
        { type: "text", text: "Tool \"delete_file\" requires scopes: ['files:delete']. Missing: ['files:delete']" },
      ]);
    } finally {
      await client.close();
    }
  });
});
