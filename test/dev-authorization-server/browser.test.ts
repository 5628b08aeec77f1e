/**
 * The consent page in a real browser: Chromium (`CHROMIUM_PATH`, else Debian's /usr/bin/chromium),
 * headless, driven by playwright-core.
 * Opens the authorization URL, signs in, approves, lands on the client's redirect with a code.
 * Saves a screenshot of the consent page to test-artifacts/consent.png.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  startDevAuthorizationServer,
  type RunningDevAuthorizationServer,
} from "../../src/dev-authorization-server/index.js";
import { CHROMIUM_ARGS, DEFAULT_CHROMIUM, findChromium } from "../helpers/chromium.js";
import { pkce } from "../helpers/dev-as.js";

const { path: CHROMIUM, missing: CHROMIUM_MISSING } = findChromium();

let as: RunningDevAuthorizationServer;
let callback: Server;
let callbackUrl: string;
before(async () => {
  callback = createServer((_req, res) =>
    res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>Callback</title><p>Signed in."),
  );
  await new Promise<void>((r) => callback.listen(0, "127.0.0.1", r));
  callbackUrl = `http://127.0.0.1:${(callback.address() as AddressInfo).port}/callback`;
  as = await startDevAuthorizationServer({
    resources: ["http://127.0.0.1:8000/mcp"],
    scopes_supported: ["mcp:read", "files:delete"],
    scope_descriptions: { "mcp:read": "Use the read-only tools", "files:delete": "Delete files" },
    title: "protected-mcp demo",
    on_warning: () => {},
  });
});
after(async () => {
  await as?.close();
  callback.closeAllConnections();
  callback.close();
});

test("headless Chromium: sign in, approve, redirect with code; screenshot of the consent page", async (t) => {
  if (CHROMIUM_MISSING) {
    if (process.env.CI === "true") assert.fail(CHROMIUM_MISSING);
    t.skip(CHROMIUM_MISSING);
    return;
  }
  const { chromium } = await import("playwright-core");
  const reg = await (
    await fetch(as.server.metadata.registration_endpoint, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_name: "MCP Inspector", redirect_uris: [callbackUrl] }),
    })
  ).json();
  const { verifier, challenge } = pkce();
  const url = new URL(as.server.metadata.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: reg.client_id,
    redirect_uri: callbackUrl,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state: "browser-state",
    scope: "mcp:read files:delete",
    resource: "http://127.0.0.1:8000/mcp",
  }).toString();

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 720, height: 900 } });
    const violations: string[] = [];
    page.on("console", (m) => {
      if (/Content Security Policy|Refused/i.test(m.text())) violations.push(m.text());
    });
    await page.goto(url.href);
    assert.equal(await page.title(), "Authorize MCP Inspector");
    assert.equal(
      await page.getByRole("heading", { level: 1 }).textContent(),
      "MCP Inspector wants to access your account",
    );
    // The inline stylesheet applied (the CSP allows it by hash): the primary button has the accent colour.
    const bg = await page.getByRole("button", { name: "Approve" }).evaluate((b) => getComputedStyle(b).backgroundColor);
    assert.notEqual(bg, "rgba(0, 0, 0, 0)");
    mkdirSync("test-artifacts", { recursive: true });
    await page.screenshot({ path: "test-artifacts/consent.png", fullPage: true });

    await page.getByLabel("Username").fill("alice");
    await Promise.all([
      page.waitForURL((u) => u.href.startsWith(callbackUrl)),
      page.getByRole("button", { name: "Approve" }).click(),
    ]);
    const landed = new URL(page.url());
    assert.equal(landed.searchParams.get("state"), "browser-state");
    assert.equal(landed.searchParams.get("iss"), as.issuer);
    const code = landed.searchParams.get("code");
    assert.ok(code, "the redirect carries a code");
    assert.deepEqual(violations, []);

    const token = await fetch(as.server.metadata.token_endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        client_id: reg.client_id,
        redirect_uri: callbackUrl,
        code_verifier: verifier,
      }),
    });
    assert.equal(token.status, 200);
    assert.equal((await token.json()).scope, "mcp:read files:delete");
  } finally {
    await browser.close();
  }
});

test("findChromium: CHROMIUM_PATH first, then /usr/bin/chromium; a CHROMIUM_PATH naming no file is reported", () => {
  const only =
    (...paths: string[]) =>
    (p: string) =>
      paths.includes(p);
  assert.deepEqual(findChromium({ CHROMIUM_PATH: "/opt/chrome" }, only("/opt/chrome", DEFAULT_CHROMIUM)), {
    path: "/opt/chrome",
    missing: undefined,
  });
  assert.deepEqual(findChromium({ CHROMIUM_PATH: "/opt/none" }, only(DEFAULT_CHROMIUM)), {
    path: "/opt/none",
    missing: "CHROMIUM_PATH=/opt/none does not exist",
  });
  assert.deepEqual(findChromium({ CHROMIUM_PATH: "" }, only(DEFAULT_CHROMIUM)), {
    path: DEFAULT_CHROMIUM,
    missing: undefined,
  });
  assert.deepEqual(findChromium({}, only(DEFAULT_CHROMIUM)), { path: DEFAULT_CHROMIUM, missing: undefined });
  assert.match(findChromium({}, only()).missing ?? "", /needs \/usr\/bin\/chromium .*CHROMIUM_PATH/);
});
