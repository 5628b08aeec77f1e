/**
 * End to end with a real third-party MCP client: `mcp-remote` (npm), the stdio-to-Streamable-HTTP
 * proxy that Claude Desktop and others run, against the demo behind `npm start`. The test speaks MCP
 * JSON-RPC on mcp-remote's stdin/stdout; mcp-remote discovers, registers, runs PKCE and "opens a
 * browser" (caught, see test/helpers/mcp-remote.ts); headless Chromium does the consent on the
 * embedded development authorization server and lands on mcp-remote's own callback listener.
 *
 * Step-up, as mcp-remote 0.15.1 really behaves (read from node_modules/mcp-remote/dist):
 * - Its bundled SDK client (@modelcontextprotocol/client 2.x) implements SEP-2350: on 403
 *   `insufficient_scope` it asks for the UNION of the scopes it already had and the challenge's
 *   `scope` (computeScopeUnion), and skips its refresh token when that union is a strict superset of
 *   the token's scopes (forceReauthorization), so holding a refresh token does not get in the way
 *   (unlike the official SDK client 1.32). The proxy then finishes the sign-in mid-session
 *   (`reauthorize`) and retries the call once by itself.
 * - But mcp-remote's `applyScope` rewrites the scope on every authorization URL unless it "could not
 *   be ours": when the requested scope string equals the protected resource's `scopes_supported`
 *   joined with spaces, it is replaced with mcp-remote's own effective scope — the scope of the
 *   first 401 challenge, here "mcp:read". The demo advertises `scopes_supported`
 *   ["mcp:read", "files:delete"] and the union is "mcp:read files:delete": the same string. So the
 *   step-up authorization asks for "mcp:read" again, the user approves that, the retried call gets
 *   the same 403, the SDK's one step-up retry is used up (a third authorization URL is opened that
 *   no callback listener waits for), and the tools/call answers JSON-RPC -32001
 *   "mcp-remote: Unauthorized". That holds for both `step_up_scope` values, since the SDK unions
 *   "files:delete" with the token's "mcp:read" before mcp-remote looks at it.
 * - The last two tests prove that diagnosis: with `scopes_supported` advertised in another order the
 *   union no longer matches, mcp-remote keeps it ("Authorizing with the scope the server asked
 *   for"), and step-up succeeds with one consent and mcp-remote's own retry.
 */
import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import type { Browser, BrowserContext } from "playwright-core";
import type { AuthEvent } from "../src/index.js";
import { startDemo, type Demo, type DemoOptions } from "../examples/quickstart/demo.js";
import { CHROMIUM_ARGS, findChromium } from "./helpers/chromium.js";
import { freePortPair } from "./helpers/dev-as.js";
import { freePort, McpRemote, MCP_REMOTE_BIN } from "./helpers/mcp-remote.js";

const { path: CHROMIUM, missing: CHROMIUM_MISSING } = findChromium();
const missing = CHROMIUM_MISSING
  ? CHROMIUM_MISSING
  : !existsSync(MCP_REMOTE_BIN)
    ? `needs ${MCP_REMOTE_BIN} (npm ci)`
    : undefined;

let browser: Browser | undefined;
before(async () => {
  if (missing) return;
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
});
after(async () => {
  await browser?.close();
});

/** Skip with a printed reason, or fail under CI. */
function ready(t: TestContext): boolean {
  if (!missing) return true;
  if (process.env.CI === "true") assert.fail(missing);
  console.log(`skipped mcp-remote test: ${missing}`);
  t.skip(missing);
  return false;
}

interface Run {
  demo: Demo;
  remote: McpRemote;
  events: AuthEvent[];
  context: BrowserContext;
  started: number;
}

async function start(o: Omit<DemoOptions, "port"> = {}): Promise<Run> {
  const started = Date.now();
  const events: AuthEvent[] = [];
  const demo = await startDemo({
    port: await freePortPair(),
    log: () => {},
    on_auth_event: (e) => events.push(e),
    ...o,
  });
  const remote = new McpRemote({ url: demo.url, callbackPort: await freePort() });
  const context = await browser!.newContext();
  return { demo, remote, events, context, started };
}

async function stop(r: Run | undefined): Promise<void> {
  await r?.remote.close();
  await r?.context.close();
  await r?.demo.close();
}

/**
 * Wait for mcp-remote's n-th authorization URL and for its callback listener to be up (in the
 * mid-session re-authorization mcp-remote opens the URL before it starts the listener), then sign in
 * as `username` and approve in Chromium. Returns the URL and the scopes the consent page listed.
 */
async function consent(r: Run, n: number, username: string): Promise<{ url: URL; listed: string[] }> {
  await r.remote.until(`authorization URL #${n}`, () => r.remote.openedUrls().length >= n);
  await r.remote.until(`callback listener #${n}`, () => r.remote.countStderr(/OAuth callback server running at/) >= n);
  const url = r.remote.openedUrls()[n - 1]!;
  const page = await r.context.newPage();
  try {
    await page.goto(url.href);
    assert.equal(await page.title(), "Authorize MCP CLI Proxy");
    const listed = await page.locator("ul.scopes li code").allTextContents();
    await page.getByLabel("Username").fill(username);
    const callback = url.searchParams.get("redirect_uri")!;
    await Promise.all([
      page.waitForURL((u) => u.href.startsWith(callback)),
      page.getByRole("button", { name: "Approve" }).click(),
    ]);
    assert.match(await page.locator("body").innerText(), /Authorization successful!/);
    return { url, listed };
  } finally {
    await page.close();
  }
}

async function handshake(r: Run): Promise<void> {
  const init = await r.remote.request("initialize", {
    protocolVersion: "2025-06-18",
    capabilities: {},
    clientInfo: { name: "mcp-remote-test", version: "1.0.0" },
  });
  assert.equal(init.result?.serverInfo?.name, "protected-mcp-demo", JSON.stringify(init));
  r.remote.notify("notifications/initialized");
  const list = await r.remote.request("tools/list");
  assert.deepEqual(list.result.tools.map((t: { name: string }) => t.name).sort(), [
    "delete_file",
    "downstream_whoami",
    "echo",
    "upstream_whoami",
    "whoami",
  ]);
}

async function whoami(r: Run): Promise<{ subject: string; client_id: string; scopes: string[] }> {
  const res = await r.remote.request("tools/call", { name: "whoami", arguments: {} });
  assert.equal(res.result?.isError, undefined, JSON.stringify(res));
  return res.result.structuredContent;
}

function timing(r: Run, what: string): void {
  console.log(`mcp-remote ${what}: ${Date.now() - r.started} ms`);
}

describe("mcp-remote 0.15.1 over stdio, consent in headless Chromium", { timeout: 60_000 }, () => {
  test("the whole OAuth flow: discovery, registration, PKCE, consent, token; whoami is the username typed", async (t) => {
    if (!ready(t)) return;
    let r: Run | undefined;
    try {
      r = await start();
      const initialize = handshake(r);
      const { url, listed } = await consent(r, 1, "remote.user-1");
      await initialize;

      // The authorization request mcp-remote made: what it printed is what it opened (the opener gets
      // a re-encoded URL, "%20" for "+", so compare parameters).
      const params = (u: URL) => [u.origin + u.pathname, ...u.searchParams];
      assert.deepEqual(r.remote.printedUrls().map(params), [params(url)]);
      assert.equal(url.origin + url.pathname, r.demo.as.server.metadata.authorization_endpoint);
      assert.equal(url.searchParams.get("response_type"), "code");
      assert.equal(url.searchParams.get("code_challenge_method"), "S256");
      assert.equal(url.searchParams.get("resource"), r.demo.url);
      assert.match(url.searchParams.get("redirect_uri")!, /^http:\/\/127\.0\.0\.1:\d+\/oauth\/callback$/);
      // The 401 names no scope (no required_scopes), so mcp-remote asks for the resource's scopes_supported.
      assert.equal(url.searchParams.get("scope"), "mcp:read files:delete");
      assert.deepEqual(listed, ["mcp:read", "files:delete"]);

      const me = await whoami(r);
      assert.equal(me.subject, "remote.user-1");
      assert.equal(me.client_id, url.searchParams.get("client_id"));
      assert.deepEqual(me.scopes, ["mcp:read", "files:delete"]);

      // What the server sent mcp-remote: a 401 challenge, then 2xx once it had a token; one sign-in.
      const seen = r.remote.responses();
      const mcp = seen.filter((s) => s.url === r!.demo.url);
      assert.equal(mcp[0]!.status, 401);
      assert.equal(
        mcp[0]!.www_authenticate?.startsWith(`Bearer realm="MCP", resource_metadata="http://127.0.0.1:`),
        true,
      );
      assert.doesNotMatch(mcp[0]!.www_authenticate, /scope=/);
      assert.equal(
        seen
          .filter((s) => s.url === r!.demo.as.server.metadata.registration_endpoint)
          .map((s) => s.status)
          .join(),
        "201",
      );
      assert.equal(
        seen
          .filter((s) => s.url === r!.demo.as.server.metadata.token_endpoint)
          .map((s) => s.status)
          .join(),
        "200",
      );
      assert.equal(r.remote.openedUrls().length, 1);
      assert.ok(
        r.events.some((e) => e.type === "accepted" && e.subject === "remote.user-1"),
        "an accepted event for remote.user-1",
      );
      timing(r, "OAuth flow through whoami");
    } finally {
      await stop(r);
    }
  });

  for (const mode of ["union", "operation"] as const) {
    const challengeScope = mode === "union" ? "mcp:read files:delete" : "files:delete";
    test(`step-up (step_up_scope "${mode}"): 403 scope="${challengeScope}"; scopes_supported spelled like the union: mcp-remote re-authorizes for "mcp:read" only (its bug), the retried call fails with -32001`, async (t) => {
      if (!ready(t)) return;
      let r: Run | undefined;
      try {
        // scopes_supported spelled exactly like the union mcp-remote will ask for (the demo avoids this).
        r = await start({ step_up: true, step_up_scope: mode, scopes_supported: ["mcp:read", "files:delete"] });
        const initialize = handshake(r);
        const first = await consent(r, 1, "stepper");
        await initialize;
        assert.equal(first.url.searchParams.get("scope"), "mcp:read");
        assert.deepEqual((await whoami(r)).scopes, ["mcp:read"]);

        const deletion = r.remote.request("tools/call", { name: "delete_file", arguments: { path: "/etc/hosts" } });
        const second = await consent(r, 2, "stepper");
        const res = await deletion;

        // mcp-remote re-authorized (same client, new PKCE pair) but asked for mcp:read again; the user
        // was shown exactly that on the consent page.
        assert.equal(second.url.searchParams.get("client_id"), first.url.searchParams.get("client_id"));
        assert.notEqual(second.url.searchParams.get("code_challenge"), first.url.searchParams.get("code_challenge"));
        assert.equal(second.url.searchParams.get("scope"), "mcp:read");
        assert.deepEqual(second.listed, ["mcp:read"]);
        // After the retry got the same 403, the SDK's single step-up retry was spent: it opened a
        // third authorization URL (still "mcp:read") that no callback listener waits for, and the
        // proxy answered the call with an error.
        assert.deepEqual(
          r.remote.openedUrls().map((u) => u.searchParams.get("scope")),
          ["mcp:read", "mcp:read", "mcp:read"],
        );
        assert.equal(r.remote.countStderr(/OAuth callback server running at/), 2);
        assert.deepEqual(res.error, { code: -32001, message: "mcp-remote: Unauthorized" });
        assert.equal(res.result, undefined);

        // What the server sent, exactly, both times; nothing was let through.
        const prm = `${new URL(r.demo.url).origin}/.well-known/oauth-protected-resource/mcp`;
        const refusals = r.remote.responses().filter((s) => s.status === 403);
        assert.deepEqual(
          refusals.map((s) => [s.method, s.url, s.www_authenticate]),
          Array(2).fill([
            "POST",
            r.demo.url,
            `Bearer realm="MCP", resource_metadata="${prm}", scope="${challengeScope}", error="insufficient_scope", error_description="The access token lacks a required scope", DPoP algs="ES256 EdDSA Ed25519 RS256 PS256"`,
          ]),
        );
        assert.deepEqual(
          r.events.filter((e) => e.type === "refused" && e.status === 403),
          Array(2).fill({ type: "refused", code: "ERR_INSUFFICIENT_SCOPE", reason: "insufficient_scope", status: 403 }),
        );
        assert.ok(
          r.events.every((e) => e.type !== "accepted" || (e.scopes.length === 1 && e.scopes[0] === "mcp:read")),
          "every accepted token carries only mcp:read",
        );
        // Two code exchanges, no refresh grant, although mcp-remote holds a refresh token: the SDK skips
        // refresh when the union is wider than the token's scopes.
        assert.equal(r.remote.responses().filter((s) => s.url === r!.demo.as.server.metadata.token_endpoint).length, 2);
        assert.equal(r.remote.storedTokenFields().includes("refresh_token"), true);

        // The session goes on with the mcp:read token.
        const me = await whoami(r);
        assert.deepEqual([me.subject, me.scopes], ["stepper", ["mcp:read"]]);
        timing(r, `step-up "${mode}" failure, end to end`);
      } finally {
        await stop(r);
      }
    });
  }

  for (const mode of ["union", "operation"] as const) {
    const challengeScope = mode === "union" ? "mcp:read files:delete" : "files:delete";
    test(`step-up (step_up_scope "${mode}") with the demo as npm start runs it: one 403, consent to "mcp:read files:delete", mcp-remote retries by itself`, async (t) => {
      if (!ready(t)) return;
      let r: Run | undefined;
      try {
        r = await start({ step_up: true, step_up_scope: mode });
        const initialize = handshake(r);
        const first = await consent(r, 1, "stepper-2");
        await initialize;
        assert.equal(first.url.searchParams.get("scope"), "mcp:read");

        const deletion = r.remote.request("tools/call", { name: "delete_file", arguments: { path: "/tmp/demo.txt" } });
        const second = await consent(r, 2, "stepper-2");
        const res = await deletion;

        // The SDK unions even when the challenge names only files:delete ("operation").
        assert.equal(second.url.searchParams.get("scope"), "mcp:read files:delete");
        assert.deepEqual(second.listed, ["mcp:read", "files:delete"]);
        assert.match(r.remote.stderr, /Authorizing with the scope the server asked for: mcp:read files:delete/);
        assert.deepEqual(res.result?.structuredContent, { deleted: "/tmp/demo.txt" }, JSON.stringify(res));
        assert.equal(r.remote.openedUrls().length, 2);
        const refusals = r.remote.responses().filter((s) => s.status === 403);
        assert.equal(refusals.length, 1);
        assert.match(
          refusals[0]!.www_authenticate!,
          new RegExp(`scope="${challengeScope}", error="insufficient_scope"`),
        );
        assert.equal(r.remote.responses().filter((s) => s.url === r!.demo.as.server.metadata.token_endpoint).length, 2);

        const me = await whoami(r);
        assert.deepEqual([me.subject, me.scopes], ["stepper-2", ["mcp:read", "files:delete"]]);
        timing(r, `step-up "${mode}" success, end to end`);
      } finally {
        await stop(r);
      }
    });
  }
});
