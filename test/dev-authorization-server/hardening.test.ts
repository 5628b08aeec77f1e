/**
 * Issue 18 at the development authorization server: a registration flood never evicts a client in
 * use (503 + Retry-After instead), the consent page shows display controls as visible text, an
 * unsupported scope is named together with the option that lists scopes, and every options object
 * (the server's, `issueAccessToken()`'s, `MemoryStorage`'s) is checked by one strict schema that
 * reports every problem as an `ConfigError`.
 */
import { beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "../../src/index.js";
import {
  createDevAuthorizationServer,
  MemoryStorage,
  type DevAuthorizationServer,
  type DevAuthorizationServerOptions,
} from "../../src/dev-authorization-server/index.js";
import { authorizeUrl, call, exchange, obtainCode, pkce, registerClient } from "../helpers/dev-as.js";

const ISSUER = "http://127.0.0.1:8001";
const RESOURCE = "http://127.0.0.1:8000/mcp";
const T0 = Date.parse("2030-01-01T00:00:00Z");
let now = T0;

beforeEach(() => {
  now = T0;
});

function make(extra: Partial<DevAuthorizationServerOptions> = {}) {
  return createDevAuthorizationServer({
    issuer: ISSUER,
    resources: [RESOURCE],
    scopes_supported: ["mcp:read", "files:delete"],
    clock: () => now,
    ...extra,
  });
}

function authorizeRequest(as: DevAuthorizationServer, clientId: string, extra: Record<string, string> = {}) {
  return call(
    as,
    authorizeUrl(as, {
      response_type: "code",
      client_id: clientId,
      redirect_uri: "http://127.0.0.1:9999/callback",
      code_challenge: pkce().challenge,
      code_challenge_method: "S256",
      ...extra,
    }),
  );
}

async function assertFull(res: Response, retryAfter: string) {
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("retry-after"), retryAfter);
  assert.equal(
    res.headers.get("access-control-expose-headers"),
    "WWW-Authenticate, DPoP-Nonce, Retry-After",
    "a browser client can read it",
  );
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.deepEqual(await res.json(), {
    error: "temporarily_unavailable",
    error_description: "Too many registered clients are in use; retry later",
  });
}

describe("registration flood", () => {
  test("1,000 anonymous registrations fill the default store; the next is refused 503 and the first client still authorizes", async () => {
    const as = await make();
    const first = await (await registerClient(as)).json();
    for (let i = 1; i < 1000; i++) assert.equal((await registerClient(as, { client_name: `flood ${i}` })).status, 201);
    // Default idle time: max(access_token_ttl 3600, consent_ttl 600) seconds from registration.
    await assertFull(await registerClient(as, { client_name: "one too many" }), "3600");
    const page = await authorizeRequest(as, first.client_id);
    assert.equal(page.status, 200, "the first client was not evicted");
  });

  test("a full store reclaims only idle clients: one with a live refresh token is kept, Retry-After is the wait for the next idle one", async () => {
    const storage = new MemoryStorage({ max_clients: 3, client_idle_ttl_seconds: 100, clock: () => now });
    const as = await make({ storage, refresh_token_ttl_seconds: 1000 });
    const live = await obtainCode(as); // registers client 1 and issues a code
    assert.equal((await exchange(as, live)).status, 200); // … and a refresh token living 1000 s
    now += 10_000;
    const idle = await (await registerClient(as)).json(); // client 2, idle after 100 s
    now += 10_000;
    assert.equal((await registerClient(as)).status, 201); // client 3
    await assertFull(await registerClient(as), "90"); // nothing idle yet; client 2 is in 90 s

    now += 91_000;
    assert.equal((await registerClient(as)).status, 201, "client 2 was idle and is reclaimed");
    assert.equal((await authorizeRequest(as, idle.client_id)).status, 400, "only the idle client is gone");
    assert.equal(
      (await authorizeRequest(as, live.clientId)).status,
      200,
      "the client with a live refresh token is kept",
    );
    await assertFull(await registerClient(as), "9"); // now +111 s; client 3 (registered at +20 s) is idle at +120 s
  });

  test("being used keeps a client: a lookup at /authorize extends its idle time", async () => {
    const storage = new MemoryStorage({ max_clients: 1, client_idle_ttl_seconds: 100, clock: () => now });
    const as = await make({ storage });
    const c = await (await registerClient(as)).json();
    now += 90_000;
    assert.equal((await authorizeRequest(as, c.client_id)).status, 200); // lookup + pending authorization (consent_ttl 600)
    now += 20_000; // 110 s after registration, but used 20 s ago
    await assertFull(await registerClient(as), "680");
  });
});

describe("consent page: display controls", () => {
  test("bidi overrides and isolates, C0 and C1 controls in client_name are shown as \\uXXXX, after HTML escaping", async () => {
    const as = await make();
    const name = "Evil\u202eelgooG \u2066x\u2069 \u001b[2J\u0007 \u009b1m <b>";
    const reg = await (await registerClient(as, { client_name: name })).json();
    const res = await authorizeRequest(as, reg.client_id);
    assert.equal(res.status, 200);
    const bytes = Buffer.from(await res.arrayBuffer());
    const html = bytes.toString("utf8");
    const shown = "Evil\\u202EelgooG \\u2066x\\u2069 \\u001B[2J\\u0007 \\u009B1m &#60;b&#62;";
    assert.ok(html.includes(`<span class="client">${shown}</span> wants to access your account`), html);
    assert.ok(html.includes(`<title>Authorize ${shown}</title>`), "the consent page's title names the client as shown");
    for (const raw of ["\u202e", "\u2066", "\u2069", "\u001b", "\u0007", "\u009b"])
      assert.ok(!html.includes(raw), `raw U+${raw.charCodeAt(0).toString(16)} on the page`);
    // No byte of the page is a C0 control other than the newline of the markup itself.
    assert.ok(![...bytes].some((b) => b < 0x20 && b !== 0x0a), "a raw C0 byte on the page");
    // UTF-8 of U+202E is E2 80 AE; of U+009B is C2 9B.
    assert.equal(bytes.indexOf(Buffer.from([0xe2, 0x80, 0xae])), -1);
    assert.equal(bytes.indexOf(Buffer.from([0xc2, 0x9b])), -1);
  });
});

describe("unsupported scopes are named, with the option that lists scopes", () => {
  test("at registration: 400 invalid_scope naming each unsupported scope", async () => {
    const as = await make();
    const res = await registerClient(as, { scope: "mcp:read files:write admin" });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), {
      error: "invalid_scope",
      error_description:
        "Unsupported scopes 'files:write', 'admin': not in scopes_supported (dev authorization server option `scopes_supported`)",
    });
  });

  test("at /authorize: redirected invalid_scope naming it; a malformed scope is counted, never echoed", async () => {
    const as = await make();
    const reg = await (await registerClient(as)).json();
    const res = await authorizeRequest(as, reg.client_id, { scope: "mcp:read files:write", state: "s" });
    assert.equal(res.status, 302);
    const back = new URL(res.headers.get("location")!);
    assert.deepEqual(Object.fromEntries(back.searchParams), {
      error: "invalid_scope",
      error_description:
        "Unsupported scope 'files:write': not in scopes_supported (dev authorization server option `scopes_supported`)",
      state: "s",
      iss: ISSUER,
    });
    const odd = new URL((await authorizeRequest(as, reg.client_id, { scope: 'x"\u202e' })).headers.get("location")!);
    assert.equal(
      odd.searchParams.get("error_description"),
      "Unsupported scope 1 more: not in scopes_supported (dev authorization server option `scopes_supported`)",
    );
  });
});

describe("strict options", () => {
  async function configError(p: Promise<unknown> | (() => unknown)): Promise<ConfigError> {
    try {
      await (typeof p === "function" ? p() : p);
    } catch (e) {
      assert.ok(e instanceof ConfigError, `not a ConfigError: ${String(e)}`);
      assert.equal(e.code, "ERR_INVALID_CONFIG");
      return e;
    }
    assert.fail("no error");
  }

  test("server options: unknown key with its suggestion, wrong type, several problems listed together", async () => {
    const e = await configError(
      make({
        scope_supported: ["a"],
        access_token_ttl_seconds: "3600",
        title: 7,
        client_id_metadata_documents: { allow_loopbak: true },
      } as never),
    );
    assert.deepEqual(
      e.issues.map((i) => [i.key, i.message]).sort(),
      [
        ["access_token_ttl_seconds", "Invalid input: expected number, received string"],
        ["client_id_metadata_documents.allow_loopbak", 'unknown key (did you mean "allow_loopback"?)'],
        ["scope_supported", 'unknown key (did you mean "scopes_supported"?)'],
        ["title", "Invalid input: expected string, received number"],
      ].sort(),
    );
    assert.match(e.message, /^Invalid createDevAuthorizationServer\(\) options: /);
  });

  test("issueAccessToken(): unknown key, unsupported scope, foreign resource and empty subject, all at once", async () => {
    const as = await make();
    const e = await configError(
      as.issueAccessToken({
        subject: "",
        scope: ["mcp:read"],
        scopes: ["admin"],
        resource: "http://elsewhere/mcp",
      } as never),
    );
    assert.deepEqual(
      e.issues.map((i) => [i.key, i.message]),
      [
        ["subject", "subject is required"],
        ["scope", 'unknown key (did you mean "scopes"?)'],
        ["scopes", '"admin" is not in scopes_supported (dev authorization server option `scopes_supported`)'],
        ["resource", "must be one of the configured resources (dev authorization server option `resources`)"],
      ],
    );
    const e2 = await configError(as.issueAccessToken({ subject: "alice", jkt: 42 } as never));
    assert.deepEqual(
      e2.issues.map((i) => [i.key, i.message]),
      [["jkt", "Invalid input: expected string, received number"]],
    );
    const ok = await as.issueAccessToken({ subject: "alice", scopes: ["mcp:read"] });
    assert.equal(ok.scope, "mcp:read");
  });

  test("MemoryStorage options: unknown key with suggestion and wrong type", async () => {
    const e = await configError(() => new MemoryStorage({ max_client: 5, client_idle_ttl_seconds: -1 } as never));
    assert.deepEqual(
      e.issues.map((i) => i.key),
      ["client_idle_ttl_seconds", "max_client"],
    );
    assert.equal(e.issues.find((i) => i.key === "max_client")?.message, 'unknown key (did you mean "max_clients"?)');
  });
});
