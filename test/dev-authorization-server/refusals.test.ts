/**
 * Every refusal of the development authorization server, with exact status and error code (handler-level, injected
 * clock).
 */
import { beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { decodeJwt } from "jose";
import {
  createDevAuthorizationServer,
  type DevAuthorizationServer,
  type DevAuthorizationServerOptions,
} from "../../src/dev-authorization-server/index.js";
import {
  authorizeUrl,
  call,
  consentForm,
  exchange,
  form,
  obtainCode,
  pkce,
  registerClient,
} from "../helpers/dev-as.js";

const ISSUER = "http://127.0.0.1:8001";
const RESOURCE = "http://127.0.0.1:8000/mcp";
let now = Date.parse("2030-01-01T00:00:00Z");
let as: DevAuthorizationServer;

function make(extra: Partial<DevAuthorizationServerOptions> = {}) {
  return createDevAuthorizationServer({
    issuer: ISSUER,
    resources: [RESOURCE],
    scopes_supported: ["mcp:read", "files:delete"],
    clock: () => now,
    ...extra,
  });
}

beforeEach(async () => {
  now = Date.parse("2030-01-01T00:00:00Z");
  as = await make();
});

async function tokenError(res: Response): Promise<[number, string]> {
  assert.equal(res.headers.get("cache-control"), "no-store");
  return [res.status, (await res.json()).error];
}

/** A registered client and a valid authorization request, with one parameter overridden. */
async function authorizeWith(overrides: Record<string, string | undefined>) {
  const reg = await (await registerClient(as)).json();
  const { challenge } = pkce();
  const params = {
    response_type: "code",
    client_id: reg.client_id,
    redirect_uri: reg.redirect_uris[0],
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "xyz",
    ...overrides,
  };
  return call(as, authorizeUrl(as, params));
}

function redirectError(res: Response): Record<string, string> {
  assert.equal(res.status, 302);
  const url = new URL(res.headers.get("location")!);
  assert.equal(url.origin + url.pathname, "http://127.0.0.1:9999/callback");
  return Object.fromEntries(url.searchParams);
}

describe("authorization endpoint", () => {
  test("PKCE is required: missing code_challenge → invalid_request, state and iss echoed", async () => {
    const e = redirectError(await authorizeWith({ code_challenge: undefined }));
    assert.equal(e.error, "invalid_request");
    assert.equal(e.state, "xyz");
    assert.equal(e.iss, ISSUER);
  });

  test("PKCE plain (explicit or by omission of the method) → invalid_request", async () => {
    assert.equal(redirectError(await authorizeWith({ code_challenge_method: "plain" })).error, "invalid_request");
    assert.equal(redirectError(await authorizeWith({ code_challenge_method: undefined })).error, "invalid_request");
  });

  test("response_type other than code → unsupported_response_type", async () => {
    assert.equal(redirectError(await authorizeWith({ response_type: "token" })).error, "unsupported_response_type");
  });

  test("redirect URI not registered → 400 error page, no redirect", async () => {
    for (const redirect_uri of [
      "http://127.0.0.1:9999/other",
      "https://evil.example/callback",
      "http://127.0.0.1:9999/callback?x=1",
    ]) {
      const res = await authorizeWith({ redirect_uri });
      assert.equal(res.status, 400);
      assert.equal(res.headers.get("location"), null);
      assert.match(res.headers.get("content-type")!, /^text\/html/);
      assert.match(await res.text(), /invalid_request/);
    }
  });

  test("loopback redirect URIs may change port only (RFC 8252 §7.3)", async () => {
    const res = await authorizeWith({ redirect_uri: "http://127.0.0.1:41234/callback" });
    assert.equal(res.status, 200);
    const wrongHost = await authorizeWith({ redirect_uri: "http://localhost:9999/callback" });
    assert.equal(wrongHost.status, 400);
  });

  test("unknown client → 400 error page, no redirect", async () => {
    const res = await call(
      as,
      authorizeUrl(as, {
        response_type: "code",
        client_id: "nope",
        redirect_uri: "http://127.0.0.1:9999/callback",
        code_challenge: pkce().challenge,
        code_challenge_method: "S256",
      }),
    );
    assert.equal(res.status, 400);
    assert.equal(res.headers.get("location"), null);
    assert.match(await res.text(), /invalid_client/);
  });

  test("resource not served here → invalid_target; omitted → defaults to the one resource", async () => {
    assert.equal(
      redirectError(await authorizeWith({ resource: "http://127.0.0.1:8000/other" })).error,
      "invalid_target",
    );
    assert.equal(
      redirectError(await authorizeWith({ resource: "https://mcp.example.com/mcp" })).error,
      "invalid_target",
    );
    const r = await obtainCode(as);
    const claims = decodeJwt((await (await exchange(as, r)).json()).access_token);
    assert.equal(claims.aud, RESOURCE);
  });

  test("scope not offered → invalid_scope", async () => {
    assert.equal(redirectError(await authorizeWith({ scope: "mcp:read admin" })).error, "invalid_scope");
  });

  test("repeated parameter → error page", async () => {
    const res = await call(as, `/authorize?client_id=a&client_id=b`);
    assert.equal(res.status, 400);
    assert.equal(res.headers.get("location"), null);
  });

  test("the consent page is strict: CSP without scripts, no framing, everything escaped", async () => {
    const reg = await (await registerClient(as, { client_name: `<script>alert("x")</script>` })).json();
    const res = await call(
      as,
      authorizeUrl(as, {
        response_type: "code",
        client_id: reg.client_id,
        redirect_uri: reg.redirect_uris[0],
        code_challenge: pkce().challenge,
        code_challenge_method: "S256",
        state: `"><img src=x>`,
      }),
    );
    assert.equal(res.status, 200);
    const csp = res.headers.get("content-security-policy")!;
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /form-action 'self' http:\/\/127\.0\.0\.1:9999/);
    assert.doesNotMatch(csp, /script-src|unsafe/);
    assert.equal(res.headers.get("x-frame-options"), "DENY");
    assert.match(res.headers.get("set-cookie")!, /HttpOnly; SameSite=Strict/);
    const html = await res.text();
    assert.ok(!html.includes("<script"), "no raw <script in the page");
    assert.ok(html.includes("&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;"), "the script text is shown escaped");
    assert.ok(!html.includes("<img src=x>"), "no raw <img in the page");
  });
});

describe("consent form", () => {
  async function page() {
    const reg = await (await registerClient(as)).json();
    const res = await call(
      as,
      authorizeUrl(as, {
        response_type: "code",
        client_id: reg.client_id,
        redirect_uri: reg.redirect_uris[0],
        code_challenge: pkce().challenge,
        code_challenge_method: "S256",
        state: "s",
      }),
    );
    return consentForm(res);
  }
  const post = (f: { action: string }, fields: Record<string, string>, cookie?: string) =>
    call(as, f.action, {
      ...form(fields),
      headers: { "content-type": "application/x-www-form-urlencoded", ...(cookie ? { cookie } : {}) },
    });

  test("CSRF token missing, wrong, or without its cookie → 403, no code; the real form still works after", async () => {
    const f = await page();
    const cases = [
      post(f, { pending: f.pending, username: "alice", decision: "approve" }, f.cookie),
      post(f, { pending: f.pending, csrf_token: "forged", username: "alice", decision: "approve" }, f.cookie),
      post(f, { pending: f.pending, csrf_token: f.csrf, username: "alice", decision: "approve" }),
      post(
        f,
        { pending: f.pending, csrf_token: f.csrf, username: "alice", decision: "approve" },
        f.cookie.replace(/=.*/, "=other"),
      ),
    ];
    for (const res of await Promise.all(cases)) {
      assert.equal(res.status, 403);
      assert.equal(res.headers.get("location"), null);
    }
    const ok = await post(
      f,
      { pending: f.pending, csrf_token: f.csrf, username: "alice", decision: "approve" },
      f.cookie,
    );
    assert.equal(ok.status, 303);
    assert.ok(new URL(ok.headers.get("location")!).searchParams.get("code"), "the redirect carries a code");
    // Single use: the same form cannot mint a second code.
    const again = await post(
      f,
      { pending: f.pending, csrf_token: f.csrf, username: "alice", decision: "approve" },
      f.cookie,
    );
    assert.equal(again.status, 400);
  });

  test("cross-site form posts are refused", async () => {
    const f = await page();
    const res = await call(as, f.action, {
      ...form({ pending: f.pending, csrf_token: f.csrf, username: "a", decision: "approve" }),
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        cookie: f.cookie,
        "sec-fetch-site": "cross-site",
      },
    });
    assert.equal(res.status, 403);
  });

  test("deny → access_denied with state", async () => {
    const f = await page();
    const res = await post(f, { pending: f.pending, csrf_token: f.csrf, decision: "deny" }, f.cookie);
    assert.equal(res.status, 303);
    const q = new URL(res.headers.get("location")!).searchParams;
    assert.equal(q.get("error"), "access_denied");
    assert.equal(q.get("state"), "s");
    assert.equal(q.get("code"), null);
  });

  test("sign-in failure re-renders the page (401), the authorization stays pending", async () => {
    const f = await page();
    const res = await post(
      f,
      { pending: f.pending, csrf_token: f.csrf, username: "not a valid name!", decision: "approve" },
      f.cookie,
    );
    assert.equal(res.status, 401);
    assert.match(await res.text(), /Sign-in failed/);
    assert.equal(
      (await post(f, { pending: f.pending, csrf_token: f.csrf, username: "bob", decision: "approve" }, f.cookie))
        .status,
      303,
    );
  });

  test("expired consent page → 400", async () => {
    const f = await page();
    now += 601_000;
    assert.equal(
      (await post(f, { pending: f.pending, csrf_token: f.csrf, username: "bob", decision: "approve" }, f.cookie))
        .status,
      400,
    );
  });

  test("a custom authenticateUser hook decides the subject", async () => {
    as = await make({
      authenticate_user: (req) => (req.headers.get("cookie")?.includes("session=ok") ? "user-42" : null),
      username_field: false,
    });
    const f = await page();
    assert.ok(!f.html.includes('name="username"'), "the page has no username field");
    const refused = await post(f, { pending: f.pending, csrf_token: f.csrf, decision: "approve" }, f.cookie);
    assert.equal(refused.status, 401);
    const ok = await post(
      f,
      { pending: f.pending, csrf_token: f.csrf, decision: "approve" },
      `${f.cookie}; session=ok`,
    );
    assert.equal(ok.status, 303);
  });
});

describe("token endpoint", () => {
  test("happy path: ES256 at+jwt for the resource; no-store", async () => {
    const r = await obtainCode(as, { username: "carol", scope: "mcp:read" });
    const res = await exchange(as, r);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("cache-control"), "no-store");
    const body = await res.json();
    assert.equal(body.token_type, "Bearer");
    assert.equal(body.scope, "mcp:read");
    const claims = decodeJwt(body.access_token);
    assert.deepEqual(
      [claims.sub, claims.aud, claims.iss, claims.client_id, claims.iat],
      ["carol", RESOURCE, ISSUER, r.clientId, now / 1000],
    );
  });

  test("wrong verifier → 400 invalid_grant", async () => {
    const r = await obtainCode(as);
    assert.deepEqual(await tokenError(await exchange(as, { ...r, verifier: pkce().verifier })), [400, "invalid_grant"]);
  });

  test("missing verifier → 400 invalid_request", async () => {
    const r = await obtainCode(as);
    const res = await call(
      as,
      "/token",
      form({ grant_type: "authorization_code", code: r.code, client_id: r.clientId, redirect_uri: r.redirectUri }),
    );
    assert.deepEqual(await tokenError(res), [400, "invalid_request"]);
  });

  test("reused code → 400 invalid_grant, and the refresh token it produced is revoked", async () => {
    const r = await obtainCode(as);
    const first = await (await exchange(as, r)).json();
    assert.deepEqual(await tokenError(await exchange(as, r)), [400, "invalid_grant"]);
    const refresh = await call(
      as,
      "/token",
      form({ grant_type: "refresh_token", refresh_token: first.refresh_token, client_id: r.clientId }),
    );
    assert.deepEqual(await tokenError(refresh), [400, "invalid_grant"]);
  });

  test("expired code (120 s) → 400 invalid_grant", async () => {
    const r = await obtainCode(as);
    now += 120_000;
    assert.deepEqual(await tokenError(await exchange(as, r)), [400, "invalid_grant"]);
  });

  test("a code just inside its 120 s works", async () => {
    const r = await obtainCode(as);
    now += 119_000;
    assert.equal((await exchange(as, r)).status, 200);
  });

  test("redirect_uri different from the authorization request → invalid_grant", async () => {
    const r = await obtainCode(as);
    assert.deepEqual(await tokenError(await exchange(as, { ...r, redirectUri: "http://127.0.0.1:9999/other" })), [
      400,
      "invalid_grant",
    ]);
  });

  test("mismatched resource at the token endpoint → invalid_target", async () => {
    const r = await obtainCode(as);
    assert.deepEqual(await tokenError(await exchange(as, r, { resource: "http://127.0.0.1:8000/other" })), [
      400,
      "invalid_target",
    ]);
  });

  test("unknown client → 401 invalid_client; code of another client → invalid_grant", async () => {
    const r = await obtainCode(as);
    assert.deepEqual(await tokenError(await exchange(as, { ...r, clientId: "nope" })), [401, "invalid_client"]);
    const other = (await (await registerClient(as)).json()).client_id;
    assert.deepEqual(await tokenError(await exchange(as, { ...r, clientId: other })), [400, "invalid_grant"]);
  });

  test("unsupported grant type, wrong content type, repeated parameter", async () => {
    const r = await obtainCode(as);
    assert.deepEqual(
      await tokenError(await call(as, "/token", form({ grant_type: "client_credentials", client_id: r.clientId }))),
      [400, "unsupported_grant_type"],
    );
    const json = await call(as, "/token", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    assert.deepEqual(await tokenError(json), [400, "invalid_request"]);
    const repeated = await call(as, "/token", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `grant_type=authorization_code&code=a&code=b&client_id=${r.clientId}`,
    });
    assert.deepEqual(await tokenError(repeated), [400, "invalid_request"]);
  });

  test("refresh cannot widen scopes → invalid_scope; expired family → invalid_grant", async () => {
    const r = await obtainCode(as, { scope: "mcp:read" });
    const t = await (await exchange(as, r)).json();
    const widen = await call(
      as,
      "/token",
      form({
        grant_type: "refresh_token",
        refresh_token: t.refresh_token,
        client_id: r.clientId,
        scope: "mcp:read files:delete",
      }),
    );
    assert.deepEqual(await tokenError(widen), [400, "invalid_scope"]);

    const r2 = await obtainCode(as);
    const t2 = await (await exchange(as, r2)).json();
    now += 86_400_000;
    const expired = await call(
      as,
      "/token",
      form({ grant_type: "refresh_token", refresh_token: t2.refresh_token, client_id: r2.clientId }),
    );
    assert.deepEqual(await tokenError(expired), [400, "invalid_grant"]);
  });
});

describe("dynamic client registration", () => {
  test("public clients with https or loopback http redirect URIs are registered (201)", async () => {
    const res = await registerClient(as, {
      redirect_uris: ["https://app.example.com/cb", "http://localhost:6274/oauth/callback", "http://[::1]/cb"],
    });
    assert.equal(res.status, 201);
    const body = await res.json();
    assert.equal(body.token_endpoint_auth_method, "none");
    assert.equal(body.client_secret, undefined);
    assert.deepEqual(body.grant_types, ["authorization_code", "refresh_token"]);
  });

  test("non-loopback http, custom schemes, fragments → 400 invalid_redirect_uri", async () => {
    for (const uri of [
      "http://example.com/cb",
      "http://192.168.1.10/cb",
      "javascript:alert(1)",
      "https://app.example.com/cb#frag",
      "https://user:pw@app.example.com/cb",
      "not a url",
    ]) {
      const res = await registerClient(as, { redirect_uris: [uri] });
      assert.deepEqual(await tokenError(res), [400, "invalid_redirect_uri"], uri);
    }
    assert.deepEqual(await tokenError(await registerClient(as, { redirect_uris: [] })), [400, "invalid_redirect_uri"]);
  });

  test("confidential clients → 400 invalid_client_metadata; unknown scopes → 400 invalid_scope", async () => {
    assert.deepEqual(
      await tokenError(await registerClient(as, { token_endpoint_auth_method: "client_secret_basic" })),
      [400, "invalid_client_metadata"],
    );
    assert.deepEqual(await tokenError(await registerClient(as, { scope: "admin" })), [400, "invalid_scope"]);
    assert.deepEqual(await tokenError(await registerClient(as, { grant_types: ["client_credentials"] })), [
      400,
      "invalid_client_metadata",
    ]);
    const notJson = await call(as, "/register", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{",
    });
    assert.deepEqual(await tokenError(notJson), [400, "invalid_client_metadata"]);
  });

  test("oversized bodies → 413", async () => {
    const res = await registerClient(as, { client_name: "x".repeat(70_000) });
    assert.equal(res.status, 413);
  });
});

describe("DPoP seam", () => {
  test("a verified proof binds the token (cnf.jkt, token_type DPoP) and its refresh family", async () => {
    let jkt: string | undefined = "thumbprint-A";
    as = await make({ verify_dpop_proof: async () => jkt });
    assert.deepEqual(as.metadata.dpop_signing_alg_values_supported, ["ES256", "EdDSA"]);
    const r = await obtainCode(as);
    const t = await (await exchange(as, r)).json();
    assert.equal(t.token_type, "DPoP");
    assert.deepEqual(decodeJwt(t.access_token).cnf, { jkt: "thumbprint-A" });
    jkt = "thumbprint-B";
    const stolen = await call(
      as,
      "/token",
      form({ grant_type: "refresh_token", refresh_token: t.refresh_token, client_id: r.clientId }),
    );
    assert.deepEqual(await tokenError(stolen), [400, "invalid_grant"]);
  });

  test("an invalid proof → 400 invalid_dpop_proof", async () => {
    as = await make({
      verify_dpop_proof: async () => {
        throw new Error("bad proof");
      },
    });
    const r = await obtainCode(as);
    assert.deepEqual(await tokenError(await exchange(as, r)), [400, "invalid_dpop_proof"]);
  });
});

describe("options", () => {
  test("bad options are refused at construction, naming the key", async () => {
    await assert.rejects(make({ issuer: "http://auth.example.com" }), /issuer: must use https/);
    await assert.rejects(make({ resources: [] }), /resources/);
    await assert.rejects(make({ default_scopes: ["admin"] }), /default_scopes/);
    await assert.rejects(make({ nope: 1 } as never), /nope: unknown key/);
  });

  test("an issuer with a path serves path-inserted metadata (RFC 8414 §3.1)", async () => {
    as = await make({ issuer: "http://127.0.0.1:8001/oauth" });
    assert.equal(as.metadata.token_endpoint, "http://127.0.0.1:8001/oauth/token");
    assert.equal((await call(as, "/.well-known/oauth-authorization-server/oauth")).status, 200);
    assert.ok(as.handles("/oauth/authorize") && !as.handles("/mcp"), "handles its own paths, not /mcp");
  });
});
