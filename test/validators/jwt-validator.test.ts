import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SignJWT, exportJWK, generateKeyPair, type JWTPayload } from "jose";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import {
  AuthorizationUnavailable,
  InvalidToken,
  JWTValidator,
  JWTValidatorConfig,
  ConfigError,
  protect,
  registerTools,
  tool,
  type AuthEvent,
} from "../../src/index.js";
import { makeKey, startLocalIssuer } from "../helpers/issuer.js";
import { MCP_HEADERS, toolCall } from "../helpers/mcp.js";

const RESOURCE = "https://mcp.example.com/mcp";
const ctx = (emit?: (e: AuthEvent) => void) => ({ resource: RESOURCE, ...(emit ? { emit } : {}) });
const code = (e: unknown) => (e as { code?: string }).code;

describe("JWKS handling", () => {
  test("1,000 concurrent first requests cause exactly one JWKS fetch", async () => {
    const iss = await startLocalIssuer();
    try {
      const v = new JWTValidator({ jwks_uri: iss.jwksUri, issuer: iss.issuer, token_cache_max: 0 });
      const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => iss.sign({ aud: RESOURCE, sub: `u${i}` })));
      const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => v.verify(tokens[i % 20]!, ctx())));
      assert.equal(results.length, 1000);
      assert.equal(iss.jwksFetches(), 1);
    } finally {
      await iss.close();
    }
  });

  test("a rotated key (new kid) is picked up by a refetch", async () => {
    const iss = await startLocalIssuer();
    try {
      const events: AuthEvent[] = [];
      const v = new JWTValidator({ jwks_uri: iss.jwksUri, issuer: iss.issuer, jwks_cooldown_seconds: 0 });
      await v.verify(
        await iss.sign({ aud: RESOURCE }),
        ctx((e) => events.push(e)),
      );
      const k2 = await makeKey("k2");
      iss.setKeys([k2]);
      const auth = await v.verify(
        await iss.sign({ aud: RESOURCE, sub: "bob" }, { key: k2 }),
        ctx((e) => events.push(e)),
      );
      assert.equal(auth.subject, "bob");
      assert.equal(iss.jwksFetches(), 2);
      assert.deepEqual(
        events.map((e) => e.type),
        ["jwks_refreshed", "jwks_refreshed"],
      );
    } finally {
      await iss.close();
    }
  });

  test("unknown kids do not cause a fetch per request (refetch is rate limited)", async () => {
    const iss = await startLocalIssuer();
    try {
      const v = new JWTValidator({ jwks_uri: iss.jwksUri, issuer: iss.issuer, jwks_cooldown_seconds: 60 });
      await v.verify(await iss.sign({ aud: RESOURCE }), ctx());
      const stranger = await makeKey("unknown");
      for (let i = 0; i < 50; i++) {
        await assert.rejects(
          v.verify(await iss.sign({ aud: RESOURCE, jti: String(i) }, { key: stranger }), ctx()),
          (e) => code(e) === "ERR_INVALID_TOKEN",
        );
      }
      assert.equal(iss.jwksFetches(), 1);
    } finally {
      await iss.close();
    }
  });

  test("an unreachable JWKS is AuthorizationUnavailable, a bad token is still InvalidToken", async () => {
    const iss = await startLocalIssuer();
    try {
      iss.setDown(true);
      const v = new JWTValidator({ jwks_uri: iss.jwksUri, issuer: iss.issuer });
      await assert.rejects(v.verify(await iss.sign({ aud: RESOURCE }), ctx()), AuthorizationUnavailable);
      await assert.rejects(v.verify("garbage", ctx()), InvalidToken);
      const closed = new JWTValidator({ jwks_uri: "http://127.0.0.1:1/jwks", issuer: iss.issuer });
      await assert.rejects(closed.verify(await iss.sign({ aud: RESOURCE }), ctx()), AuthorizationUnavailable);
    } finally {
      await iss.close();
    }
  });

  test("a verified token is cached: a repeat costs no verification", async () => {
    const iss = await startLocalIssuer();
    try {
      const v = new JWTValidator({ jwks_uri: iss.jwksUri, issuer: iss.issuer });
      const t = await iss.sign({ aud: RESOURCE });
      const a = await v.verify(t, ctx());
      iss.setKeys([await makeKey("other")]); // even if the key set changed, the cached entry stands until cache_ttl
      assert.equal(await v.verify(t, ctx()), a);
    } finally {
      await iss.close();
    }
  });

  test("verifyCached answers only what verify answered before: same principal, same audience, not expired", async () => {
    const iss = await startLocalIssuer();
    let offset = 0;
    const clock = () => Date.now() + offset;
    try {
      const v = new JWTValidator({ jwks_uri: iss.jwksUri, issuer: iss.issuer, clock });
      const t = await iss.sign({
        aud: [RESOURCE, "https://other.example/mcp"],
        exp: Math.floor(Date.now() / 1000) + 120,
      });
      assert.equal(v.verifyCached(t, ctx()), undefined, "never verified: a miss");
      const a = await v.verify(t, ctx());
      assert.equal(v.verifyCached(t, ctx()), a);
      // The entry is for the audience it was verified for: another resource gets a miss (verify decides).
      assert.equal(v.verifyCached(t, { resource: "https://other.example/mcp" }), undefined);
      assert.equal(v.verifyCached(`${t}x`, ctx()), undefined);
      // Past exp (and the 30 s clock tolerance) by the validator's clock: a miss, the entry is dropped, and verify
      // refuses.
      offset = 200_000;
      assert.equal(v.verifyCached(t, ctx()), undefined);
      await assert.rejects(
        v.verify(t, ctx()),
        (e) => code(e) === "ERR_TOKEN_EXPIRED" && (e as InvalidToken).reason === "expired",
      );
      offset = 0;
      assert.equal(v.verifyCached(t, ctx()), undefined, "the expired entry was dropped");
    } finally {
      await iss.close();
    }
  });

  test("verifyCached with the token cache off (token_cache_max: 0) is always a miss", async () => {
    const iss = await startLocalIssuer();
    try {
      const v = new JWTValidator({ jwks_uri: iss.jwksUri, issuer: iss.issuer, token_cache_max: 0 });
      const t = await iss.sign({ aud: RESOURCE });
      await v.verify(t, ctx());
      assert.equal(v.verifyCached(t, ctx()), undefined);
    } finally {
      await iss.close();
    }
  });
});

describe("claims and options", () => {
  test("scopes from scope (string) and scp (array); client from client_id or azp; token hidden", async () => {
    const iss = await startLocalIssuer();
    try {
      const v = new JWTValidator({ jwks_uri: iss.jwksUri, issuer: iss.issuer });
      const a = await v.verify(await iss.sign({ aud: RESOURCE, scope: "a b", azp: "app" }), ctx());
      assert.deepEqual(a.scopes, ["a", "b"]);
      assert.equal(a.client_id, "app");
      const b = await v.verify(await iss.sign({ aud: [RESOURCE, "other"], scp: ["x", "y"], client_id: "cli" }), ctx());
      assert.deepEqual(b.scopes, ["x", "y"]);
      assert.equal(b.client_id, "cli");
      assert.ok(!JSON.stringify(b).includes(b.token), "token is not serialised");
      assert.ok(!Object.keys(b).includes("token"), "the principal carries no token member");
      assert.equal(typeof b.token, "string");
    } finally {
      await iss.close();
    }
  });

  test("HMAC only with a secret, and never mixed with asymmetric algorithms", async () => {
    const secret = "s".repeat(32);
    const v = new JWTValidator({ secret, issuer: "https://as.example" });
    const t = await new SignJWT({
      iss: "https://as.example",
      sub: "a",
      aud: RESOURCE,
      exp: Math.floor(Date.now() / 1000) + 60,
    })
      .setProtectedHeader({ alg: "HS256" })
      .sign(new TextEncoder().encode(secret));
    assert.equal((await v.verify(t, ctx())).subject, "a");
    assert.throws(() => new JWTValidator({ secret: "short", issuer: "x" }), ConfigError);
    assert.throws(() => new JWTValidator({ secret, issuer: "x", algorithms: ["RS256"] }), /algorithms/);
    assert.throws(
      () => new JWTValidator({ jwks_uri: "https://x.example/jwks", issuer: "x", algorithms: ["HS256"] }),
      /algorithms/,
    );
    assert.throws(
      () => new JWTValidator({ jwks_uri: "https://x.example/jwks", issuer: "x", algorithms: ["none"] }),
      /algorithms/,
    );
    assert.throws(() => new JWTValidator({ issuer: "x" }), /jwks_uri/);
    assert.throws(
      () => new JWTValidator({ jwks_uri: "https://x.example/jwks", issuer: "x", bogus: 1 } as never),
      /bogus: unknown key/,
    );
  });
});

/** Serve a preset's JWKS from memory through the injectable fetch, sign tokens shaped like the IdP's. */
async function presetHarness() {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: "idp", alg: "RS256" };
  const fetched: string[] = [];
  const fetchImpl = async (url: string) => {
    fetched.push(String(url));
    return new Response(JSON.stringify({ keys: [jwk] }), { headers: { "content-type": "application/json" } });
  };
  const sign = (claims: JWTPayload, typ = "JWT") =>
    new SignJWT({ iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 600, ...claims })
      .setProtectedHeader({ alg: "RS256", kid: "idp", typ })
      .sign(privateKey);
  return { fetchImpl, fetched, sign };
}

describe("identity-provider presets absorb each IdP's token shape", () => {
  test("Auth0: trailing-slash issuer, aud array with userinfo, permissions, azp, opaque-token hint", async () => {
    const h = await presetHarness();
    const v = new JWTValidator({
      ...JWTValidatorConfig.auth0({ domain: "tenant.eu.auth0.com", audience: "https://api.example.com" }),
      fetch: h.fetchImpl,
    });
    const a = await v.verify(
      await h.sign({
        iss: "https://tenant.eu.auth0.com/",
        sub: "auth0|123",
        aud: ["https://api.example.com", "https://tenant.eu.auth0.com/userinfo"],
        azp: "spa",
        scope: "openid read",
        permissions: ["files:delete"],
      }),
      ctx(),
    );
    assert.deepEqual([a.subject, a.client_id, [...a.scopes]], ["auth0|123", "spa", ["openid", "read", "files:delete"]]);
    assert.equal(h.fetched[0], "https://tenant.eu.auth0.com/.well-known/jwks.json");
    await assert.rejects(
      v.verify(await h.sign({ iss: "https://tenant.eu.auth0.com", sub: "x", aud: "https://api.example.com" }), ctx()),
      /issuer/,
    );
    await assert.rejects(v.verify("a.b.c.d.e", ctx()), /Auth0 issues opaque tokens/);
  });

  test("Okta: /oauth2/default issuer, api://default audience, scp array, cid", async () => {
    const h = await presetHarness();
    const v = new JWTValidator({ ...JWTValidatorConfig.okta({ domain: "dev-1.okta.com" }), fetch: h.fetchImpl });
    const a = await v.verify(
      await h.sign({
        iss: "https://dev-1.okta.com/oauth2/default",
        sub: "me@x",
        aud: "api://default",
        scp: ["mcp", "files:read"],
        cid: "0oa1",
        uid: "00u1",
      }),
      ctx(),
    );
    assert.deepEqual([a.client_id, [...a.scopes], a.claims.uid], ["0oa1", ["mcp", "files:read"], "00u1"]);
    assert.equal(h.fetched[0], "https://dev-1.okta.com/oauth2/default/v1/keys");
  });

  test("Keycloak: realm issuer, certs path, typ JWT, azp, roles kept in claims; 'account' audience refused", async () => {
    const h = await presetHarness();
    const v = new JWTValidator({
      ...JWTValidatorConfig.keycloak({ base_url: "https://kc.example.com/", realm: "mcp", audience: "mcp-server" }),
      fetch: h.fetchImpl,
    });
    const a = await v.verify(
      await h.sign(
        {
          iss: "https://kc.example.com/realms/mcp",
          sub: "u1",
          aud: ["mcp-server", "account"],
          azp: "cli",
          scope: "profile mcp",
          realm_access: { roles: ["admin"] },
        },
        "JWT",
      ),
      ctx(),
    );
    assert.deepEqual([a.client_id, [...a.scopes]], ["cli", ["profile", "mcp"]]);
    assert.deepEqual((a.claims.realm_access as { roles: string[] }).roles, ["admin"]);
    assert.equal(h.fetched[0], "https://kc.example.com/realms/mcp/protocol/openid-connect/certs");
    await assert.rejects(
      v.verify(await h.sign({ iss: "https://kc.example.com/realms/mcp", sub: "u1", aud: "account" }), ctx()),
      /not intended/,
    );
    const withRoles = new JWTValidator({
      ...JWTValidatorConfig.keycloak({
        base_url: "https://kc.example.com",
        realm: "mcp",
        audience: "mcp-server",
        scope_claims: ["scope", "realm_access.roles"],
      }),
      fetch: h.fetchImpl,
    });
    const r = await withRoles.verify(
      await h.sign({
        iss: "https://kc.example.com/realms/mcp",
        sub: "u1",
        aud: "mcp-server",
        scope: "mcp",
        realm_access: { roles: ["admin"] },
      }),
      ctx(),
    );
    assert.deepEqual([...r.scopes], ["mcp", "admin"]);
  });

  test("Entra ID: v2 issuer, GUID audience (not the resource URL), scp string, roles, azp; v1 issuer and appid", async () => {
    const h = await presetHarness();
    const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const app = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
    const v = new JWTValidator({
      ...JWTValidatorConfig.entra({ tenant_id: tenant, audience: app }),
      fetch: h.fetchImpl,
    });
    const a = await v.verify(
      await h.sign({
        iss: `https://login.microsoftonline.com/${tenant}/v2.0`,
        sub: "s",
        aud: app,
        scp: "Files.Read mcp",
        roles: ["Admin"],
        azp: "c",
        tid: tenant,
      }),
      ctx(),
    );
    assert.deepEqual([a.client_id, [...a.scopes]], ["c", ["Files.Read", "mcp", "Admin"]]);
    assert.equal(h.fetched[0], `https://login.microsoftonline.com/${tenant}/discovery/v2.0/keys`);
    const v1 = new JWTValidator({
      ...JWTValidatorConfig.entra({ tenant_id: tenant, audience: `api://${app}`, version: 1 }),
      fetch: h.fetchImpl,
    });
    const b = await v1.verify(
      await h.sign({
        iss: `https://sts.windows.net/${tenant}/`,
        sub: "s",
        aud: `api://${app}`,
        scp: "mcp",
        appid: "legacy",
      }),
      ctx(),
    );
    assert.equal(b.client_id, "legacy");
  });

  test("Cognito: no aud, client_id allowlist, token_use must be access", async () => {
    const h = await presetHarness();
    const iss = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC";
    const v = new JWTValidator({
      ...JWTValidatorConfig.cognito({ region: "eu-west-1", user_pool_id: "eu-west-1_AbC", client_ids: ["app1"] }),
      fetch: h.fetchImpl,
    });
    const a = await v.verify(
      await h.sign({ iss, sub: "u", client_id: "app1", token_use: "access", scope: "mcp/read" }),
      ctx(),
    );
    assert.deepEqual([a.client_id, [...a.scopes]], ["app1", ["mcp/read"]]);
    assert.equal(h.fetched[0], `${iss}/.well-known/jwks.json`);
    await assert.rejects(
      v.verify(await h.sign({ iss, sub: "u", client_id: "app1", token_use: "id" }), ctx()),
      /token_use/,
    );
    await assert.rejects(
      v.verify(await h.sign({ iss, sub: "u", client_id: "app2", token_use: "access" }), ctx()),
      /client that is not accepted/,
    );
  });
});

describe("refusal reasons and token shapes", () => {
  /** protect() around a stateless server whose one tool counts its runs, with every event recorded. */
  function protectedWith(provider: JWTValidator) {
    const events: AuthEvent[] = [];
    let runs = 0;
    const handler = protect(
      () => {
        const s = new McpServer({ name: "reasons", version: "1" });
        registerTools(
          s,
          tool({ name: "whoami", description: "caller" }, () => (runs++, { ok: true })),
        );
        return s;
      },
      {
        authorization: { enabled: true, authorization_servers: ["https://as.example.com"], resource: RESOURCE },
        provider,
        session_mode: "stateless",
        on_auth_event: (e) => events.push(e),
      },
    );
    const challenge = (description: string) =>
      `Bearer realm="MCP", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", error="invalid_token", error_description="${description}", DPoP algs="ES256 EdDSA Ed25519 RS256 PS256"`;
    /** Send `token`; assert 401, the exact challenge, nothing let through; return the refused event's reason. */
    async function refusedReason(token: string, description: string): Promise<string> {
      events.length = 0;
      const before = runs;
      const res = await handler(
        new Request(RESOURCE, {
          method: "POST",
          headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` },
          body: toolCall("whoami"),
        }),
      );
      assert.equal(res.status, 401, description);
      assert.equal(res.headers.get("www-authenticate"), challenge(description));
      assert.equal((await res.text()).includes(token), false);
      assert.equal(runs, before, "no tool ran");
      assert.equal(
        events.some((e) => e.type === "accepted" || e.type === "fail_open"),
        false,
      );
      const refused = events.filter((e) => e.type === "refused");
      assert.equal(refused.length, 1);
      assert.ok(!JSON.stringify(refused).includes(token), "no token material in the event");
      return (refused[0] as { reason: string }).reason;
    }
    return { handler, refusedReason, close: () => handler.close() };
  }

  test("wrong issuer, wrong audience, bad signature, unknown key, algorithm, times, type, subject and binding: one precise reason each, through protect()", async () => {
    const iss = await startLocalIssuer();
    const p = protectedWith(
      new JWTValidator({
        jwks_uri: iss.jwksUri,
        issuer: iss.issuer,
        required_typ: "at+jwt",
        jwks_cooldown_seconds: 60,
      }),
    );
    try {
      const now = Math.floor(Date.now() / 1000);
      const forger = await makeKey("k1"); // same kid as the issuer's key: found, signature fails
      const stranger = await makeKey("stranger");
      const hs = await new SignJWT({ iss: iss.issuer, sub: "a", aud: RESOURCE, exp: now + 60 })
        .setProtectedHeader({ alg: "HS256", typ: "at+jwt" })
        .sign(new TextEncoder().encode("s".repeat(32)));
      const BOUND = "The access token is bound by a method this resource does not support";
      const cases: [string, string, string][] = [
        [
          await iss.sign({ aud: RESOURCE, iss: "https://evil.example.com" }),
          "issuer_untrusted",
          "The access token issuer is not trusted",
        ],
        [
          await iss.sign({ aud: "https://other.example.com/mcp" }),
          "audience_mismatch",
          "The access token is not intended for this resource",
        ],
        [
          await iss.sign({ aud: RESOURCE }, { key: forger }),
          "signature_invalid",
          "The access token signature is invalid",
        ],
        [
          await iss.sign({ aud: RESOURCE }, { key: stranger }),
          "key_unknown",
          "The access token signing key is unknown",
        ],
        [hs, "algorithm_not_allowed", "The access token algorithm is not accepted"],
        ["not-a-jwt", "malformed", "The access token is not a signed JWT"],
        [await iss.sign({ aud: RESOURCE, exp: now - 3600 }), "expired", "The access token expired"],
        [await iss.sign({ aud: RESOURCE, nbf: now + 3600 }), "not_yet_valid", "The access token is not yet valid"],
        [
          await iss.sign({ aud: RESOURCE, iat: now + 3600 }),
          "issued_in_future",
          "The access token was issued in the future",
        ],
        [await iss.sign({ aud: RESOURCE }, { typ: "JWT" }), "token_type", "The access token type is not accepted"],
        [
          await iss.sign({ aud: RESOURCE, sub: undefined, client_id: "app" }),
          "claim_missing",
          "The access token lacks the required sub claim",
        ],
        [await iss.sign({ aud: RESOURCE, sub: 42 as never }), "claim_invalid", "The access token sub claim is invalid"],
        [
          await iss.sign({ aud: RESOURCE, cnf: { "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" } }),
          "binding_unsupported",
          BOUND,
        ],
        [await iss.sign({ aud: RESOURCE, cnf: { jkt: 123 } }), "binding_unsupported", BOUND],
        [await iss.sign({ aud: RESOURCE, cnf: "x" }), "binding_unsupported", BOUND],
      ];
      const reasons: string[] = [];
      for (const [token, reason, description] of cases) {
        const got = await p.refusedReason(token, description);
        assert.equal(got, reason, description);
        reasons.push(got);
      }
      assert.equal(
        new Set(reasons.slice(0, 5)).size,
        5,
        "issuer, audience, signature, key and algorithm are told apart",
      );
    } finally {
      await p.close();
      await iss.close();
    }
  });

  test("sub: required (no silent client_id fallback) unless subject_claim names another claim or allow_missing_subject", async () => {
    const iss = await startLocalIssuer();
    try {
      const noSub = await iss.sign({ aud: RESOURCE, sub: undefined, client_id: "daemon" });
      const strict = new JWTValidator({ jwks_uri: iss.jwksUri, issuer: iss.issuer });
      await assert.rejects(
        strict.verify(noSub, ctx()),
        (e: InvalidToken) =>
          e.reason === "claim_missing" && e.message === "The access token lacks the required sub claim",
      );
      const lenient = new JWTValidator({ jwks_uri: iss.jwksUri, issuer: iss.issuer, allow_missing_subject: true });
      const auth = await lenient.verify(noSub, ctx());
      assert.deepEqual([auth.subject, auth.client_id], ["daemon", "daemon"]);
      // Allowed to be absent, but without a client id there is nobody to name: refused.
      await assert.rejects(
        lenient.verify(await iss.sign({ aud: RESOURCE, sub: undefined }), ctx()),
        (e: InvalidToken) => e.reason === "claim_missing",
      );
      const byUid = new JWTValidator({ jwks_uri: iss.jwksUri, issuer: iss.issuer, subject_claim: "uid" });
      assert.equal((await byUid.verify(await iss.sign({ aud: RESOURCE, uid: "00u1" }), ctx())).subject, "00u1");
      assert.throws(
        () => new JWTValidator({ jwks_uri: iss.jwksUri, issuer: iss.issuer, allow_missing_subject: "yes" } as never),
        ConfigError,
      );
    } finally {
      await iss.close();
    }
  });

  test("cnf: absent or a DPoP jkt is accepted (jkt surfaced); iat within tolerance passes; max_token_age refuses older tokens", async () => {
    const iss = await startLocalIssuer();
    try {
      const now = Math.floor(Date.now() / 1000);
      const v = new JWTValidator({ jwks_uri: iss.jwksUri, issuer: iss.issuer, max_token_age_seconds: 600 });
      assert.equal((await v.verify(await iss.sign({ aud: RESOURCE, cnf: { jkt: "thumb" } }), ctx())).jkt, "thumb");
      assert.equal(
        (await v.verify(await iss.sign({ aud: RESOURCE, iat: now + 20 }), ctx())).subject,
        "alice",
        "iat 20 s ahead: within the 30 s tolerance",
      );
      await assert.rejects(
        v.verify(await iss.sign({ aud: RESOURCE, iat: now - 3600 }), ctx()),
        (e: InvalidToken) => e.code === "ERR_INVALID_TOKEN" && e.reason === "too_old",
      );
      await assert.rejects(
        v.verify(await iss.sign({ aud: RESOURCE, iat: undefined }), ctx()),
        (e: InvalidToken) => e.reason === "claim_missing" && /iat/.test(e.message),
      );
      // Without max_token_age an old iat is fine (exp decides).
      const plain = new JWTValidator({ jwks_uri: iss.jwksUri, issuer: iss.issuer });
      assert.equal((await plain.verify(await iss.sign({ aud: RESOURCE, iat: now - 86_400 }), ctx())).subject, "alice");
    } finally {
      await iss.close();
    }
  });

  test("clock option: exp, nbf and iat are judged by the validator's clock (jose's currentDate and the fast path alike)", async () => {
    const iss = await startLocalIssuer();
    try {
      const now = Math.floor(Date.now() / 1000);
      const token = await iss.sign({ aud: RESOURCE, iat: now, nbf: now, exp: now + 600 });
      for (const fast_path of [true, false]) {
        const at = (offsetMs: number) =>
          new JWTValidator({
            jwks_uri: iss.jwksUri,
            issuer: iss.issuer,
            fast_path,
            clock: () => Date.now() + offsetMs,
          });
        assert.equal((await at(0).verify(token, ctx())).subject, "alice");
        await assert.rejects(at(3_600_000).verify(token, ctx()), (e: InvalidToken) => e.reason === "expired");
        await assert.rejects(at(-3_600_000).verify(token, ctx()), (e: InvalidToken) => e.reason === "not_yet_valid");
      }
      const noNbf = await iss.sign({ aud: RESOURCE, iat: now, exp: now + 7200 });
      const behind = new JWTValidator({
        jwks_uri: iss.jwksUri,
        issuer: iss.issuer,
        clock: () => Date.now() - 3_600_000,
      });
      await assert.rejects(behind.verify(noNbf, ctx()), (e: InvalidToken) => e.reason === "issued_in_future");
    } finally {
      await iss.close();
    }
  });

  test("the key set being down: refusals by unverified claims carry their reasons too; a plausible token is unavailable", async () => {
    const iss = await startLocalIssuer();
    try {
      iss.setDown(true);
      const v = new JWTValidator({
        jwks_uri: iss.jwksUri,
        issuer: iss.issuer,
        jwks_backoff: { initial_ms: 60_000, max_ms: 60_000 },
      });
      const now = Math.floor(Date.now() / 1000);
      const reason = async (claims: JWTPayload) => {
        try {
          await v.verify(await iss.sign({ aud: RESOURCE, ...claims }), ctx());
        } catch (e) {
          return (e as InvalidToken).reason;
        }
        return "accepted";
      };
      assert.equal(await reason({}), "unavailable");
      assert.equal(await reason({ iss: "https://evil.example.com" }), "issuer_untrusted");
      assert.equal(await reason({ aud: "https://other.example.com" }), "audience_mismatch");
      assert.equal(await reason({ exp: now - 3600 }), "expired");
      assert.equal(await reason({ iat: now + 3600 }), "issued_in_future");
      assert.equal(await reason({ cnf: { "x5t#S256": "abc" } }), "binding_unsupported");
    } finally {
      await iss.close();
    }
  });
});
