/**
 * The connect flow in headless Chromium: the link opened, the sign-in at the MCP server's own
 * authorization server (its login + consent page), the confirmation, the provider's consent, the
 * done page; the vault then holds the credential for exactly that account. What only a browser
 * shows: the cookie round trips (SameSite=Lax across the two authorization servers), the form post's
 * real `Origin` and `Sec-Fetch-Site`, the CSP (the stylesheet allowed by its hash, the redirect to the
 * provider allowed by `form-action`), and the phishing refusal as the victim sees it.
 */
import { test, after, before, type TestContext } from "node:test";
import assert from "node:assert/strict";
import type { Browser as Chromium, Page } from "playwright-core";
import { CHROMIUM_ARGS, findChromium } from "../helpers/chromium.js";
import { startConnect, type ConnectSetup } from "../helpers/connect.js";

const { path: CHROMIUM, missing } = findChromium();

let browser: Chromium | undefined;
let s: ConnectSetup;
before(async () => {
  s = await startConnect();
  if (missing) return;
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
});
after(async () => {
  await browser?.close();
  await s.close();
});

function ready(t: TestContext): boolean {
  if (!missing) return true;
  if (process.env.CI === "true") assert.fail(missing);
  console.log(`skipped connect browser test: ${missing}`);
  t.skip(missing);
  return false;
}

/** A fresh browser context, recording CSP violations and the confirm post's headers. */
async function open(t: TestContext) {
  const context = await browser!.newContext();
  t.after(() => context.close());
  const page = await context.newPage();
  const csp: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy/i.test(m.text())) csp.push(m.text());
  });
  const confirmHeaders: Record<string, string>[] = [];
  page.on("request", (r) => {
    if (r.url() === `${s.origin}${s.base}/confirm`) void r.allHeaders().then((h) => confirmHeaders.push(h));
  });
  return { context, page, csp, confirmHeaders };
}

/** Sign in at a development AS consent page as `username` and approve. */
async function approve(page: Page, username: string, next: string): Promise<void> {
  await page.getByLabel("Username").fill(username);
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(next)),
    page.getByRole("button", { name: "Approve" }).click(),
  ]);
}

test("the whole connect flow in Chromium: sign-in, confirmation, provider consent, done; stored for exactly alice", async (t) => {
  if (!ready(t)) return;
  await s.vault.clearCredentials();
  s.connected.length = 0;
  const { context, page, csp, confirmHeaders } = await open(t);
  const handle = await s.mintHandle("alice");
  await page.goto(`${s.origin}${s.base}/start?handle=${handle}`);
  assert.equal(new URL(page.url()).origin, s.mcpAs.issuer, "sent to the MCP server's own AS");
  await approve(page, "alice", `${s.origin}${s.base}/signed-in`);
  assert.equal(
    (await page.locator("h1").textContent())?.replace(/\s+/g, " "),
    "Connect Acme to alice",
    "the confirmation names the provider and the user",
  );
  const cookies = await context.cookies(s.origin);
  const flow = cookies.find((c) => c.name === "protected-mcp-connect");
  assert.ok(flow?.httpOnly && flow.sameSite === "Lax" && flow.path === "/", "the flow cookie: HttpOnly, Lax, Path=/");
  await Promise.all([
    page.waitForURL((u) => u.href.startsWith(s.providerAs.issuer)),
    page.getByRole("button", { name: "Connect" }).click(),
  ]);
  const posted = confirmHeaders[0] ?? {};
  assert.equal(posted.origin, s.origin, "Chromium sent this origin as Origin (not null)");
  assert.equal(posted["sec-fetch-site"], "same-origin", "Sec-Fetch-Site same-origin");
  await approve(page, "alice-at-acme", `${s.origin}${s.base}/callback`);
  assert.equal(
    await page.getByRole("status").textContent(),
    "Connected. You can close this window and return to your MCP client.",
    "the done page",
  );
  assert.deepEqual(csp, [], "no CSP violation on any page");
  assert.deepEqual(
    [...s.vault.credentials.keys()],
    [JSON.stringify([s.mcpAs.issuer, "alice", "acme"])],
    "exactly one credential: alice's Acme account",
  );
  assert.equal(s.connected.length, 1, "on_connected once");
  assert.equal(
    (await context.cookies(s.origin)).some((c) => c.name === "protected-mcp-connect"),
    false,
    "the cookie is cleared",
  );
});

test("phishing in Chromium: alice's link opened by bob, signed in as bob → 403 fixed text, nothing stored, handle burnt", async (t) => {
  if (!ready(t)) return;
  await s.vault.clearCredentials();
  const { page } = await open(t);
  const handle = await s.mintHandle("alice");
  await page.goto(`${s.origin}${s.base}/start?handle=${handle}`);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().startsWith(`${s.origin}${s.base}/signed-in`)),
    approve(page, "bob", `${s.origin}${s.base}/signed-in`),
  ]);
  assert.equal(response.status(), 403, "403");
  assert.equal(
    await page.getByRole("alert").textContent(),
    "This link was made for another account. Nothing was connected.",
    "the fixed text",
  );
  assert.equal(s.vault.credentials.size, 0, "nothing stored for alice or bob");
  assert.equal(await s.vault.count(`handle:`), 0, "the handle is burnt");
  const again = await page.goto(`${s.origin}${s.base}/start?handle=${handle}`);
  assert.equal(again?.status(), 410, "the link is dead");
});

test("an API key in Chromium: the password field, the post, the done page", async (t) => {
  if (!ready(t)) return;
  await s.vault.clearCredentials();
  const { page, csp } = await open(t);
  const handle = await s.mintHandle("carol", { provider: "keyed" });
  await page.goto(`${s.origin}${s.base}/start?handle=${handle}`);
  await approve(page, "carol", `${s.origin}${s.base}/signed-in`);
  await page.getByLabel("Service role key").fill("sk-carol-1");
  await Promise.all([
    page.waitForResponse((r) => r.url() === `${s.origin}${s.base}/confirm`),
    page.getByRole("button", { name: "Connect" }).click(),
  ]);
  assert.equal(
    await page.getByRole("status").textContent(),
    "Connected. You can close this window and return to your MCP client.",
    "done",
  );
  const stored = await s.vault.get({ issuer: s.mcpAs.issuer, subject: "carol", provider: "keyed" });
  assert.equal(stored?.access_token, "sk-carol-1", "carol's key, under carol");
  assert.equal(s.vault.credentials.size, 1, "nothing else");
  assert.deepEqual(csp, [], "no CSP violation");
});
