/**
 * The `connected_accounts` option on `protect()` and `MCPServer`: refused at construction with a
 * `ConfigError` naming each problem, the connect routes served by the same handler (`handles()`), and
 * `getContext()` refusing connections on a server without the option.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ConfigError, JWTValidator, MCPServer, protect, getContext } from "../../src/index.js";
import { ConnectionRefused } from "../../src/connected-accounts/errors.js";
import { MemoryTokenVault } from "../../src/connected-accounts/vault.js";

const RESOURCE = "https://mcp.example.com/mcp";
const ISSUER = "https://as.example.com";
const provider = new JWTValidator({ issuer: ISSUER, jwks_uri: `${ISSUER}/jwks`, audience: RESOURCE });
const authorization = { enabled: true, authorization_servers: [ISSUER], resource: RESOURCE };
const acme = {
  client_id: "mcp",
  client_secret: "secret-secret-secret",
  authorization_endpoint: "https://acme.example/authorize",
  token_endpoint: "https://acme.example/token",
  api_origins: ["https://api.acme.example"],
};

function issues(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `a ConfigError, not ${String(e)}`);
    return e.issues.map((i) => `${i.key}: ${i.message}`);
  }
  return assert.fail("expected a ConfigError");
}

const make = (connected_accounts: unknown, auth: object = authorization) =>
  protect(() => new McpServer({ name: "t", version: "1" }), {
    authorization: auth,
    ...("enabled" in auth && auth.enabled === false ? {} : { provider }),
    connected_accounts: connected_accounts as never,
  });

test("bad connected_accounts options are refused, each problem named", () => {
  const lines = issues(() => make({ providers: {}, base_path: "connect/", handle_ttl_seconds: 3600, color: 1 }));
  for (const key of ["providers", "base_path", "handle_ttl_seconds", "color"])
    assert.ok(
      lines.some((l) => l.startsWith(`${key}:`) || l.includes(`${key}`)),
      `${key} is named: ${lines.join(" | ")}`,
    );
  assert.ok(
    issues(() => make({ providers: { acme }, sign_in: { identify: () => null, client_id: "x" } })).some((l) =>
      l.includes("either identify or client_id"),
    ),
    "identify and client_id together",
  );
  assert.ok(
    issues(() => make({ providers: { acme }, sign_in: { client_secret: "s" } })).some((l) =>
      l.includes("client_secret needs client_id"),
    ),
    "a secret without a client",
  );
  assert.ok(
    issues(() =>
      make({
        providers: { acme: { ...acme, api_origins: ["https://api.acme.example/v1"] } },
        sign_in: { client_id: "c" },
      }),
    ).some((l) => l.includes("providers.acme.api_origins")),
    "a provider problem is named by its path",
  );
  assert.ok(
    issues(() => make({ providers: { acme } })).some((l) => l.startsWith("sign_in:")),
    "a connect page must know how to identify the browser user",
  );
  assert.ok(
    issues(() => make({ providers: { acme }, sign_in: {} })).some((l) => l.includes("give client_id")),
    "sign_in names one way",
  );
  assert.ok(
    issues(() => make({ providers: { acme }, sign_in: { client_id: "c" }, vault: { get() {} } })).some((l) =>
      l.startsWith("vault"),
    ),
    "a vault without the TokenVault methods",
  );
  assert.ok(
    issues(() => make({ providers: { acme }, sign_in: { client_id: "c" } }, { enabled: false })).some((l) =>
      l.includes("needs authorization enabled"),
    ),
    "connected accounts need authorization",
  );
});

test("the connect routes are the handler's (handles()), under base_path; MCPServer takes the option too", async () => {
  const handler = make({ providers: { acme }, sign_in: { client_id: "connect" }, vault: new MemoryTokenVault() });
  assert.equal(handler.handles("/connect/start"), true, "start");
  assert.equal(handler.handles("/connect/callback"), true, "callback");
  assert.equal(handler.handles("/connect/elsewhere"), true, "everything under base_path answers (404 inside)");
  assert.equal(handler.handles("/connected"), false, "not a prefix match");
  const res = await handler(new Request("https://mcp.example.com/connect/start?handle=nope"));
  assert.equal(res.status, 410, "an unknown handle");
  assert.equal(res.headers.get("cache-control"), "no-store", "not cached");
  const custom = make({ providers: { acme }, sign_in: { client_id: "c" }, base_path: "/accounts/link" });
  assert.equal(custom.handles("/accounts/link/start"), true, "a custom base path");
  assert.equal(custom.handles("/connect/start"), false, "and not the default");
  await handler.close();
  await custom.close();

  const server = new MCPServer("t", {
    authorization,
    connected_accounts: { providers: { acme }, sign_in: { client_id: "connect" } },
  });
  assert.ok(server, "MCPServer accepts it");
  assert.throws(
    () => new MCPServer("t", { authorization, connected_accounts: { providers: {}, sign_in: { client_id: "c" } } }),
    ConfigError,
    "and checks it",
  );
});

test("without connected_accounts, connection({ provider }) and disconnect() are refused (not_configured)", async () => {
  const ctx = getContext();
  assert.throws(
    () => ctx.connection({ provider: "acme" }),
    (e: unknown) =>
      e instanceof ConnectionRefused && e.reason === "not_configured" && e.code === "ERR_CONNECTION_REFUSED",
    "connection",
  );
  await assert.rejects(
    ctx.disconnect("acme"),
    (e: unknown) => e instanceof ConnectionRefused && e.reason === "not_configured",
    "disconnect",
  );
});
