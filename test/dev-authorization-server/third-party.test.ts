/**
 * The development authorization server playing a third-party service: pre-registered clients with a
 * fixed redirect URI (confidential, authenticated at /token; or public) and the `whoami_api` option's
 * `GET /api/whoami`, which accepts only this server's own tokens for its resource. Every refusal with
 * its exact status and challenge, and nothing issued or answered past it.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createDevAuthorizationServer, type DevAuthorizationServer } from "../../src/dev-authorization-server/index.js";
import { authorizeUrl, call, consentForm, form, pkce } from "../helpers/dev-as.js";

const ISSUER = "http://127.0.0.1:8003";
const API = "http://127.0.0.1:8003/api";
const OTHER = "http://127.0.0.1:8004/other";
const CALLBACK = "http://127.0.0.1:8000/connect/callback";
const SECRET = "third-party-client-secret-0123";
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;

/** Authorize `client_id` at its fixed redirect URI and approve as `username`: the code and its verifier. */
async function codeFor(
  as: DevAuthorizationServer,
  client_id: string,
  username = "octocat",
  resource = API,
): Promise<{ code: string; verifier: string }> {
  const { verifier, challenge } = pkce();
  const page = await call(
    as,
    authorizeUrl(as, {
      response_type: "code",
      client_id,
      redirect_uri: CALLBACK,
      code_challenge: challenge,
      code_challenge_method: "S256",
      state: "s",
      resource,
    }),
  );
  assert.equal(page.status, 200, "the consent page is shown for a pre-registered client");
  const f = await consentForm(page);
  const res = await call(as, f.action, {
    ...form({ pending: f.pending, csrf_token: f.csrf, username, decision: "approve" }),
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: f.cookie },
  });
  const location = new URL(res.headers.get("location") ?? "http://invalid/");
  assert.equal(location.origin + location.pathname, CALLBACK, "redirected to the fixed redirect URI");
  return { code: location.searchParams.get("code") ?? "", verifier };
}

function tokenRequest(
  as: DevAuthorizationServer,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return call(as, "/token", {
    ...form(fields),
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
  });
}

describe("dev authorization server: pre-registered clients", () => {
  let as: DevAuthorizationServer;
  before(async () => {
    as = await createDevAuthorizationServer({
      issuer: ISSUER,
      resources: [API, OTHER],
      scopes_supported: ["read:user", "repo"],
      clients: [
        { client_id: "mcp-server", client_secret: SECRET, redirect_uris: [CALLBACK], client_name: "Demo MCP server" },
        { client_id: "public-app", redirect_uris: [CALLBACK], refresh_tokens: false },
      ],
    });
  });

  test("metadata advertises client_secret_basic and client_secret_post when a confidential client is configured", () => {
    assert.deepEqual(as.metadata.token_endpoint_auth_methods_supported, [
      "none",
      "client_secret_basic",
      "client_secret_post",
    ]);
  });

  test("the consent page names the configured client", async () => {
    const { challenge } = pkce();
    const page = await call(
      as,
      authorizeUrl(as, {
        response_type: "code",
        client_id: "mcp-server",
        redirect_uri: CALLBACK,
        code_challenge: challenge,
        code_challenge_method: "S256",
        resource: API,
      }),
    );
    assert.equal(page.status, 200, "consent page");
    assert.match(await page.text(), /Demo MCP server/, "client_name shown");
  });

  test("a confidential client exchanges its code with client_secret_basic, then refreshes the same way", async () => {
    const { code, verifier } = await codeFor(as, "mcp-server");
    const res = await tokenRequest(
      as,
      { grant_type: "authorization_code", code, redirect_uri: CALLBACK, code_verifier: verifier },
      { authorization: basic("mcp-server", SECRET) },
    );
    assert.equal(res.status, 200, "token issued");
    const body = (await res.json()) as { access_token: string; refresh_token?: string; scope: string };
    assert.equal(body.scope, "read:user repo", "every supported scope by default");
    assert.ok(body.refresh_token, "a refresh token for a client with refresh_tokens");
    const refreshed = await tokenRequest(
      as,
      { grant_type: "refresh_token", refresh_token: body.refresh_token },
      { authorization: basic("mcp-server", SECRET) },
    );
    assert.equal(refreshed.status, 200, "refresh with Basic credentials");
    const unauthenticated = await tokenRequest(as, {
      grant_type: "refresh_token",
      refresh_token: ((await refreshed.json()) as { refresh_token: string }).refresh_token,
      client_id: "mcp-server",
    });
    assert.equal(unauthenticated.status, 401, "a refresh without the secret is refused");
  });

  test("a confidential client may use client_secret_post", async () => {
    const { code, verifier } = await codeFor(as, "mcp-server");
    const res = await tokenRequest(as, {
      grant_type: "authorization_code",
      code,
      redirect_uri: CALLBACK,
      code_verifier: verifier,
      client_id: "mcp-server",
      client_secret: SECRET,
    });
    assert.equal(res.status, 200, "token issued");
  });

  test("refusals at /token: no secret, a wrong one, two methods, a mismatched id — and the code stays unused", async () => {
    const { code, verifier } = await codeFor(as, "mcp-server");
    const fields = { grant_type: "authorization_code", code, redirect_uri: CALLBACK, code_verifier: verifier };
    const cases: [string, Promise<Response>, number, string][] = [
      ["no secret", tokenRequest(as, { ...fields, client_id: "mcp-server" }), 401, "invalid_client"],
      [
        "wrong secret (Basic)",
        tokenRequest(as, fields, { authorization: basic("mcp-server", "x".repeat(30)) }),
        401,
        "invalid_client",
      ],
      [
        "wrong secret (post)",
        tokenRequest(as, { ...fields, client_id: "mcp-server", client_secret: "y".repeat(30) }),
        401,
        "invalid_client",
      ],
      [
        "Basic and post together",
        tokenRequest(as, { ...fields, client_secret: SECRET }, { authorization: basic("mcp-server", SECRET) }),
        400,
        "invalid_request",
      ],
      [
        "form client_id differs from Basic",
        tokenRequest(as, { ...fields, client_id: "public-app" }, { authorization: basic("mcp-server", SECRET) }),
        400,
        "invalid_request",
      ],
      ["no client at all", tokenRequest(as, fields), 400, "invalid_request"],
    ];
    for (const [name, pending, status, error] of cases) {
      const res = await pending;
      const body = (await res.json()) as Record<string, unknown>;
      assert.equal(res.status, status, `${name}: status`);
      assert.equal(body.error, error, `${name}: error`);
      assert.equal(body.access_token, undefined, `${name}: no token`);
    }
    const ok = await tokenRequest(as, fields, { authorization: basic("mcp-server", SECRET) });
    assert.equal(ok.status, 200, "the refused requests did not consume the code");
  });

  test("a public pre-registered client redeems with PKCE only; a secret sent for it is refused", async () => {
    const first = await codeFor(as, "public-app");
    const withSecret = await tokenRequest(as, {
      grant_type: "authorization_code",
      code: first.code,
      redirect_uri: CALLBACK,
      code_verifier: first.verifier,
      client_id: "public-app",
      client_secret: SECRET,
    });
    assert.equal(withSecret.status, 401, "a public client has no secret to present");
    const res = await tokenRequest(as, {
      grant_type: "authorization_code",
      code: first.code,
      redirect_uri: CALLBACK,
      code_verifier: first.verifier,
      client_id: "public-app",
    });
    assert.equal(res.status, 200, "token issued");
    const body = (await res.json()) as { refresh_token?: string };
    assert.equal(body.refresh_token, undefined, "refresh_tokens: false");
  });

  test("a redirect URI other than the configured one is refused on the error page, never redirected", async () => {
    const { challenge } = pkce();
    const res = await call(
      as,
      authorizeUrl(as, {
        response_type: "code",
        client_id: "mcp-server",
        redirect_uri: "http://127.0.0.1:8000/elsewhere",
        code_challenge: challenge,
        code_challenge_method: "S256",
      }),
    );
    assert.equal(res.status, 400, "error page");
    assert.equal(res.headers.get("location"), null, "no redirect");
    assert.match(await res.text(), /The redirect_uri is not registered for this client\./, "fixed text");
  });

  test("bad clients options are refused with ConfigError naming each problem", async () => {
    const make = (clients: unknown, extra: Record<string, unknown> = {}) =>
      createDevAuthorizationServer({ issuer: ISSUER, resources: [API], clients, ...extra } as never);
    await assert.rejects(make([{ client_id: "https://app.example/cimd", redirect_uris: [CALLBACK] }]), {
      code: "ERR_INVALID_CONFIG",
      message: /clients\.0\.client_id: a URL-shaped client_id names a metadata document/,
    });
    await assert.rejects(make([{ client_id: "a", redirect_uris: ["http://app.example/cb"] }]), {
      message: /clients\.0\.redirect_uris\.0: .*https/,
    });
    await assert.rejects(make([{ client_id: "a", client_secret: "short", redirect_uris: [CALLBACK] }]), {
      message: /clients\.0\.client_secret: at least 16 characters/,
    });
    await assert.rejects(
      make([
        { client_id: "a", redirect_uris: [CALLBACK] },
        { client_id: "a", redirect_uris: [CALLBACK] },
      ]),
      { message: /client ids must be unique/ },
    );
    await assert.rejects(
      make([{ client_id: "mcp", client_secret: SECRET, redirect_uris: [CALLBACK] }], {
        token_exchange: { clients: [{ client_id: "mcp", client_secret: SECRET }], audiences: [API] },
      }),
      { message: /clients\.0\.client_id: is also a token_exchange client/ },
    );
  });
});

describe("dev authorization server: whoami_api", () => {
  let now = Date.now();
  let as: DevAuthorizationServer;
  let other: DevAuthorizationServer;
  const whoami = (headers: Record<string, string> = {}, method = "GET") => call(as, "/api/whoami", { method, headers });
  before(async () => {
    as = await createDevAuthorizationServer({
      issuer: ISSUER,
      resources: [API, OTHER],
      scopes_supported: ["read:user", "repo"],
      whoami_api: { resource: API },
      access_token_ttl_seconds: 600,
      clock: () => now,
    });
    other = await createDevAuthorizationServer({ issuer: "http://127.0.0.1:8009", resources: [API] });
  });

  const refused = async (res: Response, status: number, wwwAuthenticate: string, name: string) => {
    assert.equal(res.status, status, `${name}: status`);
    assert.equal(res.headers.get("www-authenticate"), wwwAuthenticate, `${name}: challenge`);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.subject, undefined, `${name}: nothing about anyone`);
  };

  test("answers whom its own token for the API belongs to", async () => {
    const { access_token } = await as.issueAccessToken({
      subject: "octocat",
      scopes: ["read:user"],
      client_id: "mcp-server",
      resource: API,
    });
    const res = await whoami({ authorization: `Bearer ${access_token}` });
    assert.equal(res.status, 200, "accepted");
    assert.equal(res.headers.get("cache-control"), "no-store", "not cached");
    assert.deepEqual(await res.json(), { subject: "octocat", scopes: ["read:user"], client_id: "mcp-server" });
    assert.equal(as.handles("/api/whoami"), true, "handles() names the path");
  });

  test("no token → 401 with a bare Bearer challenge", async () => {
    await refused(await whoami(), 401, 'Bearer realm="whoami"', "no token");
  });

  test("a malformed Authorization header → 400 invalid_request", async () => {
    await refused(
      await whoami({ authorization: "Bearer a b" }),
      400,
      'Bearer realm="whoami", error="invalid_request", error_description="Malformed Authorization header"',
      "malformed",
    );
  });

  const INVALID =
    'Bearer realm="whoami", error="invalid_token", error_description="The access token is invalid, expired or not for this API"';

  test("a token for another resource of the same server (foreign audience) → 401 invalid_token", async () => {
    const { access_token } = await as.issueAccessToken({ subject: "octocat", resource: OTHER });
    await refused(await whoami({ authorization: `Bearer ${access_token}` }), 401, INVALID, "foreign audience");
  });

  test("a token from another authorization server → 401 invalid_token", async () => {
    const { access_token } = await other.issueAccessToken({ subject: "octocat" });
    await refused(await whoami({ authorization: `Bearer ${access_token}` }), 401, INVALID, "foreign issuer");
  });

  test("an expired token → 401 invalid_token (the server's clock decides)", async () => {
    const { access_token } = await as.issueAccessToken({ subject: "octocat", resource: API });
    now += 601_000;
    try {
      await refused(await whoami({ authorization: `Bearer ${access_token}` }), 401, INVALID, "expired");
    } finally {
      now -= 601_000;
    }
  });

  test("a DPoP-bound token presented as a bearer token → 401 invalid_token", async () => {
    const { access_token } = await as.issueAccessToken({ subject: "octocat", resource: API, jkt: "A".repeat(43) });
    await refused(
      await whoami({ authorization: `Bearer ${access_token}` }),
      401,
      'Bearer realm="whoami", error="invalid_token", error_description="DPoP-bound tokens are not accepted here"',
      "DPoP-bound",
    );
  });

  test("methods other than GET/HEAD → 405; without the option the path is not served", async () => {
    const post = await whoami({}, "POST");
    assert.equal(post.status, 405, "POST refused");
    assert.equal(post.headers.get("allow"), "GET, HEAD", "Allow header");
    assert.equal(other.handles("/api/whoami"), false, "not served without whoami_api");
    assert.equal((await call(other, "/api/whoami")).status, 404, "404 without the option");
  });

  test("whoami_api.resource must be a configured resource (required with several)", async () => {
    await assert.rejects(createDevAuthorizationServer({ issuer: ISSUER, resources: [API, OTHER], whoami_api: {} }), {
      message: /whoami_api\.resource: required with several resources/,
    });
    await assert.rejects(
      createDevAuthorizationServer({ issuer: ISSUER, resources: [API], whoami_api: { resource: OTHER } }),
      { message: /whoami_api\.resource: must be one of resources/ },
    );
  });
});
