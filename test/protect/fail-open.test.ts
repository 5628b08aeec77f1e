import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { getContext, JWTValidator, MCPServer, tool, type AuthEvent } from "../../src/index.js";
import { makeKey, startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";
import { MCP_HEADERS, readRpc, toolCall } from "../helpers/mcp.js";

let issuer: LocalIssuer;
let runs: string[] = [];

before(async () => {
  issuer = await startLocalIssuer();
});
after(() => issuer.close());

async function start(fail_open: boolean, events: AuthEvent[]) {
  const server = new MCPServer("fo", {
    session_mode: "stateless",
    authorization: { enabled: true, authorization_servers: [issuer.issuer], required_scopes: ["mcp"], fail_open },
    on_auth_event: (e) => events.push(e),
  });
  server.setAuthorizationProvider(new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }));
  server.collect(
    tool({ name: "open", description: "no scopes" }, () => {
      runs.push("open");
      return { auth: getContext().auth };
    }),
    tool({ name: "scoped", description: "needs files:delete", required_scopes: ["files:delete"] }, () => {
      runs.push("scoped");
      return "ran";
    }),
  );
  const { url } = await server.serve({ port: 0 });
  return { server, url };
}

const post = (url: string, token: string, name: string) =>
  fetch(url, { method: "POST", headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` }, body: toolCall(name) });

describe("fail_open: true", () => {
  test("only an unreachable key set lets a request through, as anonymous; per-tool scopes still refuse", async () => {
    const events: AuthEvent[] = [];
    const { server, url } = await start(true, events);
    runs = [];
    issuer.setDown(true);
    try {
      const token = await issuer.sign({ aud: url, scope: "mcp files:delete" });
      const res = await post(url, token, "open");
      assert.equal(res.status, 200);
      assert.deepEqual((await readRpc(res)).result.structuredContent, { auth: null });
      assert.deepEqual(
        events.map((e) => e.type).filter((t) => t !== "jwks_refreshed"),
        ["fail_open"],
      );

      const scoped = await readRpc(await post(url, token, "scoped"));
      assert.deepEqual(scoped.result, {
        isError: true,
        content: [
          { type: "text", text: "Tool \"scoped\" requires scopes: ['files:delete']. Missing: ['files:delete']" },
        ],
      });
      assert.deepEqual(runs, ["open"]);

      // Tokens whose own claims disqualify them are refused even while the key set is down.
      const now = Math.floor(Date.now() / 1000);
      for (const bad of [
        await issuer.sign({ aud: url, iat: now - 7200, exp: now - 3600 }),
        await issuer.sign({ aud: "https://other.example/mcp" }),
        await issuer.sign({ aud: url, iss: "https://evil.example" }),
        await issuer.sign({ aud: url, nbf: now + 3600 }),
        "not-a-jwt",
      ]) {
        const r = await post(url, bad, "open");
        assert.equal(r.status, 401, `refused: ${bad.slice(0, 10)}`);
        assert.match(r.headers.get("www-authenticate") ?? "", /error="invalid_token"/);
      }
      assert.deepEqual(runs, ["open"]);
    } finally {
      issuer.setDown(false);
      await server.close();
    }
  });

  test("a forged token is refused when the key set is reachable", async () => {
    const events: AuthEvent[] = [];
    const { server, url } = await start(true, events);
    runs = [];
    try {
      const forged = await issuer.sign({ aud: url, scope: "mcp" }, { key: await makeKey("k1") });
      const r = await post(url, forged, "open");
      assert.equal(r.status, 401);
      assert.deepEqual(runs, []);
      assert.ok(!events.some((e) => e.type === "fail_open"), "no fail_open event");
    } finally {
      await server.close();
    }
  });
});

describe("fail_open: false", () => {
  test("an unreachable key set answers 503 with Retry-After and no challenge; nothing runs", async () => {
    const events: AuthEvent[] = [];
    const { server, url } = await start(false, events);
    runs = [];
    issuer.setDown(true);
    try {
      const res = await post(url, await issuer.sign({ aud: url, scope: "mcp" }), "open");
      assert.equal(res.status, 503);
      // The first failed fetch starts a 1 s back-off (jittered down): Retry-After says when the next attempt is due.
      assert.equal(res.headers.get("retry-after"), "1");
      assert.equal(res.headers.get("www-authenticate"), null);
      assert.deepEqual(await res.json(), {
        error: "temporarily_unavailable",
        error_description: "Token validation is temporarily unavailable",
      });
      assert.deepEqual(runs, []);
      assert.ok(
        events.some((e) => e.type === "refused" && e.code === "ERR_AUTHORIZATION_UNAVAILABLE" && e.status === 503),
        "a refused event with ERR_AUTHORIZATION_UNAVAILABLE and 503",
      );
    } finally {
      issuer.setDown(false);
      await server.close();
    }
  });
});
