/**
 * The token exchange client against a stub token endpoint on 127.0.0.1: the request shapes of the
 * presets (every form field), client authentication, cache (injected clock), single flight,
 * back-off, typed failures, the context outside a request, and option checking.
 */
import { after, before, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from "jose";
import { ConfigError, getContext, MCPServer, type AuthEvent } from "../../src/index.js";
import { createAuthContext } from "../../src/context/request-context.js";
import { createRequestContext } from "../../src/context/request-context.js";
import { createTokenExchange, TokenExchanger } from "../../src/token-exchange/exchanger.js";
import { parseTokenExchangeOptions } from "../../src/token-exchange/options.js";
import { TokenExchange, TokenExchangeError, type TokenExchangeOptions } from "../../src/token-exchange/index.js";

interface Seen {
  form: Record<string, string>;
  authorization: string | undefined;
}
let http: Server;
let endpoint: string;
let seen: Seen[] = [];
/** How the stub token endpoint answers; `hold`: it answers once that promise settles. */
let answer: (form: URLSearchParams) => { status: number; body?: unknown; hold?: Promise<void> } = () => ({
  status: 200,
  body: {
    access_token: "xt-1",
    token_type: "Bearer",
    expires_in: 300,
    issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
  },
});

const read = (req: IncomingMessage) =>
  new Promise<string>((r) => {
    let b = "";
    req.on("data", (c) => (b += c));
    req.on("end", () => r(b));
  });
before(async () => {
  // eslint-disable-next-line @typescript-eslint/no-misused-promises -- node:http ignores the promise; the stub answers inside
  http = createServer(async (req, res) => {
    const form = new URLSearchParams(await read(req));
    seen.push({ form: Object.fromEntries(form), authorization: req.headers.authorization });
    const a = answer(form);
    if (a.hold) await a.hold;
    res
      .writeHead(a.status, { "content-type": "application/json" })
      .end(a.body === undefined ? "" : JSON.stringify(a.body));
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  endpoint = `http://127.0.0.1:${(http.address() as AddressInfo).port}/token`;
});
after(() => new Promise<void>((r) => (http.closeAllConnections(), http.close(() => r()))));
beforeEach(() => {
  seen = [];
  answer = () => ({
    status: 200,
    body: {
      access_token: "xt-1",
      token_type: "Bearer",
      expires_in: 300,
      issued_token_type: "urn:ietf:params:oauth:token-type:access_token",
    },
  });
});

const caller = (token = "caller-token-1", exp = Math.floor(Date.now() / 1000) + 3600) =>
  createAuthContext(
    {
      subject: "alice",
      scopes: ["mcp"],
      claims: { sub: "alice" },
      client_id: "cli",
      issuer: "https://as",
      expires_at: exp,
    },
    token,
  );
const exchanger = (o: Partial<TokenExchangeOptions> | TokenExchangeOptions, events?: AuthEvent[]) =>
  new TokenExchanger(
    parseTokenExchangeOptions({ token_endpoint: endpoint, client_id: "mcp", client_secret: "s3cret", ...o }, "test"),
    events ? (e) => events.push(e) : undefined,
  );
const rejectsWith = async (p: Promise<unknown>, code: string, reason?: string) => {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  assert.ok(e instanceof TokenExchangeError, `expected TokenExchangeError, got ${String(e)}`);
  assert.equal(e.code, code);
  if (reason) assert.equal(e.reason, reason);
  return e;
};
const basicOf = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;

test("RFC 8693 (Keycloak preset): every form field, client_secret_basic", async () => {
  const x = exchanger(
    TokenExchange.keycloak({
      issuer: "http://127.0.0.1:1/realms/acme",
      token_endpoint: endpoint,
      client_id: "mcp",
      client_secret: "s3cret",
    }),
  );
  const t = await x.exchangeToken(caller(), { audience: "reports-api", scope: ["b", "a", "a"] });
  assert.equal(t.access_token, "xt-1");
  assert.equal(t.token_type, "Bearer");
  assert.equal(t.scope, "a b");
  assert.deepEqual(seen[0]!.form, {
    grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
    subject_token: "caller-token-1",
    subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
    audience: "reports-api",
    scope: "a b",
  });
  assert.equal(seen[0]!.authorization, basicOf("mcp", "s3cret"));
  assert.equal(
    TokenExchange.keycloak({ issuer: "https://sso.example.com/realms/acme/", client_id: "c", client_secret: "s" })
      .token_endpoint,
    "https://sso.example.com/realms/acme/protocol/openid-connect/token",
  );
});

test("Auth0 preset: on-behalf-of token exchange shape, client_secret_post", async () => {
  const o = TokenExchange.auth0({ domain: "acme.eu.auth0.com", client_id: "mcp", client_secret: "s3cret" });
  assert.equal(o.token_endpoint, "https://acme.eu.auth0.com/oauth/token");
  const x = exchanger({ ...o, token_endpoint: endpoint });
  await x.exchangeToken(caller(), { audience: "https://api.backend.com", scope: "read:data" });
  assert.deepEqual(seen[0]!.form, {
    grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
    subject_token: "caller-token-1",
    subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
    requested_token_type: "urn:ietf:params:oauth:token-type:access_token",
    audience: "https://api.backend.com",
    scope: "read:data",
    client_id: "mcp",
    client_secret: "s3cret",
  });
  assert.equal(seen[0]!.authorization, undefined);
});

test("Okta preset: scope required (from the call or the audience's default)", async () => {
  const o = TokenExchange.okta({
    issuer: "https://acme.okta.com/oauth2/default",
    client_id: "mcp",
    client_secret: "s3cret",
    audiences: { "api://reports": { scope: "reports:read" }, "api://none": {} },
  });
  assert.equal(o.token_endpoint, "https://acme.okta.com/oauth2/default/v1/token");
  const x = exchanger({ ...o, token_endpoint: endpoint });
  await x.exchangeToken(caller(), { audience: "api://reports" });
  assert.equal(seen[0]!.form.scope, "reports:read");
  assert.equal(seen[0]!.form.audience, "api://reports");
  await assert.rejects(x.exchangeToken(caller(), { audience: "api://none" }), TypeError);
  await rejectsWith(
    x.exchangeToken(caller(), { audience: "api://other", scope: "x" }),
    "ERR_TOKEN_EXCHANGE_AUDIENCE_NOT_ALLOWED",
    "audience_not_allowed",
  );
});

test("Entra preset: jwt-bearer on-behalf-of shape; no issued_token_type in the answer", async () => {
  const o = TokenExchange.entra({ tenant: "contoso.onmicrosoft.com", client_id: "mcp", client_secret: "s3cret" });
  assert.equal(o.token_endpoint, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
  answer = () => ({
    status: 200,
    body: {
      token_type: "Bearer",
      scope: "api://reports/read",
      expires_in: 3599,
      ext_expires_in: 3599,
      access_token: "entra-at",
    },
  });
  const x = exchanger({ ...o, token_endpoint: endpoint });
  const t = await x.exchangeToken(caller(), { audience: "api://reports" });
  assert.deepEqual(seen[0]!.form, {
    grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
    assertion: "caller-token-1",
    requested_token_use: "on_behalf_of",
    scope: "api://reports/.default",
    client_id: "mcp",
    client_secret: "s3cret",
  });
  assert.equal(t.issued_token_type, "urn:ietf:params:oauth:token-type:access_token");
  assert.equal(t.scope, "api://reports/read");
  await x.exchangeToken(caller(), { audience: "api://reports", scope: "api://reports/read" });
  assert.equal(seen[1]!.form.scope, "api://reports/read");
});

test("private_key_jwt: an RFC 7523 assertion for the token endpoint", async () => {
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), alg: "ES256", kid: "k1" };
  const x = exchanger({ client_secret: undefined, private_key: jwk });
  await x.exchangeToken(caller(), { audience: "a" });
  const f = seen[0]!.form;
  assert.equal(f.client_id, "mcp");
  assert.equal(f.client_assertion_type, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  const c = decodeJwt(f.client_assertion!);
  assert.equal(c.iss, "mcp");
  assert.equal(c.sub, "mcp");
  assert.equal(c.aud, endpoint);
  assert.equal(decodeProtectedHeader(f.client_assertion!).kid, "k1");
});

test("cache: per caller token, audience and scope; until exp − 30 s (injected clock); one event per real exchange", async () => {
  let now = Date.now();
  const events: AuthEvent[] = [];
  const x = exchanger({ clock: () => now }, events);
  const a = caller("tok-a");
  const t1 = await x.exchangeToken(a, { audience: "api", scope: "r" });
  assert.equal(t1.expires_at, Math.floor(now / 1000) + 300);
  assert.equal(await x.exchangeToken(a, { audience: "api", scope: ["r"] }), t1);
  assert.equal(seen.length, 1);
  await x.exchangeToken(a, { audience: "api", scope: "w" });
  await x.exchangeToken(caller("tok-b"), { audience: "api", scope: "r" });
  await x.exchangeToken(a, { audience: "other", scope: "r" });
  assert.equal(seen.length, 4);
  now += 269_000; // 31 s before exp: still fresh
  await x.exchangeToken(a, { audience: "api", scope: "r" });
  assert.equal(seen.length, 4);
  now += 2_000; // 29 s before exp: exchanged again
  await x.exchangeToken(a, { audience: "api", scope: "r" });
  assert.equal(seen.length, 5);
  assert.equal(events.filter((e) => e.type === "token_exchanged").length, 5);
  assert.ok(
    !JSON.stringify(events).includes("tok-a") && !JSON.stringify(events).includes("xt-1"),
    "no token appears in an event",
  );
  // Without expires_in, the token's own exp decides; without either, it is not cached.
  const jwt = await new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setExpirationTime(Math.floor(now / 1000) + 100)
    .sign(new Uint8Array(32));
  answer = () => ({ status: 200, body: { access_token: jwt, token_type: "bearer" } });
  assert.equal((await x.exchangeToken(a, { audience: "jwt" })).expires_at, Math.floor(now / 1000) + 100);
  answer = () => ({ status: 200, body: { access_token: "opaque", token_type: "Bearer" } });
  await x.exchangeToken(a, { audience: "opaque" });
  await x.exchangeToken(a, { audience: "opaque" });
  assert.equal(seen.filter((s) => s.form.audience === "opaque").length, 2);
});

test("single flight: concurrent exchanges for one key share one call", async () => {
  let release!: () => void;
  const hold = new Promise<void>((r) => (release = r));
  answer = () => ({ status: 200, hold, body: { access_token: "xt-slow", token_type: "Bearer", expires_in: 300 } });
  const x = exchanger({});
  const a = caller();
  const pending = Promise.all(Array.from({ length: 20 }, () => x.exchangeToken(a, { audience: "api" })));
  // The answer is held until the exchange reached the endpoint: every caller asked while it was in flight.
  const deadline = performance.now() + 5000;
  while (seen.length === 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  release();
  const all = await pending;
  assert.equal(seen.length, 1);
  assert.ok(
    all.every((t) => t === all[0]),
    "every concurrent caller got the same token",
  );
});

test("refusals: the server's error fields, no token material; invalid answers", async () => {
  const events: AuthEvent[] = [];
  const x = exchanger({}, events);
  answer = () => ({
    status: 400,
    body: { error: "invalid_target", error_description: "The target API is not allowed" },
  });
  const e = await rejectsWith(
    x.exchangeToken(caller("secret-caller-token"), { audience: "api" }),
    "ERR_TOKEN_EXCHANGE_FAILED",
    "refused",
  );
  assert.equal(e.error, "invalid_target");
  assert.equal(e.error_description, "The target API is not allowed");
  assert.equal(e.status, 400);
  assert.equal(e.audience, "api");
  assert.match(e.message, /audience "api".*\(invalid_target\)/);
  assert.ok(!`${e.message}${e.stack}`.includes("secret-caller-token"), "the caller's token is not in the error");
  assert.deepEqual(events.at(-1), {
    type: "token_exchange_failed",
    audience: "api",
    code: "ERR_TOKEN_EXCHANGE_FAILED",
    reason: "refused",
    error: "invalid_target",
  });
  answer = () => ({
    status: 200,
    body: { access_token: "x", token_type: "N_A", issued_token_type: "urn:ietf:params:oauth:token-type:access_token" },
  });
  await rejectsWith(x.exchangeToken(caller(), { audience: "api" }), "ERR_TOKEN_EXCHANGE_FAILED", "invalid_response");
  answer = () => ({
    status: 200,
    body: {
      access_token: "x",
      token_type: "Bearer",
      issued_token_type: "urn:ietf:params:oauth:token-type:refresh_token",
    },
  });
  await rejectsWith(x.exchangeToken(caller(), { audience: "api" }), "ERR_TOKEN_EXCHANGE_FAILED", "invalid_response");
  answer = () => ({ status: 200, body: { token_type: "Bearer" } });
  await rejectsWith(x.exchangeToken(caller(), { audience: "api" }), "ERR_TOKEN_EXCHANGE_FAILED", "invalid_response");
  answer = () => ({ status: 403, body: "nope" });
  await rejectsWith(x.exchangeToken(caller(), { audience: "api" }), "ERR_TOKEN_EXCHANGE_FAILED", "invalid_response");
  // A caller whose token has expired since.
  await rejectsWith(
    x.exchangeToken(caller("t", Math.floor(Date.now() / 1000) - 1), { audience: "api" }),
    "ERR_TOKEN_EXCHANGE_NO_CALLER",
    "caller_expired",
  );
  await rejectsWith(x.exchangeToken(null, { audience: "api" }), "ERR_TOKEN_EXCHANGE_NO_CALLER", "no_caller");
});

test("an unreachable token endpoint backs off: one call, then fail fast with retry_after, then a retry", async () => {
  let now = Date.now();
  const x = exchanger({ clock: () => now, backoff: { initial_ms: 1000, max_ms: 5000 } });
  answer = () => ({ status: 503, body: { error: "temporarily_unavailable" } });
  await rejectsWith(x.exchangeToken(caller(), { audience: "api" }), "ERR_TOKEN_EXCHANGE_UNAVAILABLE", "unreachable");
  const e = await rejectsWith(
    x.exchangeToken(caller(), { audience: "api" }),
    "ERR_TOKEN_EXCHANGE_UNAVAILABLE",
    "backing_off",
  );
  assert.ok(e.retry_after! >= 1, "retry_after is at least 1 s");
  assert.equal(seen.length, 1);
  now += 1001;
  answer = () => ({ status: 200, body: { access_token: "back", token_type: "Bearer", expires_in: 60 } });
  assert.equal((await x.exchangeToken(caller(), { audience: "api" })).access_token, "back");
  // A closed port: a network error, also backed off.
  const closed = new TokenExchanger(
    parseTokenExchangeOptions(
      { token_endpoint: "http://127.0.0.1:1/token", client_id: "c", client_secret: "s", timeout_ms: 1000 },
      "t",
    ),
  );
  await rejectsWith(
    closed.exchangeToken(caller(), { audience: "api" }),
    "ERR_TOKEN_EXCHANGE_UNAVAILABLE",
    "unreachable",
  );
  await rejectsWith(
    closed.exchangeToken(caller(), { audience: "api" }),
    "ERR_TOKEN_EXCHANGE_UNAVAILABLE",
    "backing_off",
  );
});

test("outside a request, or on a server without token_exchange: typed errors", async () => {
  await rejectsWith(getContext().exchangeToken({ audience: "api" }), "ERR_TOKEN_EXCHANGE_NO_CALLER", "no_caller");
  assert.throws(
    () => getContext().connection({ audience: "https://api.example.com" }),
    (e: unknown) => e instanceof TokenExchangeError && e.code === "ERR_TOKEN_EXCHANGE_NO_CALLER",
  );
  const ctx = createRequestContext(caller(), true);
  await rejectsWith(ctx.exchangeToken({ audience: "api" }), "ERR_TOKEN_EXCHANGE_NOT_CONFIGURED", "not_configured");
  // The context's own enumerable fields are only the principal and the flag.
  assert.deepEqual(Object.keys(createRequestContext(caller(), true, exchanger({}))), ["auth", "authorization_enabled"]);
});

test("connection: origin from a URL audience or configuration; never to another origin", async () => {
  const x = exchanger({
    audiences: { "https://api.example.com/v1": {}, reports: { origin: "https://reports.example.com" }, opaque: {} },
  });
  assert.equal(x.connection(caller(), { audience: "https://api.example.com/v1" }).origin, "https://api.example.com");
  assert.equal(x.connection(caller(), { audience: "reports" }).origin, "https://reports.example.com");
  assert.throws(
    () => x.connection(caller(), { audience: "opaque" }),
    (e: unknown) => e instanceof TokenExchangeError && e.reason === "origin_unknown",
  );
  assert.throws(
    () => x.connection(caller(), { audience: "https://not-listed.example" }),
    (e: unknown) => e instanceof TokenExchangeError && e.reason === "audience_not_allowed",
  );
  const c = x.connection(caller(), { audience: "reports" });
  for (const url of [
    "https://evil.example/x",
    "http://reports.example.com/x",
    "https://reports.example.com:8443/x",
    "//evil.example/x",
  ]) {
    await rejectsWith(c.fetch(url), "ERR_CONNECTION_URL_REFUSED", "origin_mismatch");
  }
  assert.equal(seen.length, 0, "nothing exchanged for a refused URL");
  // Plain http audiences only on loopback.
  const open = exchanger({});
  assert.throws(
    () => open.connection(caller(), { audience: "http://api.example.com" }),
    (e: unknown) => e instanceof TokenExchangeError && e.reason === "origin_unknown",
  );
  assert.equal(open.connection(caller(), { audience: "http://127.0.0.1:9/api" }).origin, "http://127.0.0.1:9");
});

test("options: strict, every problem named; presets check their own keys; needs authorization enabled", () => {
  assert.throws(
    () =>
      parseTokenExchangeOptions(
        { token_endpoint: endpoint, client_id: "c", client_secret: "s", audience: {} },
        "protect()",
      ),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.issues.some((i) => i.key === "audience" && /did you mean "audiences"/.test(i.message)),
  );
  assert.throws(
    () => parseTokenExchangeOptions({ token_endpoint: "http://as.example.com/token", client_id: "c" }, "protect()"),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.issues.some((i) => i.key === "token_endpoint") &&
      e.issues.some((i) => i.key === "client_secret"),
  );
  assert.throws(
    () =>
      parseTokenExchangeOptions(
        {
          token_endpoint: endpoint,
          client_id: "c",
          client_secret: "s",
          audiences: { a: { origin: "https://x.example/path" } },
        },
        "protect()",
      ),
    ConfigError,
  );
  assert.throws(
    () => TokenExchange.auth0({ domain: "https://acme.auth0.com", client_id: "c", client_secret: "s" }),
    ConfigError,
  );
  assert.throws(() => TokenExchange.entra({ tenant: "t", client_id: "c" }), ConfigError);
  assert.throws(
    () =>
      createTokenExchange(
        { token_endpoint: endpoint, client_id: "c", client_secret: "s" },
        false,
        undefined,
        "protect()",
      ),
    ConfigError,
  );
  assert.throws(
    () =>
      new MCPServer("x", {
        token_exchange: { token_endpoint: endpoint, client_id: "c", client_secret: "s", cache_maxx: 1 } as never,
      }),
    ConfigError,
  );
});
