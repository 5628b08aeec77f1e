/**
 * 1,000 concurrent first requests through the HTTP server cause exactly one JWKS fetch.
 *
 * Counted, never timed: the key set response is held back until all 1,000 requests are inside the
 * validator waiting for a key, so every one of them is in flight when the single fetch completes.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { JWTValidator, MCPServer, tool, type AuthorizationProvider } from "../../src/index.js";
import { startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";
import { MCP_HEADERS, readRpc, toolCall } from "../helpers/mcp.js";

const N = 1000;
let issuer: LocalIssuer;
before(async () => {
  issuer = await startLocalIssuer();
});
after(() => issuer.close());

test(`${N} concurrent first requests through the HTTP server cause exactly one JWKS fetch`, async () => {
  let arrived = 0;
  let releaseKeys!: () => void;
  const allArrived = new Promise<void>((r) => (releaseKeys = r));
  let fetchCalls = 0;

  const validator = new JWTValidator({
    jwks_uri: issuer.jwksUri,
    issuer: issuer.issuer,
    jwks_timeout_ms: 60_000,
    // The key set is held back until all requests arrived; let every one of them wait for it.
    jwks_max_wait_ms: 60_000,
    fetch: async (url, init) => {
      fetchCalls++;
      await allArrived;
      return fetch(url, init);
    },
  });
  // Counts requests that reached token verification; the last one releases the key set.
  const counting: AuthorizationProvider = {
    verify(token, context) {
      if (++arrived === N) releaseKeys();
      return validator.verify(token, context);
    },
  };

  const server = new MCPServer("single-flight", {
    session_mode: "stateless",
    authorization: { enabled: true, authorization_servers: [issuer.issuer] },
  });
  server.setAuthorizationProvider(counting);
  server.collect(tool({ name: "ping", description: "pong" }, () => "pong"));
  const { url } = await server.serve({ port: 0 });
  try {
    // Distinct tokens, so the verified-token cache cannot stand in for the key set.
    const tokens = await Promise.all(Array.from({ length: N }, (_, i) => issuer.sign({ aud: url, sub: `user-${i}` })));
    assert.equal(issuer.jwksFetches(), 0);

    const responses = await Promise.all(
      tokens.map((token, i) =>
        fetch(url, {
          method: "POST",
          headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` },
          body: toolCall("ping", {}, i),
        }),
      ),
    );
    const statuses = responses.map((r) => r.status);
    const bodies = await Promise.all(responses.map((r) => readRpc(r)));

    assert.equal(arrived, N);
    assert.deepEqual(new Set(statuses), new Set([200]));
    assert.equal(bodies.filter((b) => b.result?.content?.[0]?.text === "pong").length, N);
    assert.equal(fetchCalls, 1, "one key set fetch started");
    assert.equal(issuer.jwksFetches(), 1, "one key set request reached the issuer");
  } finally {
    await server.close();
  }
});
