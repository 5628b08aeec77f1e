import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, MCPServer, parseAuthorizationConfig, protect } from "../src/index.js";
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
  assert.ok(Object.isFrozen(out));
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
    parseAuthorizationConfig({ enabled: true, authorization_servers: ["http://127.0.0.1:9000"], resource: "http://localhost:8000/mcp" }),
  );
  assert.doesNotThrow(() =>
    parseAuthorizationConfig({ enabled: true, authorization_servers: ["http://auth.internal"], allow_insecure_http: true }),
  );
});

test("MCPServer validates at construction and needs a provider before serving", async () => {
  assert.throws(() => new MCPServer("x", { authorization: { enabled: true, bogus: 1 } as never }), ConfigError);
  const s = new MCPServer("x", { authorization: { enabled: true, authorization_servers: ["https://auth.example.com"] } });
  await assert.rejects(s.serve({ port: 0 }), /no provider is set/);
});

test("protect() needs a resource and a provider when enabled", () => {
  const factory = () => new McpServer({ name: "x", version: "1" });
  const authorization = { enabled: true, authorization_servers: ["https://auth.example.com"] };
  assert.throws(() => protect(factory, { authorization }), /resource/);
  assert.throws(() => protect(factory, { authorization: { ...authorization, resource: "https://mcp.example.com/mcp" } }), /provider/);
  assert.throws(() => protect(new McpServer({ name: "x", version: "1" }), { authorization: {}, session_mode: "stateless" }), /factory/);
  assert.throws(() => protect(factory, { authorization: { dpop_required: true }, dpop: false }), /dpop_required/);
});
