import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, MCPServer, parseAuthorizationConfig, protect } from "../src/index.js";
import { isLoopbackHost } from "../src/config.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";

const keysOf = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.equal(e.code, "ERR_INVALID_CONFIG");
    return e.issues.map((i) => i.key);
  }
  assert.fail("expected a config error");
};

test("defaults are the card's", () => {
  assert.deepEqual(parseAuthorizationConfig({}), {
    enabled: false,
    authorization_servers: [],
    required_scopes: [],
    metadata_path: "/.well-known/oauth-protected-resource",
    cache_ttl: 300,
    fail_open: false,
    dpop_required: false,
    allow_insecure_http: false,
    step_up: false,
    step_up_scope: "union",
    hide_unauthorized_tools: false,
  });
});

test("step_up_scope takes union or operation only", () => {
  assert.deepEqual(
    keysOf(() => parseAuthorizationConfig({ step_up_scope: "all" })),
    ["step_up_scope"],
  );
  assert.deepEqual(
    keysOf(() => parseAuthorizationConfig({ step_up: "yes" })),
    ["step_up"],
  );
});

test("the caller's object is copied, not mutated, and the result is frozen", () => {
  const input = { enabled: true, authorization_servers: ["https://auth.example.com"] };
  const snapshot = structuredClone(input);
  const out = parseAuthorizationConfig(input);
  assert.deepEqual(input, snapshot);
  assert.ok(Object.isFrozen(out), "the parsed config is frozen");
});

test("unknown keys are refused by name", () => {
  assert.deepEqual(
    keysOf(() => parseAuthorizationConfig({ enabeld: true })),
    ["enabeld"],
  );
});

test("wrong types name the key", () => {
  assert.deepEqual(
    keysOf(() => parseAuthorizationConfig({ enabled: "yes" })),
    ["enabled"],
  );
  assert.deepEqual(
    keysOf(() => parseAuthorizationConfig({ cache_ttl: -1 })),
    ["cache_ttl"],
  );
  assert.deepEqual(
    keysOf(() => parseAuthorizationConfig({ cache_ttl: 0 })),
    ["cache_ttl"],
  );
  assert.deepEqual(
    keysOf(() => parseAuthorizationConfig({ required_scopes: "read" })),
    ["required_scopes"],
  );
  assert.deepEqual(
    keysOf(() => parseAuthorizationConfig({ required_scopes: ['a"b'] })),
    ["required_scopes.0"],
  );
  assert.deepEqual(
    keysOf(() => parseAuthorizationConfig({ authorization_servers: ["not a url"] })),
    ["authorization_servers.0"],
  );
  assert.deepEqual(
    keysOf(() => parseAuthorizationConfig({ metadata_path: "/meta" })),
    ["metadata_path"],
  );
  assert.deepEqual(
    keysOf(() => parseAuthorizationConfig({ resource: "https://x.example.com/mcp#frag" })),
    ["resource"],
  );
});

test("enabled without an authorization server is refused", () => {
  assert.deepEqual(
    keysOf(() => parseAuthorizationConfig({ enabled: true })),
    ["authorization_servers"],
  );
});

test("plain http is refused off loopback unless allow_insecure_http", () => {
  assert.deepEqual(
    keysOf(() => parseAuthorizationConfig({ enabled: true, authorization_servers: ["http://auth.example.com"] })),
    ["authorization_servers.0"],
  );
  assert.deepEqual(
    keysOf(() => parseAuthorizationConfig({ resource: "http://mcp.example.com/mcp" })),
    ["resource"],
  );
  assert.doesNotThrow(() =>
    parseAuthorizationConfig({
      enabled: true,
      authorization_servers: ["http://127.0.0.1:9000"],
      resource: "http://localhost:8000/mcp",
    }),
  );
  assert.doesNotThrow(() =>
    parseAuthorizationConfig({
      enabled: true,
      authorization_servers: ["http://auth.internal"],
      allow_insecure_http: true,
    }),
  );
});

test("MCPServer validates at construction and needs a provider before serving", async () => {
  assert.throws(() => new MCPServer("x", { authorization: { enabled: true, bogus: 1 } as never }), ConfigError);
  const s = new MCPServer("x", {
    authorization: { enabled: true, authorization_servers: ["https://auth.example.com"] },
  });
  await assert.rejects(s.serve({ port: 0 }), /no provider is set/);
});

test("protect() needs a resource and a provider when enabled", () => {
  const factory = () => new McpServer({ name: "x", version: "1" });
  const authorization = { enabled: true, authorization_servers: ["https://auth.example.com"] };
  assert.throws(() => protect(factory, { authorization }), /resource/);
  assert.throws(
    () => protect(factory, { authorization: { ...authorization, resource: "https://mcp.example.com/mcp" } }),
    /provider/,
  );
  assert.throws(
    () => protect(new McpServer({ name: "x", version: "1" }), { authorization: {}, session_mode: "stateless" }),
    /factory/,
  );
  assert.throws(() => protect(factory, { authorization: { dpop_required: true }, dpop: false }), /dpop_required/);
});

/** Run `fn`, expect a ConfigError (`ERR_INVALID_CONFIG`), return its issues as `key: message` lines. */
const issueLines = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.equal(e.code, "ERR_INVALID_CONFIG");
    return e.issues.map((i) => `${i.key}: ${i.message}`);
  }
  assert.fail("expected a config error");
};
const USERINFO = "must not contain userinfo (user:password@): credentials in a URL end up in logs and metadata";
const FRAGMENT = "must not contain a fragment (#…)";

test("resource refuses userinfo, a fragment and a query (RFC 8707 §2), each with its reason", () => {
  const cases: [string, string][] = [
    ["https://u:p@mcp.example.com/mcp", USERINFO],
    ["https://u@mcp.example.com/mcp", USERINFO],
    ["https://@mcp.example.com/mcp", USERINFO],
    ["https://mcp.example.com/mcp#frag", FRAGMENT],
    ["https://mcp.example.com/mcp#", FRAGMENT],
    ["https://mcp.example.com/mcp?tenant=a", "must not contain a query (RFC 8707 §2)"],
    ["https://mcp.example.com/mcp?", "must not contain a query (RFC 8707 §2)"],
  ];
  for (const [resource, message] of cases) {
    assert.deepEqual(
      issueLines(() => parseAuthorizationConfig({ resource })),
      [`resource: ${message}`],
      resource,
    );
  }
  // All three at once: each named.
  assert.deepEqual(
    issueLines(() => parseAuthorizationConfig({ resource: "https://u:p@mcp.example.com/mcp?a=1#f" })),
    [`resource: ${USERINFO}`, `resource: ${FRAGMENT}`, "resource: must not contain a query (RFC 8707 §2)"],
  );
  // A path that merely contains "@" is not userinfo.
  assert.equal(
    parseAuthorizationConfig({ resource: "https://mcp.example.com/team@acme/mcp" }).resource,
    "https://mcp.example.com/team@acme/mcp",
  );
});

test("authorization_servers are issuer identifiers: no userinfo, query or fragment (RFC 8414 §2)", () => {
  const issuer = (u: string) =>
    issueLines(() =>
      parseAuthorizationConfig({ enabled: true, authorization_servers: ["https://auth.example.com", u] }),
    );
  assert.deepEqual(issuer("https://client:secret@auth.example.com"), [`authorization_servers.1: ${USERINFO}`]);
  assert.deepEqual(issuer("https://auth.example.com/#x"), [`authorization_servers.1: ${FRAGMENT}`]);
  assert.deepEqual(issuer("https://auth.example.com/?tenant=a"), [
    "authorization_servers.1: must not contain a query (an issuer identifier has none, RFC 8414 §2)",
  ]);
});

test("resource_documentation refuses userinfo but keeps a #section link", () => {
  assert.deepEqual(
    issueLines(() => parseAuthorizationConfig({ resource_documentation: "https://u:p@docs.example.com/" })),
    [`resource_documentation: ${USERINFO}`],
  );
  const doc = "https://docs.example.com/mcp?lang=en#scopes";
  assert.equal(parseAuthorizationConfig({ resource_documentation: doc }).resource_documentation, doc);
});

test("protect(): a resource with userinfo or a query is refused before anything is served or published", () => {
  const factory = () => new McpServer({ name: "x", version: "1" });
  const provider = { verify: async () => assert.fail("never called") } as never;
  for (const [resource, message] of [
    ["https://admin:hunter2@mcp.example.com/mcp", USERINFO],
    ["https://mcp.example.com/mcp?x=1", "must not contain a query (RFC 8707 §2)"],
  ] as const) {
    const authorization = { enabled: true, authorization_servers: ["https://auth.example.com"], resource };
    assert.deepEqual(
      issueLines(() => protect(factory, { authorization, provider })),
      [`authorization.resource: ${message}`],
      resource,
    );
    // MCPServer checks its authorization config on its own ("Invalid authorization config options: …").
    assert.deepEqual(
      issueLines(() => new MCPServer("x", { authorization })),
      [`resource: ${message}`],
      resource,
    );
  }
});

test("a key named __proto__, constructor or prototype is refused by name, however it was written", () => {
  const refused = "refused by name: __proto__, constructor and prototype are never option keys (prototype pollution)";
  assert.deepEqual(
    issueLines(() => parseAuthorizationConfig(JSON.parse('{"__proto__": {"enabled": true}}'))),
    [`__proto__: ${refused}`],
  );
  assert.deepEqual(
    issueLines(() => parseAuthorizationConfig({ ["__proto__"]: { enabled: true } })),
    [`__proto__: ${refused}`],
  );
  assert.deepEqual(
    issueLines(() => parseAuthorizationConfig({ constructor: 1 })),
    [`constructor: ${refused}`],
  );
  assert.deepEqual(
    issueLines(() => parseAuthorizationConfig({ prototype: {} })),
    [`prototype: ${refused}`],
  );
  // An object literal's __proto__ sets the prototype: keys that are only inherited are not options.
  assert.deepEqual(
    issueLines(() =>
      parseAuthorizationConfig({ __proto__: { enabled: true, authorization_servers: ["https://a.example"] } }),
    ),
    [
      "__proto__: refused: inherited keys (enabled, authorization_servers); { __proto__: … } sets the object's prototype, write the keys themselves",
    ],
  );
  assert.equal(({} as Record<string, unknown>)["enabled"], undefined, "Object.prototype untouched");
});

test("loopback is 127.0.0.0/8 with octets up to 255, localhost and [::1]: nothing that only looks like it", () => {
  for (const host of ["localhost", "[::1]", "127.0.0.1", "127.255.255.255", "127.1.2.3"]) {
    assert.equal(isLoopbackHost(host), true, host);
  }
  for (const host of [
    "127.999.0.1",
    "127.0.0.256",
    "127.0.0",
    "127.0.0.1.nip.io",
    "localhost.example",
    "128.0.0.1",
    "[::2]",
  ]) {
    assert.equal(isLoopbackHost(host), false, host);
  }
});

test("hosts in allowed_hosts (trust_proxy, dns_rebinding_protection) have ports up to 65535", () => {
  const factory = () => new McpServer({ name: "x", version: "1" });
  const authorization = { enabled: false };
  assert.deepEqual(
    issueLines(() =>
      protect(factory, {
        authorization,
        trust_proxy: { allowed_hosts: ["mcp.example.com:99999"] },
      }),
    ),
    ["trust_proxy.allowed_hosts.0: a port is at most 65535"],
  );
  assert.deepEqual(
    issueLines(() =>
      protect(factory, {
        authorization,
        dns_rebinding_protection: { allowed_hosts: ["h:65536"] },
      }),
    ),
    ["dns_rebinding_protection.allowed_hosts.0: a port is at most 65535"],
  );
  assert.doesNotThrow(
    () =>
      protect(factory, {
        authorization,
        dns_rebinding_protection: { allowed_hosts: ["h:65535"] },
      }),
    "port 65535 is a port",
  );
});
