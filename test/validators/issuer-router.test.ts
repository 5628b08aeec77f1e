/**
 * IssuerRouter: several authorization servers behind one resource, routed by `iss` without trying
 * providers in turn and without fetching keys for issuers nobody configured; Entra multi-tenant.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import {
  AuthError,
  ConfigError,
  EntraMultiTenantValidator,
  getContext,
  IntrospectionValidator,
  IssuerRouter,
  JWTValidator,
  protect,
  registerTools,
  tool,
  toNodeHandler,
  type AuthContext,
  type AuthorizationProvider,
  type EntraMultiTenantOptions,
} from "../../src/index.js";
import { makeKey, startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";
import { MCP_HEADERS, readRpc, toolCall } from "../helpers/mcp.js";

const TENANT_A = "1a1a1a1a-2b2b-3c3c-4d4d-5e5e5e5e5e5e";
const TENANT_B = "66666666-7777-8888-9999-aaaaaaaaaaaa";
const TENANT_X = "99999999-0000-0000-0000-000000000000";
const entraIss = (t: string) => `https://login.microsoftonline.com/${t}/v2.0`;
const APP_ID = "0b5e1d2c-3f4a-4b6c-8d7e-9f0a1b2c3d4e";

let a: LocalIssuer;
let b: LocalIssuer;
let entraKeys: LocalIssuer; // serves "the common Entra key set" on loopback
let http: Server;
let url: string;
let runs = 0;
let introspection: Server;
let introspectionCalls = 0;

const totalJwksFetches = () => a.jwksFetches() + b.jwksFetches() + entraKeys.jwksFetches();

const entra = (o: Partial<EntraMultiTenantOptions> = {}) =>
  new EntraMultiTenantValidator({
    tenants: [TENANT_A, TENANT_B],
    audience: ["api://mcp-files", APP_ID],
    jwks_uri: entraKeys.jwksUri,
    ...o,
  });

async function entraToken(tenant: string, claims: Record<string, unknown> = {}): Promise<string> {
  return entraKeys.sign(
    {
      iss: entraIss(tenant),
      tid: tenant,
      aud: APP_ID,
      sub: "user-oid",
      azp: "client-app",
      scp: "mcp Files.Read",
      ...claims,
    },
    { typ: "JWT" },
  );
}

let router: IssuerRouter;

before(async () => {
  a = await startLocalIssuer();
  b = await startLocalIssuer();
  entraKeys = await startLocalIssuer();
  entraKeys.setKeys([await makeKey("entra-1", "RS256")]);
  introspection = createServer((req, res) => {
    introspectionCalls++;
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const token = new URLSearchParams(body).get("token");
      const active = token === "opaque-good" || token === "opaque.good.token";
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(
          JSON.stringify(
            active
              ? { active, sub: "opaque-user", scope: "mcp", aud: url, iss: "https://opaque.example.com" }
              : { active },
          ),
        );
    });
  });
  await new Promise<void>((r) => introspection.listen(0, "127.0.0.1", r));

  http = createServer();
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
  router = new IssuerRouter({
    issuers: {
      [a.issuer]: new JWTValidator({ jwks_uri: a.jwksUri, issuer: a.issuer }),
      [b.issuer]: new JWTValidator({ jwks_uri: b.jwksUri, issuer: b.issuer }),
    },
    families: [entra()],
    opaque: new IntrospectionValidator({
      introspection_endpoint: `http://127.0.0.1:${(introspection.address() as AddressInfo).port}/introspect`,
      client_id: "rs",
      client_secret: "secret",
      issuer: "https://opaque.example.com",
    }),
  });
  const handler = protect(
    () => {
      const s = new McpServer({ name: "router", version: "1" });
      registerTools(
        s,
        tool({ name: "whoami", description: "caller" }, () => {
          runs++;
          const auth = getContext().auth!;
          return { subject: auth.subject, issuer: auth.issuer ?? null, scopes: [...auth.scopes] };
        }),
      );
      return s;
    },
    // authorization_servers left out: protect() lists the router's issuers in the RFC 9728 document.
    {
      authorization: { enabled: true, required_scopes: ["mcp"], resource: url },
      provider: router,
      session_mode: "stateless",
    },
  );
  http.on("request", toNodeHandler(handler));
});

after(async () => {
  for (const s of [http, introspection]) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
  await Promise.all([a.close(), b.close(), entraKeys.close()]);
});

const call = (token: string) =>
  fetch(url, {
    method: "POST",
    headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` },
    body: toolCall("whoami"),
  });
const challenge = (description: string) =>
  `Bearer realm="MCP", resource_metadata="${new URL(url).origin}/.well-known/oauth-protected-resource/mcp", scope="mcp", error="invalid_token", error_description="${description}", DPoP algs="ES256 EdDSA Ed25519 RS256 PS256"`;

async function refused(token: string, description: string): Promise<void> {
  const before = runs;
  const res = await call(token);
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("www-authenticate"), challenge(description));
  assert.equal((await res.text()).includes(token), false);
  assert.equal(runs, before, "no tool ran");
}

async function accepted(token: string): Promise<{ subject: string; issuer: string | null; scopes: string[] }> {
  const res = await call(token);
  assert.equal(res.status, 200);
  return (await readRpc(res)).result.structuredContent;
}

test("each issuer's tokens go to its own validator; only that issuer's key set is fetched", async () => {
  const fa = a.jwksFetches();
  const fb = b.jwksFetches();
  assert.deepEqual(await accepted(await a.sign({ aud: url, scope: "mcp" })), {
    subject: "alice",
    issuer: a.issuer,
    scopes: ["mcp"],
  });
  assert.equal(a.jwksFetches() - fa, 1);
  assert.equal(b.jwksFetches() - fb, 0);
  assert.deepEqual(await accepted(await b.sign({ aud: url, scope: "mcp", sub: "bob" })), {
    subject: "bob",
    issuer: b.issuer,
    scopes: ["mcp"],
  });
  assert.equal(b.jwksFetches() - fb, 1);
  // A token signed by B's key but claiming A's issuer is routed to A and fails there.
  // (both test issuers name their key "k1": the kid is found, the signature does not verify)
  await refused(await b.sign({ aud: url, scope: "mcp", iss: a.issuer }), "The access token signature is invalid");
});

test("an unconfigured issuer is refused 401 'issuer not trusted' with zero key set fetches anywhere", async () => {
  const before = totalJwksFetches();
  const stranger = await startLocalIssuer();
  try {
    await refused(await stranger.sign({ aud: url, scope: "mcp" }), "The access token issuer is not trusted");
    await refused(
      await a.sign({ aud: url, scope: "mcp", iss: `${a.issuer}/` }),
      "The access token issuer is not trusted",
    ); // exact match: no slash normalisation
    for (const iss of ["__proto__", "constructor", "toString"])
      await refused(await a.sign({ aud: url, scope: "mcp", iss }), "The access token issuer is not trusted");
    await refused(
      await a.sign({ aud: url, scope: "mcp", iss: undefined }),
      "The access token lacks the required iss claim",
    );
    assert.equal(stranger.jwksFetches(), 0);
    assert.equal(totalJwksFetches(), before);
  } finally {
    await stranger.close();
  }
});

test("opaque tokens go to the opaque provider (introspection); inactive ones are refused", async () => {
  const calls = introspectionCalls;
  assert.deepEqual(await accepted("opaque-good"), {
    subject: "opaque-user",
    issuer: "https://opaque.example.com",
    scopes: ["mcp"],
  });
  await refused("opaque-bad", "The access token is not active");
  assert.equal(introspectionCalls - calls, 2);
  // A JWT never goes to the introspection endpoint, even from an unknown issuer.
  const stranger = await startLocalIssuer();
  try {
    await refused(await stranger.sign({ aud: url }), "The access token issuer is not trusted");
    assert.equal(introspectionCalls - calls, 2);
  } finally {
    await stranger.close();
  }
  // Without an opaque provider, an opaque token is refused without any call.
  const jwtOnly = new IssuerRouter({
    issuers: { [a.issuer]: new JWTValidator({ jwks_uri: a.jwksUri, issuer: a.issuer }) },
  });
  await assert.rejects(
    jwtOnly.verify("opaque-good", { resource: url }),
    (e: AuthError) => e.code === "ERR_INVALID_TOKEN" && e.message === "The access token is not a signed JWT",
  );
  assert.equal(introspectionCalls - calls, 2);
});

test("verifyCached routes by iss like verify: each provider's cache answers for its own tokens, nothing else hits", async () => {
  const ctx = { resource: url };
  const ta = await a.sign({ aud: url, scope: "mcp", sub: "cached-a" });
  const te = await entraToken(TENANT_A, { sub: "cached-e" });
  assert.equal(router.verifyCached(ta, ctx), undefined, "not verified yet");
  const authA = await router.verify(ta, ctx);
  const authE = await router.verify(te, ctx);
  const authO = await router.verify("opaque-good", ctx);
  assert.equal(router.verifyCached(ta, ctx), authA);
  assert.equal(router.verifyCached(te, ctx), authE);
  assert.equal(router.verifyCached("opaque-good", ctx), authO);
  // A token signed by A's key but naming B's issuer routes to B, whose cache never saw it.
  const forged = `${(await a.sign({ aud: url, scope: "mcp", iss: b.issuer })).split(".").slice(0, 2).join(".")}.${ta.split(".")[2]}`;
  assert.equal(router.verifyCached(forged, ctx), undefined);
  for (const t of ["opaque-bad", "a.b.c", await a.sign({ aud: url, iss: "https://stranger.example" })])
    assert.equal(router.verifyCached(t, ctx), undefined);
  // The Entra validator alone: a hit for a cached token, a miss for one it never verified.
  const e = entra();
  await e.verify(te, ctx);
  assert.equal(e.verifyCached(te, ctx)?.subject, "cached-e");
  assert.equal(e.verifyCached(await entraToken(TENANT_B), ctx), undefined);
  assert.equal(entra({ token_cache_max: 0 }).verifyCached(te, ctx), undefined);
});

test("issuers lists every configured authorization server for the RFC 9728 metadata", async () => {
  assert.deepEqual(router.issuers, [
    a.issuer,
    b.issuer,
    entraIss(TENANT_A),
    entraIss(TENANT_B),
    "https://opaque.example.com",
  ]);
  const meta = (await (await fetch(`${new URL(url).origin}/.well-known/oauth-protected-resource/mcp`)).json()) as {
    authorization_servers: string[];
  };
  assert.deepEqual(meta.authorization_servers, router.issuers);
});

test("Entra multi-tenant: allowlisted tenants accepted with scp scopes and azp client, through the router", async () => {
  assert.deepEqual(await accepted(await entraToken(TENANT_A)), {
    subject: "user-oid",
    issuer: entraIss(TENANT_A),
    scopes: ["mcp", "Files.Read"],
  });
  // App-only token (client credentials): roles, no scp; api:// audience.
  const auth: AuthContext = await entra().verify(
    await entraToken(TENANT_B, {
      aud: "api://mcp-files",
      scp: undefined,
      roles: ["Files.ReadWrite.All"],
      sub: "sp-oid",
      azp: undefined,
      appid: "daemon-app",
    }),
    { resource: url },
  );
  assert.equal(auth.subject, "sp-oid");
  assert.equal(auth.client_id, "daemon-app");
  assert.deepEqual(auth.scopes, ["Files.ReadWrite.All"]);
});

test("Entra multi-tenant refusals: unlisted tenant (no key fetch), tid mismatch, wrong audience, v1 issuer, wrong host", async () => {
  const fetches = entraKeys.jwksFetches();
  await refused(await entraToken(TENANT_X), "The access token issuer is not trusted");
  await refused(await entraToken(TENANT_A.toUpperCase()), "The access token issuer is not trusted");
  await refused(
    await entraToken(TENANT_A, { iss: `https://sts.windows.net/${TENANT_A}/` }),
    "The access token issuer is not trusted",
  );
  await refused(
    await entraToken(TENANT_A, { iss: `https://login.microsoftonline.com.evil.example/${TENANT_A}/v2.0` }),
    "The access token issuer is not trusted",
  );
  assert.equal(entraKeys.jwksFetches(), fetches, "no key fetch for an issuer or tenant that is not trusted");
  // The iss names an allowed tenant, tid another one (e.g. a guest token replayed across tenants).
  await refused(await entraToken(TENANT_A, { tid: TENANT_X }), "The access token tenant does not match its issuer");
  await refused(await entraToken(TENANT_A, { tid: undefined }), "The access token lacks the required tid claim");
  await refused(await entraToken(TENANT_A, { aud: url }), "The access token is not intended for this resource");
  await refused(await entraToken(TENANT_A, { exp: Math.floor(Date.now() / 1000) - 3600 }), "The access token expired");
});

test("Entra any_tenant: explicit opt-in, warned once; the tid rule still holds", async () => {
  const warnings: string[] = [];
  const any = entra({ tenants: undefined, any_tenant: true, on_warning: (m) => warnings.push(m) });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /any_tenant is on/);
  assert.equal((await any.verify(await entraToken(TENANT_X), { resource: url })).issuer, entraIss(TENANT_X));
  await any.verify(await entraToken(TENANT_X), { resource: url });
  assert.equal(warnings.length, 1, "warned once, not per request");
  await assert.rejects(
    any.verify(await entraToken(TENANT_X, { tid: TENANT_A }), { resource: url }),
    (e: AuthError) => e.message === "The access token tenant does not match its issuer",
  );
  assert.deepEqual(any.issuers, ["https://login.microsoftonline.com/organizations/v2.0"]);
  assert.equal(any.matchesIssuer(entraIss(TENANT_B)), true);
  assert.equal(entra().matchesIssuer(entraIss(TENANT_X)), false);
});

test("Entra: key set down → 503 unavailable only for tokens that might be valid", async () => {
  const down = await startLocalIssuer();
  down.setKeys([await makeKey("entra-1", "RS256")]);
  down.setDown(true);
  try {
    const v = entra({ jwks_uri: down.jwksUri, jwks_backoff: { initial_ms: 60_000, max_ms: 60_000 } });
    const sign = (claims: Record<string, unknown>) =>
      down.sign({ iss: entraIss(TENANT_A), tid: TENANT_A, aud: APP_ID, sub: "u", ...claims }, { typ: "JWT" });
    await assert.rejects(
      v.verify(await sign({}), { resource: url }),
      (e: AuthError) => e.code === "ERR_AUTHORIZATION_UNAVAILABLE",
    );
    await assert.rejects(
      v.verify(await sign({ tid: TENANT_B }), { resource: url }),
      (e: AuthError) => e.code === "ERR_INVALID_TOKEN",
    );
    await assert.rejects(
      v.verify(await sign({ exp: 1 }), { resource: url }),
      (e: AuthError) => e.code === "ERR_TOKEN_EXPIRED",
    );
    assert.equal(down.jwksFetches(), 1, "one fetch, then back-off");
  } finally {
    await down.close();
  }
});

const reasonOf = async (p: Promise<unknown>): Promise<[string, string, string]> => {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof AuthError, String(e));
    return [e.code, e.reason, e.message];
  }
  return assert.fail("accepted");
};

test("IssuerRouter: a dotted token whose parts are not base64url JSON is opaque, not a malformed JWT", async () => {
  const calls = introspectionCalls;
  assert.deepEqual(await accepted("opaque.good.token"), {
    subject: "opaque-user",
    issuer: "https://opaque.example.com",
    scopes: ["mcp"],
  });
  assert.equal(introspectionCalls - calls, 1);
  assert.equal(router.verifyCached("opaque.good.token", { resource: url })?.subject, "opaque-user");
  await refused("opaque.bad.token", "The access token is not active");
  // Without an opaque provider it is refused as malformed, with no call anywhere.
  const jwtOnly = new IssuerRouter({
    issuers: { [a.issuer]: new JWTValidator({ jwks_uri: a.jwksUri, issuer: a.issuer }) },
  });
  assert.deepEqual(await reasonOf(jwtOnly.verify("opaque.good.token", { resource: url })), [
    "ERR_INVALID_TOKEN",
    "malformed",
    "The access token is not a signed JWT",
  ]);
  assert.deepEqual(await reasonOf(router.verify(await a.sign({ aud: url, iss: undefined }), { resource: url })), [
    "ERR_INVALID_TOKEN",
    "claim_missing",
    "The access token lacks the required iss claim",
  ]);
  const stranger = await a.sign({ aud: url, iss: "https://stranger.example" });
  assert.deepEqual(await reasonOf(router.verify(stranger, { resource: url })), [
    "ERR_INVALID_TOKEN",
    "issuer_untrusted",
    "The access token issuer is not trusted",
  ]);
});

test("Entra token shapes (the shared JWT core): cnf other than a DPoP jkt refused, jkt surfaced, sub required, iat, reasons", async () => {
  const ctx = { resource: url };
  const BOUND = "The access token is bound by a method this resource does not support";
  for (const cnf of [
    { "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" },
    { jkt: 123 },
    { jkt: "" },
    "x",
    [],
    null,
  ]) {
    assert.deepEqual(
      await reasonOf(entra().verify(await entraToken(TENANT_A, { cnf }), ctx)),
      ["ERR_INVALID_TOKEN", "binding_unsupported", BOUND],
      JSON.stringify(cnf),
    );
  }
  // Through the router and protect(): 401 with the challenge, the tool never runs.
  await refused(await entraToken(TENANT_A, { cnf: { "x5t#S256": "abc" } }), BOUND);
  // A DPoP-bound Entra token carries its thumbprint, so the server demands a proof.
  assert.equal((await entra().verify(await entraToken(TENANT_A, { cnf: { jkt: "thumb" } }), ctx)).jkt, "thumb");
  // No silent client fallback: a token without sub is refused unless the option says otherwise.
  const noSub = await entraToken(TENANT_A, { sub: undefined });
  assert.deepEqual(await reasonOf(entra().verify(noSub, ctx)), [
    "ERR_INVALID_TOKEN",
    "claim_missing",
    "The access token lacks the required sub claim",
  ]);
  assert.equal((await entra({ allow_missing_subject: true }).verify(noSub, ctx)).subject, "client-app");
  assert.equal(
    (await entra({ subject_claim: "oid" }).verify(await entraToken(TENANT_A, { oid: "object-id" }), ctx)).subject,
    "object-id",
  );
  const now = Math.floor(Date.now() / 1000);
  assert.deepEqual((await reasonOf(entra().verify(await entraToken(TENANT_A, { iat: now + 3600 }), ctx))).slice(0, 2), [
    "ERR_INVALID_TOKEN",
    "issued_in_future",
  ]);
  assert.deepEqual(
    (
      await reasonOf(entra({ max_token_age_seconds: 600 }).verify(await entraToken(TENANT_A, { iat: now - 3600 }), ctx))
    ).slice(0, 2),
    ["ERR_INVALID_TOKEN", "too_old"],
  );
  assert.deepEqual((await reasonOf(entra().verify(await entraToken(TENANT_X), ctx))).slice(0, 2), [
    "ERR_INVALID_TOKEN",
    "issuer_untrusted",
  ]);
  assert.deepEqual((await reasonOf(entra().verify(await entraToken(TENANT_A, { aud: url }), ctx))).slice(0, 2), [
    "ERR_INVALID_TOKEN",
    "audience_mismatch",
  ]);
  assert.deepEqual((await reasonOf(entra().verify(await entraToken(TENANT_A, { tid: TENANT_B }), ctx))).slice(0, 2), [
    "ERR_INVALID_TOKEN",
    "claim_invalid",
  ]);
});

test("Entra clock option: exp and the token cache follow the validator's clock, not Date", async () => {
  let offset = 0;
  const v = entra({ clock: () => Date.now() + offset });
  const t = await entraToken(TENANT_A, { exp: Math.floor(Date.now() / 1000) + 120 });
  const auth = await v.verify(t, { resource: url });
  assert.equal(v.verifyCached(t, { resource: url }), auth);
  offset = 200_000;
  assert.equal(v.verifyCached(t, { resource: url }), undefined, "expired by the clock: a miss");
  assert.deepEqual((await reasonOf(v.verify(t, { resource: url }))).slice(0, 2), ["ERR_TOKEN_EXPIRED", "expired"]);
  offset = -3_600_000;
  assert.deepEqual(
    (await reasonOf(entra({ clock: () => Date.now() + offset }).verify(t, { resource: url }))).slice(0, 2),
    ["ERR_INVALID_TOKEN", "issued_in_future"],
  );
});

test("Entra any_tenant excludes personal Microsoft accounts (MSA tenant) unless allow_personal_accounts", async () => {
  const MSA = "9188040d-6c67-4c5b-b112-36a304b66dad";
  const quiet = { on_warning: () => {} };
  const any = entra({ tenants: undefined, any_tenant: true, ...quiet });
  assert.equal(any.matchesIssuer(entraIss(MSA)), false);
  assert.deepEqual((await reasonOf(any.verify(await entraToken(MSA), { resource: url }))).slice(0, 2), [
    "ERR_INVALID_TOKEN",
    "issuer_untrusted",
  ]);
  const withMsa = entra({ tenants: undefined, any_tenant: true, allow_personal_accounts: true, ...quiet });
  assert.equal((await withMsa.verify(await entraToken(MSA), { resource: url })).issuer, entraIss(MSA));
  assert.deepEqual(withMsa.issuers, ["https://login.microsoftonline.com/common/v2.0"]);
  // An explicit allowlist naming the MSA tenant admits it; the option only goes with any_tenant.
  assert.equal(entra({ tenants: [MSA] }).matchesIssuer(entraIss(MSA)), true);
  assert.throws(
    () => entra({ allow_personal_accounts: true }),
    (e: unknown) => e instanceof ConfigError && /allow_personal_accounts: only with any_tenant/.test(e.message),
  );
});

test("configuration errors name the key", () => {
  const fake: AuthorizationProvider = { verify: async () => assert.fail("never called") };
  assert.throws(
    () => new IssuerRouter({}),
    (e: unknown) => e instanceof ConfigError && /issuers: at least one of issuers, families or opaque/.test(e.message),
  );
  assert.throws(
    () => new IssuerRouter({ issuers: { "not a url": fake } }),
    (e: unknown) => e instanceof ConfigError && /issuers/.test(e.message),
  );
  assert.throws(
    () => new IssuerRouter({ families: [fake as never] }),
    (e: unknown) => e instanceof ConfigError && /families\.0: must be an IssuerFamily/.test(e.message),
  );
  assert.throws(
    () => new EntraMultiTenantValidator({ audience: APP_ID }),
    (e: unknown) => e instanceof ConfigError && /tenants: a tenant allowlist is required/.test(e.message),
  );
  assert.throws(
    () => new EntraMultiTenantValidator({ audience: APP_ID, tenants: ["contoso.onmicrosoft.com"] }),
    (e: unknown) => e instanceof ConfigError && /tenants\.0: must be tenant ID GUIDs/.test(e.message),
  );
  assert.throws(
    () => new EntraMultiTenantValidator({ audience: APP_ID, tenants: [TENANT_A], any_tenant: true }),
    (e: unknown) => e instanceof ConfigError && /not both/.test(e.message),
  );
  assert.throws(
    () => new EntraMultiTenantValidator({ audience: APP_ID, tenants: [TENANT_A], algorithms: ["HS256"] }),
    (e: unknown) => e instanceof ConfigError && /algorithms\.0/.test(e.message),
  );
  // Upper-case tenant IDs in configuration are normalised (Entra issues lower-case ones).
  assert.equal(
    new EntraMultiTenantValidator({ audience: APP_ID, tenants: [TENANT_B.toUpperCase()] }).matchesIssuer(
      entraIss(TENANT_B),
    ),
    true,
  );
});
