/**
 * Connected accounts' token lifecycle through the whole runtime, with `oidc-provider` as the third party
 * (confidential client, PKCE required, refresh tokens rotated, RFC 7009 revocation, 120 s access tokens)
 * and a small API that checks its tokens by introspection: connect through the connect pages (sign-in at
 * the development AS), refresh after expiry with the rotated refresh token stored first, `invalid_grant`
 * → a new connect link, a provider outage → `ProviderUnavailable` with back-off, one refresh and one
 * retry after a 401, an API key that stops working, and `disconnect()` with revocation at the provider.
 * The runtime's clock is injected: the tests move it instead of sleeping.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ErrorCode, McpError, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { getContext, JWTValidator, protect, registerTools, tool, toNodeHandler } from "../../src/index.js";
import type { AuthEvent } from "../../src/events.js";
import { MemoryTokenVault } from "../../src/connected-accounts/vault.js";
import type { AccountKey, StoredCredential } from "../../src/connected-accounts/types.js";
import {
  startDevAuthorizationServer,
  type RunningDevAuthorizationServer,
} from "../../src/dev-authorization-server/index.js";
import { Browser, consent } from "../helpers/connect.js";
import {
  GOOD_API_KEY,
  acmeProvider,
  startOidcThirdParty,
  walkProvider,
  type OidcThirdParty,
} from "../helpers/oidc-third-party.js";

/** The third party's view of the caller: the API's status and body, whatever they are. */
const whoami = tool(
  { name: "acme_whoami", description: "Who the third party sees", input: { provider: z.string().optional() } },
  async ({ provider }) => {
    const name = provider ?? "acme";
    const res = await getContext()
      .connection({ provider: name })
      .fetch(name === "acme" ? "/api/whoami" : "/keyed/whoami");
    return { status: res.status, body: (await res.json()) as unknown };
  },
);
const disconnect = tool(
  { name: "disconnect", description: "Forget a connected account", input: { provider: z.string() } },
  async ({ provider }) => ({ removed: await getContext().disconnect(provider) }),
);

interface Setup {
  url: string;
  origin: string;
  mcpAs: RunningDevAuthorizationServer;
  tp: OidcThirdParty;
  vault: MemoryTokenVault;
  events: AuthEvent[];
  advance(ms: number): void;
  now(): number;
  account(subject: string, provider?: string): AccountKey;
  client(subject: string, urlMode?: boolean): Promise<Client>;
  /** Walk a connect link: sign in at the MCP AS, confirm (pasting `apiKey` for the key provider), the provider. */
  connect(link: string, mcpUser: string, providerUser: string, apiKey?: string): Promise<Response>;
  close(): Promise<void>;
}

async function start(): Promise<Setup> {
  // eslint-disable-next-line prefer-const -- assigned once the ports are known, read by the server before
  let handler: ReturnType<typeof protect> | undefined;
  const http: Server = createServer((req, res) => void toNodeHandler(handler!)(req, res));
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const url = `${origin}/mcp`;
  const mcpAs = await startDevAuthorizationServer({
    resources: [url],
    scopes_supported: ["mcp:read"],
    clients: [{ client_id: "connect-page", redirect_uris: [`${origin}/connect/signed-in`], client_name: "Connect" }],
    on_warning: () => {},
  });
  const tp = await startOidcThirdParty({ redirect_uris: [`${origin}/connect/callback`] });
  let now = Date.now();
  const clock = () => now;
  const vault = new MemoryTokenVault({ clock });
  const events: AuthEvent[] = [];
  handler = protect(
    () => {
      const s = new McpServer({ name: "lifecycle", version: "1.0.0" });
      registerTools(s, whoami, disconnect);
      return s;
    },
    {
      authorization: { enabled: true, authorization_servers: [mcpAs.issuer], resource: url },
      provider: new JWTValidator({ issuer: mcpAs.issuer, jwks_uri: mcpAs.server.metadata.jwks_uri, audience: url }),
      on_auth_event: (e) => void events.push(e),
      connected_accounts: {
        providers: {
          acme: acmeProvider(tp),
          keyed: { type: "api_key", display_name: "Keyed", api_origins: [tp.api], key_label: "Service key" },
        },
        sign_in: { client_id: "connect-page" },
        vault,
        clock,
      },
    },
  );
  const clients: Client[] = [];
  return {
    url,
    origin,
    mcpAs,
    tp,
    vault,
    events,
    advance: (ms) => void (now += ms),
    now: clock,
    account: (subject, provider = "acme") => ({ issuer: mcpAs.issuer, subject, provider }),
    async client(subject, urlMode = false) {
      const token = await mcpAs.server.issueAccessToken({ subject, scopes: ["mcp:read"], client_id: "test-client" });
      const c = new Client(
        { name: "lifecycle", version: "1.0.0" },
        { capabilities: urlMode ? { elicitation: { url: {} } } : {} },
      );
      await c.connect(
        new StreamableHTTPClientTransport(new URL(url), {
          requestInit: { headers: { authorization: `Bearer ${token.access_token}` } },
        }),
      );
      clients.push(c);
      return c;
    },
    async connect(link, mcpUser, providerUser, apiKey) {
      const b = new Browser();
      const started = await b.request(link);
      assert.equal(started.status, 303, "the link sends the browser to sign in");
      const signedIn = await b.request(await consent(b, started.headers.get("location")!, mcpUser));
      assert.equal(signedIn.status, 200, "the confirmation page");
      const csrf_token = /name="csrf_token" value="([^"]*)"/.exec(await signedIn.text())?.[1] ?? "";
      const fields: Record<string, string> = apiKey === undefined ? { csrf_token } : { csrf_token, api_key: apiKey };
      const confirmed = await b.post(`${origin}/connect/confirm`, fields, { origin });
      if (apiKey !== undefined) return confirmed;
      assert.equal(confirmed.status, 303, "confirming leads to the provider");
      return walkProvider(b, confirmed.headers.get("location")!, providerUser);
    },
    async close() {
      for (const c of clients) await c.close().catch(() => {});
      await handler?.close();
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
      await mcpAs.close();
      await tp.close();
    },
  };
}

const textOf = (r: CallToolResult): string => r.content.map((c) => (c.type === "text" ? c.text : "")).join("");
const LINK =
  /^Tool "acme_whoami": Connect your (Acme|Keyed) account to continue: (http:\/\/127\.0\.0\.1:\d+\/connect\/start\?handle=[A-Za-z0-9_-]{43})$/;

async function call(c: Client, provider = "acme"): Promise<CallToolResult> {
  return (await c.callTool({ name: "acme_whoami", arguments: { provider } })) as CallToolResult;
}

/** The connect link of a fallback answer (a client without URL mode). */
function linkOf(r: CallToolResult): string {
  assert.equal(r.isError, true, `an error result: ${textOf(r)}`);
  const m = LINK.exec(textOf(r));
  assert.ok(m, `a connect link: ${textOf(r)}`);
  return m[2]!;
}

/** The API's answer through the tool: status and body. */
function apiAnswer(r: CallToolResult): { status: number; body: Record<string, unknown> } {
  assert.ok(!r.isError, `the tool answered: ${textOf(r)}`);
  return JSON.parse(textOf(r)) as { status: number; body: Record<string, unknown> };
}

/** Connect `subject`'s Acme account as `providerUser`; the stored credential. */
async function connectAcme(s: Setup, c: Client, subject: string, providerUser: string): Promise<StoredCredential> {
  const done = await s.connect(linkOf(await call(c)), subject, providerUser);
  assert.equal(done.status, 200, "the done page");
  const stored = await s.vault.get(s.account(subject));
  assert.ok(stored?.refresh_token, "an access and a refresh token are stored");
  return stored;
}

const ACCOUNT_EVENTS = new Set([
  "account_connected",
  "account_disconnected",
  "connection_required",
  "connection_refresh_failed",
]);
/** The connected-accounts events since `from` (the MCP token checks' `accepted` events left out). */
const accountEvents = (s: Setup, from: number): AuthEvent[] =>
  s.events.slice(from).filter((e) => ACCOUNT_EVENTS.has(e.type));

/** No token ever reached an event. */
function assertNoTokenInEvents(s: Setup, tokens: (string | undefined)[]): void {
  const text = JSON.stringify(s.events);
  for (const t of tokens.filter((t): t is string => !!t)) assert.ok(!text.includes(t), "no token in any event");
  assert.doesNotMatch(text, /handle=|sk_live/, "no link or key in any event");
}

test("oidc-provider behind the connect pages: the tool works; after expiry one refresh, the rotated refresh token stored before use, the old one refused", async () => {
  const s = await start();
  try {
    const c = await s.client("alice");
    const first = await connectAcme(s, c, "alice", "alice-at-acme");
    assert.deepEqual(first.scopes, ["openid", "offline_access"], "the granted scopes are stored");
    const ok = apiAnswer(await call(c));
    assert.deepEqual(ok, { status: 200, body: { subject: "alice-at-acme", client_id: "mcp-server" } }, "the API saw");
    assert.equal(s.tp.refreshGrants, 0, "no refresh while the token is fresh");

    s.advance(121_000); // the 120 s access token has expired on the runtime's clock
    const stored: StoredCredential[] = [];
    const set = s.vault.set.bind(s.vault);
    s.vault.set = async (a, cr) => void (stored.push(cr), await set(a, cr));
    const tokensSeen: string[] = [];
    const before = s.tp.api200;
    const again = apiAnswer(await call(c));
    assert.deepEqual(again.body, { subject: "alice-at-acme", client_id: "mcp-server" }, "the call after expiry works");
    assert.equal(s.tp.refreshSuccesses, 1, "exactly one refresh at the provider");
    assert.equal(s.tp.api200, before + 1, "one API call, no 401");
    assert.equal(s.tp.api401, 0, "the API never refused");
    const second = await s.vault.get(s.account("alice"));
    assert.ok(second, "the record is kept");
    assert.notEqual(second.refresh_token, first.refresh_token, "the vault holds the rotated refresh token");
    assert.notEqual(second.access_token, first.access_token, "and the new access token");
    assert.equal(stored.length, 1, "stored once");
    assert.equal(stored[0]!.refresh_token, second.refresh_token, "stored before the API call used it");
    assert.equal(second.obtained_at, Math.floor(s.now() / 1000), "obtained on the runtime's clock");
    assert.equal(second.expires_at, second.obtained_at + 120, "expires_at from expires_in");
    tokensSeen.push(first.access_token, first.refresh_token!, second.access_token, second.refresh_token!);

    // The rotated-out refresh token is refused by the provider (which then ends the grant: reuse detection).
    const old = await s.tp.refreshDirectly(first.refresh_token!);
    assert.deepEqual(old, { status: 400, error: "invalid_grant" }, "the old refresh token is refused");
    assertNoTokenInEvents(s, tokensSeen);
  } finally {
    await s.close();
  }
});

test("invalid_grant: the refresh token revoked at the provider → the record is gone, the events say so, -32042 with a new link; connecting again works", async () => {
  const s = await start();
  try {
    const plain = await s.client("bob");
    const first = await connectAcme(s, plain, "bob", "bob-at-acme");
    assert.equal(apiAnswer(await call(plain)).status, 200, "connected");
    assert.equal(await s.tp.revoke(first.refresh_token!, "refresh_token"), 200, "revoked at the provider (RFC 7009)");
    s.advance(121_000);
    const urlMode = await s.client("bob", true);
    const before = s.events.length;
    const err = await urlMode.callTool({ name: "acme_whoami", arguments: {} }).then(
      (r) => assert.fail(`the call must ask to connect again, not answer ${JSON.stringify(r)}`),
      (e: unknown) => e,
    );
    assert.ok(err instanceof McpError, `an McpError, not ${String(err)}`);
    assert.equal(err.code, ErrorCode.UrlElicitationRequired, "-32042");
    const e = (err.data as { elicitations: { url: string; message: string }[] }).elicitations[0]!;
    assert.match(e.url, /\/connect\/start\?handle=[A-Za-z0-9_-]{43}$/, "a new connect link");
    assert.match(e.message, /Acme/, "naming the provider");
    assert.equal(await s.vault.get(s.account("bob")), undefined, "the record is gone");
    assert.equal(s.tp.refreshGrants, 1, "one refresh was tried");
    assert.equal(s.tp.refreshSuccesses, 0, "and refused");
    const fresh = accountEvents(s, before).map((ev) => JSON.stringify(ev));
    assert.deepEqual(
      fresh,
      [
        { type: "connection_refresh_failed", provider: "acme", subject: "bob", reason: "invalid_grant" },
        { type: "account_disconnected", provider: "acme", subject: "bob", revoked: false },
        { type: "connection_required", provider: "acme", subject: "bob", reason: "refresh_failed" },
      ].map((ev) => JSON.stringify(ev)),
      "refresh failed, account disconnected, connection required: in that order",
    );
    const done = await s.connect(e.url, "bob", "bob-at-acme");
    assert.equal(done.status, 200, "the new link connects");
    const r = apiAnswer(await call(plain));
    assert.equal(r.body["subject"], "bob-at-acme", "and the tool works again");
    const second = await s.vault.get(s.account("bob"));
    assertNoTokenInEvents(s, [first.access_token, first.refresh_token, second?.access_token, second?.refresh_token]);
  } finally {
    await s.close();
  }
});

test("a provider outage during refresh: ProviderUnavailable (isError), the record kept, no new link; calls fail fast until the back-off runs out", async () => {
  const s = await start();
  try {
    const c = await s.client("carol");
    const first = await connectAcme(s, c, "carol", "carol-at-acme");
    s.advance(121_000);
    s.tp.outage = true;
    const requests = s.tp.tokenRequests;
    const before = s.events.length;
    const down = await call(c);
    assert.equal(down.isError, true, "an error result");
    assert.equal(textOf(down), 'Tool "acme_whoami": Acme is unavailable; try again in 1 s', "the typed answer");
    assert.equal(s.tp.tokenRequests, requests + 1, "the provider was asked once");
    assert.deepEqual(await s.vault.get(s.account("carol")), first, "the record is kept as it was");
    assert.ok(!s.events.slice(before).some((e) => e.type === "connection_required"), "no connect link");
    assert.ok(
      s.events.some((e) => e.type === "connection_refresh_failed" && e.reason === "unavailable"),
      "connection_refresh_failed (unavailable)",
    );

    for (let i = 0; i < 3; i++) {
      const fast = await call(c);
      assert.match(textOf(fast), /^Tool "acme_whoami": Acme is unavailable; try again in 1 s$/, "fails fast");
    }
    assert.equal(s.tp.tokenRequests, requests + 1, "nothing sent to the provider while backing off");

    s.advance(1000); // the first back-off (≤ 1 s) is over: the provider is asked again, still down
    const stillDown = await call(c);
    assert.match(textOf(stillDown), /^Tool "acme_whoami": Acme is unavailable; try again in 2 s$/, "a longer back-off");
    assert.equal(s.tp.tokenRequests, requests + 2, "asked once more");

    s.tp.outage = false;
    assert.match(textOf(await call(c)), /unavailable/, "still backing off although the provider is back");
    assert.equal(s.tp.tokenRequests, requests + 2, "not asked during the back-off");
    s.advance(2000);
    const back = apiAnswer(await call(c));
    assert.equal(back.status, 200, "after the back-off the refresh works and the call succeeds");
    assert.equal(s.tp.refreshSuccesses, 1, "one successful refresh");
    assert.ok(
      !s.events.some((e) => e.type === "connection_required" && e.subject === "carol" && e.reason !== "not_connected"),
      "never asked to reconnect",
    );
  } finally {
    await s.close();
  }
});

test("a provider outage inside the refresh window: the access token that is still valid is used", async () => {
  const s = await start();
  try {
    const c = await s.client("dave");
    const first = await connectAcme(s, c, "dave", "dave-at-acme");
    s.advance(100_000); // 20 s left: inside the 30 s early-refresh window
    s.tp.outage = true;
    const r = apiAnswer(await call(c));
    assert.equal(r.status, 200, "the call goes through with the old access token");
    assert.equal(s.tp.tokenRequests > 0, true, "a refresh was tried");
    assert.deepEqual(await s.vault.get(s.account("dave")), first, "the record is unchanged");
    s.advance(21_000); // now expired: the outage shows
    assert.match(textOf(await call(c)), /Acme is unavailable/, "once expired, the typed answer");
  } finally {
    await s.close();
  }
});

test("a 401 from the API with a still-valid token: one refresh and one retry; a 401 again reaches the tool", async () => {
  const s = await start();
  try {
    const c = await s.client("erin");
    const first = await connectAcme(s, c, "erin", "erin-at-acme");
    assert.equal(await s.tp.killAccessToken(first.access_token), true, "the provider ended the access token");
    const r = apiAnswer(await call(c));
    assert.equal(r.status, 200, "the retry succeeded");
    assert.equal(s.tp.api401, 1, "the API refused once");
    assert.equal(s.tp.refreshSuccesses, 1, "one refresh");
    const second = await s.vault.get(s.account("erin"));
    assert.notEqual(second?.refresh_token, first.refresh_token, "the rotated refresh token is stored");

    s.tp.apiRejectAll = true;
    const refused = apiAnswer(await call(c));
    assert.deepEqual(refused, { status: 401, body: { error: "invalid_token" } }, "the second 401 reaches the tool");
    assert.equal(s.tp.api401, 3, "two more 401s: the request and its one retry");
    assert.equal(s.tp.refreshSuccesses, 2, "one more refresh, no loop");
    assert.ok(await s.vault.get(s.account("erin")), "the record is kept");
  } finally {
    await s.close();
  }
});

test("an API key answered with 401: the record is removed, a connect link, account_disconnected", async () => {
  const s = await start();
  try {
    const c = await s.client("frank");
    const link = linkOf(await call(c, "keyed"));
    const done = await s.connect(link, "frank", "", GOOD_API_KEY);
    assert.equal(done.status, 200, "the key is taken");
    assert.deepEqual(apiAnswer(await call(c, "keyed")), { status: 200, body: { project: "keyed-project" } }, "works");
    s.tp.apiKeyValid = false; // the key was rotated at the service
    const before = s.events.length;
    const r = await call(c, "keyed");
    assert.match(textOf(r), /^Tool "acme_whoami": Connect your Keyed account to continue: http/, "a connect link");
    assert.equal(s.tp.api401, 1, "one 401, no retry: there is nothing to refresh");
    assert.equal(await s.vault.get(s.account("frank", "keyed")), undefined, "the record is removed");
    assert.deepEqual(
      accountEvents(s, before).map((e) => e.type),
      ["account_disconnected", "connection_required"],
      "disconnected, then a link",
    );
    assertNoTokenInEvents(s, [GOOD_API_KEY]);
  } finally {
    await s.close();
  }
});

test("a 401 for a key the user replaced meanwhile: the newer key is tried once, nothing is forgotten", async () => {
  const s = await start();
  try {
    const c = await s.client("hana");
    const link = linkOf(await call(c, "keyed"));
    assert.equal((await s.connect(link, "hana", "", "an-old-key-0123456789")).status, 200, "an old key is taken");
    // While the call with the old key is in flight, the user connects again with the good key.
    const get = s.vault.get.bind(s.vault);
    let reads = 0;
    s.vault.get = async (a) => {
      if (++reads === 2)
        await s.vault.set(a, { kind: "api_key", access_token: GOOD_API_KEY, obtained_at: Math.floor(s.now() / 1000) });
      return get(a);
    };
    const before = s.events.length;
    const r = await call(c, "keyed");
    assert.deepEqual(
      apiAnswer(r),
      { status: 200, body: { project: "keyed-project" } },
      "the retry with the new key works",
    );
    assert.equal(s.tp.api401, 1, "one 401 (the old key), then the new key");
    assert.ok(await get(s.account("hana", "keyed")), "the new record is kept");
    assert.deepEqual(accountEvents(s, before), [], "nothing disconnected, no link");
  } finally {
    await s.close();
  }
});

test("disconnect(): the record is gone, the grant revoked at the provider (revoked true); an API key (revoked false); nothing to disconnect", async () => {
  const s = await start();
  try {
    const c = await s.client("gina");
    const cred = await connectAcme(s, c, "gina", "gina-at-acme");
    assert.equal(await s.tp.active(cred.access_token), true, "the access token is active before");
    const out = (await c.callTool({ name: "disconnect", arguments: { provider: "acme" } })) as CallToolResult;
    assert.deepEqual(JSON.parse(textOf(out)), { removed: true }, "removed");
    assert.equal(await s.vault.get(s.account("gina")), undefined, "the record is gone");
    assert.equal(await s.tp.active(cred.access_token), false, "the provider says the access token is inactive");
    assert.deepEqual(
      await s.tp.refreshDirectly(cred.refresh_token!),
      { status: 400, error: "invalid_grant" },
      "the provider refuses the refresh token",
    );
    const link = linkOf(await call(c));
    assert.ok(link, "the next call asks to connect");

    const keyLink = linkOf(await call(c, "keyed"));
    assert.equal((await s.connect(keyLink, "gina", "", GOOD_API_KEY)).status, 200, "key connected");
    const k = (await c.callTool({ name: "disconnect", arguments: { provider: "keyed" } })) as CallToolResult;
    assert.deepEqual(JSON.parse(textOf(k)), { removed: true }, "removed");
    const none = (await c.callTool({ name: "disconnect", arguments: { provider: "keyed" } })) as CallToolResult;
    assert.deepEqual(JSON.parse(textOf(none)), { removed: false }, "nothing left to remove");
    const disconnected = s.events.filter((e) => e.type === "account_disconnected");
    assert.deepEqual(
      disconnected,
      [
        { type: "account_disconnected", provider: "acme", subject: "gina", revoked: true },
        { type: "account_disconnected", provider: "keyed", subject: "gina", revoked: false },
      ],
      "one event per removal: revoked at Acme, nowhere to revoke a key",
    );
    assertNoTokenInEvents(s, [cred.access_token, cred.refresh_token, GOOD_API_KEY]);
  } finally {
    await s.close();
  }
});
