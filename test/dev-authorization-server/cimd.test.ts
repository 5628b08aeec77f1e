/**
 * Client ID Metadata Documents at the development authorization server: the flow with a URL as
 * `client_id` (document served by a loopback server, fetched with the real `fetch`), the cache, and
 * every refusal with its exact status and error code, at /authorize and at /token, with no code and
 * no token issued.
 */
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { decodeJwt } from "jose";
import {
  createDevAuthorizationServer,
  type DevAuthorizationServer,
  type DevAuthorizationServerOptions,
} from "../../src/dev-authorization-server/index.js";
import { authorizeUrl, call, consentForm, form, pkce } from "../helpers/dev-as.js";
import { jsonRoute, startDocServer, type DocServer, type Route } from "../helpers/cimd.js";

const ISSUER = "http://127.0.0.1:8001";
const RESOURCE = "http://127.0.0.1:8000/mcp";
const REDIRECT = "http://127.0.0.1:9999/callback";
let now = Date.parse("2030-01-01T00:00:00Z");
let docs: DocServer;
let fetches: string[];
let lookups: string[];

before(async () => {
  docs = await startDocServer();
});
after(() => docs.close());
beforeEach(() => {
  now = Date.parse("2030-01-01T00:00:00Z");
  docs.routes.clear();
  docs.hits.clear();
  fetches = [];
  lookups = [];
});

/** An AS whose document fetches and DNS lookups are recorded (and otherwise real). */
function make(cimd: Record<string, unknown> = {}, extra: Partial<DevAuthorizationServerOptions> = {}) {
  return createDevAuthorizationServer({
    issuer: ISSUER,
    resources: [RESOURCE],
    scopes_supported: ["mcp:read", "files:delete"],
    clock: () => now,
    client_id_metadata_documents: {
      // Long enough for a loaded CI machine (300 ms failed a fetch of a served document there); the
      // two slow-document refusals below set a short one of their own.
      timeout_ms: 5000,
      // The document server listens on 127.0.0.1: loopback is refused unless allowed explicitly.
      allow_loopback: true,
      fetch: (url, init) => {
        fetches.push(url);
        return fetch(url, init);
      },
      lookup: async (hostname) => {
        lookups.push(hostname);
        throw new Error("no DNS in this test unless a case injects it");
      },
      ...cimd,
    },
    ...extra,
  });
}

function url(path: string): string {
  return `${docs.origin}${path}`;
}

function doc(clientId: string, extra: Record<string, unknown> = {}) {
  return {
    client_id: clientId,
    client_name: "CIMD test client",
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: "none",
    ...extra,
  };
}

function authorizeRequest(as: DevAuthorizationServer, clientId: string, redirectUri = REDIRECT) {
  const { challenge, verifier } = pkce();
  const res = call(
    as,
    authorizeUrl(as, {
      response_type: "code",
      client_id: clientId,
      redirect_uri: redirectUri,
      code_challenge: challenge,
      code_challenge_method: "S256",
      state: "s1",
    }),
  );
  return { res, verifier };
}

/** The /authorize refusal: a 400 error page with the code, never a redirect, no pending authorization. */
async function assertAuthorizeRefused(res: Response, error: string) {
  assert.equal(res.status, 400);
  assert.equal(res.headers.get("location"), null, "never redirected to an unverified client");
  assert.equal(res.headers.get("set-cookie"), null, "no pending authorization was created");
  const html = await res.text();
  assert.match(html, new RegExp(`<code class="err">${error}</code>`));
  assert.doesNotMatch(html, /name="csrf_token"/, "no consent form");
}

/** The /token refusal: 401 invalid_client JSON, no token. */
async function assertTokenRefused(as: DevAuthorizationServer, clientId: string) {
  const res = await call(
    as,
    "/token",
    form({
      grant_type: "authorization_code",
      code: "x".repeat(43),
      client_id: clientId,
      redirect_uri: REDIRECT,
      code_verifier: "v".repeat(43),
    }),
  );
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("cache-control"), "no-store");
  const body = await res.json();
  assert.equal(body.error, "invalid_client");
  assert.equal(body.access_token, undefined);
}

describe("discovery", () => {
  test("metadata advertises client_id_metadata_document_supported next to the registration endpoint; false turns it off", async () => {
    const on = await make();
    assert.equal(on.metadata.client_id_metadata_document_supported, true);
    assert.equal(on.metadata.registration_endpoint, `${ISSUER}/register`);
    const served = await (await call(on, "/.well-known/oauth-authorization-server")).json();
    assert.equal(served.client_id_metadata_document_supported, true);
    assert.equal(served.authorization_response_iss_parameter_supported, true);

    const off = await make({}, { client_id_metadata_documents: false });
    assert.equal(off.metadata.client_id_metadata_document_supported, undefined);
    docs.routes.set("/client.json", jsonRoute(doc(url("/client.json"))));
    await assertAuthorizeRefused(await authorizeRequest(off, url("/client.json")).res, "invalid_client");
    assert.equal(docs.hits.get("/client.json"), undefined, "nothing fetched when turned off");
  });
});

describe("a URL as client_id", () => {
  test("authorize → consent (name and host shown) → code → token; the document is fetched once", async () => {
    const as = await make();
    const clientId = url("/oauth/client.json");
    docs.routes.set(
      "/oauth/client.json",
      jsonRoute(doc(clientId, { client_name: "Acme <MCP> Client" }), { "cache-control": "max-age=60" }),
    );
    const { res, verifier } = authorizeRequest(as, clientId);
    const page = await res;
    assert.equal(page.status, 200);
    const f = await consentForm(page);
    assert.match(f.html, /<span class="client">Acme &#60;MCP&#62; Client<\/span> wants to access your account/);
    assert.match(
      f.html,
      new RegExp(`<strong class="client-host">127\\.0\\.0\\.1:${new URL(docs.origin).port}</strong>`),
    );
    const approved = await call(as, f.action, {
      ...form({ pending: f.pending, csrf_token: f.csrf, username: "alice", decision: "approve" }),
      headers: { "content-type": "application/x-www-form-urlencoded", cookie: f.cookie },
    });
    assert.equal(approved.status, 303);
    const back = new URL(approved.headers.get("location")!);
    assert.equal(back.origin + back.pathname, REDIRECT);
    assert.equal(back.searchParams.get("iss"), ISSUER);
    const code = back.searchParams.get("code")!;
    const tokenRes = await call(
      as,
      "/token",
      form({
        grant_type: "authorization_code",
        code,
        client_id: clientId,
        redirect_uri: REDIRECT,
        code_verifier: verifier,
      }),
    );
    assert.equal(tokenRes.status, 200);
    const tokens = await tokenRes.json();
    assert.equal(decodeJwt(tokens.access_token).client_id, clientId);
    assert.ok(tokens.refresh_token, "the token answer carries a refresh token");
    assert.equal(docs.hits.get("/oauth/client.json"), 1, "authorize, consent and token share one fetch");
    assert.deepEqual(lookups, [], "an IP literal needs no DNS lookup");

    // The refresh grant resolves the same client.
    const refreshed = await call(
      as,
      "/token",
      form({ grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: clientId }),
    );
    assert.equal(refreshed.status, 200);
  });

  test("Cache-Control max-age is honoured and capped at max_cache_ttl; no-store is not cached; default without one", async () => {
    const as = await make({ max_cache_ttl_seconds: 3600, default_cache_ttl_seconds: 300 });
    const long = url("/long.json");
    const nostore = url("/nostore.json");
    const plain = url("/plain.json");
    docs.routes.set("/long.json", jsonRoute(doc(long), { "cache-control": "public, max-age=86400" }));
    docs.routes.set("/nostore.json", jsonRoute(doc(nostore), { "cache-control": "no-store" }));
    docs.routes.set("/plain.json", jsonRoute(doc(plain)));
    const hit = async (id: string) => assert.equal((await authorizeRequest(as, id).res).status, 200);

    await hit(long);
    await hit(plain);
    now += 299_000;
    await hit(long);
    await hit(plain);
    assert.equal(docs.hits.get("/long.json"), 1);
    assert.equal(docs.hits.get("/plain.json"), 1);
    now += 2_000; // 301 s: the default 300 s is over, max-age (capped to 3600) is not
    await hit(long);
    await hit(plain);
    assert.equal(docs.hits.get("/long.json"), 1);
    assert.equal(docs.hits.get("/plain.json"), 2);
    now += 3_300_000; // 3601 s after the first fetch: the cap applies although max-age said a day
    await hit(long);
    assert.equal(docs.hits.get("/long.json"), 2);

    await hit(nostore);
    await hit(nostore);
    assert.equal(docs.hits.get("/nostore.json"), 2);
  });

  test("a failed fetch is not cached: the next request fetches again and succeeds once the document is fixed", async () => {
    const as = await make();
    const id = url("/later.json");
    await assertAuthorizeRefused(await authorizeRequest(as, id).res, "invalid_client");
    docs.routes.set("/later.json", jsonRoute(doc(id)));
    assert.equal((await authorizeRequest(as, id).res).status, 200);
    assert.equal(docs.hits.get("/later.json"), 2);
  });

  test("a hostname is resolved first and fetched when no address is forbidden", async () => {
    const id = "https://client.test/named.json";
    const as = await make({
      lookup: async (hostname: string) => {
        lookups.push(hostname);
        return [
          { address: "93.184.215.14", family: 4 },
          { address: "2606:2800:21f:cb07:6820:80da:af6b:8b2c", family: 6 },
        ];
      },
      // No network here: the injected fetch answers for the public host.
      fetch: async (u: string, init: RequestInit) => {
        fetches.push(u);
        assert.equal(init.redirect, "manual");
        assert.ok(init.signal instanceof AbortSignal, "the document fetch has an abort signal");
        return Response.json(doc(id));
      },
    });
    const page = await authorizeRequest(as, id).res;
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<strong class="client-host">client\.test<\/strong>/);
    assert.deepEqual(lookups, ["client.test"]);
    assert.deepEqual(fetches, [id]);
  });
});

describe("refusals", () => {
  const slow: Set<() => void> = new Set();
  after(() => slow.forEach((end) => end()));

  const cases: {
    name: string;
    path: string;
    route?: (id: string) => Route;
    clientId?: string;
    cimd?: Record<string, unknown>;
    fetched: boolean;
  }[] = [
    {
      name: "client_id in the document differs from the URL",
      path: "/mismatch.json",
      route: (id) => jsonRoute(doc(id + "x")),
      fetched: true,
    },
    {
      name: "document with a trailing-slash variant of the URL",
      path: "/slash.json",
      route: (id) => jsonRoute(doc(id.replace("/slash.json", "//slash.json"))),
      fetched: true,
    },
    {
      name: "oversized document (Content-Length)",
      path: "/big.json",
      route: (id) => jsonRoute(doc(id, { padding: "x".repeat(6000) })),
      fetched: true,
    },
    {
      name: "oversized document (chunked, no Content-Length)",
      path: "/big-chunked.json",
      route: (id) => (_req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        const text = JSON.stringify(doc(id, { padding: "x".repeat(6000) }));
        for (let i = 0; i < text.length; i += 1000) res.write(text.slice(i, i + 1000));
        res.end();
      },
      fetched: true,
    },
    {
      name: "slow document (headers, then the body never ends)",
      path: "/slow.json",
      route: () => (_req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.write('{"client_id":');
        slow.add(() => res.destroy());
      },
      cimd: { timeout_ms: 300 },
      fetched: true,
    },
    {
      name: "slow server (no response at all)",
      path: "/silent.json",
      route: () => (_req, res) => {
        slow.add(() => res.destroy());
      },
      cimd: { timeout_ms: 300 },
      fetched: true,
    },
    {
      name: "non-JSON document",
      path: "/page.json",
      route: () => (_req, res) => res.writeHead(200, { "content-type": "text/html" }).end("<html>not json</html>"),
      fetched: true,
    },
    { name: "JSON that is not an object", path: "/array.json", route: (id) => jsonRoute([doc(id)]), fetched: true },
    {
      name: "redirect response (not followed)",
      path: "/moved.json",
      route: () => (_req, res) => res.writeHead(302, { location: "/target.json" }).end(),
      fetched: true,
    },
    { name: "HTTP 404", path: "/missing.json", fetched: true },
    {
      name: "confidential client (client_secret_basic)",
      path: "/secret.json",
      route: (id) => jsonRoute(doc(id, { token_endpoint_auth_method: "client_secret_basic" })),
      fetched: true,
    },
    {
      name: "document carrying a client_secret",
      path: "/secret2.json",
      route: (id) => jsonRoute(doc(id, { client_secret: "s3cr3t" })),
      fetched: true,
    },
    {
      name: "document without client_name",
      path: "/noname.json",
      route: (id) => jsonRoute(doc(id, { client_name: undefined })),
      fetched: true,
    },
    {
      name: "document with an unacceptable redirect URI",
      path: "/badredirect.json",
      route: (id) => jsonRoute(doc(id, { redirect_uris: ["javascript:alert(1)"] })),
      fetched: true,
    },
    {
      name: "hostname resolving to a link-local (cloud metadata) address",
      path: "/client.json",
      clientId: "https://metadata.test/client.json",
      cimd: {
        lookup: async (h: string) => (
          lookups.push(h),
          [
            { address: "93.184.215.14", family: 4 },
            { address: "169.254.169.254", family: 4 },
          ]
        ),
      },
      fetched: false,
    },
    {
      name: "hostname resolving to an IPv6 link-local address",
      path: "/client.json",
      clientId: "https://v6.test/client.json",
      cimd: { lookup: async (h: string) => (lookups.push(h), [{ address: "fe80::1", family: 6 }]) },
      fetched: false,
    },
    {
      name: "literal link-local address (169.254.169.254)",
      path: "/latest/meta-data/",
      clientId: "https://169.254.169.254/latest/meta-data/",
      fetched: false,
    },
    {
      name: "literal IPv6 link-local address",
      path: "/client.json",
      clientId: "https://[fe80::1]/client.json",
      fetched: false,
    },
    {
      name: "literal IPv4-mapped link-local address",
      path: "/client.json",
      clientId: "https://[::ffff:a9fe:a9fe]/client.json",
      fetched: false,
    },
    {
      name: "AWS IPv6 metadata address",
      path: "/client.json",
      clientId: "https://[fd00:ec2::254]/client.json",
      fetched: false,
    },
    {
      name: "http on a non-loopback host",
      path: "/client.json",
      clientId: "http://example.com/client.json",
      fetched: false,
    },
    {
      name: "http on loopback when allow_http_loopback is false",
      path: "/client.json",
      cimd: { allow_http_loopback: false },
      fetched: false,
    },
    { name: "URL without a path", path: "/", clientId: "https://example.com/", fetched: false },
    {
      name: "URL not in normalized form (dot segment)",
      path: "/client.json",
      clientId: "https://example.com/a/../client.json",
      fetched: false,
    },
    {
      name: "URL with userinfo",
      path: "/client.json",
      clientId: "https://user@example.com/client.json",
      fetched: false,
    },
    {
      name: "URL with a fragment",
      path: "/client.json",
      clientId: "https://example.com/client.json#x",
      fetched: false,
    },
  ];

  for (const c of cases) {
    test(`${c.name} → /authorize 400 invalid_client page, /token 401 invalid_client`, async () => {
      const as = await make(c.cimd ?? {});
      const clientId = c.clientId ?? url(c.path);
      if (c.route) docs.routes.set(c.path, c.route(clientId));
      docs.routes.set("/target.json", jsonRoute(doc(clientId)));
      await assertAuthorizeRefused(await authorizeRequest(as, clientId).res, "invalid_client");
      await assertTokenRefused(as, clientId);
      assert.equal(fetches.length > 0, c.fetched, c.fetched ? "the document was fetched" : "refused before any fetch");
      assert.equal(docs.hits.get("/target.json"), undefined, "a redirect is never followed");
      if (c.clientId?.startsWith("http://example.com")) assert.deepEqual(lookups, [], "refused before any DNS lookup");
    });
  }

  test("control: the same harness with a valid document is accepted (so each refusal above is about its one defect)", async () => {
    const as = await make();
    const clientId = url("/good.json");
    docs.routes.set("/good.json", jsonRoute(doc(clientId, { padding: "x".repeat(4000) })));
    assert.equal((await authorizeRequest(as, clientId).res).status, 200);
  });

  test("redirect_uri not listed in the document → 400 invalid_request page, no redirect, no code", async () => {
    const as = await make();
    const clientId = url("/listed.json");
    docs.routes.set("/listed.json", jsonRoute(doc(clientId)));
    for (const foreign of [
      "https://evil.example/callback",
      "http://127.0.0.1:9999/other",
      "http://127.0.0.2:9999/callback",
    ]) {
      await assertAuthorizeRefused(await authorizeRequest(as, clientId, foreign).res, "invalid_request");
    }
    // A listed loopback redirect URI may change its port only (RFC 8252 §7.3).
    assert.equal((await authorizeRequest(as, clientId, "http://127.0.0.1:41234/callback").res).status, 200);
  });

  test("a code issued to a URL client cannot be redeemed by another client, nor with another redirect_uri", async () => {
    const as = await make();
    const a = url("/a.json");
    const b = url("/b.json");
    docs.routes.set("/a.json", jsonRoute(doc(a)));
    docs.routes.set("/b.json", jsonRoute(doc(b)));
    const { res, verifier } = authorizeRequest(as, a);
    const f = await consentForm(await res);
    const approved = await call(as, f.action, {
      ...form({ pending: f.pending, csrf_token: f.csrf, username: "alice", decision: "approve" }),
      headers: { "content-type": "application/x-www-form-urlencoded", cookie: f.cookie },
    });
    const code = new URL(approved.headers.get("location")!).searchParams.get("code")!;
    const stolen = await call(
      as,
      "/token",
      form({ grant_type: "authorization_code", code, client_id: b, redirect_uri: REDIRECT, code_verifier: verifier }),
    );
    assert.equal(stolen.status, 400);
    assert.equal((await stolen.json()).error, "invalid_grant");
  });
});
