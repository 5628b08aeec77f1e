/**
 * The connect routes over HTTP on loopback: the development authorization server as the MCP server's
 * own AS (sign-in) and a second one as the third-party provider. Every refusal: its exact status and
 * fixed text, and that the vault holds no credential.
 */
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { connectUrl } from "../../src/connected-accounts/connect-routes.js";
import type { BrowserIdentity } from "../../src/connected-accounts/types.js";
import { Browser, consent, csrfOf, openAndSignIn, startConnect, type ConnectSetup } from "../helpers/connect.js";

const T = {
  handle: "This connect link is invalid or has expired. Ask for a new one from your MCP client.",
  mismatch: "This link was made for another account. Nothing was connected.",
  flow: "This page is not part of a connect flow in this browser, or the flow has expired. Nothing was connected. Open the connect link from your MCP client again.",
  state: "This response does not belong to the connect flow of this browser. Nothing was connected.",
  csrf: "This form could not be verified. Nothing was connected.",
  cross: "Form posts from other sites are refused. Nothing was connected.",
  notSignedIn: "You are not signed in. Sign in to this application, then open the connect link again.",
  badForm: "The form could not be read. Nothing was connected.",
  tooLarge: "The form is too large. Nothing was connected.",
  apiKey: "The key must be 1 to 4096 characters without control characters. Nothing was connected.",
  done: "Connected. You can close this window and return to your MCP client.",
};

let s: ConnectSetup;
before(async () => {
  s = await startConnect();
});
after(async () => {
  await s.close();
});

const COOKIE = "protected-mcp-connect";

/** The one message of a refusal page (its `alert` paragraph), unescaped enough to compare. */
function alertText(html: string): string | undefined {
  return /<p class="alert" role="alert">([^<]*)<\/p>/.exec(html)?.[1];
}

/** The headers every connect page carries. */
function assertPageHeaders(res: Response, where: string): void {
  const csp = res.headers.get("content-security-policy") ?? "";
  assert.match(
    csp,
    /^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]{43}='; form-action 'self'( http:\/\/127\.0\.0\.1:\d+)?; frame-ancestors 'none'; base-uri 'none'$/,
    `${where}: CSP`,
  );
  assert.equal(res.headers.get("x-frame-options"), "DENY", `${where}: X-Frame-Options`);
  assert.equal(res.headers.get("cache-control"), "no-store", `${where}: Cache-Control`);
  assert.match(res.headers.get("referrer-policy") ?? "", /^(no-referrer|same-origin)$/, `${where}: Referrer-Policy`);
  assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8", `${where}: content type`);
}

/** A refusal: exact status, exact fixed text, page headers, and no credential anywhere in the vault. */
async function assertRefused(res: Response, status: number, text: string, where: string): Promise<string> {
  const html = await res.text();
  assert.equal(res.status, status, `${where}: status`);
  assert.equal(alertText(html), escapeText(text), `${where}: fixed text`);
  assert.doesNotMatch(html, /<script/i, `${where}: no script`);
  assertPageHeaders(res, where);
  assert.equal(s.vault.credentials.size, 0, `${where}: the vault holds no credential`);
  return html;
}

function escapeText(t: string): string {
  return t.replace(/[&<>"'`=]/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function reset(): Promise<void> {
  await s.vault.clearCredentials();
  await s.vault.clearTransients();
  s.connected.length = 0;
  s.refused.length = 0;
}

/** Open, sign in as `user`, and return the browser, the confirmation page and its CSRF token. */
async function identified(user: string, o: { provider?: string } = {}) {
  const handle = await s.mintHandle(user, o);
  const b = new Browser();
  const page = await openAndSignIn(s, b, handle, user);
  const html = await page.text();
  assert.equal(page.status, 200, `confirmation page for ${user}`);
  assertPageHeaders(page, "confirmation page");
  return { b, handle, html, csrf: csrfOf(html) };
}

function confirm(b: Browser, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return b.post(`${s.origin}${s.base}/confirm`, fields, {
    origin: s.origin,
    "sec-fetch-site": "same-origin",
    ...headers,
  });
}

test("connectUrl is the start route with the handle and nothing else", () => {
  assert.equal(
    connectUrl("https://mcp.example.com", "/connect", "abc_-123"),
    "https://mcp.example.com/connect/start?handle=abc_-123",
    "the link",
  );
});

test("happy path over HTTP: sign-in at the MCP AS, confirmation, provider consent, credential stored for exactly that account", async () => {
  await reset();
  const { b, handle, html, csrf } = await identified("alice");
  assert.match(
    html,
    /<h1>Connect <span class="name">Acme<\/span> to <span class="name" id="who">alice<\/span><\/h1>/,
    "h1",
  );
  assert.match(csrf, /^[A-Za-z0-9_-]{43}$/, "a CSRF token on the form");
  assert.ok(b.jar.has(COOKIE), "the flow cookie (no __Host- prefix on http)");
  assert.equal(await s.vault.count("handle:"), 1, "the handle is not taken before the confirmation");
  const res = await confirm(b, { csrf_token: csrf });
  assert.equal(res.status, 303, "confirm redirects to the provider");
  const location = res.headers.get("location")!;
  assert.equal(new URL(location).origin, s.providerAs.issuer, "to the provider's authorization endpoint");
  assert.equal(new URL(location).searchParams.get("redirect_uri"), `${s.origin}${s.base}/callback`, "callback URI");
  assert.equal(await s.vault.count("handle:"), 0, "the handle is taken at the confirmation");
  const back = await consent(b, location, "alice-at-acme");
  const done = await b.request(back);
  const donePage = await done.text();
  assert.equal(done.status, 200, "done page");
  assertPageHeaders(done, "done page");
  assert.match(donePage, new RegExp(escapeText(T.done).replace(/\./g, "\\.")), "done text");
  assert.equal(s.vault.credentials.size, 1, "exactly one credential");
  const stored = await s.vault.get({ issuer: s.mcpAs.issuer, subject: "alice", provider: "acme" });
  assert.equal(stored?.kind, "oauth", "stored under (MCP issuer, alice, acme)");
  assert.ok(stored && stored.access_token.length > 20, "the provider's access token");
  assert.deepEqual(
    s.connected,
    [
      {
        account: { issuer: s.mcpAs.issuer, subject: "alice", provider: "acme" },
        elicitation_id: "elicit-alice",
        identity: { issuer: s.mcpAs.issuer, subject: "alice" },
      },
    ],
    "on_connected once, with the account and the elicitation id",
  );
  assert.equal(await s.vault.count("flow:"), 0, "the flow is gone");
  assert.ok(!b.jar.has(COOKIE), "the cookie is cleared");
  assert.ok(!donePage.includes(stored.access_token) && !donePage.includes(handle), "no token or handle on the page");
  assert.deepEqual(s.refused, [], "nothing refused");
});

test("the flow cookie: HttpOnly, SameSite=Lax, Path=/, Max-Age within the handle's remaining life", async () => {
  await reset();
  const handle = await s.mintHandle("alice", { ttl_seconds: 120 });
  const res = await new Browser().request(`${s.origin}${s.base}/start?handle=${handle}`);
  assert.equal(res.status, 303, "to the sign-in");
  const cookie = res.headers.getSetCookie()[0] ?? "";
  assert.match(
    cookie,
    /^protected-mcp-connect=[A-Za-z0-9_-]{43}; Max-Age=1(19|20); Path=\/; HttpOnly; SameSite=Lax$/,
    cookie,
  );
  const signIn = new URL(res.headers.get("location")!);
  assert.equal(signIn.origin, s.mcpAs.issuer, "to the MCP server's own AS");
  const p = signIn.searchParams;
  assert.equal(p.get("resource"), s.resource, "resource = this server");
  assert.equal(p.get("code_challenge_method"), "S256", "PKCE S256");
  assert.equal(p.get("redirect_uri"), `${s.origin}${s.base}/signed-in`, "signed-in redirect URI");
  assert.ok(!cookie.includes(p.get("state")!), "the cookie carries the flow id, not the state");
});

test("phishing: the link made for alice opened by signed-in bob → 403, nothing stored for anyone, the handle burnt", async () => {
  await reset();
  const handle = await s.mintHandle("alice");
  const b = new Browser();
  const res = await openAndSignIn(s, b, handle, "bob");
  await assertRefused(res, 403, T.mismatch, "bob on alice's link");
  assert.equal(await s.vault.count("handle:"), 0, "the handle is burnt");
  assert.equal(await s.vault.count("flow:"), 0, "the flow is burnt");
  assert.ok(!b.jar.has(COOKIE), "the cookie is cleared");
  assert.deepEqual(s.refused, ["identity_mismatch"], "one refusal event");
  assert.deepEqual(s.connected, [], "nothing connected");
  // Alice herself can no longer use it either: a new link is needed.
  await assertRefused(
    await new Browser().request(`${s.origin}${s.base}/start?handle=${handle}`),
    410,
    T.handle,
    "burnt handle",
  );
  // And bob cannot go on to the confirmation with the flow he had.
  await assertRefused(await confirm(b, { csrf_token: "x".repeat(43) }), 400, T.flow, "bob confirms anyway");
});

test("replay: a second confirmation of a used handle, and start after consumption → 410", async () => {
  await reset();
  // Two browsers of alice on the same link: the first confirmation takes the handle.
  const one = await identified("alice");
  const handle = one.handle;
  const b2 = new Browser();
  const page2 = await openAndSignIn(s, b2, handle, "alice");
  const csrf2 = csrfOf(await page2.text());
  assert.equal((await confirm(one.b, { csrf_token: one.csrf })).status, 303, "first confirmation");
  await assertRefused(await confirm(b2, { csrf_token: csrf2 }), 410, T.handle, "second confirmation");
  await assertRefused(await confirm(one.b, { csrf_token: one.csrf }), 410, T.handle, "the same form posted again");
  await assertRefused(
    await new Browser().request(`${s.origin}${s.base}/start?handle=${handle}`),
    410,
    T.handle,
    "start after consumption",
  );
});

test("expired handle (injected clock) → 410; unknown and malformed handles → the same 410, never reflected", async () => {
  await reset();
  const handle = await s.mintHandle("alice", { ttl_seconds: 60 });
  s.advance(61_000);
  await assertRefused(
    await new Browser().request(`${s.origin}${s.base}/start?handle=${handle}`),
    410,
    T.handle,
    "expired",
  );
  const unknown = "A".repeat(43);
  await assertRefused(
    await new Browser().request(`${s.origin}${s.base}/start?handle=${unknown}`),
    410,
    T.handle,
    "unknown",
  );
  const evil = encodeURIComponent("<script>alert(1)</script>");
  const html = await assertRefused(
    await new Browser().request(`${s.origin}${s.base}/start?handle=${evil}`),
    410,
    T.handle,
    "malformed",
  );
  assert.ok(!html.includes("alert(1)"), "the query is not reflected");
  await assertRefused(await new Browser().request(`${s.origin}${s.base}/start`), 410, T.handle, "no handle");
});

test("a handle that expires between sign-in and confirmation → refused, nothing stored", async () => {
  await reset();
  const { b, csrf } = await identified("alice");
  s.advance(601_000);
  await assertRefused(await confirm(b, { csrf_token: csrf }), 400, T.flow, "expired flow at confirm");
});

test("confirm: missing or wrong CSRF token → 403, the handle is not taken", async () => {
  await reset();
  const { b, csrf } = await identified("alice");
  await assertRefused(await confirm(b, {}), 403, T.csrf, "missing CSRF");
  // The last character changed for certain: a 256-bit token's last base64url character is one of four
  // (A, Q, g, w), so a fixed replacement would be the token itself in one run out of four.
  const wrong = `${csrf.slice(0, -1)}${csrf.endsWith("A") ? "Q" : "A"}`;
  assert.notEqual(wrong, csrf);
  await assertRefused(await confirm(b, { csrf_token: wrong }), 403, T.csrf, "wrong CSRF");
  await assertRefused(await confirm(b, { csrf_token: csrf.slice(1) }), 403, T.csrf, "short CSRF");
  assert.equal(await s.vault.count("handle:"), 1, "the handle is still there");
  assert.equal((await confirm(b, { csrf_token: csrf })).status, 303, "the right token still works");
});

test("confirm: another Origin or a cross-site Sec-Fetch-Site → 403 before anything is read", async () => {
  await reset();
  const { b, csrf } = await identified("alice");
  await assertRefused(
    await confirm(b, { csrf_token: csrf }, { origin: "http://evil.example" }),
    403,
    T.cross,
    "Origin",
  );
  await assertRefused(await confirm(b, { csrf_token: csrf }, { origin: "null" }), 403, T.cross, "Origin null");
  await assertRefused(
    await confirm(b, { csrf_token: csrf }, { "sec-fetch-site": "cross-site" }),
    403,
    T.cross,
    "Sec-Fetch-Site cross-site",
  );
  await assertRefused(
    await confirm(b, { csrf_token: csrf }, { "sec-fetch-site": "same-site" }),
    403,
    T.cross,
    "Sec-Fetch-Site same-site",
  );
  assert.equal(await s.vault.count("handle:"), 1, "the handle is still there");
  assert.deepEqual(new Set(s.refused), new Set(["cross_origin"]), "refusal reasons");
});

test("confirm: a body that is not a form, too large, or repeats a field → 400/413", async () => {
  await reset();
  const { b, csrf } = await identified("alice");
  const post = (body: string, type = "application/x-www-form-urlencoded") =>
    b.request(`${s.origin}${s.base}/confirm`, { method: "POST", headers: { "content-type": type }, body });
  await assertRefused(await post(`{"csrf_token":"${csrf}"}`, "application/json"), 400, T.badForm, "JSON");
  await assertRefused(await post(`csrf_token=${csrf}&x=${"a".repeat(20_000)}`), 413, T.tooLarge, "too large");
  await assertRefused(await post(`csrf_token=${csrf}&csrf_token=${csrf}`), 400, T.badForm, "repeated");
  assert.equal(await s.vault.count("handle:"), 1, "the handle is still there");
});

test("missing cookie on every step → 400, nothing stored", async () => {
  await reset();
  const { b, csrf } = await identified("alice");
  const bare = new Browser();
  await assertRefused(await bare.post(`${s.origin}${s.base}/confirm`, { csrf_token: csrf }), 400, T.flow, "confirm");
  await assertRefused(await bare.request(`${s.origin}${s.base}/signed-in?code=c&state=s`), 400, T.flow, "signed-in");
  await assertRefused(await bare.request(`${s.origin}${s.base}/callback?code=c&state=s`), 400, T.flow, "callback");
  const forged = new Browser();
  forged.jar.set(COOKIE, "B".repeat(43));
  await assertRefused(
    await forged.request(`${s.origin}${s.base}/callback?code=c&state=s`),
    400,
    T.flow,
    "unknown flow",
  );
  assert.equal((await confirm(b, { csrf_token: csrf })).status, 303, "the real browser still goes on");
});

test("wrong state on the sign-in callback → 400; the flow survives for the real response", async () => {
  await reset();
  const handle = await s.mintHandle("alice");
  const b = new Browser();
  const start = await b.request(`${s.origin}${s.base}/start?handle=${handle}`);
  const back = new URL(await consent(b, start.headers.get("location")!, "alice"));
  const forged = new URL(back);
  forged.searchParams.set("state", "C".repeat(43));
  await assertRefused(await b.request(forged.href), 400, T.state, "wrong state");
  const mixUp = new URL(back);
  mixUp.searchParams.set("iss", "http://127.0.0.1:1");
  await assertRefused(await b.request(mixUp.href), 400, T.state, "another iss (mix-up)");
  const ok = await b.request(back.href);
  assert.equal(ok.status, 200, "the genuine response is still accepted");
});

test("the user denies the sign-in at the MCP AS → 403 fixed text, the flow over, the handle kept for a retry", async () => {
  await reset();
  const handle = await s.mintHandle("alice");
  const b = new Browser();
  const start = await b.request(`${s.origin}${s.base}/start?handle=${handle}`);
  const back = await consent(b, start.headers.get("location")!, "alice", "deny");
  await assertRefused(
    await b.request(back),
    403,
    "The sign-in was not completed. Nothing was connected.",
    "sign-in denied",
  );
  assert.equal(await s.vault.count("flow:"), 0, "the flow is over");
  assert.equal(await s.vault.count("handle:"), 1, "the link may be opened again");
  assert.ok(!b.jar.has(COOKIE), "the cookie is cleared");
});

test("wrong state on the provider callback → 400, nothing stored; a replayed callback → 400", async () => {
  await reset();
  const { b, csrf } = await identified("alice");
  const res = await confirm(b, { csrf_token: csrf });
  const back = new URL(await consent(b, res.headers.get("location")!, "alice-at-acme"));
  const forged = new URL(back);
  forged.searchParams.set("state", "D".repeat(43));
  await assertRefused(await b.request(forged.href), 400, T.state, "wrong state");
  const cookie = b.cookieHeader();
  assert.equal((await b.request(back.href)).status, 200, "the genuine callback connects");
  await s.vault.clearCredentials();
  const replay = await fetch(back.href, { headers: { cookie } });
  await assertRefused(replay, 400, T.flow, "replayed callback");
});

test("provider error=access_denied → 403 naming only the code; an unknown error code is not shown", async () => {
  await reset();
  const { b, csrf } = await identified("alice");
  const res = await confirm(b, { csrf_token: csrf });
  const back = await consent(b, res.headers.get("location")!, "alice-at-acme", "deny");
  assert.equal(new URL(back).searchParams.get("error"), "access_denied", "the provider denied");
  await assertRefused(
    await b.request(back),
    403,
    "Acme did not grant access (access_denied). Nothing was connected.",
    "access_denied",
  );
  assert.equal(await s.vault.count("flow:"), 0, "the flow is over");

  const two = await identified("alice");
  const res2 = await confirm(two.b, { csrf_token: two.csrf });
  const state = new URL(res2.headers.get("location")!).searchParams.get("state")!;
  const evil = encodeURIComponent("<script>alert(1)</script>");
  const html = await assertRefused(
    await two.b.request(`${s.origin}${s.base}/callback?state=${state}&error=${evil}&error_description=${evil}`),
    400,
    "Acme did not grant access. Nothing was connected.",
    "unknown error code",
  );
  assert.ok(!html.includes("alert(1)"), "nothing reflected");
});

test("an API-key provider: a password field labelled key_label; bad keys refused before the handle is taken", async () => {
  await reset();
  const { b, html, csrf } = await identified("alice", { provider: "keyed" });
  assert.match(html, /<label for="api_key">Service role key<\/label>/, "the label");
  assert.match(html, /<input type="password" id="api_key" name="api_key" required maxlength="4096"/, "the input");
  assert.ok(!html.includes("<script"), "no script on the API-key page");
  await assertRefused(await confirm(b, { csrf_token: csrf, api_key: "" }), 400, T.apiKey, "empty");
  await assertRefused(await confirm(b, { csrf_token: csrf, api_key: "k".repeat(4097) }), 400, T.apiKey, "too long");
  await assertRefused(await confirm(b, { csrf_token: csrf, api_key: "sk-\u0007x" }), 400, T.apiKey, "control");
  await assertRefused(await confirm(b, { csrf_token: csrf, api_key: "sk-\u202ex" }), 400, T.apiKey, "bidi");
  assert.equal(await s.vault.count("handle:"), 1, "the handle is still there");
  const cookie = b.cookieHeader();
  const done = await confirm(b, { csrf_token: csrf, api_key: "sk-live-123" });
  const page = await done.text();
  assert.equal(done.status, 200, "done");
  assertPageHeaders(done, "API-key done page");
  assert.ok(page.includes(escapeText(T.done)), "done text");
  assert.ok(!page.includes("sk-live-123"), "the key is not on the page");
  const stored = await s.vault.get({ issuer: s.mcpAs.issuer, subject: "alice", provider: "keyed" });
  assert.deepEqual(
    stored,
    { kind: "api_key", access_token: "sk-live-123", obtained_at: Math.floor(s.now() / 1000) },
    "stored under alice",
  );
  assert.equal(s.connected.length, 1, "on_connected once");
  assert.ok(!b.jar.has(COOKIE), "the cookie is cleared");
  await s.vault.clearCredentials();
  const replay = await fetch(`${s.origin}${s.base}/confirm`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie },
    body: new URLSearchParams({ csrf_token: csrf, api_key: "sk-2" }),
  });
  await assertRefused(replay, 410, T.handle, "the confirmation replayed with the old cookie");
});

test("unknown paths → 404 and wrong methods → 405 with Allow, fixed texts", async () => {
  const get = (path: string, method = "GET") => fetch(`${s.origin}${path}`, { method, redirect: "manual" });
  for (const path of [
    "/connect",
    "/connect/",
    "/connect/start/",
    "/connect/nope",
    "/connect/__proto__",
    "/connect/../x",
  ]) {
    const res = await get(path);
    const html = await res.text();
    assert.equal(res.status, 404, `${path}: 404`);
    assert.equal(alertText(html), "Not found.", `${path}: text`);
    assertPageHeaders(res, path);
  }
  for (const [path, method, allow] of [
    ["/connect/start", "POST", "GET"],
    ["/connect/signed-in", "PUT", "GET"],
    ["/connect/callback", "DELETE", "GET"],
    ["/connect/confirm", "GET", "POST"],
    ["/connect/start", "HEAD", "GET"],
  ] as const) {
    const res = await get(path, method);
    assert.equal(res.status, 405, `${method} ${path}: 405`);
    assert.equal(res.headers.get("allow"), allow, `${method} ${path}: Allow`);
    if (method !== "HEAD") assert.equal(alertText(await res.text()), "Method not allowed.", `${method} ${path}: text`);
  }
  assert.equal(s.routes.handles("/connect/start"), true, "handles its paths");
  assert.equal(s.routes.handles("/connect"), true, "handles its base");
  assert.equal(s.routes.handles("/connecttoString"), false, "not a longer name");
  const direct = await s.routes.handle(new Request("http://x/connecttoString"));
  assert.equal(direct.status, 404, "a prototype key is no route");
});

test("on_refused reasons are names only, never values", () => {
  for (const r of s.refused) assert.match(r, /^[a-z_]+$/, `reason ${r}`);
});

test("identify(): an app session identifies the user; null → 401; another user → 403 and the handle burnt", async (t) => {
  let who: BrowserIdentity | null = null;
  const app = await startConnect({ identify: () => who });
  t.after(() => app.close());
  const open = (h: string) => new Browser().request(`${app.origin}${app.base}/start?handle=${h}`);
  const expectText = async (res: Response, status: number, text: string, where: string) => {
    assert.equal(res.status, status, `${where}: status`);
    assert.equal(alertText(await res.text()), escapeText(text), `${where}: text`);
    assert.equal(app.vault.credentials.size, 0, `${where}: nothing stored`);
  };
  const h1 = await app.mintHandle("alice");
  await expectText(await open(h1), 401, T.notSignedIn, "not signed in");
  assert.equal(await app.vault.count("handle:"), 1, "not signed in leaves the handle");
  who = { issuer: app.mcpAs.issuer, subject: "bob" };
  await expectText(await open(h1), 403, T.mismatch, "bob");
  assert.equal(await app.vault.count("handle:"), 0, "burnt");
  who = { issuer: "https://other-issuer.example", subject: "alice" };
  await expectText(await open(await app.mintHandle("alice")), 403, T.mismatch, "same subject, other issuer");

  // A hostile display name: markup and a bidi override, rendered inert.
  who = { issuer: app.mcpAs.issuer, subject: "alice", display_name: "<script>alert(1)</script>\u202egnp.exe" };
  const b = new Browser();
  const page = await b.request(`${app.origin}${app.base}/start?handle=${await app.mintHandle("alice")}`);
  const html = await page.text();
  assert.equal(page.status, 200, "confirmation");
  assert.ok(!html.includes("<script>") && !html.includes("\u202e"), "no markup, no raw bidi override");
  assert.ok(
    html.includes('id="who">&#60;script&#62;alert(1)&#60;/script&#62;\\u202Egnp.exe</span>'),
    "escaped, the override spelled out",
  );
  // The session changed between the link and the confirmation: refused, burnt.
  who = { issuer: app.mcpAs.issuer, subject: "mallory" };
  const res = await b.post(`${app.origin}${app.base}/confirm`, { csrf_token: csrfOf(html) });
  await expectText(res, 403, T.mismatch, "session changed");
  assert.equal(await app.vault.count("handle:"), 0, "burnt");
  assert.equal(await app.vault.count("flow:"), 0, "flow burnt");
});
