/**
 * protected-mcp/testing: the test issuer's tokens, validator (no network) and DPoP proofs, and
 * connectClient() with bearer and DPoP-bound tokens, against a real MCPServer on 127.0.0.1.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { getContext, MCPServer, tool } from "../../src/index.js";
import { ConfigError } from "../../src/errors.js";
import { connectClient, createTestIssuer, type TestIssuer } from "../../src/testing/index.js";
import { initialize, MCP_HEADERS } from "../helpers/mcp.js";

const whoami = tool({ name: "whoami", description: "Who is calling" }, () => {
  const { auth } = getContext();
  return { subject: auth?.subject ?? null, scopes: auth?.scopes ?? [], jkt: auth?.jkt ?? null };
});

let issuer: TestIssuer;
let server: MCPServer;
let url: string;

before(async () => {
  // An issuer host that does not resolve: validation works only if the key set never goes over the network.
  issuer = await createTestIssuer({ issuer: "https://issuer.invalid" });
  server = new MCPServer("kit", {
    authorization: { enabled: true, authorization_servers: [issuer.issuer] },
    on_warning: () => {},
  });
  server.setAuthorizationProvider(issuer.validator());
  server.collect(whoami);
  ({ url } = await server.serve({ port: 0 }));
});
after(() => server.close());

const post = (headers: Record<string, string>) =>
  fetch(url, { method: "POST", headers: { ...MCP_HEADERS, ...headers }, body: initialize() });

test("token(): the claims asked for, RFC 9068 header", async () => {
  const key = await issuer.dpopKey();
  const exp = Math.floor(Date.now() / 1000) + 120;
  const t = await issuer.token({
    sub: "alice",
    scopes: ["a", "b"],
    aud: url,
    exp,
    dpop: key,
    claims: { tenant: "t1" },
  });
  const c = decodeJwt(t);
  assert.equal(c.iss, "https://issuer.invalid");
  assert.equal(c.sub, "alice");
  assert.equal(c.scope, "a b");
  assert.equal(c.aud, url);
  assert.equal(c.exp, exp);
  assert.equal(c.tenant, "t1");
  assert.deepEqual(c.cnf, { jkt: key.jkt });
  const h = decodeProtectedHeader(t);
  assert.equal(h.typ, "at+jwt");
  assert.equal(h.alg, "ES256");
  assert.equal(h.kid, issuer.jwks.keys[0]?.kid);
});

test("validator(): accepts the issuer's token, no network", async () => {
  const client = await connectClient(url, {
    token: await issuer.token({ sub: "alice", scopes: ["files:read"], aud: url }),
  });
  const r = await client.callTool({ name: "whoami", arguments: {} });
  assert.deepEqual(r.structuredContent, { subject: "alice", scopes: ["files:read"], jkt: null });
  await client.close();
});

test("validator(): refuses an expired token, another audience, and another issuer's token", async () => {
  const now = Math.floor(Date.now() / 1000);
  const other = await createTestIssuer({ issuer: "https://issuer.invalid" });
  for (const token of [
    await issuer.token({ aud: url, exp: now - 600 }),
    await issuer.token({ aud: "https://elsewhere.example/mcp" }),
    await other.token({ aud: url }),
  ]) {
    const res = await post({ authorization: `Bearer ${token}` });
    assert.equal(res.status, 401);
    assert.match(
      res.headers.get("www-authenticate") ?? "",
      /^Bearer realm="MCP", resource_metadata="[^"]+", error="invalid_token"/,
    );
    assert.equal((await res.json()).error, "invalid_token");
  }
});

test("dpopProof() + a bound token: connectClient with dpop works; the same token as Bearer is refused", async () => {
  const key = await issuer.dpopKey();
  const token = await issuer.token({ sub: "carol", aud: url, dpop: key });
  const client = await connectClient(url, { token, dpop: { key, issuer } });
  const r = await client.callTool({ name: "whoami", arguments: {} });
  assert.deepEqual(r.structuredContent, { subject: "carol", scopes: [], jkt: key.jkt });
  await client.close();

  const res = await post({ authorization: `Bearer ${token}` });
  assert.equal(res.status, 401);
  assert.match(res.headers.get("www-authenticate") ?? "", /error="invalid_token"/);

  const proof = await issuer.dpopProof({ key, htu: url, token });
  const ok = await post({ authorization: `DPoP ${token}`, dpop: proof });
  assert.equal(ok.status, 200);
  const replay = await post({ authorization: `DPoP ${token}`, dpop: proof });
  assert.equal(replay.status, 401);
  assert.match(replay.headers.get("www-authenticate") ?? "", /DPoP [^]*error="invalid_dpop_proof"/);
});

test("docs/testing.md's complete test file is test/testing/testing-example.test.ts, word for word", async () => {
  const { readFileSync } = await import("node:fs");
  const readme = readFileSync(new URL("../../docs/testing.md", import.meta.url), "utf8");
  const section = readme.slice(readme.indexOf("## A complete test file"));
  const block = /```ts\n([^]*?)```/.exec(section)?.[1];
  const file = readFileSync(new URL("./testing-example.test.ts", import.meta.url), "utf8")
    .replace('"../../src/index.js"', '"protected-mcp"')
    .replace('"../../src/testing/index.js"', '"protected-mcp/testing"');
  assert.equal(block, file);
});

test("createTestIssuer() options are strict: unknown key with its suggestion, wrong type, every problem at once (ConfigError)", async () => {
  await assert.rejects(
    createTestIssuer({ audiance: "http://127.0.0.1/mcp", alg: "HS256", issuer: 42 } as never),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, "a ConfigError");
      assert.equal(e.code, "ERR_INVALID_CONFIG");
      assert.deepEqual(
        e.issues.map((i) => i.key),
        ["issuer", "alg", "audiance"],
      );
      assert.equal(e.issues.find((i) => i.key === "audiance")?.message, 'unknown key (did you mean "audience"?)');
      assert.match(e.message, /^Invalid createTestIssuer\(\) options: /);
      return true;
    },
  );
});

test("token() option names are strict: `scope` for `scopes` is refused instead of minting a token without scopes", async () => {
  await assert.rejects(issuer.token({ scope: ["files:delete"] } as never), (e: unknown) => {
    assert.ok(e instanceof ConfigError, "a ConfigError");
    assert.deepEqual(e.issues, [{ key: "scope", message: 'unknown key (did you mean "scopes"?)' }]);
    return true;
  });
});
