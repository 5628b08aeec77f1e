/**
 * IntrospectionValidator (RFC 7662) against oidc-provider's real introspection endpoint issuing opaque
 * tokens, plus a canned loopback endpoint for the failure shapes a real server will not produce.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  AuthError,
  AuthorizationUnavailable,
  getContext,
  IntrospectionValidator,
  ConfigError,
  MCPServer,
  protect,
  tool,
  type AuthContext,
  type AuthEvent,
  type IntrospectionValidatorOptions,
} from "../../src/index.js";
import { clientKey, dpopFetch } from "../helpers/dpop.js";
import { initialize, MCP_HEADERS, readRpc } from "../helpers/mcp.js";
import { startIntrospectingProvider, type IntrospectingAuthorizationServer } from "../helpers/oidc-introspection.js";

let as: IntrospectingAuthorizationServer;
let server: MCPServer;
let url: string;
const other = "https://other.example.com/mcp";
let offset = 0;
const now = () => Date.now() + offset;

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

before(async () => {
  const port = await freePort();
  url = `http://127.0.0.1:${port}/mcp`;
  as = await startIntrospectingProvider({ resources: [url, other], scopes: ["mcp", "files:delete"] });
  server = new MCPServer("introspection", {
    authorization: { enabled: true, authorization_servers: [as.issuer], required_scopes: ["mcp"], resource: url },
  });
  server.setAuthorizationProvider(
    new IntrospectionValidator({
      introspection_endpoint: as.introspectionEndpoint,
      ...as.rs.basic,
      issuer: as.issuer,
      backoff: { initial_ms: 60_000, max_ms: 60_000 },
      clock: now,
      allow_missing_subject: true,
    }),
  );
  server.collect(
    tool({ name: "whoami", description: "caller" }, () => {
      const auth = getContext().auth!;
      return {
        subject: auth.subject,
        client_id: auth.client_id ?? null,
        scopes: [...auth.scopes],
        jkt: auth.jkt ?? null,
      };
    }),
  );
  await server.serve({ port, host: "127.0.0.1" });
});

after(async () => {
  await server.close();
  await as.close();
});

const validator = (extra: Partial<IntrospectionValidatorOptions> = {}) =>
  // client_credentials tokens: oidc-provider's introspection has no sub, so the client is the subject (by option).
  new IntrospectionValidator({
    introspection_endpoint: as.introspectionEndpoint,
    ...as.rs.basic,
    issuer: as.issuer,
    clock: now,
    allow_missing_subject: true,
    ...extra,
  });

async function refusal(p: Promise<unknown>): Promise<AuthError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof AuthError, `expected an AuthError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected a refusal, the token was accepted");
}

const challenge = (description: string) =>
  `Bearer realm="MCP", resource_metadata="${new URL(url).origin}/.well-known/oauth-protected-resource/mcp", scope="mcp", error="invalid_token", error_description="${description}", DPoP algs="ES256 EdDSA Ed25519 RS256 PS256"`;

const post = (token: string, scheme = "Bearer") =>
  fetch(url, { method: "POST", headers: { ...MCP_HEADERS, authorization: `${scheme} ${token}` }, body: initialize() });

/** A canned introspection endpoint on loopback. */
async function cannedEndpoint(
  handle: (req: IncomingMessage, res: ServerResponse, body: string) => void,
): Promise<{ url: string; calls: () => number; bodies: string[]; close: () => Promise<void> }> {
  let calls = 0;
  const bodies: string[] = [];
  const http: Server = createServer((req, res) => {
    calls++;
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      bodies.push(body);
      handle(req, res, body);
    });
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/introspect`,
    calls: () => calls,
    bodies,
    close: () =>
      new Promise<void>((r) => {
        http.closeAllConnections();
        http.close(() => r());
      }),
  };
}
const json = (res: ServerResponse, body: unknown, status = 200) =>
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));

test("options are validated at construction; errors name the key", () => {
  const base = { introspection_endpoint: "https://as.example.com/introspect", client_id: "rs" };
  const bad: [unknown, RegExp][] = [
    [base, /client_secret: client_secret is required for client_secret_basic/],
    [
      { ...base, client_secret: "s", introspection_endpoint: "http://as.example.com/introspect" },
      /introspection_endpoint: must be https/,
    ],
    [{ ...base, client_secret: "s", extra: 1 }, /extra: unknown key/],
    [
      {
        ...base,
        client_auth_method: "private_key_jwt",
        private_key: { kty: "EC", crv: "P-256", x: "x", y: "y", d: "d" },
      },
      /private_key_alg: private_key_alg is required/,
    ],
    [
      { ...base, client_secret: "s", private_key: { kty: "EC", d: "d" } },
      /client_secret: use either client_secret or private_key/,
    ],
    [{ ...base, client_secret: "s", negative_cache_ttl_seconds: 31 }, /negative_cache_ttl_seconds:/],
    [{ ...base, client_secret: "s", audience: [] }, /audience:/],
  ];
  for (const [options, message] of bad) {
    assert.throws(
      () => new IntrospectionValidator(options as IntrospectionValidatorOptions),
      (e: unknown) => e instanceof ConfigError && e.code === "ERR_INVALID_CONFIG" && message.test(e.message),
    );
  }
  assert.doesNotThrow(
    () =>
      new IntrospectionValidator({
        ...base,
        client_secret: "s",
        introspection_endpoint: "http://127.0.0.1:1/introspect",
      }),
  );
});

test("a valid opaque token is accepted with subject, scopes, client_id, issuer and exp; repeated use costs one call", async () => {
  const { access_token } = await as.getToken({ resource: url, scope: "mcp files:delete" });
  assert.doesNotMatch(access_token, /\./, "oidc-provider issued an opaque token");
  const v = validator();
  const before = as.introspectionCalls();
  const auth = await v.verify(access_token, { resource: url });
  assert.equal(auth.subject, "app"); // client_credentials: no sub, the client is the subject (allow_missing_subject)
  assert.equal(auth.client_id, "app");
  assert.deepEqual(auth.scopes, ["mcp", "files:delete"]);
  assert.equal(auth.issuer, as.issuer);
  assert.equal(auth.jkt, undefined);
  assert.ok(auth.expires_at! > Date.now() / 1000 + 3000, "expires_at comes from the introspection answer's exp");
  assert.equal(auth.token, access_token);
  assert.equal(JSON.stringify(auth).includes(access_token), false);
  for (let i = 0; i < 5; i++) assert.equal((await v.verify(access_token, { resource: url })).subject, "app");
  assert.equal(as.introspectionCalls() - before, 1);
});

test("client_secret_post and private_key_jwt authenticate to the real endpoint too", async () => {
  const { access_token } = await as.getToken({ resource: url, scope: "mcp" });
  const post = validator({ ...as.rs.post, client_auth_method: "client_secret_post" });
  assert.equal((await post.verify(access_token, { resource: url })).client_id, "app");
  const jwt = new IntrospectionValidator({
    introspection_endpoint: as.introspectionEndpoint,
    issuer: as.issuer,
    ...as.rs.jwt,
    allow_missing_subject: true,
  });
  assert.equal((await jwt.verify(access_token, { resource: url })).client_id, "app");
  // A wrong secret gets a 401 from the endpoint: the token is refused (fail closed, so fail_open
  // cannot turn a misconfiguration into anonymous access), never accepted.
  const wrong = validator({ client_secret: "wrong-secret" });
  const e = await refusal(wrong.verify(access_token, { resource: url }));
  assert.equal(e.code, "ERR_INVALID_TOKEN");
  assert.equal(e.reason, "token_invalid");
  // Without allow_missing_subject the client is never silently made the subject.
  const strict = validator({ allow_missing_subject: false });
  const noSub = await refusal(strict.verify(access_token, { resource: url }));
  assert.deepEqual(
    [noSub.code, noSub.reason, noSub.message],
    ["ERR_INVALID_TOKEN", "claim_missing", "The access token lacks the required sub claim"],
  );
});

test("single flight: 25 concurrent requests with one token make one introspection call", async () => {
  const { access_token } = await as.getToken({ resource: url, scope: "mcp" });
  const v = validator();
  const before = as.introspectionCalls();
  const results = await Promise.all(Array.from({ length: 25 }, () => v.verify(access_token, { resource: url })));
  assert.ok(
    results.every((a) => a.subject === "app"),
    "every result's subject is app",
  );
  assert.equal(as.introspectionCalls() - before, 1);
});

test("a revoked token is refused once its cache entry expires (cache_ttl)", async () => {
  const { access_token } = await as.getToken({ resource: url, scope: "mcp" });
  const v = validator({ cache_ttl: 5 });
  await v.verify(access_token, { resource: url });
  await as.revoke(access_token);
  const calls = as.introspectionCalls();
  // Within cache_ttl the cached answer stands (the documented trade-off)…
  assert.equal((await v.verify(access_token, { resource: url })).subject, "app");
  assert.equal(as.introspectionCalls(), calls);
  // …and after it the authorization server is asked again and says inactive.
  offset += 6_000;
  try {
    const e = await refusal(v.verify(access_token, { resource: url }));
    assert.equal(e.code, "ERR_INVALID_TOKEN");
    assert.equal(e.message, "The access token is not active");
    assert.equal(as.introspectionCalls(), calls + 1);
  } finally {
    offset -= 6_000;
  }
});

test("a token for another resource is refused (aud mismatch), through the HTTP server too", async () => {
  const { access_token } = await as.getToken({ resource: other, scope: "mcp" });
  const e = await refusal(validator().verify(access_token, { resource: url }));
  assert.equal(e.code, "ERR_INVALID_TOKEN");
  assert.equal(e.message, "The access token is not intended for this resource");
  // The explicit audience option wins over the server's resource.
  assert.equal((await validator({ audience: other }).verify(access_token, { resource: url })).subject, "app");

  const res = await post(access_token);
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("www-authenticate"), challenge("The access token is not intended for this resource"));
  assert.equal((await res.text()).includes(access_token), false);
});

test("garbage tokens are refused 401 invalid_token; refusals are cached briefly and apart from accepted tokens", async () => {
  const v = validator({ negative_cache_max: 5, cache_max: 5 });
  const before = as.introspectionCalls();
  const e = await refusal(v.verify("not-a-real-token", { resource: url }));
  assert.equal(e.code, "ERR_INVALID_TOKEN");
  assert.equal(e.message, "The access token is not active");
  await refusal(v.verify("not-a-real-token", { resource: url }));
  assert.equal(as.introspectionCalls() - before, 1, "the second refusal came from the negative cache");

  const { access_token } = await as.getToken({ resource: url, scope: "mcp" });
  await v.verify(access_token, { resource: url });
  for (let i = 0; i < 40; i++) await refusal(v.verify(`garbage-${i}`, { resource: url }));
  const calls = as.introspectionCalls();
  await v.verify(access_token, { resource: url });
  assert.equal(as.introspectionCalls(), calls, "a flood of garbage did not evict the accepted token");
  // The negative entry lives at most 30 s.
  offset += 31_000;
  try {
    await refusal(v.verify("not-a-real-token", { resource: url }));
    assert.equal(as.introspectionCalls(), calls + 1);
  } finally {
    offset -= 31_000;
  }

  const res = await post("garbage-over-http");
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("www-authenticate"), challenge("The access token is not active"));
});

test("endpoint down: 503 with Retry-After, calls back off, cached tokens keep working, recovery after the back-off", async () => {
  const { access_token: cached } = await as.getToken({ resource: url, scope: "mcp" });
  assert.equal((await post(cached)).status, 200);
  const fresh = await Promise.all([1, 2, 3].map(() => as.getToken({ resource: url, scope: "mcp" })));
  as.down = true;
  try {
    const calls = as.introspectionCalls();
    for (const { access_token } of fresh) {
      const res = await post(access_token);
      assert.equal(res.status, 503);
      assert.equal(res.headers.get("www-authenticate"), null);
      const retryAfter = Number(res.headers.get("retry-after"));
      assert.ok(retryAfter >= 48 && retryAfter <= 60, `Retry-After ${retryAfter}`);
      assert.equal((await res.text()).includes(access_token), false);
    }
    assert.equal(as.introspectionCalls() - calls, 1, "one call, then fail fast during the back-off");
    assert.equal((await post(cached)).status, 200, "a cached token does not need the endpoint");
    as.down = false;
    assert.equal((await post(fresh[0]!.access_token)).status, 503, "still backing off");
    offset += 61_000;
    const res = await post(fresh[0]!.access_token);
    assert.equal(res.status, 200);
    assert.equal((await readRpc(res)).result.serverInfo.name, "introspection");
    assert.equal(as.introspectionCalls() - calls, 2);
  } finally {
    as.down = false;
    offset = 0;
  }
});

test("fail_open semantics apply: an unreachable endpoint is AuthorizationUnavailable, never an accepted token", async () => {
  const v = validator({ introspection_endpoint: "http://127.0.0.1:1/introspect" });
  const e = await refusal(v.verify("opaque-token", { resource: url }));
  assert.ok(e instanceof AuthorizationUnavailable, "an AuthorizationUnavailable");
  assert.equal(e.retry_after, 1);
  assert.equal(e.message.includes("opaque-token"), false);
});

test("outage shapes: 500, 503, 429, non-JSON, oversized, timeout: 503 and a back-off", async () => {
  let mode = "";
  const ep = await cannedEndpoint((_req, res) => {
    if (mode === "500") return json(res, { error: "server_error" }, 500);
    if (mode === "503") return res.writeHead(503).end();
    if (mode === "429") return json(res, { error: "slow_down" }, 429);
    if (mode === "html") return res.writeHead(200, { "content-type": "text/html" }).end("<html>");
    if (mode === "big") return json(res, { active: true, pad: "x".repeat(70_000) });
    if (mode === "hang") return; // never answers
  });
  try {
    // The clock stands still: the second call is inside the back-off however loaded the machine is.
    const now = Date.now();
    for (const m of ["500", "503", "429", "html", "big", "hang"]) {
      mode = m;
      const v = new IntrospectionValidator({
        introspection_endpoint: ep.url,
        client_id: "rs",
        client_secret: "s",
        timeout_ms: 200,
        clock: () => now,
      });
      const e = await refusal(v.verify(`token-${m}`, { resource: url }));
      assert.equal(e.code, "ERR_AUTHORIZATION_UNAVAILABLE", m);
      assert.equal(e.reason, "unavailable", m);
      assert.ok((e as AuthorizationUnavailable).retry_after! >= 1, m);
      const again = await refusal(v.verify(`token-${m}-2`, { resource: url }));
      assert.equal(again.code, "ERR_AUTHORIZATION_UNAVAILABLE", m);
    }
    assert.equal(ep.calls(), 6, "each validator called once, then backed off");
  } finally {
    await ep.close();
  }
});

test("an answer about one token (4xx, redirect, a 200 of the wrong shape) refuses that token only: no back-off, the next user's good token passes", async () => {
  let bad: { status: number; body?: unknown; location?: string } = { status: 200 };
  const hit: string[] = [];
  const elsewhere = await cannedEndpoint((_req, res, body) => {
    hit.push(body);
    json(res, { active: true, aud: url, sub: "x" });
  });
  const exp = Math.floor(Date.now() / 1000) + 600;
  const ep = await cannedEndpoint((_req, res, body) => {
    if (new URLSearchParams(body).get("token") === "good")
      return json(res, { active: true, aud: url, sub: "alice", exp });
    if (bad.location) return res.writeHead(bad.status, { location: bad.location }).end();
    json(res, bad.body ?? {}, bad.status);
  });
  const answers: [string, typeof bad, string, string][] = [
    [
      "400",
      { status: 400, body: { error: "invalid_request" } },
      "token_invalid",
      "The access token was not accepted by the authorization server",
    ],
    [
      "401",
      { status: 401, body: { error: "invalid_client" } },
      "token_invalid",
      "The access token was not accepted by the authorization server",
    ],
    ["404", { status: 404 }, "token_invalid", "The access token was not accepted by the authorization server"],
    [
      "redirect",
      { status: 307, location: elsewhere.url },
      "token_invalid",
      "The access token was not accepted by the authorization server",
    ],
    [
      'active "true"',
      { status: 200, body: { active: "true", aud: url, sub: "mallory", exp } },
      "inactive",
      "The access token is not active",
    ],
    [
      "active 1",
      { status: 200, body: { active: 1, aud: url, sub: "mallory", exp } },
      "inactive",
      "The access token is not active",
    ],
    ["no active", { status: 200, body: { status: "ok" } }, "inactive", "The access token is not active"],
    ["an array", { status: 200, body: [{ active: true }] }, "inactive", "The access token is not active"],
    [
      "exp a string",
      { status: 200, body: { active: true, aud: url, sub: "mallory", exp: String(exp) } },
      "claim_invalid",
      "The access token exp claim is invalid",
    ],
    [
      "scope a number",
      { status: 200, body: { active: true, aud: url, sub: "mallory", exp, scope: 7 } },
      "claim_invalid",
      "The access token scope claim is invalid",
    ],
    [
      "aud mixed",
      { status: 200, body: { active: true, aud: [url, 1], sub: "mallory", exp } },
      "claim_invalid",
      "The access token aud claim is invalid",
    ],
  ];
  const events: AuthEvent[] = [];
  try {
    for (const failOpen of [false, true]) {
      // Through protect(): 401 invalid_token with the challenge, never 503, never anonymous under fail_open.
      const v = new IntrospectionValidator({
        introspection_endpoint: ep.url,
        client_id: "rs",
        client_secret: "s",
        backoff: { initial_ms: 60_000, max_ms: 60_000 },
      });
      const handler = protect(() => new McpServer({ name: "shapes", version: "1" }), {
        authorization: {
          enabled: true,
          authorization_servers: ["https://as.example.com"],
          resource: url,
          fail_open: failOpen,
        },
        provider: v,
        on_auth_event: (e) => events.push(e),
      });
      for (const [i, [name, answer, reason, description]] of answers.entries()) {
        bad = answer;
        events.length = 0;
        const res = await handler(
          new Request(url, {
            method: "POST",
            headers: { ...MCP_HEADERS, authorization: `Bearer bad-${i}` },
            body: initialize(),
          }),
        );
        assert.equal(res.status, 401, `${name}: ${res.status} ${await res.clone().text()}`);
        assert.equal(
          res.headers.get("www-authenticate"),
          `Bearer realm="MCP", resource_metadata="${new URL(url).origin}/.well-known/oauth-protected-resource/mcp", error="invalid_token", error_description="${description}", DPoP algs="ES256 EdDSA Ed25519 RS256 PS256"`,
          name,
        );
        assert.deepEqual(
          events.filter((e) => e.type === "refused").map((e) => (e as { reason: string }).reason),
          [reason],
          name,
        );
        assert.equal(
          events.some((e) => e.type === "fail_open" || e.type === "accepted"),
          false,
          name,
        );
        // The next user's good token is not affected: no back-off was started.
        const good = await handler(
          new Request(url, {
            method: "POST",
            headers: { ...MCP_HEADERS, authorization: "Bearer good" },
            body: initialize(),
          }),
        );
        assert.equal(good.status, 200, `${name}: the next token`);
        await good.body?.cancel();
      }
      // Refusals are negatively cached: the same bad token again costs no call.
      const calls = ep.calls();
      await refusal(v.verify("bad-0", { resource: url }));
      assert.equal(ep.calls(), calls);
      await handler.close();
    }
    assert.deepEqual(hit, [], "the token never followed the redirect");
  } finally {
    await ep.close();
    await elsewhere.close();
  }
});

test("response checks: missing aud, issuer, expiry, token type, foreign binding, subject", async () => {
  let answer: Record<string, unknown> = {};
  const ep = await cannedEndpoint((_req, res) => json(res, answer));
  const exp = Math.floor(Date.now() / 1000) + 600;
  const v = (extra: Partial<IntrospectionValidatorOptions> = {}) =>
    new IntrospectionValidator({
      introspection_endpoint: ep.url,
      client_id: "rs",
      client_secret: "s",
      issuer: "https://as.example.com",
      ...extra,
    });
  const ok = {
    active: true,
    iss: "https://as.example.com",
    aud: [other, url],
    sub: "alice",
    client_id: "app",
    scope: "mcp read",
    exp,
  };
  const BOUND = "The access token is bound by a method this resource does not support";
  const cases: [Record<string, unknown>, string, string, string][] = [
    [
      { ...ok, aud: undefined },
      "ERR_INVALID_TOKEN",
      "claim_missing",
      "The access token is not intended for this resource",
    ],
    [
      { ...ok, aud: "https://elsewhere.example.com" },
      "ERR_INVALID_TOKEN",
      "audience_mismatch",
      "The access token is not intended for this resource",
    ],
    [
      { ...ok, iss: "https://evil.example.com" },
      "ERR_INVALID_TOKEN",
      "issuer_untrusted",
      "The access token issuer is not trusted",
    ],
    [{ ...ok, iss: undefined }, "ERR_INVALID_TOKEN", "claim_missing", "The access token issuer is not trusted"],
    [{ ...ok, exp: exp - 7200 }, "ERR_TOKEN_EXPIRED", "expired", "The access token expired"],
    [{ ...ok, nbf: exp }, "ERR_INVALID_TOKEN", "not_yet_valid", "The access token is not yet valid"],
    [{ ...ok, iat: exp }, "ERR_INVALID_TOKEN", "issued_in_future", "The access token was issued in the future"],
    [
      { ...ok, token_type: "refresh_token" },
      "ERR_INVALID_TOKEN",
      "token_type",
      "The access token type is not accepted",
    ],
    [{ ...ok, cnf: { "x5t#S256": "abc" } }, "ERR_INVALID_TOKEN", "binding_unsupported", BOUND],
    [{ ...ok, cnf: { jkt: 123 } }, "ERR_INVALID_TOKEN", "binding_unsupported", BOUND],
    [{ ...ok, cnf: { jkt: "" } }, "ERR_INVALID_TOKEN", "binding_unsupported", BOUND],
    [{ ...ok, cnf: "x" }, "ERR_INVALID_TOKEN", "binding_unsupported", BOUND],
    [{ ...ok, token_type: "DPoP" }, "ERR_INVALID_TOKEN", "binding_unsupported", BOUND],
    [{ ...ok, sub: undefined }, "ERR_INVALID_TOKEN", "claim_missing", "The access token lacks the required sub claim"],
    [
      { ...ok, sub: undefined, client_id: undefined },
      "ERR_INVALID_TOKEN",
      "claim_missing",
      "The access token lacks the required sub claim",
    ],
    [{ active: false }, "ERR_INVALID_TOKEN", "inactive", "The access token is not active"],
  ];
  try {
    let i = 0;
    for (const [response, code, reason, message] of cases) {
      answer = response;
      const e = await refusal(v().verify(`tok-${i++}`, { resource: url }));
      assert.deepEqual([e.code, e.reason, e.message], [code, reason, message], JSON.stringify(response));
    }
    // Opt-ins: the client as subject, a maximum age; scope as an array of strings.
    answer = { ...ok, sub: undefined };
    assert.equal((await v({ allow_missing_subject: true }).verify("tok-client", { resource: url })).subject, "app");
    answer = { ...ok, sub: undefined, oid: "object-id" };
    assert.equal((await v({ subject_claim: "oid" }).verify("tok-oid", { resource: url })).subject, "object-id");
    const iat = Math.floor(Date.now() / 1000) - 3600;
    answer = { ...ok, iat };
    const old = await refusal(v({ max_token_age_seconds: 600 }).verify("tok-old", { resource: url }));
    assert.deepEqual([old.code, old.reason], ["ERR_INVALID_TOKEN", "too_old"]);
    assert.equal((await v({ max_token_age_seconds: 7200 }).verify("tok-young", { resource: url })).subject, "alice");
    answer = { ...ok, scope: ["mcp", "read"] };
    assert.deepEqual((await v().verify("tok-scope-array", { resource: url })).scopes, ["mcp", "read"]);
    answer = { ...ok, aud: undefined };
    const auth: AuthContext = await v({ allow_missing_aud: true }).verify("tok-noaud", { resource: url });
    assert.equal(auth.subject, "alice");
    answer = ok;
    const full = await v().verify("tok-ok", { resource: url });
    assert.deepEqual(
      { ...full },
      {
        subject: "alice",
        scopes: ["mcp", "read"],
        claims: ok,
        client_id: "app",
        issuer: "https://as.example.com",
        expires_at: exp,
        jkt: undefined,
      },
    );
    // What went over the wire: the token, the hint, nothing else (Basic auth carries the client).
    assert.deepEqual(Object.fromEntries(new URLSearchParams(ep.bodies.at(-1))), {
      token: "tok-ok",
      token_type_hint: "access_token",
    });
  } finally {
    await ep.close();
  }
});

test("an active result is never cached beyond the token's exp", async () => {
  const exp = Math.floor(now() / 1000) + 40;
  const ep = await cannedEndpoint((_req, res) => json(res, { active: true, aud: url, sub: "bob", exp }));
  try {
    const v = new IntrospectionValidator({
      introspection_endpoint: ep.url,
      client_id: "rs",
      client_secret: "s",
      cache_ttl: 3600,
      clock_tolerance_seconds: 0,
      clock: now,
    });
    await v.verify("short-lived", { resource: url });
    await v.verify("short-lived", { resource: url });
    assert.equal(ep.calls(), 1);
    offset += 45_000;
    const e = await refusal(v.verify("short-lived", { resource: url }));
    assert.equal(e.code, "ERR_TOKEN_EXPIRED");
    assert.equal(ep.calls(), 2, "the expired entry was dropped and the AS asked again");
  } finally {
    offset = 0;
    await ep.close();
  }
});

test("verifyCached: only an active, unexpired result for this resource, never a refusal, never a call", async () => {
  const exp = Math.floor(now() / 1000) + 40;
  const ep = await cannedEndpoint((_req, res, body) =>
    json(
      res,
      new URLSearchParams(body).get("token") === "good"
        ? { active: true, aud: url, sub: "bob", exp }
        : { active: false },
    ),
  );
  try {
    const v = new IntrospectionValidator({
      introspection_endpoint: ep.url,
      client_id: "rs",
      client_secret: "s",
      clock_tolerance_seconds: 0,
      clock: now,
    });
    assert.equal(v.verifyCached("good", { resource: url }), undefined, "never introspected: a miss");
    const auth = await v.verify("good", { resource: url });
    assert.equal(v.verifyCached("good", { resource: url }), auth);
    assert.equal(
      v.verifyCached("good", { resource: other }),
      undefined,
      "another resource: verify refuses it, the probe only misses",
    );
    await refusal(v.verify("bad", { resource: url }));
    assert.equal(v.verifyCached("bad", { resource: url }), undefined, "a cached refusal is a miss");
    assert.equal(ep.calls(), 2);
    offset += 45_000;
    assert.equal(v.verifyCached("good", { resource: url }), undefined, "expired: a miss");
    assert.equal(ep.calls(), 2);
    const off = new IntrospectionValidator({
      introspection_endpoint: ep.url,
      client_id: "rs",
      client_secret: "s",
      cache_max: 0,
      clock: now,
    });
    offset = 0;
    await off.verify("good", { resource: url });
    assert.equal(off.verifyCached("good", { resource: url }), undefined, "cache off: always a miss");
  } finally {
    offset = 0;
    await ep.close();
  }
});

test("a DPoP-bound opaque token: cnf.jkt from introspection, accepted with proofs through MCPServer, bearer downgrade refused", async () => {
  const key = await clientKey();
  const { access_token, token_type } = await as.getToken({ resource: url, scope: "mcp", dpopKey: key });
  assert.equal(token_type, "DPoP");
  const auth = await validator().verify(access_token, { resource: url });
  assert.equal(auth.jkt, key.jkt);

  const client = new Client({ name: "dpop-introspection", version: "1" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: dpopFetch(access_token, key) }));
  try {
    const who = await client.callTool({ name: "whoami", arguments: {} });
    assert.deepEqual(who.structuredContent, { subject: "app", client_id: "app", scopes: ["mcp"], jkt: key.jkt });
  } finally {
    await client.close();
  }

  const asBearer = await post(access_token);
  assert.equal(asBearer.status, 401);
  assert.equal(
    asBearer.headers.get("www-authenticate"),
    challenge("A DPoP-bound access token must use the DPoP authorization scheme"),
  );
  const noProof = await post(access_token, "DPoP");
  assert.equal(noProof.status, 401);
  assert.match(noProof.headers.get("www-authenticate") ?? "", /DPoP algs="[^"]+", error="invalid_dpop_proof"/);
});
