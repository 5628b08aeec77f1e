/**
 * `fail_open` admits only on an outage (AuthorizationUnavailable). Anything else a provider throws is
 * a bug: 500 with a JSON body, a `provider_error` event naming the class, nobody admitted.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { AuthorizationUnavailable, protect, type AuthEvent, type AuthorizationProvider } from "../../src/index.js";
import { MCP_HEADERS, readRpc, toolCall } from "../helpers/mcp.js";

const RESOURCE = "http://127.0.0.1:9/mcp";

function serverWith(provider: AuthorizationProvider, fail_open: boolean, events: AuthEvent[]) {
  return protect(
    () => {
      const s = new McpServer({ name: "p", version: "1" });
      s.registerTool("ping", { description: "pong" }, async () => ({ content: [{ type: "text", text: "pong" }] }));
      return s;
    },
    {
      session_mode: "stateless",
      authorization: { enabled: true, authorization_servers: ["http://127.0.0.1:1"], resource: RESOURCE, fail_open },
      provider,
      on_auth_event: (e) => events.push(e),
    },
  );
}

const call = (h: ReturnType<typeof serverWith>) =>
  h(
    new Request(RESOURCE, {
      method: "POST",
      headers: { ...MCP_HEADERS, authorization: "Bearer secret-token-value" },
      body: toolCall("ping"),
    }),
  );

for (const fail_open of [true, false]) {
  test(`fail_open: ${fail_open}: a provider throwing a plain error is 500 JSON, a provider_error event, nobody admitted`, async () => {
    const thrown: unknown[] = [
      new TypeError("boom secret-token-value"),
      new RangeError("x"),
      "a string",
      null,
      Object.create(null),
    ];
    for (const value of thrown) {
      const events: AuthEvent[] = [];
      const provider: AuthorizationProvider = {
        verify: async () => {
          throw value;
        },
      };
      const res = await call(serverWith(provider, fail_open, events));
      assert.equal(res.status, 500, typeof value);
      assert.equal(res.headers.get("content-type"), "application/json");
      assert.equal(res.headers.get("www-authenticate"), null);
      const text = await res.text();
      assert.deepEqual(JSON.parse(text), {
        error: "server_error",
        error_description: "The access token could not be checked",
      });
      assert.ok(
        !text.includes("secret-token-value") && !text.includes("boom"),
        "neither the token nor the provider's error text reaches the client",
      );
      assert.ok(!events.some((e) => e.type === "fail_open" || e.type === "accepted"), "nobody admitted");
      const ev = events.find((e) => e.type === "provider_error");
      assert.ok(ev, "provider_error event");
      assert.ok(!JSON.stringify(events).includes("secret-token-value"), "the token appears in no event");
      if (value instanceof TypeError) assert.deepEqual(ev, { type: "provider_error", error_class: "TypeError" });
    }
  });
}

test("fail_open still admits as anonymous on AuthorizationUnavailable (an outage), and only then", async () => {
  const events: AuthEvent[] = [];
  const provider: AuthorizationProvider = {
    verify: async () => {
      throw new AuthorizationUnavailable();
    },
  };
  const res = await call(serverWith(provider, true, events));
  assert.equal(res.status, 200);
  assert.equal((await readRpc(res)).result.content[0].text, "pong");
  assert.ok(
    events.some((e) => e.type === "fail_open"),
    "a fail_open event",
  );
});

test("a synchronous verifyCached probe that throws is only a miss; verify still decides", async () => {
  const events: AuthEvent[] = [];
  const provider: AuthorizationProvider = {
    verifyCached: () => {
      throw new TypeError("probe bug");
    },
    verify: async () => {
      throw new TypeError("verify bug");
    },
  };
  const res = await call(serverWith(provider, true, events));
  assert.equal(res.status, 500);
  assert.deepEqual(
    events.filter((e) => e.type === "provider_error"),
    [{ type: "provider_error", error_class: "TypeError" }],
  );
});
