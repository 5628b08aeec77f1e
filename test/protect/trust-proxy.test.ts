/**
 * trust_proxy: the canonical resource from X-Forwarded-Proto/Host, only for allowed hosts; off by
 * default, when those headers change nothing.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { JWTValidator, protect, type ProtectOptions } from "../../src/index.js";
import { startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";
import { MCP_HEADERS, readRpc, toolCall } from "../helpers/mcp.js";
import { clientKey, makeProof } from "../helpers/dpop.js";

const CONFIGURED = "http://127.0.0.1:9/mcp";
const PUBLIC = "https://mcp.example.com/mcp";
let issuer: LocalIssuer;
before(async () => {
  issuer = await startLocalIssuer();
});
after(() => issuer.close());

function handler(trust_proxy?: ProtectOptions["trust_proxy"]) {
  return protect(
    () => {
      const s = new McpServer({ name: "p", version: "1" });
      s.registerTool("ping", { description: "pong" }, async () => ({ content: [{ type: "text", text: "pong" }] }));
      return s;
    },
    {
      session_mode: "stateless",
      authorization: { enabled: true, authorization_servers: [issuer.issuer], resource: CONFIGURED },
      provider: new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }),
      ...(trust_proxy !== undefined ? { trust_proxy } : {}),
    },
  );
}

const forwarded = (host: string, proto = "https") => ({ "x-forwarded-host": host, "x-forwarded-proto": proto });
const call = (h: ReturnType<typeof handler>, headers: Record<string, string>, token?: string) =>
  h(
    new Request(CONFIGURED, {
      method: "POST",
      headers: { ...MCP_HEADERS, ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: toolCall("ping"),
    }),
  );
const metadata = async (h: ReturnType<typeof handler>, headers: Record<string, string>) =>
  (await (await h(new Request("http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp", { headers }))).json())
    .resource;

describe("trust_proxy off (default)", () => {
  test("X-Forwarded-* change nothing: metadata, challenge and audience stay the configured resource", async () => {
    const h = handler();
    assert.equal(await metadata(h, forwarded("mcp.example.com")), CONFIGURED);
    const res = await call(h, forwarded("mcp.example.com"));
    assert.equal(res.status, 401);
    assert.match(
      res.headers.get("www-authenticate")!,
      /resource_metadata="http:\/\/127\.0\.0\.1:9\/\.well-known\/oauth-protected-resource\/mcp"/,
    );
    const forPublic = await issuer.sign({ aud: PUBLIC });
    const refused = await call(h, forwarded("mcp.example.com"), forPublic);
    assert.equal(refused.status, 401);
    assert.match(
      refused.headers.get("www-authenticate")!,
      /error="invalid_token", error_description="The access token is not intended for this resource"/,
    );
    assert.equal((await call(h, forwarded("mcp.example.com"), await issuer.sign({ aud: CONFIGURED }))).status, 200);
  });
});

describe("trust_proxy: { allowed_hosts }", () => {
  let h: ReturnType<typeof handler>;
  before(() => {
    h = handler({ allowed_hosts: ["mcp.example.com"] });
  });

  test("an allowed forwarded host sets metadata, challenge and audience", async () => {
    assert.equal(await metadata(h, forwarded("mcp.example.com")), PUBLIC);
    assert.equal(await metadata(h, forwarded("MCP.Example.com")), PUBLIC, "case-insensitive");
    const res = await call(h, forwarded("mcp.example.com"));
    assert.equal(res.status, 401);
    assert.equal(
      res.headers.get("www-authenticate"),
      'Bearer realm="MCP", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", DPoP algs="ES256 EdDSA Ed25519 RS256 PS256"',
    );
    const ok = await call(h, forwarded("mcp.example.com"), await issuer.sign({ aud: PUBLIC }));
    assert.equal(ok.status, 200);
    assert.equal((await readRpc(ok)).result.content[0].text, "pong");
    // A token for the configured (internal) URL is not for the public resource.
    assert.equal((await call(h, forwarded("mcp.example.com"), await issuer.sign({ aud: CONFIGURED }))).status, 401);
  });

  test("a forwarded header with several values is refused 400 (an appending proxy puts the client's value first); nothing is served", async () => {
    for (const headers of [
      forwarded("mcp.example.com, proxy.internal"),
      forwarded("evil.example, mcp.example.com"),
      forwarded("mcp.example.com", "https, http"),
    ]) {
      const meta = await h(new Request("http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp", { headers }));
      assert.equal(meta.status, 400, JSON.stringify(headers));
      assert.deepEqual(await meta.json(), {
        error: "invalid_request",
        error_description: "X-Forwarded-Host and X-Forwarded-Proto must carry one value each",
      });
      const res = await call(h, headers, await issuer.sign({ aud: PUBLIC }));
      assert.equal(res.status, 400);
      assert.equal(res.headers.get("cache-control"), "no-store");
      assert.equal(res.headers.get("www-authenticate"), null);
    }
  });

  test("a default port is the same host: metadata, challenge and audience agree on https://mcp.example.com/mcp", async () => {
    const res = await call(h, forwarded("mcp.example.com:443"));
    assert.equal(await metadata(h, forwarded("mcp.example.com:443")), PUBLIC);
    assert.match(
      res.headers.get("www-authenticate")!,
      /resource_metadata="https:\/\/mcp\.example\.com\/\.well-known\/oauth-protected-resource\/mcp"/,
    );
    assert.equal((await call(h, forwarded("mcp.example.com:443"), await issuer.sign({ aud: PUBLIC }))).status, 200);
    // An allowlist entry written with the default port matches the plain host too.
    const h443 = handler({ allowed_hosts: ["mcp.example.com:443"] });
    assert.equal(await metadata(h443, forwarded("mcp.example.com")), PUBLIC);
    assert.equal((await call(h443, forwarded("mcp.example.com"), await issuer.sign({ aud: PUBLIC }))).status, 200);
  });

  test("a host not in the list, a bad scheme, or plain http to a public host fall back to the configured resource", async () => {
    for (const headers of [
      forwarded("evil.example"),
      forwarded("mcp.example.com", "gopher"),
      forwarded("mcp.example.com", "http"),
      forwarded("mcp.example.com:8443"),
    ]) {
      assert.equal(await metadata(h, headers), CONFIGURED, JSON.stringify(headers));
      const evil = await issuer.sign({ aud: `https://${headers["x-forwarded-host"]}/mcp` });
      const res = await call(h, headers, evil);
      assert.equal(res.status, 401, "a token for the forwarded (unlisted) resource is refused");
    }
  });

  test("DPoP htu is checked against the forwarded resource", async () => {
    const key = await clientKey();
    const token = await issuer.sign({ aud: PUBLIC, cnf: { jkt: key.jkt } });
    const send = async (htu: string) =>
      h(
        new Request(CONFIGURED, {
          method: "POST",
          headers: {
            ...MCP_HEADERS,
            ...forwarded("mcp.example.com"),
            authorization: `DPoP ${token}`,
            dpop: await makeProof({ key, htu, token }),
          },
          body: toolCall("ping"),
        }),
      );
    assert.equal((await send(PUBLIC)).status, 200);
    const wrong = await send(CONFIGURED);
    assert.equal(wrong.status, 401);
    assert.match(wrong.headers.get("www-authenticate")!, /error="invalid_dpop_proof"/);
  });

  test("trust_proxy is validated at construction", () => {
    assert.throws(() => handler({ allowed_hosts: [] }), /trust_proxy/);
    assert.throws(() => handler({ allowed_hosts: ["https://x.example"] }), /trust_proxy/);
    assert.throws(() => handler(true as never), /trust_proxy/);
  });
});
