/**
 * Every options object of the HTTP surface is checked at construction by one strict schema: unknown
 * keys refused with the closest valid name, enums enforced, every problem listed, one error type.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ConfigError, MCPServer, protect, toNodeHandler, type AuthorizationProvider, type ProtectOptions } from "../src/index.js";

const provider: AuthorizationProvider = {
  verify: async () => ({ subject: "s", scopes: [], claims: {}, client_id: undefined, token: "t" }) as never,
};
const enabled = { enabled: true, authorization_servers: ["https://auth.example.com"], resource: "https://mcp.example.com/mcp" };
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
  assert.ok(issues.some((i) => i.startsWith("session_mode: ")));
  assert.ok(issues.some((i) => i.startsWith("engine: ")));
  assert.ok(issues.some((i) => i.startsWith("max_sessions: ")));
  assert.ok(issues.some((i) => i.startsWith("authorization.cache_ttl: ")));
  assert.ok(issues.includes('trust_prxy: unknown key (did you mean "trust_proxy"?)'));
});

test('protect(): cors_origins is "*" or a list of exact origins; a string is refused', () => {
  assert.match(
    issuesOf(() => protect(factory, { authorization: enabled, provider, cors_origins: "https://a.example" } as never))[0]!,
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
  const h = protect(factory, { authorization: { enabled: false }, cors_origins: ["https://a.example"], dns_rebinding_protection: false });
  for (const origin of ["https://a.exampl", "a", ":", "https://a.example.evil", "https://A.example"]) {
    const res = await h(new Request("https://x.invalid/mcp", { method: "OPTIONS", headers: { origin, host: "localhost" } }));
    assert.equal(res.headers.get("access-control-allow-origin"), null, origin);
  }
  const ok = await h(new Request("http://localhost/mcp", { method: "OPTIONS", headers: { origin: "https://a.example" } }));
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
  assert.match(issuesOf(() => new MCPServer("x", { cors_origins: "https://a.example" } as never))[0]!, /^cors_origins: /);
});

test("MCPServer.serve() and close() options are strict", async () => {
  const s = new MCPServer("x", { log: () => {} });
  await assert.rejects(
    s.serve({ prot: 0 } as never),
    (e: unknown) => e instanceof ConfigError && e.issues[0]!.message.includes('did you mean "port"?'),
  );
  await assert.rejects(
    s.serve({ port: 0, headers_timeout: 5000, request_timeout: 1000 }),
    (e: unknown) => e instanceof ConfigError && e.issues[0]!.key === "headers_timeout",
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
    (e: unknown) => e instanceof ConfigError && e.issues.length === 1 && e.issues[0]!.message === 'unknown key (did you mean "port"?)',
  );
  assert.deepEqual(
    issuesOf(() => new AuthorizationServerDiscovery({ cache_tl: 60, timeout: 0 } as never)).sort(),
    ['cache_tl: unknown key (did you mean "cache_ttl"?)', "timeout: Too small: expected number to be >0"].sort(),
  );
});
