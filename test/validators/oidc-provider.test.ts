/**
 * End to end against a real authorization server (oidc-provider) and the official SDK client:
 * real JWT access tokens with resource indicators, a real key set, real Streamable HTTP.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { z } from "zod";
import { getContext, JWTValidator, MCPServer, tool } from "../../src/index.js";
import { startOidcProvider, type RealAuthorizationServer } from "../helpers/oidc-provider.js";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

let as: RealAuthorizationServer;
let server: MCPServer;
let url: string;
let otherResource: string;

before(async () => {
  // Reserve the resource URL first so the authorization server knows it.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  url = `http://127.0.0.1:${port}/mcp`;
  otherResource = "https://other.example.com/mcp";
  as = await startOidcProvider({ resources: [url, otherResource], scopes: ["mcp", "files:delete"] });

  server = new MCPServer("oidc", {
    authorization: { enabled: true, authorization_servers: [as.issuer], required_scopes: ["mcp"], resource: url },
  });
  server.setAuthorizationProvider(
    new JWTValidator({ jwks_uri: as.jwksUri, issuer: as.issuer, required_typ: "at+jwt" }),
  );
  server.collect(
    tool({ name: "whoami", description: "caller" }, () => {
      const auth = getContext().auth!;
      return {
        subject: auth.subject,
        client_id: auth.client_id ?? null,
        scopes: [...auth.scopes],
        issuer: auth.issuer ?? null,
      };
    }),
    tool(
      { name: "delete_file", description: "rm", input: { path: z.string() }, required_scopes: ["files:delete"] },
      ({ path }) => ({
        deleted: path,
      }),
    ),
  );
  await server.serve({ port, host: "127.0.0.1" });
});

after(async () => {
  await server.close();
  await as.close();
});

async function connect(token: string) {
  const client = new Client({ name: "oidc-test", version: "1" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
  );
  return client;
}

test("oidc-provider issues RFC 9068 tokens bound to this resource", async () => {
  const { access_token, token_type } = await as.getToken({ resource: url, scope: "mcp" });
  assert.equal(token_type, "Bearer");
  assert.equal(decodeProtectedHeader(access_token).typ, "at+jwt");
  const claims = decodeJwt(access_token);
  assert.equal(claims.aud, url);
  assert.equal(claims.iss, as.issuer);
  assert.equal(claims.client_id, "test-client");
});

test("the official SDK client lists and calls tools with a real token; getContext() sees the principal", async () => {
  const { access_token } = await as.getToken({ resource: url, scope: "mcp" });
  const client = await connect(access_token);
  try {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ["delete_file", "whoami"]);
    const who = await client.callTool({ name: "whoami", arguments: {} });
    // client_credentials tokens have no end user: the subject is the client.
    assert.deepEqual(who.structuredContent, {
      subject: "test-client",
      client_id: "test-client",
      scopes: ["mcp"],
      issuer: as.issuer,
    });
    const denied = await client.callTool({ name: "delete_file", arguments: { path: "/x" } });
    assert.deepEqual(denied, {
      isError: true,
      content: [
        { type: "text", text: "Tool \"delete_file\" requires scopes: ['files:delete']. Missing: ['files:delete']" },
      ],
    });
  } finally {
    await client.close();
  }
  const { access_token: wide } = await as.getToken({ resource: url, scope: "mcp files:delete" });
  const c2 = await connect(wide);
  try {
    assert.deepEqual((await c2.callTool({ name: "delete_file", arguments: { path: "/x" } })).structuredContent, {
      deleted: "/x",
    });
  } finally {
    await c2.close();
  }
});

test("a real token for another resource is refused (RFC 8707: no token passthrough)", async () => {
  const { access_token } = await as.getToken({ resource: otherResource, scope: "mcp" });
  const res = await fetch(url, {
    method: "POST",
    headers: {
      authorization: `Bearer ${access_token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } },
    }),
  });
  assert.equal(res.status, 401);
  assert.equal(
    res.headers.get("www-authenticate"),
    `Bearer realm="MCP", resource_metadata="${new URL(url).origin}/.well-known/oauth-protected-resource/mcp", scope="mcp", error="invalid_token", error_description="The access token is not intended for this resource", DPoP algs="ES256 EdDSA Ed25519 RS256 PS256"`,
  );
});

test("a real token without the server-wide scope gets 403 insufficient_scope", async () => {
  const { access_token } = await as.getToken({ resource: url, scope: "files:delete" });
  const res = await fetch(url, {
    method: "POST",
    headers: {
      authorization: `Bearer ${access_token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    },
    body: "{}",
  });
  assert.equal(res.status, 403);
  assert.match(res.headers.get("www-authenticate") ?? "", /error="insufficient_scope"/);
});

test("the metadata names the real authorization server, and its discovery works from there", async () => {
  const meta = (await (await fetch(`${new URL(url).origin}/.well-known/oauth-protected-resource/mcp`)).json()) as {
    authorization_servers: string[];
  };
  assert.deepEqual(meta.authorization_servers, [as.issuer]);
  const asMeta = (await (await fetch(`${meta.authorization_servers[0]}/.well-known/openid-configuration`)).json()) as {
    jwks_uri: string;
  };
  assert.equal(asMeta.jwks_uri, as.jwksUri);
  assert.ok(as.jwksFetches() >= 1, "the resource server fetched the provider's key set");
});
