/**
 * Every options object of the HTTP surface is checked at construction by one strict schema: unknown
 * keys refused with the closest valid name, enums enforced, every problem listed, one error type.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import {
  ConfigError,
  EntraMultiTenantValidator,
  IntrospectionValidator,
  IssuerRouter,
  JWTValidator,
  JWTValidatorConfig,
  MCPServer,
  protect,
  toNodeHandler,
  type AuthorizationProvider,
  type ProtectOptions,
} from "../src/index.js";
import { createDevAuthorizationServer } from "../src/dev-authorization-server/index.js";
import { closest } from "../src/lib/options.js";
import { TokenExchange } from "../src/token-exchange/index.js";

const provider: AuthorizationProvider = {
  verify: async () => ({ subject: "s", scopes: [], claims: {}, client_id: undefined, token: "t" }) as never,
};
const enabled = {
  enabled: true,
  authorization_servers: ["https://auth.example.com"],
  resource: "https://mcp.example.com/mcp",
};
const factory = () => new McpServer({ name: "t", version: "1" });

/** Run `fn`, expect a ConfigError, return its issues as `key: message` lines. */
function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.ok(e instanceof TypeError, "a ConfigError is a TypeError");
    assert.equal(e.code, "ERR_INVALID_CONFIG");
    return e.issues.map((i) => `${i.key}: ${i.message}`);
  }
  assert.fail("expected a ConfigError");
}

test("protect(): a misspelled key is refused with the closest valid name", () => {
  assert.deepEqual(
    issuesOf(() => protect(factory, { authorization: enabled, provider, sesion_mode: "stateless" } as never)),
    ['sesion_mode: unknown key (did you mean "session_mode"?)'],
  );
  assert.deepEqual(
    issuesOf(() => protect(factory, { authorization: { ...enabled, requried_scopes: ["a"] }, provider } as never)),
    ['authorization.requried_scopes: unknown key (did you mean "required_scopes"?)'],
  );
  // Far from every valid key: no suggestion.
  assert.deepEqual(
    issuesOf(() => protect(factory, { authorization: enabled, provider, zzzzzzzz: 1 } as never)),
    ["zzzzzzzz: unknown key"],
  );
});

test("protect(): enums are enforced and every problem is listed at once", () => {
  const issues = issuesOf(() =>
    protect(factory, {
      authorization: { ...enabled, cache_ttl: -1 },
      provider,
      session_mode: "stateles",
      engine: "v3",
      max_sessions: 0,
      trust_prxy: {},
    } as never),
  );
  assert.equal(issues.length, 5, issues.join("\n"));
  assert.ok(
    issues.some((i) => i.startsWith("session_mode: ")),
    "session_mode is named",
  );
  assert.ok(
    issues.some((i) => i.startsWith("engine: ")),
    "engine is named",
  );
  assert.ok(
    issues.some((i) => i.startsWith("max_sessions: ")),
    "max_sessions is named",
  );
  assert.ok(
    issues.some((i) => i.startsWith("authorization.cache_ttl: ")),
    "authorization.cache_ttl is named",
  );
  assert.ok(issues.includes('trust_prxy: unknown key (did you mean "trust_proxy"?)'), "trust_prxy gets its suggestion");
});

test('protect(): cors_origins is "*" or a list of exact origins; a string is refused', () => {
  assert.match(
    issuesOf(() =>
      protect(factory, { authorization: enabled, provider, cors_origins: "https://a.example" } as never),
    )[0]!,
    /^cors_origins: /,
  );
  for (const bad of ["https://a.example/", "https://a.example/path", "a", ":", "https://a.exampl e"]) {
    assert.match(
      issuesOf(() => protect(factory, { authorization: enabled, provider, cors_origins: [bad] }))[0]!,
      /^cors_origins\.0: /,
      bad,
    );
  }
  protect(factory, { authorization: enabled, provider, cors_origins: ["https://a.example", "http://localhost:5173"] });
});

test("cors_origins are compared exactly: a prefix or substring of an allowed origin gets no CORS grant", async () => {
  // DNS-rebinding protection off, so only the CORS matching decides.
  const h = protect(factory, {
    authorization: { enabled: false },
    cors_origins: ["https://a.example"],
    dns_rebinding_protection: false,
  });
  for (const origin of ["https://a.exampl", "a", ":", "https://a.example.evil", "https://A.example"]) {
    const res = await h(
      new Request("https://x.invalid/mcp", { method: "OPTIONS", headers: { origin, host: "localhost" } }),
    );
    assert.equal(res.headers.get("access-control-allow-origin"), null, origin);
  }
  const ok = await h(
    new Request("http://localhost/mcp", { method: "OPTIONS", headers: { origin: "https://a.example" } }),
  );
  assert.equal(ok.headers.get("access-control-allow-origin"), "https://a.example");
});

test("protect(): a provider without authorization.enabled is a ConfigError that explains both choices", () => {
  for (const authorization of [{}, { enabled: false }]) {
    const [issue] = issuesOf(() => protect(factory, { authorization, provider }));
    assert.match(issue!, /^provider: /);
    assert.match(issue!, /set authorization\.enabled to true/);
    assert.match(issue!, /remove the provider/);
  }
});

test("MCPServer: options are derived from protect()'s and checked at construction", () => {
  assert.deepEqual(
    issuesOf(() => new MCPServer("x", { max_sesions: 3 } as never)),
    ['max_sesions: unknown key (did you mean "max_sessions"?)'],
  );
  assert.match(issuesOf(() => new MCPServer("x", { session_mode: "stateles" } as never))[0]!, /^session_mode: /);
  assert.match(issuesOf(() => new MCPServer("x", { engine: "v3" } as never))[0]!, /^engine: /);
  // Keys only protect() had before (cors_origins, tool_scopes) are MCPServer options too.
  new MCPServer("x", {
    cors_origins: ["https://a.example"],
    tool_scopes: ["read"],
    dns_rebinding_protection: { allowed_hosts: ["mcp.internal"] },
  });
  assert.match(
    issuesOf(() => new MCPServer("x", { cors_origins: "https://a.example" } as never))[0]!,
    /^cors_origins: /,
  );
});

test("MCPServer.serve() and close() options are strict", async () => {
  const s = new MCPServer("x", { on_warning: () => {} });
  await assert.rejects(
    s.serve({ prot: 0 } as never),
    (e: unknown) => e instanceof ConfigError && e.issues[0]!.message.includes('did you mean "port"?'),
  );
  await assert.rejects(
    s.serve({ port: 0, headers_timeout_ms: 5000, request_timeout_ms: 1000 }),
    (e: unknown) => e instanceof ConfigError && e.issues[0]!.key === "headers_timeout_ms",
  );
  await assert.rejects(
    s.close({ grace: 10 } as never),
    (e: unknown) => e instanceof ConfigError && e.issues[0]!.message.includes('did you mean "grace_ms"?'),
  );
});

test("toNodeHandler(): options are strict", () => {
  const h = protect(factory, { authorization: { enabled: false } });
  assert.deepEqual(
    issuesOf(() => toNodeHandler(h, { trust_prxy: true } as never)),
    ["trust_prxy: unknown key"],
  );
  assert.deepEqual(
    issuesOf(() => toNodeHandler(h, { request_signl: false } as never)),
    ['request_signl: unknown key (did you mean "request_signal"?)'],
  );
  assert.match(issuesOf(() => toNodeHandler(h, { origin: "http://localhost/mcp" }))[0]!, /^origin: /);
});

test("the caller's options object is neither kept nor mutated", () => {
  const options: ProtectOptions = {
    authorization: { ...enabled },
    provider,
    session_mode: "stateless",
    cors_origins: ["https://a.example"],
  };
  const before = JSON.stringify(options);
  const h = protect(factory, Object.freeze(options));
  assert.equal(JSON.stringify(options), before);
  assert.equal(h.resource, enabled.resource);
});

test("startDevAuthorizationServer() and AuthorizationServerDiscovery: strict, with suggestions", async () => {
  const { startDevAuthorizationServer } = await import("../src/dev-authorization-server/index.js");
  const { AuthorizationServerDiscovery } = await import("../src/index.js");
  await assert.rejects(
    startDevAuthorizationServer({ resources: ["http://127.0.0.1:1/mcp"], prot: 0 } as never),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.issues.length === 1 &&
      e.issues[0]!.message === 'unknown key (did you mean "port"?)',
  );
  assert.deepEqual(
    issuesOf(() => new AuthorizationServerDiscovery({ cache_tl: 60, timeout_ms: 0 } as never)).sort(),
    ['cache_tl: unknown key (did you mean "cache_ttl"?)', "timeout_ms: Too small: expected number to be >0"].sort(),
  );
});

/** Like {@link issuesOf}, for a function that rejects (the dev authorization server is built asynchronously). */
async function asyncIssuesOf(fn: () => Promise<unknown>): Promise<string[]> {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.equal(e.code, "ERR_INVALID_CONFIG");
    return e.issues.map((i) => `${i.key}: ${i.message}`);
  }
  assert.fail("expected a ConfigError");
}

const USERINFO = "must not contain userinfo (user:password@): credentials in a URL end up in logs and metadata";
const FRAGMENT = "must not contain a fragment (#…)";
const REFUSED = "refused by name: __proto__, constructor and prototype are never option keys (prototype pollution)";
const secret = { client_id: "mcp-server", client_secret: "s3cret" };
const exchange = { token_endpoint: "https://auth.example.com/token", ...secret };

test("every endpoint URL option refuses userinfo and a fragment, naming the key and the reason", async () => {
  const table: [string, (url: string) => unknown, string][] = [
    [
      "jwks_uri",
      (u) => new JWTValidator({ jwks_uri: u, issuer: "https://auth.example.com" }),
      "https://auth.example.com/jwks",
    ],
    [
      "jwks_uri",
      (u) => new EntraMultiTenantValidator({ any_tenant: true, audience: "api://mcp", jwks_uri: u }),
      "https://login.example.com/keys",
    ],
    [
      "introspection_endpoint",
      (u) => new IntrospectionValidator({ introspection_endpoint: u, ...secret }),
      "https://auth.example.com/introspect",
    ],
    [
      "token_endpoint",
      (u) => new MCPServer("x", { authorization: enabled, token_exchange: { ...exchange, token_endpoint: u } }),
      "https://auth.example.com/token",
    ],
    [
      "token_endpoint",
      (u) => TokenExchange.auth0({ domain: "acme.auth0.com", token_endpoint: u, ...secret }),
      "https://acme.auth0.com/oauth/token",
    ],
    ["issuer", (u) => TokenExchange.keycloak({ issuer: u, ...secret }), "https://sso.example.com/realms/acme"],
    ["base_url", (u) => JWTValidatorConfig.keycloak({ base_url: u, realm: "acme" }), "https://sso.example.com"],
    [
      "authorization.authorization_servers.0",
      (u) => protect(factory, { authorization: { ...enabled, authorization_servers: [u] }, provider }),
      "https://auth.example.com",
    ],
  ];
  for (const [key, build, good] of table) {
    const host = new URL(good).host;
    assert.deepEqual(
      issuesOf(() => build(good.replace(host, `user:pass@${host}`))),
      [`${key}: ${USERINFO}`],
      `${key} userinfo`,
    );
    assert.deepEqual(
      issuesOf(() => build(good.replace(host, `@${host}`))),
      [`${key}: ${USERINFO}`],
      `${key} empty userinfo`,
    );
    assert.deepEqual(
      issuesOf(() => build(`${good}#x`)),
      [`${key}: ${FRAGMENT}`],
      `${key} fragment`,
    );
    build(good); // and the clean URL is accepted
  }
  // A record key (an IssuerRouter issuer) too, with the inner reason rather than "Invalid key in record".
  assert.deepEqual(
    issuesOf(() => new IssuerRouter({ issuers: { "https://u:p@as.example.com": provider } })),
    [`issuers.https://u:p@as.example.com: invalid key: ${USERINFO}`],
  );
  // The development authorization server: issuer and resources.
  assert.deepEqual(
    await asyncIssuesOf(() =>
      createDevAuthorizationServer({ issuer: "http://u@127.0.0.1:1", resources: ["http://127.0.0.1:2/mcp#x"] }),
    ),
    [`issuer: ${USERINFO}`, `resources.0: ${FRAGMENT}`],
  );
});

test("issuers and resources refuse a query too; endpoints may keep theirs", async () => {
  assert.deepEqual(
    issuesOf(() => TokenExchange.okta({ issuer: "https://acme.okta.com/oauth2/default?x=1", ...secret })),
    ["issuer: must not contain a query (an issuer identifier has none, RFC 8414 §2)"],
  );
  assert.deepEqual(
    await asyncIssuesOf(() =>
      createDevAuthorizationServer({ issuer: "http://127.0.0.1:1?", resources: ["http://127.0.0.1:2/mcp?tenant=a"] }),
    ),
    [
      "issuer: must not contain a query (an issuer identifier has none, RFC 8414 §2)",
      "resources.0: must not contain a query (RFC 8707 §2)",
    ],
  );
  // An endpoint's query is the authorization server's business (e.g. an API version parameter).
  new IntrospectionValidator({
    introspection_endpoint: "https://auth.example.com/introspect?api-version=2",
    ...secret,
  });
});

test("an endpoint that is no URL at all is a ConfigError, not a TypeError from new URL()", () => {
  assert.deepEqual(
    issuesOf(() => new IntrospectionValidator({ introspection_endpoint: "not a url", ...secret })),
    ["introspection_endpoint: must be an absolute http(s) URL"],
  );
  assert.deepEqual(
    issuesOf(
      () =>
        new MCPServer("x", {
          authorization: enabled,
          token_exchange: { ...exchange, token_endpoint: "ftp://auth.example.com/t" },
        }),
    ),
    ["token_endpoint: must be an absolute http(s) URL"],
  );
  assert.deepEqual(
    issuesOf(
      () =>
        new MCPServer("x", {
          authorization: enabled,
          token_exchange: { ...exchange, audiences: { a: { origin: "not a url" } } },
        }),
    ),
    ["audiences.a.origin: must be an absolute http(s) URL"],
  );
  assert.deepEqual(
    issuesOf(() => new IntrospectionValidator({ ...secret } as never)),
    ["introspection_endpoint: required: an absolute http(s) URL"],
  );
});

test("token_exchange.audiences: a key named __proto__, constructor or prototype is named, not dropped", () => {
  const withAudiences = (audiences: unknown) => () =>
    protect(factory, { authorization: enabled, provider, token_exchange: { ...exchange, audiences } as never });
  // JSON.parse and a computed key both make an own "__proto__" property; zod's record would drop it.
  assert.deepEqual(issuesOf(withAudiences(JSON.parse('{"__proto__": {"scope": "x"}, "api": {"scope": "y"}}'))), [
    `audiences.__proto__: ${REFUSED}`,
  ]);
  assert.deepEqual(issuesOf(withAudiences({ ["__proto__"]: { scope: "x" }, api: { scope: "y" } })), [
    `audiences.__proto__: ${REFUSED}`,
  ]);
  assert.deepEqual(issuesOf(withAudiences({ constructor: { scope: "x" } })), [`audiences.constructor: ${REFUSED}`]);
  assert.deepEqual(issuesOf(withAudiences({ prototype: { scope: "x" } })), [`audiences.prototype: ${REFUSED}`]);
  // An object literal's `__proto__:` is the prototype, not a key: an audience only inherited is refused.
  assert.deepEqual(issuesOf(withAudiences({ __proto__: { "api://reports": { scope: "x" } } })), [
    "audiences.__proto__: refused: inherited keys (api://reports); { __proto__: … } sets the object's prototype, write the keys themselves",
  ]);
  assert.equal(({} as Record<string, unknown>)["scope"], undefined, "Object.prototype untouched");
  // Ordinary audiences are fine, and the same check runs in MCPServer.
  protect(factory, {
    authorization: enabled,
    provider,
    token_exchange: { ...exchange, audiences: { "api://reports": { scope: "r" } } },
  });
  assert.deepEqual(
    issuesOf(
      () =>
        new MCPServer("x", {
          authorization: enabled,
          token_exchange: { ...exchange, audiences: JSON.parse('{"__proto__": {}}') },
        }),
    ),
    [`audiences.__proto__: ${REFUSED}`],
  );
});

test("refused key names reach every option object and record, at any depth", async () => {
  assert.deepEqual(
    issuesOf(() => protect(factory, JSON.parse('{"authorization": {"__proto__": {"enabled": true}}}'))),
    [`authorization.__proto__: ${REFUSED}`],
  );
  assert.deepEqual(
    issuesOf(() => protect(factory, JSON.parse('{"authorization": {}, "constructor": {}}'))),
    [`constructor: ${REFUSED}`],
  );
  assert.deepEqual(
    issuesOf(() => new MCPServer("x", JSON.parse('{"__proto__": {"max_sessions": 1}}'))),
    [`__proto__: ${REFUSED}`],
  );
  assert.deepEqual(
    issuesOf(
      () =>
        new JWTValidator({
          jwks_uri: "https://a.example/jwks",
          issuer: "i",
          required_claims: JSON.parse('{"__proto__": {"a": 1}}'),
        }),
    ),
    [`required_claims.__proto__: ${REFUSED}`],
  );
  assert.deepEqual(
    issuesOf(() =>
      protect(factory, {
        authorization: { enabled: false },
        dns_rebinding_protection: { ["__proto__"]: { allowed_hosts: ["evil.example"] } } as never,
      }),
    ),
    [`dns_rebinding_protection.__proto__: ${REFUSED}`],
  );
  assert.deepEqual(
    await asyncIssuesOf(() =>
      createDevAuthorizationServer({
        issuer: "http://127.0.0.1:1",
        resources: ["http://127.0.0.1:2/mcp"],
        scope_descriptions: { constructor: "x" },
      }),
    ),
    [`scope_descriptions.constructor: ${REFUSED}`],
  );
  // protect()'s top level, inherited through an object literal's __proto__: refused, not ignored.
  assert.deepEqual(
    issuesOf(() =>
      protect(factory, { authorization: { enabled: false }, __proto__: { session_mode: "stateless" } } as never),
    ),
    [
      "__proto__: refused: inherited keys (session_mode); { __proto__: … } sets the object's prototype, write the keys themselves",
    ],
  );
  // A provider that is a class instance is a value, not an options object: its prototype is its own business.
  class Provider implements AuthorizationProvider {
    verify(): Promise<never> {
      return Promise.reject(new Error("never called"));
    }
  }
  protect(factory, { authorization: enabled, provider: new Provider() });
});

test("JWTValidatorConfig presets check their own input: ConfigError with did-you-mean, never a TypeError or 'undefined' in a URL", () => {
  const table: [() => unknown, string[]][] = [
    [
      () => JWTValidatorConfig.okta({ domian: "acme.okta.com" } as never),
      ["domain: Invalid input: expected string, received undefined", 'domian: unknown key (did you mean "domain"?)'],
    ],
    [
      () => JWTValidatorConfig.entra({ tenant: "contoso.onmicrosoft.com", audience: "api://mcp" } as never),
      [
        "tenant_id: Invalid input: expected string, received undefined",
        'tenant: unknown key (did you mean "tenant_id"?)',
      ],
    ],
    [
      () => JWTValidatorConfig.auth0({ domain: "acme.auth0.com" } as never),
      ["audience: Invalid input: expected string | array, received undefined"],
    ],
    [
      () => JWTValidatorConfig.auth0({ domain: "acme.auth0.com/evil?", audience: "a" }),
      ["domain: a host name, e.g. tenant.eu.auth0.com"],
    ],
    [
      () => JWTValidatorConfig.keycloak({ base_url: "https://kc.example.com", realme: "acme" } as never),
      ["realm: Invalid input: expected string, received undefined", 'realme: unknown key (did you mean "realm"?)'],
    ],
    [
      () => JWTValidatorConfig.keycloak({ base_url: "sso", realm: "acme" }),
      ["base_url: must be an absolute http(s) URL"],
    ],
    [
      () => JWTValidatorConfig.entra({ tenant_id: "a/b", audience: "api://mcp", version: 3 } as never),
      ["tenant_id: a tenant id (GUID) or domain, e.g. contoso.onmicrosoft.com", "version: Invalid input"],
    ],
    [
      () =>
        JWTValidatorConfig.cognito({ region: "eu-west-1", user_pool_id: "eu-west-1_AbC", client_id: ["app"] } as never),
      [
        "client_ids: Invalid input: expected array, received undefined",
        'client_id: unknown key (did you mean "client_ids"?)',
      ],
    ],
    [
      () => JWTValidatorConfig.cognito({ region: "Europe", user_pool_id: "pool", client_ids: [] }),
      [
        "region: an AWS region, e.g. eu-west-1",
        "user_pool_id: a user pool id, e.g. eu-west-1_AbCdEfGhI",
        "client_ids: Too small: expected array to have >=1 items",
      ],
    ],
    // The overrides are checked with the validator's own schema, and the preset's derived keys are not overrides.
    [
      () => JWTValidatorConfig.auth0({ domain: "acme.auth0.com", audience: "a", scope_claim: ["scp"] } as never),
      ['scope_claim: unknown key (did you mean "scope_claims"?)'],
    ],
    [
      () => JWTValidatorConfig.okta({ domain: "acme.okta.com", clock_tolerance_seconds: 9999 }),
      ["clock_tolerance_seconds: Too big: expected number to be <=300"],
    ],
    [
      () => JWTValidatorConfig.okta({ domain: "acme.okta.com", jwks_uri: "https://evil.example/jwks" } as never),
      ["jwks_uri: unknown key"],
    ],
  ];
  for (const [build, expected] of table) {
    const got = issuesOf(build);
    assert.deepEqual(got, expected, got.join("\n"));
  }
  // Valid input still gives what it gave.
  assert.equal(
    JWTValidatorConfig.okta({ domain: "https://acme.okta.com/" }).issuer,
    "https://acme.okta.com/oauth2/default",
  );
  assert.equal(
    JWTValidatorConfig.entra({ tenant_id: "contoso.onmicrosoft.com", audience: "api://mcp", version: 1 }).issuer,
    "https://sts.windows.net/contoso.onmicrosoft.com/",
  );
});

test("TokenExchange presets check their own input with ConfigError and did-you-mean", () => {
  assert.deepEqual(
    issuesOf(() => TokenExchange.auth0({ domian: "acme.auth0.com", ...secret } as never)),
    ["domain: Invalid input: expected string, received undefined", 'domian: unknown key (did you mean "domain"?)'],
  );
  assert.deepEqual(
    issuesOf(() => TokenExchange.entra({ tenant_id: "contoso", ...secret } as never)),
    ["tenant: Invalid input: expected string, received undefined", 'tenant_id: unknown key (did you mean "tenant"?)'],
  );
  assert.deepEqual(
    issuesOf(() => TokenExchange.keycloak({ issuer_url: "https://sso.example.com/realms/a", ...secret } as never)),
    ["issuer: required: an absolute http(s) URL", 'issuer_url: unknown key (did you mean "issuer"?)'],
  );
  assert.deepEqual(
    issuesOf(() =>
      TokenExchange.okta({ issuer: "https://acme.okta.com/oauth2/default", audience: {}, ...secret } as never),
    ),
    ['audience: unknown key (did you mean "audiences"?)'],
  );
  assert.deepEqual(
    issuesOf(() =>
      TokenExchange.okta({
        issuer: "https://acme.okta.com/oauth2/default",
        audiences: { "api://r": { orign: "https://r.example" } },
        ...secret,
      } as never),
    ),
    ['audiences.api://r.orign: unknown key (did you mean "origin"?)'],
  );
});

test("an unknown key gets the closest valid name across option objects: typos, camelCase, URL synonyms, a word missing or replaced", () => {
  const table: [string, () => unknown, string][] = [
    [
      "introspection_url",
      () => new IntrospectionValidator({ introspection_url: "https://a.example/i", ...secret } as never),
      "introspection_endpoint",
    ],
    [
      "introspectionEndpoint",
      () => new IntrospectionValidator({ introspectionEndpoint: "https://a.example/i", ...secret } as never),
      "introspection_endpoint",
    ],
    [
      "clientSecret",
      () =>
        new IntrospectionValidator({
          introspection_endpoint: "https://a.example/i",
          client_id: "c",
          clientSecret: "s",
        } as never),
      "client_secret",
    ],
    ["jwks_url", () => new JWTValidator({ jwks_url: "https://a.example/j", issuer: "i" } as never), "jwks_uri"],
    ["jwksUri", () => new JWTValidator({ jwksUri: "https://a.example/j", issuer: "i" } as never), "jwks_uri"],
    ["url_jwks", () => new JWTValidator({ url_jwks: "https://a.example/j", issuer: "i" } as never), "jwks_uri"],
    [
      "token_cache_size",
      () => new JWTValidator({ jwks_uri: "https://a.example/j", issuer: "i", token_cache_size: 5 } as never),
      "token_cache_max",
    ],
    [
      "token_url",
      () =>
        new MCPServer("x", {
          authorization: enabled,
          token_exchange: { ...secret, token_url: "https://a.example/t" } as never,
        }),
      "token_endpoint",
    ],
    [
      "tokenEndpoint",
      () =>
        new MCPServer("x", {
          authorization: enabled,
          token_exchange: { ...secret, tokenEndpoint: "https://a.example/t" } as never,
        }),
      "token_endpoint",
    ],
    [
      "authorization.allow_http",
      () => protect(factory, { authorization: { ...enabled, allow_http: true }, provider } as never),
      "allow_insecure_http",
    ],
    [
      "authorization.authorizationServers",
      () => protect(factory, { authorization: { ...enabled, authorizationServers: [] }, provider } as never),
      "authorization_servers",
    ],
    [
      "authorization.resource_uri",
      () =>
        protect(factory, { authorization: { ...enabled, resource_uri: "https://m.example/mcp" }, provider } as never),
      "resource",
    ],
    [
      "sessionMode",
      () => protect(factory, { authorization: enabled, provider, sessionMode: "stateless" } as never),
      "session_mode",
    ],
    [
      "idle_timeout",
      () => protect(factory, { authorization: enabled, provider, idle_timeout: 5 } as never),
      "session_idle_timeout_seconds",
    ],
    [
      "jwksUri",
      () => new EntraMultiTenantValidator({ any_tenant: true, audience: "a", jwksUri: "https://k.example" } as never),
      "jwks_uri",
    ],
  ];
  for (const [key, build, suggestion] of table) {
    let err: unknown;
    try {
      build();
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError, `${key}: expected a ConfigError, got ${String(err)}`);
    const issue = err.issues.find((i) => i.key === key);
    assert.equal(issue?.message, `unknown key (did you mean "${suggestion}"?)`, `${key}: ${err.message}`);
  }
});

test("the development authorization server's unknown keys get the closest name too", async () => {
  assert.deepEqual(
    await asyncIssuesOf(() =>
      createDevAuthorizationServer({
        issuer_uri: "http://127.0.0.1:1",
        resources: ["http://127.0.0.1:2/mcp"],
      } as never),
    ),
    ["issuer: required: an absolute http(s) URL", 'issuer_uri: unknown key (did you mean "issuer"?)'],
  );
});

test("no nonsense: a key only loosely like several, or like none, gets no suggestion", () => {
  const cases: [string, string[]][] = [
    ["zzzzzzzz", ["session_mode", "max_sessions"]],
    // One shared word out of two is not near (a cache's size is not its lifetime).
    ["cache_size", ["cache_ttl", "token_cache_max"]],
    ["max_connections", ["max_sessions", "max_body_bytes", "max_anonymous_sessions"]],
    // Two keys as near as each other: no guess.
    ["allow_http", ["allow_insecure_http", "allow_plain_http"]],
    // A short shared word ("url") is not enough.
    ["url", ["jwks_uri", "token_endpoint"]],
  ];
  for (const [key, known] of cases) assert.equal(closest(key, known), undefined, `${key} among ${known.join(", ")}`);
  // And the near ones, directly.
  assert.equal(closest("allow_http", ["allow_insecure_http", "cache_ttl"]), "allow_insecure_http");
  assert.equal(closest("endpoint_introspection", ["introspection_endpoint"]), "introspection_endpoint");
});
