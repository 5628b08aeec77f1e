/**
 * Discovery: RFC 8414 with path insertion, OpenID Connect fallback, identical-issuer rule, https
 * only (loopback aside), cache, back-off; against a loopback document server and oidc-provider.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  AuthorizationServerDiscovery,
  InvalidAuthorizationServerMetadata,
  AuthorizationUnavailable,
  discoverIntrospectionValidator,
  discoverValidator,
} from "../../src/index.js";
import { startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";
import { startIntrospectingProvider } from "../helpers/oidc-introspection.js";
import { startOidcProvider } from "../helpers/oidc-provider.js";

/** path → [status, body]; unknown paths 404. Every request is logged. */
let routes: Record<string, [number, unknown] | "hang"> = {};
const requests: string[] = [];
let docs: Server;
let origin: string;
let keys: LocalIssuer;
let offset = 0;
const now = () => Date.now() + offset;
const resource = "https://mcp.example.com/mcp";

before(async () => {
  keys = await startLocalIssuer();
  docs = createServer((req, res) => {
    requests.push(req.url!);
    const r = routes[req.url!];
    if (r === "hang") return;
    if (!r) return void res.writeHead(404).end();
    res
      .writeHead(r[0], { "content-type": "application/json" })
      .end(typeof r[1] === "string" ? r[1] : JSON.stringify(r[1]));
  });
  await new Promise<void>((r) => docs.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${(docs.address() as AddressInfo).port}`;
});

after(async () => {
  docs.closeAllConnections();
  await new Promise<void>((r) => docs.close(() => r()));
  await keys.close();
});

function reset(next: typeof routes) {
  routes = next;
  requests.length = 0;
}
// 5 s, as in production: a loaded CI machine can take longer than 300 ms for a loopback fetch. The
// test with a hanging server passes its own short timeout.
const fresh = (timeout = 5000) =>
  new AuthorizationServerDiscovery({ clock: now, timeout, backoff: { initial_ms: 60_000, max_ms: 60_000 } });

async function rejects<T extends Error>(p: Promise<unknown>, type: new (...a: never[]) => T): Promise<T> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof type, `expected ${type.name}, got ${String(e)}`);
    return e;
  }
  assert.fail("expected a refusal");
}

test("an issuer with a path: the RFC 8414 path-inserted document is used, and the validator it builds verifies tokens", async () => {
  const issuer = `${origin}/tenant1`;
  reset({
    "/.well-known/oauth-authorization-server/tenant1": [
      200,
      { issuer, jwks_uri: keys.jwksUri, token_endpoint: `${issuer}/token` },
    ],
  });
  const validator = await discoverValidator(issuer, { discovery: fresh() });
  assert.deepEqual(requests, ["/.well-known/oauth-authorization-server/tenant1"]);
  const auth = await validator.verify(await keys.sign({ iss: issuer, aud: resource, scope: "mcp" }), { resource });
  assert.equal(auth.issuer, issuer);
  // …and a token from the server's *other* tenant is refused by that validator.
  await assert.rejects(validator.verify(await keys.sign({ iss: `${origin}/tenant2`, aud: resource }), { resource }), {
    code: "ERR_INVALID_TOKEN",
    message: "The access token issuer is not trusted",
  });
});

test("falls back to OpenID Connect discovery (appended form) when there is no RFC 8414 document", async () => {
  const issuer = `${origin}/realms/mcp`;
  reset({ "/realms/mcp/.well-known/openid-configuration": [200, { issuer, jwks_uri: keys.jwksUri }] });
  const meta = await fresh().metadata(issuer);
  assert.equal(meta.jwks_uri, keys.jwksUri);
  assert.deepEqual(requests, [
    "/.well-known/oauth-authorization-server/realms/mcp",
    "/.well-known/openid-configuration/realms/mcp",
    "/realms/mcp/.well-known/openid-configuration",
  ]);
});

test("a document naming another issuer is refused (RFC 8414 §3.3), and nothing is built from it", async () => {
  reset({
    "/.well-known/oauth-authorization-server": [200, { issuer: "https://evil.example.com", jwks_uri: keys.jwksUri }],
  });
  let e = await rejects(discoverValidator(origin, { discovery: fresh() }), InvalidAuthorizationServerMetadata);
  assert.equal(e.code, "ERR_AS_METADATA");
  assert.equal(e.reason, "issuer_mismatch");
  assert.deepEqual(
    requests,
    ["/.well-known/oauth-authorization-server"],
    "no fallback to another document after a mismatch",
  );
  // Exactly identical: a trailing slash is a different issuer.
  reset({ "/.well-known/oauth-authorization-server": [200, { issuer: `${origin}/`, jwks_uri: keys.jwksUri }] });
  e = await rejects(fresh().metadata(origin), InvalidAuthorizationServerMetadata);
  assert.equal(e.reason, "issuer_mismatch");
});

test("https only, except loopback: for the issuer and for the endpoints in the document", async () => {
  reset({});
  const e = await rejects(fresh().metadata("http://as.example.com"), InvalidAuthorizationServerMetadata);
  assert.equal(e.reason, "insecure");
  assert.deepEqual(requests, []);
  reset({
    "/.well-known/oauth-authorization-server": [200, { issuer: origin, jwks_uri: "http://as.example.com/jwks" }],
  });
  assert.equal((await rejects(fresh().metadata(origin), InvalidAuthorizationServerMetadata)).reason, "invalid");
  reset({
    "/.well-known/oauth-authorization-server": [200, { issuer: origin, jwks_uri: "https://as.example.com/jwks" }],
  });
  assert.equal((await fresh().metadata(origin)).jwks_uri, "https://as.example.com/jwks");
});

test("missing documents and missing endpoints are refused with their reason", async () => {
  reset({});
  assert.equal((await rejects(fresh().metadata(origin), InvalidAuthorizationServerMetadata)).reason, "not_found");
  reset({ "/.well-known/oauth-authorization-server": [200, { issuer: origin }] });
  assert.equal(
    (await rejects(discoverValidator(origin, { discovery: fresh() }), InvalidAuthorizationServerMetadata)).reason,
    "missing_endpoint",
  );
  assert.equal(
    (
      await rejects(
        discoverIntrospectionValidator(origin, { discovery: fresh(), client_id: "rs", client_secret: "s" }),
        InvalidAuthorizationServerMetadata,
      )
    ).reason,
    "missing_endpoint",
  );
  reset({ "/.well-known/oauth-authorization-server": [200, "[1,2]"] });
  assert.equal((await rejects(fresh().metadata(origin), InvalidAuthorizationServerMetadata)).reason, "invalid");
});

test("documents are cached (bounded, TTL); concurrent discoveries share one fetch", async () => {
  reset({ "/.well-known/oauth-authorization-server": [200, { issuer: origin, jwks_uri: keys.jwksUri }] });
  const d = new AuthorizationServerDiscovery({ clock: now, cache_ttl: 60 });
  await Promise.all(Array.from({ length: 10 }, () => d.metadata(origin)));
  await d.metadata(origin);
  assert.equal(requests.length, 1);
  offset += 61_000;
  try {
    await d.metadata(origin);
    assert.equal(requests.length, 2, "fetched again after cache_ttl");
  } finally {
    offset = 0;
  }
});

test("an unreachable server: AuthorizationUnavailable with Retry-After, then fail fast during the back-off", async () => {
  reset({
    "/.well-known/oauth-authorization-server": [503, { error: "down" }],
    "/.well-known/openid-configuration": "hang",
  });
  const d = fresh(1000);
  const e = await rejects(d.metadata(origin), AuthorizationUnavailable);
  assert.ok(e.retry_after! >= 48 && e.retry_after! <= 60, String(e.retry_after));
  assert.deepEqual(requests, ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]);
  await rejects(d.metadata(origin), AuthorizationUnavailable);
  assert.equal(requests.length, 2, "no fetch while backing off");
  reset({ "/.well-known/oauth-authorization-server": [200, { issuer: origin, jwks_uri: keys.jwksUri }] });
  offset += 61_000;
  try {
    assert.equal((await d.metadata(origin)).issuer, origin);
  } finally {
    offset = 0;
  }
});

test("oidc-provider: discoverValidator verifies its real JWT access tokens (OpenID Connect fallback)", async () => {
  const as = await startOidcProvider({ resources: [resource], scopes: ["mcp"] });
  try {
    const validator = await discoverValidator(as.issuer, {
      discovery: new AuthorizationServerDiscovery(),
      required_typ: "at+jwt",
    });
    const { access_token } = await as.getToken({ resource, scope: "mcp" });
    const auth = await validator.verify(access_token, { resource });
    assert.equal(auth.subject, "test-client");
    assert.deepEqual(auth.scopes, ["mcp"]);
  } finally {
    await as.close();
  }
});

test("oidc-provider: discoverIntrospectionValidator introspects its real opaque tokens", async () => {
  const as = await startIntrospectingProvider({ resources: [resource], scopes: ["mcp"] });
  try {
    // client_credentials: oidc-provider's introspection has no sub, so the client is the subject (by option).
    const validator = await discoverIntrospectionValidator(as.issuer, {
      discovery: new AuthorizationServerDiscovery(),
      ...as.rs.jwt,
      allow_missing_subject: true,
    });
    assert.deepEqual(validator.issuers, [as.issuer]);
    const { access_token } = await as.getToken({ resource, scope: "mcp" });
    const auth = await validator.verify(access_token, { resource });
    assert.equal(auth.client_id, "app");
    assert.equal(auth.issuer, as.issuer);
    assert.equal(as.introspectionCalls(), 1);
  } finally {
    await as.close();
  }
});
