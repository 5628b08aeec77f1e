/**
 * `application_type` at registration (OpenID Connect Dynamic Registration, required of MCP 2026-07-28
 * clients): echoed, inferred when absent, and the redirect-URI rules of `web` and `native` (RFC 8252).
 */
import { beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createDevAuthorizationServer, type DevAuthorizationServer } from "../../src/dev-authorization-server/index.js";
import { authorizeUrl, call, consentForm, form, pkce, registerClient } from "../helpers/dev-as.js";

const ISSUER = "http://127.0.0.1:8001";
let as: DevAuthorizationServer;

beforeEach(async () => {
  as = await createDevAuthorizationServer({ issuer: ISSUER, resources: ["http://127.0.0.1:8000/mcp"] });
});

async function registered(metadata: Record<string, unknown>) {
  const res = await registerClient(as, metadata);
  assert.equal(res.status, 201);
  return res.json();
}

async function refused(metadata: Record<string, unknown>): Promise<[number, string, unknown]> {
  const res = await registerClient(as, metadata);
  assert.equal(res.headers.get("cache-control"), "no-store");
  const body = await res.json();
  return [res.status, body.error, body.client_id];
}

describe("application_type at registration", () => {
  test("sent values are echoed; absent, it is inferred from the redirect URIs", async () => {
    assert.equal(
      (await registered({ application_type: "native", redirect_uris: ["http://127.0.0.1:5000/cb"] })).application_type,
      "native",
    );
    assert.equal(
      (await registered({ application_type: "web", redirect_uris: ["https://app.example.com/cb"] })).application_type,
      "web",
    );
    assert.equal(
      (await registered({ application_type: "native", redirect_uris: ["https://app.example.com/cb"] }))
        .application_type,
      "native",
      "claimed https (RFC 8252 §7.2)",
    );
    assert.equal(
      (await registered({ redirect_uris: ["http://localhost:6274/oauth/callback"] })).application_type,
      "native",
    );
    assert.equal((await registered({ redirect_uris: ["com.example.app:/oauth2redirect"] })).application_type, "native");
    assert.equal((await registered({ redirect_uris: ["https://app.example.com/cb"] })).application_type, "web");
    assert.equal(
      (await registered({ redirect_uris: ["https://app.example.com/cb", "http://[::1]/cb"] })).application_type,
      "native",
    );
  });

  test("web: https only → loopback http and private-use schemes are 400 invalid_redirect_uri", async () => {
    for (const uri of [
      "http://127.0.0.1:5000/cb",
      "http://localhost/cb",
      "com.example.app:/cb",
      "http://example.com/cb",
    ]) {
      assert.deepEqual(
        await refused({ application_type: "web", redirect_uris: [uri] }),
        [400, "invalid_redirect_uri", undefined],
        uri,
      );
    }
    // One bad URI among good ones refuses the whole registration.
    assert.deepEqual(
      await refused({ application_type: "web", redirect_uris: ["https://app.example.com/cb", "http://127.0.0.1/cb"] }),
      [400, "invalid_redirect_uri", undefined],
    );
  });

  test("native: loopback http (any port), reverse-domain private-use schemes and https; nothing else", async () => {
    const ok = await registered({
      application_type: "native",
      redirect_uris: [
        "http://127.0.0.1/cb",
        "http://[::1]:8080/cb",
        "com.example.app:/cb",
        "com.example.app://cb",
        "https://app.example.com/cb",
      ],
    });
    assert.equal(ok.redirect_uris.length, 5);
    for (const uri of [
      "http://example.com/cb",
      "http://192.168.1.10/cb",
      "myapp:/cb",
      "javascript:alert(1)",
      "data:text/html,x",
      "file:///tmp/cb",
      "com.example.app:/cb#x",
    ]) {
      assert.deepEqual(
        await refused({ application_type: "native", redirect_uris: [uri] }),
        [400, "invalid_redirect_uri", undefined],
        uri,
      );
    }
  });

  test("an unknown or mistyped application_type → 400 invalid_client_metadata", async () => {
    for (const value of ["desktop", "", "Native", 5, null]) {
      assert.deepEqual(
        await refused({ application_type: value, redirect_uris: ["https://app.example.com/cb"] }),
        [400, "invalid_client_metadata", undefined],
        String(value),
      );
    }
  });

  test("a private-use redirect URI works end to end: consent page CSP allows the scheme, the code goes back to it", async () => {
    const client = await registered({ application_type: "native", redirect_uris: ["com.example.app:/oauth2redirect"] });
    const { challenge } = pkce();
    const page = await call(
      as,
      authorizeUrl(as, {
        response_type: "code",
        client_id: client.client_id,
        redirect_uri: "com.example.app:/oauth2redirect",
        code_challenge: challenge,
        code_challenge_method: "S256",
        state: "s",
      }),
    );
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-security-policy")!, /form-action 'self' com\.example\.app:;/);
    const f = await consentForm(page);
    assert.match(f.html, /<dt>Returns to<\/dt><dd>com\.example\.app:<\/dd>/);
    const res = await call(as, f.action, {
      ...form({ pending: f.pending, csrf_token: f.csrf, username: "alice", decision: "approve" }),
      headers: { "content-type": "application/x-www-form-urlencoded", cookie: f.cookie },
    });
    assert.equal(res.status, 303);
    const back = new URL(res.headers.get("location")!);
    assert.equal(back.protocol + back.pathname, "com.example.app:/oauth2redirect");
    assert.ok(back.searchParams.get("code"), "the redirect carries a code");
    assert.equal(back.searchParams.get("iss"), ISSUER);
  });

  test("a Client ID Metadata Document is held to the same rules: web + loopback redirect → invalid_client", async () => {
    const id = "https://client.test/web.json";
    const cimd = await createDevAuthorizationServer({
      issuer: ISSUER,
      resources: ["http://127.0.0.1:8000/mcp"],
      client_id_metadata_documents: {
        lookup: async () => [{ address: "93.184.215.14", family: 4 }],
        fetch: async () =>
          Response.json({
            client_id: id,
            client_name: "W",
            application_type: "web",
            redirect_uris: ["http://127.0.0.1:9999/callback"],
          }),
      },
    });
    const { challenge } = pkce();
    const res = await call(
      cimd,
      authorizeUrl(cimd, {
        response_type: "code",
        client_id: id,
        redirect_uri: "http://127.0.0.1:9999/callback",
        code_challenge: challenge,
        code_challenge_method: "S256",
      }),
    );
    assert.equal(res.status, 400);
    assert.equal(res.headers.get("location"), null);
    assert.match(await res.text(), /<code class="err">invalid_client<\/code>/);
  });
});
