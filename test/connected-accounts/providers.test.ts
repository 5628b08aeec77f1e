/**
 * Connected-account providers: the server as an OAuth client. Against a real authorization server
 * (`oidc-provider`: PKCE required, refresh tokens rotated, RFC 7009 revocation), with the user's
 * interaction finished programmatically; against small `node:http` stubs on 127.0.0.1 answering as
 * GitHub and Google do (and as a broken provider would); and every option refusal with its key.
 */
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, jwtVerify } from "jose";
import Provider from "oidc-provider";
import { ConfigError } from "../../src/errors.js";
import { ProviderRefused, ProviderUnavailable } from "../../src/connected-accounts/errors.js";
import type { ResolvedOAuthProvider, ResolvedProvider } from "../../src/connected-accounts/internal-types.js";
import { resolveProviders, type ProviderDependencies } from "../../src/connected-accounts/providers.js";
import type { ProviderOptions, StoredCredential } from "../../src/connected-accounts/types.js";

const REDIRECT = "http://127.0.0.1:9/connect/callback";
const SECRET = `connected-secret-${"s".repeat(32)}`;
const T0 = 1_800_000_000_000;

const pkce = () => {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
};

function oauth(
  providers: Record<string, ProviderOptions>,
  name: string,
  deps: ProviderDependencies = {},
): ResolvedOAuthProvider {
  const p = resolveProviders(providers, deps).get(name);
  assert.equal(p?.type, "oauth", "an OAuth provider is resolved");
  return p;
}

async function rejectsWith<E extends Error>(promise: Promise<unknown>, cls: new (...a: never[]) => E): Promise<E> {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    return e;
  }
  assert.fail(`expected ${cls.name}, but it resolved`);
}

/** The error, its message and its whole cause chain, as text: where a secret must never appear. */
function errorText(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e, i = 0; c !== undefined && i < 10; c = (c as { cause?: unknown }).cause, i++) {
    parts.push(String(c), JSON.stringify(c, Object.getOwnPropertyNames(c ?? {})));
  }
  return parts.join("\n");
}

// ─── a real authorization server ──────────────────────────────────────────────────────────────────

describe("against oidc-provider (PKCE required, refresh tokens rotated)", () => {
  let http: Server;
  let issuer: string;
  let provider: Provider;

  before(async () => {
    http = createServer();
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid: "k1", alg: "ES256", use: "sig" };
    const client = {
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      redirect_uris: [REDIRECT],
      id_token_signed_response_alg: "ES256",
    };
    provider = new Provider(issuer, {
      clients: [
        { ...client, client_id: "connected", client_secret: SECRET, token_endpoint_auth_method: "client_secret_basic" },
        { ...client, client_id: "public-app", token_endpoint_auth_method: "none" },
      ],
      jwks: { keys: [jwk as never] },
      cookies: { keys: ["connected-accounts-test-cookie-key-0123456789"] },
      scopes: ["openid", "offline_access"],
      pkce: { required: () => true },
      rotateRefreshToken: () => true,
      features: { devInteractions: { enabled: false }, revocation: { enabled: true } },
      interactions: { url: (_ctx: unknown, i: { uid: string }) => `/interaction/${i.uid}` },
      findAccount: (_ctx: unknown, id: string) => ({ accountId: id, claims: () => ({ sub: id }) }),
    } as never);
    const callback = provider.callback();
    http.on("request", (req: IncomingMessage, res: ServerResponse) => {
      if (req.url?.startsWith("/interaction/")) void finishInteraction(req, res);
      else void callback(req, res);
    });
  });

  after(() => new Promise<void>((r) => (http.closeAllConnections(), http.close(() => r()))));

  /** The user signs in as `alice` and consents to what was asked: what a browser would do, without one. */
  async function finishInteraction(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    const grant = new provider.Grant({ accountId: "alice", clientId: String(details.params["client_id"]) });
    grant.addOIDCScope(String(details.params["scope"] ?? "openid"));
    const grantId = await grant.save();
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: "alice" }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
  }

  /** Follow the authorization request's redirects with a cookie jar, up to the redirect URI; its query. */
  async function authorize(url: string): Promise<URLSearchParams> {
    const jar = new Map<string, string>();
    let next = url;
    for (let i = 0; i < 10; i++) {
      const res = await fetch(next, {
        redirect: "manual",
        headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; ") },
      });
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(";");
        const eq = pair!.indexOf("=");
        jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
      }
      const location = res.headers.get("location");
      assert.ok(location, `redirect expected at step ${i}, got ${res.status}`);
      next = new URL(location, next).href;
      if (next.startsWith(REDIRECT)) return new URL(next).searchParams;
    }
    assert.fail("the authorization request never reached the redirect URI");
  }

  function confidential(deps: ProviderDependencies = {}): ResolvedOAuthProvider {
    return oauth(
      {
        acme: {
          issuer,
          client_id: "connected",
          client_secret: SECRET,
          scopes: ["openid", "offline_access"],
          authorization_params: { prompt: "consent" },
          api_origins: ["https://api.acme.test"],
        },
      },
      "acme",
      deps,
    );
  }

  async function connect(p: ResolvedOAuthProvider): Promise<StoredCredential> {
    const { verifier, challenge } = pkce();
    const state = randomBytes(16).toString("base64url");
    const url = await p.authorizationUrl({ redirect_uri: REDIRECT, state, code_challenge: challenge });
    const back = await authorize(url);
    assert.equal(back.get("state"), state, "the state comes back unchanged");
    const code = back.get("code");
    assert.ok(code, "an authorization code is returned");
    return p.exchangeCode({ code, redirect_uri: REDIRECT, code_verifier: verifier });
  }

  test("discovery, authorization code + PKCE exchange, normalised credential", async () => {
    const p = confidential({ clock: () => T0 });
    const credential = await connect(p);
    assert.equal(credential.kind, "oauth", "an OAuth credential");
    assert.ok(credential.access_token.length > 10, "an access token");
    assert.ok(credential.refresh_token, "a refresh token (offline_access)");
    assert.equal(credential.obtained_at, T0 / 1000, "obtained_at from the clock");
    assert.ok(credential.expires_at! > T0 / 1000, "expires_at from expires_in and the clock");
    assert.deepEqual(credential.scopes, ["openid", "offline_access"], "scopes from the response");
    assert.ok(p.canRefresh(credential), "refreshable");
  });

  test("a wrong PKCE verifier is refused with invalid_grant, and nothing secret is in the error", async () => {
    const p = confidential();
    const { challenge } = pkce();
    const url = await p.authorizationUrl({ redirect_uri: REDIRECT, state: "s1", code_challenge: challenge });
    const code = (await authorize(url)).get("code")!;
    const other = pkce().verifier;
    const e = await rejectsWith(
      p.exchangeCode({ code, redirect_uri: REDIRECT, code_verifier: other }),
      ProviderRefused,
    );
    assert.equal(e.error, "invalid_grant", "the provider's error code");
    for (const secret of [code, other, SECRET])
      assert.ok(!errorText(e).includes(secret), "no code, verifier or secret in the error");
  });

  test("refresh rotates the refresh token; the old one is then refused with invalid_grant", async () => {
    const p = confidential();
    const first = await connect(p);
    const second = await p.refresh(first);
    assert.ok(second.refresh_token, "a refresh token after refresh");
    assert.notEqual(second.refresh_token, first.refresh_token, "rotated");
    assert.notEqual(second.access_token, first.access_token, "a new access token");
    assert.deepEqual(second.scopes, ["openid", "offline_access"], "scopes kept");
    const e = await rejectsWith(p.refresh(first), ProviderRefused);
    assert.equal(e.error, "invalid_grant", "the rotated-out refresh token is refused");
    assert.ok(!errorText(e).includes(first.refresh_token!), "the refresh token is not in the error");
  });

  test("a public client (client_auth_method none) connects and refreshes with PKCE alone", async () => {
    const p = oauth(
      {
        pub: {
          issuer,
          client_id: "public-app",
          client_auth_method: "none",
          scopes: ["openid", "offline_access"],
          authorization_params: { prompt: "consent" },
          api_origins: ["https://api.acme.test"],
        },
      },
      "pub",
    );
    const credential = await connect(p);
    const refreshed = await p.refresh(credential);
    assert.ok(refreshed.access_token, "refreshed");
  });

  test("revocation (RFC 7009): the refresh token stops working", async () => {
    const p = confidential();
    const credential = await connect(p);
    assert.equal(await p.revoke(credential), true, "revoked");
    const e = await rejectsWith(p.refresh(credential), ProviderRefused);
    assert.equal(e.error, "invalid_grant", "a revoked refresh token is refused");
  });

  test("the authorization URL carries response_type, client_id, redirect_uri, scope, state and S256", async () => {
    const p = confidential();
    const { challenge } = pkce();
    const u = new URL(await p.authorizationUrl({ redirect_uri: REDIRECT, state: "st", code_challenge: challenge }));
    assert.equal(u.origin + u.pathname, `${issuer}/auth`, "the discovered authorization endpoint");
    const q = u.searchParams;
    assert.equal(q.get("response_type"), "code", "response_type");
    assert.equal(q.get("client_id"), "connected", "client_id");
    assert.equal(q.get("redirect_uri"), REDIRECT, "redirect_uri");
    assert.equal(q.get("scope"), "openid offline_access", "scopes space-joined");
    assert.equal(q.get("state"), "st", "state");
    assert.equal(q.get("code_challenge"), challenge, "code_challenge");
    assert.equal(q.get("code_challenge_method"), "S256", "S256, even for a confidential client");
    assert.equal(q.get("prompt"), "consent", "authorization_params");
  });
});

// ─── stubs answering as GitHub, Google and broken providers do ───────────────────────────────────

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

describe("against stubs", () => {
  let http: Server;
  let base: string;
  let seen: Seen[] = [];
  let answer: (req: Seen, res: ServerResponse) => void = (_q, res) => res.end();
  let now = T0;
  const deps: ProviderDependencies = { clock: () => now, random: () => 0 };

  before(async () => {
    http = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const q = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() };
        seen.push(q);
        answer(q, res);
      });
    });
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => (http.closeAllConnections(), http.close(() => r()))));
  beforeEach(() => {
    seen = [];
    now = T0;
  });

  const json = (status: number, body: unknown) => (_q: Seen, res: ServerResponse) => {
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  };
  const form = (body: Record<string, string>) => (_q: Seen, res: ServerResponse) => {
    res
      .writeHead(200, { "content-type": "application/x-www-form-urlencoded" })
      .end(new URLSearchParams(body).toString());
  };

  const github = (extra: Partial<ProviderOptions> = {}) =>
    oauth(
      {
        github: {
          preset: "github",
          client_id: "Iv1.abc",
          client_secret: SECRET,
          authorization_endpoint: `${base}/login/oauth/authorize`,
          token_endpoint: `${base}/login/oauth/access_token`,
          revocation_endpoint: `${base}/applications/Iv1.abc/grant`,
          ...extra,
        } as ProviderOptions,
      },
      "github",
      deps,
    );
  const google = () =>
    oauth(
      {
        google: {
          preset: "google",
          client_id: "gid.apps.googleusercontent.com",
          client_secret: SECRET,
          scopes: ["openid", "https://www.googleapis.com/auth/drive.readonly"],
          token_endpoint: `${base}/token`,
          revocation_endpoint: `${base}/revoke`,
        },
      },
      "google",
      deps,
    );
  const plain = (extra: Record<string, unknown> = {}) =>
    oauth(
      {
        acme: {
          client_id: "acme",
          client_secret: SECRET,
          authorization_endpoint: `${base}/authorize`,
          token_endpoint: `${base}/token`,
          revocation_endpoint: `${base}/revoke`,
          api_origins: ["https://api.acme.test"],
          ...extra,
        },
      },
      "acme",
      deps,
    );
  const exchange = (p: ResolvedOAuthProvider) =>
    p.exchangeCode({ code: "the-code-123", redirect_uri: REDIRECT, code_verifier: pkce().verifier });

  test("GitHub: Accept: application/json, client_secret_post, non-expiring token, comma-separated scopes", async () => {
    answer = json(200, { access_token: "gho_abc", token_type: "bearer", scope: "repo,gist" });
    const p = github();
    assert.deepEqual(p.api_origins, ["https://api.github.com"], "the preset's API origin");
    assert.equal(p.display_name, "GitHub", "the preset's display name");
    const c = await exchange(p);
    const q = seen[0]!;
    assert.equal(q.headers.accept, "application/json", "asks GitHub for JSON");
    assert.equal(q.headers.authorization, undefined, "no Basic header: client_secret_post");
    const sent = new URLSearchParams(q.body);
    assert.equal(sent.get("client_id"), "Iv1.abc", "client_id in the body");
    assert.equal(sent.get("client_secret"), SECRET, "client_secret in the body");
    assert.equal(sent.get("grant_type"), "authorization_code", "grant_type");
    assert.ok(sent.get("code_verifier"), "the PKCE verifier is sent");
    assert.equal(c.expires_at, undefined, "no expires_in: no expiry");
    assert.equal(c.refresh_token, undefined, "no refresh token");
    assert.deepEqual(c.scopes, ["repo", "gist"], "comma-separated scopes");
    assert.equal(p.canRefresh(c), false, "nothing to refresh with");
    await rejectsWith(p.refresh(c), ProviderRefused);
    assert.equal(seen.length, 1, "a refresh without a refresh token sends nothing");
  });

  test("GitHub: a form-encoded answer, expiring user token with string expires_in, rotated on refresh", async () => {
    answer = form({
      access_token: "ghu_1",
      expires_in: "28800",
      refresh_token: "ghr_1",
      refresh_token_expires_in: "15811200",
      scope: "",
      token_type: "bearer",
    });
    const p = github();
    const c = await exchange(p);
    assert.equal(c.expires_at, T0 / 1000 + 28800, "8 h from the clock");
    assert.equal(c.refresh_token, "ghr_1", "refresh token");
    assert.deepEqual(c.scopes, [], "an empty scope is no scope");
    answer = json(200, { access_token: "ghu_2", expires_in: 28800, refresh_token: "ghr_2", token_type: "bearer" });
    now += 60_000;
    const r = await p.refresh(c);
    assert.equal(new URLSearchParams(seen[1]!.body).get("refresh_token"), "ghr_1", "the old refresh token is sent");
    assert.equal(r.refresh_token, "ghr_2", "the rotated refresh token is kept");
    assert.equal(r.obtained_at, T0 / 1000 + 60, "obtained_at from the clock");
  });

  test("GitHub: errors answered with HTTP 200 are refusals, mapped to RFC 6749 codes", async () => {
    const p = github();
    for (const [theirs, ours] of [
      ["bad_verification_code", "invalid_grant"],
      ["bad_refresh_token", "invalid_grant"],
      ["incorrect_client_credentials", "invalid_client"],
      ["redirect_uri_mismatch", "redirect_uri_mismatch"],
    ] as const) {
      answer = json(200, { error: theirs, error_description: "The code passed is incorrect or expired." });
      const e = await rejectsWith(exchange(p), ProviderRefused);
      assert.equal(e.error, ours, `${theirs} → ${ours}`);
      assert.equal(e.code, "ERR_CONNECTED_PROVIDER_REFUSED", "code");
      assert.ok(!e.message.includes("incorrect or expired"), "the provider's free text is not copied");
      assert.ok(!errorText(e).includes("the-code-123") && !errorText(e).includes(SECRET), "no code or secret");
    }
    answer = form({ error: "bad_verification_code" });
    assert.equal((await rejectsWith(exchange(p), ProviderRefused)).error, "invalid_grant", "form-encoded error too");
  });

  test("GitHub: revocation deletes the grant (DELETE, Basic client credentials, JSON access_token)", async () => {
    answer = (_q, res) => res.writeHead(204).end();
    const p = github();
    const c: StoredCredential = { kind: "oauth", access_token: "gho_revoke_me", obtained_at: T0 / 1000 };
    assert.equal(await p.revoke(c), true, "204 is revoked");
    const q = seen[0]!;
    assert.equal(q.method, "DELETE", "DELETE");
    assert.equal(q.url, "/applications/Iv1.abc/grant", "the grant of the app");
    assert.equal(q.headers.authorization, `Basic ${Buffer.from(`Iv1.abc:${SECRET}`).toString("base64")}`, "Basic");
    assert.deepEqual(JSON.parse(q.body), { access_token: "gho_revoke_me" }, "the token in a JSON body");
    answer = json(422, { message: "Validation Failed" });
    assert.equal(await p.revoke(c), false, "a refusal is not revoked, and does not throw");
  });

  test("GitHub preset defaults: github.com endpoints, api.github.com grant URL, no scope by default", async () => {
    const p = oauth({ github: { preset: "github", client_id: "Iv1.x", client_secret: SECRET } }, "github");
    const u = new URL(
      await p.authorizationUrl({ redirect_uri: REDIRECT, state: "s", code_challenge: pkce().challenge }),
    );
    assert.equal(u.origin + u.pathname, "https://github.com/login/oauth/authorize", "GitHub's authorization endpoint");
    assert.equal(u.searchParams.has("scope"), false, "no scope parameter when none is asked for");
    assert.equal(u.searchParams.get("code_challenge_method"), "S256", "S256 at GitHub too");
  });

  test("Google: offline access and consent asked for; a refresh without a new refresh token keeps the old one", async () => {
    const p = google();
    const u = new URL(
      await p.authorizationUrl({ redirect_uri: REDIRECT, state: "s", code_challenge: pkce().challenge }),
    );
    assert.equal(u.origin + u.pathname, "https://accounts.google.com/o/oauth2/v2/auth", "Google's endpoint");
    assert.equal(u.searchParams.get("access_type"), "offline", "access_type=offline");
    assert.equal(u.searchParams.get("prompt"), "consent", "prompt=consent");
    assert.equal(u.searchParams.get("scope"), "openid https://www.googleapis.com/auth/drive.readonly", "scopes");
    assert.deepEqual(p.api_origins, ["https://www.googleapis.com"], "the preset's API origin");
    answer = json(200, { access_token: "ya29.a", expires_in: 3599, refresh_token: "1//g", token_type: "Bearer" });
    const c = await exchange(p);
    assert.deepEqual(c.scopes, ["openid", "https://www.googleapis.com/auth/drive.readonly"], "scopes asked for");
    answer = json(200, { access_token: "ya29.b", expires_in: 3599, token_type: "Bearer", scope: "openid" });
    const r = await p.refresh(c);
    assert.equal(r.access_token, "ya29.b", "new access token");
    assert.equal(r.refresh_token, "1//g", "the old refresh token is kept");
    assert.deepEqual(r.scopes, ["openid"], "scopes from the response");
  });

  test("RFC 7009 revocation: refresh token first, then the access token; never throws", async () => {
    answer = (_q, res) => res.writeHead(200).end();
    const p = google();
    const c: StoredCredential = { kind: "oauth", access_token: "at-1", refresh_token: "rt-1", obtained_at: 0 };
    assert.equal(await p.revoke(c), true, "revoked");
    assert.deepEqual(
      seen.map((q) => Object.fromEntries(new URLSearchParams(q.body))),
      [
        {
          token: "rt-1",
          token_type_hint: "refresh_token",
          client_id: "gid.apps.googleusercontent.com",
          client_secret: SECRET,
        },
        {
          token: "at-1",
          token_type_hint: "access_token",
          client_id: "gid.apps.googleusercontent.com",
          client_secret: SECRET,
        },
      ],
      "refresh token first, client authenticated",
    );
    answer = (_q, res) => res.writeHead(503).end();
    assert.equal(await p.revoke(c), false, "5xx: not revoked");
    const noEndpoint = oauth(
      {
        x: {
          client_id: "x",
          client_secret: SECRET,
          authorization_endpoint: `${base}/a`,
          token_endpoint: `${base}/t`,
          api_origins: ["https://x.test"],
        },
      },
      "x",
    );
    seen = [];
    assert.equal(await noEndpoint.revoke(c), false, "nowhere to revoke");
    assert.equal(seen.length, 0, "nothing sent");
    const down = oauth(
      {
        x: {
          client_id: "x",
          client_secret: SECRET,
          authorization_endpoint: `${base}/a`,
          token_endpoint: `${base}/t`,
          revocation_endpoint: "http://127.0.0.1:1/revoke",
          api_origins: ["https://x.test"],
        },
      },
      "x",
    );
    assert.equal(await down.revoke(c), false, "unreachable: false, no throw");
  });

  test("client_secret_basic by default; public client sends client_id only", async () => {
    answer = json(200, { access_token: "a", token_type: "bearer" });
    await exchange(plain());
    assert.equal(seen[0]!.headers.authorization, `Basic ${Buffer.from(`acme:${SECRET}`).toString("base64")}`, "Basic");
    assert.equal(new URLSearchParams(seen[0]!.body).get("client_secret"), null, "no secret in the body");
    await exchange(
      oauth(
        {
          pub: {
            client_id: "pub",
            client_auth_method: "none",
            authorization_endpoint: `${base}/a`,
            token_endpoint: `${base}/token`,
            api_origins: ["https://x.test"],
          },
        },
        "pub",
      ),
    );
    assert.equal(seen[1]!.headers.authorization, undefined, "no Authorization header");
    assert.equal(new URLSearchParams(seen[1]!.body).get("client_id"), "pub", "client_id in the body");
  });

  test("private_key_jwt: an RFC 7523 assertion addressed to the token endpoint, also for revocation", async () => {
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), alg: "ES256", kid: "ck1" };
    const p = plain({ client_secret: undefined, private_key: jwk });
    answer = (_q, res) => res.writeHead(200).end();
    await p.revoke({ kind: "oauth", access_token: "at", obtained_at: 0 });
    answer = json(200, { access_token: "a", token_type: "bearer" });
    await exchange(p);
    for (const q of seen) {
      const sent = new URLSearchParams(q.body);
      assert.equal(sent.get("client_assertion_type"), "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "type");
      const { payload, protectedHeader } = await jwtVerify(sent.get("client_assertion")!, publicKey);
      assert.equal(protectedHeader.kid, "ck1", "kid");
      assert.deepEqual([payload.iss, payload.sub], ["acme", "acme"], "iss = sub = client_id");
      assert.equal(payload.aud, `${base}/token`, "aud: the token endpoint, whichever endpoint is called");
      assert.equal(q.headers.authorization, undefined, "no Basic header");
    }
  });

  test("token responses that are not bearer token responses are refused (invalid_response)", async () => {
    const p = plain();
    for (const [what, body] of [
      ["token_type DPoP", { access_token: "a", token_type: "DPoP" }],
      ["token_type mac", { access_token: "a", token_type: "mac" }],
      ["no token_type (outside GitHub)", { access_token: "a" }],
      ["empty access_token", { access_token: "", token_type: "bearer" }],
      ["access_token not a string", { access_token: 12, token_type: "bearer" }],
      ["negative expires_in", { access_token: "a", token_type: "bearer", expires_in: -1 }],
      ["expires_in text", { access_token: "a", token_type: "bearer", expires_in: "soon" }],
      ["refresh_token not a string", { access_token: "a", token_type: "bearer", refresh_token: {} }],
      ["an array", [1, 2]],
    ] as const) {
      answer = json(200, body);
      const e = await rejectsWith(exchange(p), ProviderRefused);
      assert.equal(e.error, "invalid_response", what);
    }
    answer = (_q, res) => res.writeHead(200, { "content-type": "text/html" }).end("<html>login</html>");
    assert.equal((await rejectsWith(exchange(p), ProviderRefused)).error, "invalid_response", "HTML");
    answer = (_q, res) => res.writeHead(302, { location: "https://evil.test/" }).end();
    assert.equal(
      (await rejectsWith(exchange(p), ProviderRefused)).error,
      "invalid_response",
      "a redirect is not followed",
    );
    answer = json(400, { error: "invalid_grant" });
    assert.equal((await rejectsWith(exchange(p), ProviderRefused)).error, "invalid_grant", "RFC 6749 §5.2 error");
    answer = json(400, { error: "Invalid Grant!" });
    assert.equal((await rejectsWith(exchange(p), ProviderRefused)).error, "invalid_response", "a malformed error code");
    answer = json(200, { access_token: "a", token_type: "BEARER" });
    assert.equal((await exchange(p)).access_token, "a", "token_type compared without case");
  });

  test("an oversized token response is refused without being read whole", async () => {
    const p = plain();
    const big = JSON.stringify({ access_token: "a", token_type: "bearer", pad: "x".repeat(100_000) });
    answer = (_q, res) => res.writeHead(200, { "content-type": "application/json" }).end(big);
    assert.equal(
      (await rejectsWith(exchange(p), ProviderRefused)).error,
      "invalid_response",
      "Content-Length too large",
    );
    answer = (_q, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      for (let i = 0; i < 10; i++) res.write(big.slice(i * 10_000, (i + 1) * 10_000));
      res.end(big.slice(100_000));
    };
    assert.equal((await rejectsWith(exchange(p), ProviderRefused)).error, "invalid_response", "chunked, too large");
  });

  test("5xx and network errors: ProviderUnavailable with retry_after, then back-off without a request", async () => {
    const p = plain();
    answer = (_q, res) => res.writeHead(503).end("down");
    const e1 = await rejectsWith(exchange(p), ProviderUnavailable);
    assert.equal(e1.code, "ERR_CONNECTED_PROVIDER_UNAVAILABLE", "code");
    assert.equal(e1.retry_after, 1, "1 s after the first failure");
    assert.equal(seen.length, 1, "one request");
    const e2 = await rejectsWith(exchange(p), ProviderUnavailable);
    assert.equal(e2.retry_after, 1, "still backing off");
    assert.equal(seen.length, 1, "no request while backing off");
    now += 1000;
    await rejectsWith(exchange(p), ProviderUnavailable);
    assert.equal(seen.length, 2, "asked again once the delay passed");
    const e3 = await rejectsWith(exchange(p), ProviderUnavailable);
    assert.equal(e3.retry_after, 2, "the delay doubles");
    now += 2000;
    answer = json(200, { access_token: "a", token_type: "bearer" });
    assert.equal((await exchange(p)).access_token, "a", "recovered");
    answer = json(429, { error: "slow_down" });
    await rejectsWith(exchange(p), ProviderUnavailable);
    assert.equal((await rejectsWith(exchange(p), ProviderUnavailable)).retry_after, 1, "a success reset the back-off");
    for (const e of [e1, e2, e3])
      assert.ok(!errorText(e).includes(SECRET) && !errorText(e).includes("the-code-123"), "no secret");
    const other = plain();
    now += 10_000;
    answer = json(200, { access_token: "b", token_type: "bearer" });
    assert.equal((await exchange(other)).access_token, "b", "back-off is per provider");
    const unreachable = plain({ token_endpoint: "http://127.0.0.1:1/token" });
    assert.equal((await rejectsWith(exchange(unreachable), ProviderUnavailable)).retry_after, 1, "connection refused");
  });

  test("a timeout is ProviderUnavailable", async () => {
    answer = () => {}; // never answers
    const p = oauth(
      {
        acme: {
          client_id: "acme",
          client_secret: SECRET,
          authorization_endpoint: `${base}/a`,
          token_endpoint: `${base}/token`,
          api_origins: ["https://x.test"],
        },
      },
      "acme",
      { ...deps, timeout_ms: 100 },
    );
    const e = await rejectsWith(exchange(p), ProviderUnavailable);
    assert.equal((e.cause as Error).message, "timeout", "the cause says timeout");
  });

  test("discovery: lazy, cached, backing off while it fails", async () => {
    let failing = true;
    answer = (q, res) => {
      if (q.url.startsWith("/.well-known/")) {
        if (failing) return void res.writeHead(503).end();
        return json(200, {
          issuer: base,
          authorization_endpoint: `${base}/authorize`,
          token_endpoint: `${base}/token`,
        })(q, res);
      }
      json(200, { access_token: "a", token_type: "bearer" })(q, res);
    };
    const p = oauth(
      { d: { issuer: base, client_id: "d", client_secret: SECRET, api_origins: ["https://x.test"] } },
      "d",
      deps,
    );
    assert.equal(seen.length, 0, "nothing fetched when resolving");
    const args = { redirect_uri: REDIRECT, state: "s", code_challenge: pkce().challenge };
    const e = await rejectsWith(p.authorizationUrl(args), ProviderUnavailable);
    assert.ok(e.retry_after >= 1, "retry_after");
    const before = seen.length;
    await rejectsWith(p.authorizationUrl(args), ProviderUnavailable);
    assert.equal(seen.length, before, "no request while backing off");
    now += 5000;
    failing = false;
    assert.ok((await p.authorizationUrl(args)).startsWith(`${base}/authorize?`), "discovered");
    const after = seen.length;
    await exchange(p);
    await p.authorizationUrl(args);
    assert.equal(seen.filter((q) => q.url.startsWith("/.well-known/")).length, after, "discovered once, then cached");
    assert.equal(await p.revoke({ kind: "oauth", access_token: "a", obtained_at: 0 }), false, "no revocation endpoint");
  });

  test("discovered endpoints must be https (or loopback http)", async () => {
    answer = json(200, {
      issuer: base,
      authorization_endpoint: "http://evil.test/authorize",
      token_endpoint: `${base}/token`,
    });
    const p = oauth(
      { d: { issuer: base, client_id: "d", client_secret: SECRET, api_origins: ["https://x.test"] } },
      "d",
      deps,
    );
    await rejectsWith(
      p.authorizationUrl({ redirect_uri: REDIRECT, state: "s", code_challenge: pkce().challenge }),
      ProviderUnavailable,
    );
  });

  test("authorizationUrl refuses a missing state or a challenge that is not S256", async () => {
    const p = plain({ authorization_endpoint: `${base}/authorize?tenant=t1` });
    await assert.rejects(
      p.authorizationUrl({ redirect_uri: REDIRECT, state: "", code_challenge: pkce().challenge }),
      TypeError,
      "state",
    );
    await assert.rejects(
      p.authorizationUrl({ redirect_uri: REDIRECT, state: "s", code_challenge: "plain" }),
      TypeError,
      "S256",
    );
    const u = new URL(
      await p.authorizationUrl({ redirect_uri: REDIRECT, state: "s", code_challenge: pkce().challenge }),
    );
    assert.equal(u.searchParams.get("tenant"), "t1", "the endpoint's own query is kept");
    assert.equal(u.searchParams.has("scope"), false, "no scope when none");
  });
});

// ─── option refusals ──────────────────────────────────────────────────────────────────────────────

describe("connected_accounts.providers options", () => {
  const P = "connected_accounts.providers";
  const ok = {
    client_id: "cid",
    client_secret: SECRET,
    authorization_endpoint: "https://idp.example.com/authorize",
    token_endpoint: "https://idp.example.com/token",
    api_origins: ["https://api.example.com"],
  };
  const issues = (providers: unknown): { key: string; message: string }[] => {
    try {
      resolveProviders(providers as Record<string, ProviderOptions>);
    } catch (e) {
      assert.ok(e instanceof ConfigError, `a ConfigError, got ${String(e)}`);
      assert.equal(e.code, "ERR_INVALID_CONFIG", "code");
      assert.ok(!e.message.includes(SECRET), "the secret is not quoted");
      return e.issues.map((i) => ({ key: i.key, message: i.message }));
    }
    assert.fail("accepted");
  };
  const refuses = (providers: unknown, key: string, message: RegExp) => {
    const found = issues(providers);
    assert.ok(
      found.some((i) => i.key === key && message.test(i.message)),
      `expected ${key}: ${message}, got ${JSON.stringify(found)}`,
    );
  };

  const cases: [string, unknown, string, RegExp][] = [
    ["no provider", {}, P, /at least one provider/],
    ["a name with capitals", { GitHub: ok }, `${P}.GitHub`, /provider name/],
    ["a name starting with -", { "-x": ok }, `${P}.-x`, /provider name/],
    ["a name too long", { ["a".repeat(65)]: ok }, `${P}.${"a".repeat(65)}`, /provider name/],
    ["client_id missing", { github: { ...ok, client_id: undefined } }, `${P}.github.client_id`, /expected string/],
    [
      "an unknown key",
      { acme: { ...ok, client_secrt: "x" } },
      `${P}.acme.client_secrt`,
      /did you mean "client_secret"/,
    ],
    ["an unknown type", { acme: { ...ok, type: "saml" } }, `${P}.acme.type`, /discriminator/],
    ["an unknown preset", { acme: { ...ok, preset: "gitlab" } }, `${P}.acme.preset`, /github|google/],
    [
      "no endpoints, no issuer, no preset",
      { acme: { ...ok, authorization_endpoint: undefined } },
      `${P}.acme.authorization_endpoint`,
      /required/,
    ],
    ["no token endpoint", { acme: { ...ok, token_endpoint: undefined } }, `${P}.acme.token_endpoint`, /required/],
    [
      "http off loopback",
      { acme: { ...ok, token_endpoint: "http://idp.example.com/t" } },
      `${P}.acme.token_endpoint`,
      /https/,
    ],
    ["http issuer off loopback", { acme: { ...ok, issuer: "http://idp.example.com" } }, `${P}.acme.issuer`, /https/],
    ["an issuer with a query", { acme: { ...ok, issuer: "https://idp.example.com?x=1" } }, `${P}.acme.issuer`, /query/],
    [
      "userinfo in an endpoint",
      { acme: { ...ok, authorization_endpoint: "https://u:p@idp.example.com/a" } },
      `${P}.acme.authorization_endpoint`,
      /userinfo/,
    ],
    [
      "a fragment",
      { acme: { ...ok, revocation_endpoint: "https://idp.example.com/r#x" } },
      `${P}.acme.revocation_endpoint`,
      /fragment/,
    ],
    ["api_origins missing", { acme: { ...ok, api_origins: undefined } }, `${P}.acme.api_origins`, /required/],
    ["api_origins empty", { acme: { ...ok, api_origins: [] } }, `${P}.acme.api_origins`, /at least one/],
    [
      "an origin with a path",
      { acme: { ...ok, api_origins: ["https://api.example.com/v1"] } },
      `${P}.acme.api_origins.0`,
      /bare origin/,
    ],
    [
      "an origin with a query",
      { acme: { ...ok, api_origins: ["https://api.example.com?a=1"] } },
      `${P}.acme.api_origins.0`,
      /bare origin/,
    ],
    [
      "an origin with a fragment",
      { acme: { ...ok, api_origins: ["https://api.example.com#a"] } },
      `${P}.acme.api_origins.0`,
      /fragment/,
    ],
    [
      "an origin with userinfo",
      { acme: { ...ok, api_origins: ["https://u@api.example.com"] } },
      `${P}.acme.api_origins.0`,
      /userinfo/,
    ],
    [
      "an http origin",
      { acme: { ...ok, api_origins: ["http://api.example.com"] } },
      `${P}.acme.api_origins.0`,
      /https/,
    ],
    [
      "not a URL",
      { acme: { ...ok, api_origins: ["api.example.com"] } },
      `${P}.acme.api_origins.0`,
      /absolute http\(s\) URL/,
    ],
    [
      "an unknown auth method",
      { acme: { ...ok, client_auth_method: "tls_client_auth" } },
      `${P}.acme.client_auth_method`,
      /Invalid option/,
    ],
    [
      "a secret missing",
      { acme: { ...ok, client_secret: undefined } },
      `${P}.acme.client_secret`,
      /required for client_secret_basic/,
    ],
    [
      "the preset's method named",
      { github: { preset: "github", client_id: "x" } },
      `${P}.github.client_secret`,
      /required for client_secret_post/,
    ],
    [
      "private_key without private_key_jwt",
      {
        acme: {
          ...ok,
          client_auth_method: "client_secret_post",
          private_key: { kty: "EC", d: "x", crv: "P-256", x: "x", y: "y" },
        },
      },
      `${P}.acme.private_key`,
      /not used with client_secret_post/,
    ],
    [
      "private_key_jwt without a key",
      { acme: { ...ok, client_secret: undefined, client_auth_method: "private_key_jwt" } },
      `${P}.acme.private_key`,
      /required for private_key_jwt/,
    ],
    [
      "a secret with none",
      { acme: { ...ok, client_auth_method: "none" } },
      `${P}.acme.client_secret`,
      /not used with client_auth_method "none"/,
    ],
    [
      "private_key_alg with a secret",
      { acme: { ...ok, private_key_alg: "ES256" } },
      `${P}.acme.private_key_alg`,
      /only used with private_key_jwt/,
    ],
    ["a scope with a space", { acme: { ...ok, scopes: ["a b"] } }, `${P}.acme.scopes.0`, /RFC 6749 §3.3/],
    ["an empty scope", { acme: { ...ok, scopes: [""] } }, `${P}.acme.scopes.0`, /RFC 6749 §3.3/],
    [
      "state overridden",
      { acme: { ...ok, authorization_params: { state: "x" } } },
      `${P}.acme.authorization_params.state`,
      /set by the library/,
    ],
    [
      "code_challenge_method overridden",
      { acme: { ...ok, authorization_params: { code_challenge_method: "plain" } } },
      `${P}.acme.authorization_params.code_challenge_method`,
      /set by the library/,
    ],
    [
      "redirect_uri overridden",
      { acme: { ...ok, authorization_params: { redirect_uri: "https://evil.test" } } },
      `${P}.acme.authorization_params.redirect_uri`,
      /set by the library/,
    ],
    [
      "a display name with a newline",
      { acme: { ...ok, display_name: "A\nB" } },
      `${P}.acme.display_name`,
      /control characters/,
    ],
    ["an API-key provider without origins", { sb: { type: "api_key" } }, `${P}.sb.api_origins`, /expected array/],
    [
      "an API-key header in capitals",
      { sb: { type: "api_key", api_origins: ["https://x.test"], header: "X-Api-Key" } },
      `${P}.sb.header`,
      /lower-case/,
    ],
    [
      "an API-key header with a space",
      { sb: { type: "api_key", api_origins: ["https://x.test"], header: "x key" } },
      `${P}.sb.header`,
      /lower-case/,
    ],
    [
      "an API-key header that is cookie",
      { sb: { type: "api_key", api_origins: ["https://x.test"], header: "cookie" } },
      `${P}.sb.header`,
      /must not be a header/,
    ],
    [
      "an API-key header that is host",
      { sb: { type: "api_key", api_origins: ["https://x.test"], header: "host" } },
      `${P}.sb.header`,
      /must not be a header/,
    ],
    [
      "a prefix with CR LF",
      { sb: { type: "api_key", api_origins: ["https://x.test"], prefix: "Bearer\r\nX: " } },
      `${P}.sb.prefix`,
      /printable ASCII/,
    ],
    [
      "OAuth keys on an API-key provider",
      { sb: { type: "api_key", api_origins: ["https://x.test"], client_id: "x" } },
      `${P}.sb.client_id`,
      /unknown key/,
    ],
    [
      "an API-key origin with a path",
      { sb: { type: "api_key", api_origins: ["https://x.test/rest"] } },
      `${P}.sb.api_origins.0`,
      /bare origin/,
    ],
    ["__proto__ as a name", JSON.parse(`{"__proto__": ${JSON.stringify(ok)}}`), `${P}.__proto__`, /refused by name/],
  ];
  for (const [what, providers, key, message] of cases) test(`refused: ${what}`, () => refuses(providers, key, message));

  test("every problem is named at once", () => {
    const found = issues({ a: { ...ok, client_secret: undefined, api_origins: ["https://x.test/p"] }, B: ok });
    assert.deepEqual(
      found.map((i) => i.key).sort(),
      [`${P}.B`, `${P}.a.api_origins.0`, `${P}.a.client_secret`],
      "three issues",
    );
  });

  test("accepted: loopback http, presets without endpoints, issuer alone, API-key defaults", () => {
    const resolved = resolveProviders({
      local: {
        ...ok,
        authorization_endpoint: "http://127.0.0.1:8001/a",
        token_endpoint: "http://localhost:8001/t",
        api_origins: ["http://[::1]:9000"],
      },
      github: { preset: "github", client_id: "Iv1.x", client_secret: SECRET },
      google: { preset: "google", client_id: "g", client_secret: SECRET, scopes: ["openid"] },
      kc: {
        issuer: "https://sso.example.com/realms/acme",
        client_id: "kc",
        client_auth_method: "none",
        api_origins: ["https://api.example.com/"],
      },
      supabase: { type: "api_key", api_origins: ["https://abc.supabase.co"] },
      stripe_like: {
        type: "api_key",
        api_origins: ["https://api.stripe.com"],
        header: "x-api-key",
        key_label: "Secret key",
        display_name: "Stripe",
      },
    });
    const sb = resolved.get("supabase") as Extract<ResolvedProvider, { type: "api_key" }>;
    assert.deepEqual(
      { header: sb.header, prefix: sb.prefix, key_label: sb.key_label, display_name: sb.display_name },
      { header: "authorization", prefix: "Bearer ", key_label: "API key", display_name: "supabase" },
      "API-key defaults",
    );
    const st = resolved.get("stripe_like") as Extract<ResolvedProvider, { type: "api_key" }>;
    assert.equal(st.prefix, "", "no prefix outside authorization");
    assert.equal(st.key_label, "Secret key", "key_label");
    assert.deepEqual(resolved.get("kc")!.api_origins, ["https://api.example.com"], "origins without a trailing /");
    const gh = resolved.get("github")!;
    assert.deepEqual([gh.header, gh.prefix], ["authorization", "Bearer "], "OAuth tokens are bearer tokens");
  });

  test("the caller's options are neither kept nor changed", () => {
    const input = { acme: { ...ok, scopes: ["a"] } };
    const copy = structuredClone(input);
    const p = oauth(input, "acme");
    input.acme.scopes.push("b");
    assert.deepEqual(p.scopes, ["a"], "scopes copied");
    assert.deepEqual(input.acme.client_id, copy.acme.client_id, "not mutated");
  });
});
