/**
 * Connected accounts in a fleet: two `protect()` instances (two node:http servers, each with its own
 * Redis connection) sharing one `RedisTokenVault` (same keys, same prefix) behind HAProxy round-robin,
 * one MCP authorization server (the development AS) and one third party (`oidc-provider`, refresh tokens
 * rotated, its API checking tokens by introspection).
 *
 * The connect pages are walked through the proxy, so the flow's steps land on both instances (its records
 * live in Redis). MCP sessions are stateful and each client talks to one instance directly (a session
 * lives in the instance that made it); the resource is the proxy's URL, which both instances accept on
 * loopback. After the access token expires (the instances share an injected clock), 20 concurrent calls
 * spread over both instances make exactly one refresh at the provider, counted by the provider itself.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { getContext, JWTValidator, protect, registerTools, tool, toNodeHandler } from "../../src/index.js";
import { RedisTokenVault } from "../../src/connected-accounts/vault.js";
import type { AuthEvent } from "../../src/events.js";
import {
  startDevAuthorizationServer,
  type RunningDevAuthorizationServer,
} from "../../src/dev-authorization-server/index.js";
import { Browser, consent } from "../helpers/connect.js";
import { acmeProvider, startOidcThirdParty, walkProvider, type OidcThirdParty } from "../helpers/oidc-third-party.js";
import { freePort, haproxyBinary, startHaproxy, type RunningProxy } from "../helpers/proxy.js";
import { hasRedisServer, startRedis } from "../helpers/redis.js";

const KEYS = [{ id: "fleet-1", key: randomBytes(32).toString("base64url") }];
const PREFIX = "fleet:vault:";

const missing = [haproxyBinary() ? undefined : "haproxy", hasRedisServer() ? undefined : "redis-server"].filter(
  (m) => m !== undefined,
);
const SKIP = missing.length
  ? `needs ${missing.join(" and ")} (apt-get install ${missing.join(" ")}); CI installs them and never skips`
  : undefined;

interface Instance {
  name: string;
  url: string;
  close(): Promise<void>;
}

const textOf = (r: CallToolResult): string => r.content.map((c) => (c.type === "text" ? c.text : "")).join("");

describe("connected accounts in a fleet: two instances, one RedisTokenVault, HAProxy round-robin", () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let inspect: Redis;
  let mcpAs: RunningDevAuthorizationServer;
  let tp: OidcThirdParty;
  let proxy: RunningProxy;
  let resource: string;
  let proxyOrigin: string;
  let now = Date.now();
  const clock = () => now;
  const events: AuthEvent[] = [];
  const instances: Instance[] = [];
  const clients: Client[] = [];
  const redisClients: Redis[] = [];

  async function startInstance(name: string): Promise<Instance> {
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    redisClients.push(client);
    const whoami = tool({ name: "acme_whoami", description: "Who the third party sees, and where" }, async () => {
      const res = await getContext().connection({ provider: "acme" }).fetch("/api/whoami");
      return { instance: name, status: res.status, body: (await res.json()) as unknown };
    });
    const handler = protect(
      () => {
        const s = new McpServer({ name: `fleet-${name}`, version: "1.0.0" });
        registerTools(s, whoami);
        return s;
      },
      {
        authorization: { enabled: true, authorization_servers: [mcpAs.issuer], resource },
        provider: new JWTValidator({
          issuer: mcpAs.issuer,
          jwks_uri: mcpAs.server.metadata.jwks_uri,
          audience: resource,
        }),
        on_auth_event: (e) => void events.push(e),
        connected_accounts: {
          providers: {
            acme: acmeProvider(tp),
          },
          sign_in: { client_id: "connect-page" },
          vault: new RedisTokenVault({ client, keys: KEYS, prefix: PREFIX }),
          clock,
        },
      },
    );
    const node = toNodeHandler(handler);
    const http: Server = createServer((req, res) => void node(req, res));
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
    return {
      name,
      url,
      async close() {
        await handler.close();
        http.closeAllConnections();
        await new Promise<void>((r) => http.close(() => r()));
      },
    };
  }

  async function client(instance: Instance, subject: string): Promise<Client> {
    const token = await mcpAs.server.issueAccessToken({ subject, scopes: ["mcp:read"], client_id: "test-client" });
    const c = new Client({ name: "fleet", version: "1.0.0" });
    await c.connect(
      new StreamableHTTPClientTransport(new URL(instance.url), {
        requestInit: { headers: { authorization: `Bearer ${token.access_token}` } },
      }),
    );
    clients.push(c);
    return c;
  }

  const call = async (c: Client): Promise<CallToolResult> =>
    (await c.callTool({ name: "acme_whoami", arguments: {} })) as CallToolResult;

  before(async () => {
    if (SKIP) {
      if (process.env.CI === "true")
        throw new Error(`fleet test: ${missing.join(" and ")} not found, and CI must not skip (.ci/run installs them)`);
      console.log(`# connected-accounts fleet test skipped: ${SKIP}`);
      return;
    }
    redis = await startRedis();
    inspect = new Redis(redis.url);
    const proxyPort = await freePort();
    proxyOrigin = `http://127.0.0.1:${proxyPort}`;
    resource = `${proxyOrigin}/mcp`;
    mcpAs = await startDevAuthorizationServer({
      resources: [resource],
      scopes_supported: ["mcp:read"],
      clients: [
        { client_id: "connect-page", redirect_uris: [`${proxyOrigin}/connect/signed-in`], client_name: "Connect" },
      ],
      on_warning: () => {},
    });
    tp = await startOidcThirdParty({ redirect_uris: [`${proxyOrigin}/connect/callback`] });
    for (const name of ["i1", "i2"]) instances.push(await startInstance(name));
    proxy = await startHaproxy({ port: proxyPort, upstreams: instances.map((i) => new URL(i.url).host) });
  });

  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await proxy?.stop();
    for (const i of instances) await i.close().catch(() => {});
    for (const c of redisClients) c.disconnect();
    inspect?.disconnect();
    await mcpAs?.close();
    await tp?.close();
    await redis?.stop();
  });

  test("connect through the proxy (pages on both instances), use on both; after expiry 20 concurrent calls → one refresh", async (t) => {
    if (SKIP) return t.skip(SKIP);
    const [i1, i2] = instances as [Instance, Instance];
    const onI1 = await client(i1, "alice");
    const first = await call(onI1);
    assert.equal(first.isError, true, "not connected yet");
    const link = /Connect your Acme account to continue: (http:\S+)$/.exec(textOf(first))?.[1];
    assert.ok(link && link.startsWith(`${proxyOrigin}/connect/start?handle=`), `a link on the proxy: ${textOf(first)}`);

    // The connect pages, through the proxy: each step may land on either instance.
    const b = new Browser();
    const started = await b.request(link);
    assert.equal(started.status, 303, "the link sends the browser to sign in");
    const signedIn = await b.request(await consent(b, started.headers.get("location")!, "alice"));
    assert.equal(signedIn.status, 200, "the confirmation page");
    const csrf_token = /name="csrf_token" value="([^"]*)"/.exec(await signedIn.text())?.[1] ?? "";
    const confirmed = await b.post(`${proxyOrigin}/connect/confirm`, { csrf_token }, { origin: proxyOrigin });
    assert.equal(confirmed.status, 303, "confirming leads to the provider");
    const done = await walkProvider(b, confirmed.headers.get("location")!, "alice-at-acme");
    assert.equal(done.status, 200, "the done page");
    const pages = (await proxy.log(4)).filter((e) => e.path.startsWith("/connect/"));
    assert.equal(pages.length, 4, `four connect steps through the proxy: ${JSON.stringify(pages)}`);
    assert.deepEqual(
      [...new Set(pages.map((e) => e.server))].sort(),
      ["s1", "s2"],
      "the connect steps were served by both instances",
    );
    const credKeys = await inspect.keys(`${PREFIX}cred:*`);
    assert.equal(credKeys.length, 1, "one credential record in Redis");
    const stored = await new RedisTokenVault({ client: inspect, keys: KEYS, prefix: PREFIX }).get({
      issuer: mcpAs.issuer,
      subject: "alice",
      provider: "acme",
    });
    assert.ok(stored?.refresh_token, "the shared vault holds the credential");
    assert.ok(!(await inspect.get(credKeys[0]!))!.includes(stored.access_token), "sealed: no token in Redis");

    // Connected once, usable on either instance.
    const onI2 = await client(i2, "alice");
    for (const [c, name] of [
      [onI1, "i1"],
      [onI2, "i2"],
    ] as const) {
      const r = await call(c);
      assert.ok(!r.isError, `works on ${name}: ${textOf(r)}`);
      assert.deepEqual(
        JSON.parse(textOf(r)),
        { instance: name, status: 200, body: { subject: "alice-at-acme", client_id: "mcp-server" } },
        `the third party saw Alice's account through ${name}`,
      );
    }
    assert.equal(tp.refreshGrants, 0, "no refresh yet");

    now += 121_000; // the 120 s access token has expired for both instances
    const tokenRequests = tp.tokenRequests;
    const results = await Promise.all(Array.from({ length: 20 }, (_, k) => call(k % 2 === 0 ? onI1 : onI2)));
    const answers = results.map((r) => {
      assert.ok(!r.isError, `every call succeeds: ${textOf(r)}`);
      return JSON.parse(textOf(r)) as { instance: string; status: number; body: { subject: string } };
    });
    assert.ok(
      answers.every((a) => a.status === 200 && a.body.subject === "alice-at-acme"),
      "all 20 saw Alice",
    );
    assert.deepEqual(
      [answers.filter((a) => a.instance === "i1").length, answers.filter((a) => a.instance === "i2").length],
      [10, 10],
      "spread over both instances",
    );
    assert.equal(tp.refreshGrants, 1, "the provider ran exactly one refresh grant");
    assert.equal(tp.refreshSuccesses, 1, "and it succeeded");
    assert.equal(tp.tokenRequests, tokenRequests + 1, "exactly one request reached its token endpoint");
    assert.equal(tp.api401, 0, "no call went out with the expired token and got a 401");
    const after = await new RedisTokenVault({ client: inspect, keys: KEYS, prefix: PREFIX }).get({
      issuer: mcpAs.issuer,
      subject: "alice",
      provider: "acme",
    });
    assert.notEqual(after?.refresh_token, stored.refresh_token, "the rotated refresh token is in the shared vault");
    assert.equal(await inspect.keys(`${PREFIX}lock:*`).then((k) => k.length), 0, "the refresh lease was released");
    const text = JSON.stringify(events);
    for (const tok of [stored.access_token, stored.refresh_token, after?.access_token, after?.refresh_token])
      assert.ok(!text.includes(tok!), "no token in any event");
  });
});
