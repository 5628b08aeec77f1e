import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { JWTValidator, MCPServer, tool } from "../../src/index.js";
import { startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";

let issuer: LocalIssuer;
let server: MCPServer;
let url: string;
let origin: string;

before(async () => {
  issuer = await startLocalIssuer();
  server = new MCPServer("meta", {
    authorization: {
      enabled: true,
      authorization_servers: [issuer.issuer],
      required_scopes: ["mcp"],
      cache_ttl: 120,
      resource_name: "Meta test",
    },
  });
  server.setAuthorizationProvider(new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }));
  server.collect(tool({ name: "rm", description: "rm", required_scopes: ["files:delete"] }, () => "ok"));
  ({ url } = await server.serve({ port: 0 }));
  origin = new URL(url).origin;
});
after(async () => {
  await server.close();
  await issuer.close();
});

const expected = () => ({
  resource: url,
  authorization_servers: [issuer.issuer],
  bearer_methods_supported: ["header"],
  scopes_supported: ["mcp", "files:delete"],
  resource_name: "Meta test",
  dpop_signing_alg_values_supported: ["ES256", "EdDSA", "Ed25519", "RS256", "PS256"],
  dpop_bound_access_tokens_required: false,
});

for (const path of ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"]) {
  test(`RFC 9728 document at ${path}, CORS-readable, cached for cache_ttl`, async () => {
    const res = await fetch(origin + path, { headers: { origin: "http://localhost:6274" } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/json");
    assert.equal(res.headers.get("cache-control"), "public, max-age=120");
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    assert.deepEqual(await res.json(), expected());
  });
}

test("a loopback server refuses a foreign Origin, metadata included (DNS-rebinding protection): 403, no CORS grant", async () => {
  for (const path of ["/.well-known/oauth-protected-resource/mcp", "/mcp"]) {
    const res = await fetch(origin + path, { headers: { origin: "https://inspector.example" } });
    assert.equal(res.status, 403, path);
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    assert.equal((await res.json()).error, "forbidden");
  }
});

test("metadata preflight and wrong method", async () => {
  const pre = await fetch(`${origin}/.well-known/oauth-protected-resource/mcp`, {
    method: "OPTIONS",
    headers: { origin: "http://localhost:6274", "access-control-request-method": "GET" },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), "*");
  assert.match(pre.headers.get("access-control-allow-methods") ?? "", /GET/);
  const post = await fetch(`${origin}/.well-known/oauth-protected-resource`, { method: "POST" });
  assert.equal(post.status, 405);
});

test("MCP endpoint preflight allows Authorization and exposes WWW-Authenticate", async () => {
  const pre = await fetch(url, {
    method: "OPTIONS",
    headers: {
      origin: "http://localhost:6274",
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization, content-type",
    },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get("access-control-allow-origin"), "*");
  assert.match(pre.headers.get("access-control-allow-headers") ?? "", /Authorization/);
  assert.match(pre.headers.get("access-control-allow-headers") ?? "", /Mcp-Session-Id/);
  assert.match(pre.headers.get("access-control-expose-headers") ?? "", /WWW-Authenticate/);
  const res = await fetch(url, { method: "POST", headers: { origin: "http://localhost:6274" }, body: "{}" });
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  assert.match(res.headers.get("access-control-expose-headers") ?? "", /WWW-Authenticate/);
});

test("the challenge points at the path-inserted metadata URL on the resource's origin", async () => {
  const res = await fetch(url, { method: "POST", headers: { host: "evil.example" }, body: "{}" });
  assert.equal(
    res.headers.get("www-authenticate"),
    `Bearer realm="MCP", resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp", scope="mcp", DPoP algs="ES256 EdDSA Ed25519 RS256 PS256"`,
  );
});

test("other paths are 404 and carry no challenge", async () => {
  const res = await fetch(`${origin}/other`);
  assert.equal(res.status, 404);
  assert.equal(res.headers.get("www-authenticate"), null);
});

test("with authorization disabled no metadata is served and tools run anonymously", async () => {
  const logs: string[] = [];
  const open = new MCPServer("open", { log: (m) => logs.push(m), session_mode: "stateless" });
  open.collect(tool({ name: "rm", description: "rm", required_scopes: ["files:delete"] }, () => "ran"));
  const { url: u } = await open.serve({ port: 0 });
  try {
    assert.match(logs.join("\n"), /authorization is DISABLED/);
    assert.equal((await fetch(`${new URL(u).origin}/.well-known/oauth-protected-resource`)).status, 404);
    const res = await fetch(u, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "rm", arguments: {} } }),
    });
    assert.equal(res.status, 200);
    assert.deepEqual((await res.json()).result, { content: [{ type: "text", text: "ran" }] });
  } finally {
    await open.close();
  }
});
