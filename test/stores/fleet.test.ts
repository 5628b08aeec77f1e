/**
 * A fleet behind a real load balancer: three stateless `protect()` instances on node:http, HAProxy
 * (Debian's package) round-robin in front of them, one real redis-server for DPoP replay and one DPoP
 * nonce secret shared by all. Every instance is configured with the proxy's URL as its canonical
 * resource. Tokens come from the embedded development authorization server, reached directly (it is
 * a separate component, not behind the fleet's proxy).
 *
 * Why HAProxy: see test/helpers/proxy.ts.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { randomBytes, randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { decodeJwt } from "jose";
import * as oauth from "oauth4webapi";
import { z } from "zod";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import {
  getContext,
  JWTValidator,
  protect,
  RedisReplayStore,
  registerTools,
  toNodeHandler,
  tool,
} from "../../src/index.js";
import { DEFAULT_DPOP_ALGORITHMS } from "../../src/dpop/index.js";
import {
  startDevAuthorizationServer,
  type RunningDevAuthorizationServer,
} from "../../src/dev-authorization-server/index.js";
import { connectWithOAuth, HeadlessOAuthProvider } from "../../examples/oauth-client.js";
import { getDpopBoundToken } from "../../examples/dpop-client.js";
import { clientKey, makeProof, type ClientKey } from "../helpers/dpop.js";
import { MCP_HEADERS, readRpc, toolCall } from "../helpers/mcp.js";
import { freePort, haproxyBinary, startHaproxy, type RunningProxy } from "../helpers/proxy.js";
import { hasRedisServer, startRedis } from "../helpers/redis.js";

const insecure = { [oauth.allowInsecureRequests]: true } as const;
const NONCE_SECRET = randomBytes(32);
const REPLAY_PREFIX = "fleet:dpop:";

/** A running instance: one "process" of the fleet (its own handler, Redis connection and HTTP server). */
interface Instance {
  /** `i1`, `i2`, `i3`. */
  readonly name: string;
  /** Which start of this instance (1, then 2 after a restart); responses say `x-served-by: i2#2`. */
  readonly incarnation: number;
  port: number;
  /** Requests received. */
  served: number;
  /** Requests received and not yet answered. */
  inFlight: number;
  /** Graceful stop: stop accepting, finish every request already read, close. */
  stop(): Promise<void>;
}

/** Tool executions per instance name, over every incarnation: proves what ran, and where, exactly once. */
const runs = new Map<string, number>();
const ran = (name: string) => runs.set(name, (runs.get(name) ?? 0) + 1);
const totalRuns = () => [...runs.values()].reduce((a, b) => a + b, 0);
/** Requests that reached an instance, over the whole fleet. */
let received = 0;

function tools(name: string) {
  const whoami = tool({ name: "whoami", description: "Who is calling, and which instance answers" }, () => {
    ran(name);
    const { auth } = getContext();
    return { instance: name, subject: auth?.subject ?? null, dpop_jkt: auth?.jkt ?? null };
  });
  // A request that takes a little while, so a stopping instance has requests in flight to finish.
  const work = tool(
    {
      name: "work",
      description: "Pretend to work for a few milliseconds",
      input: { ms: z.number().int().min(0).max(200) },
    },
    async ({ ms }) => {
      await sleep(ms);
      ran(name);
      return { instance: name };
    },
  );
  return [whoami, work];
}

const missing = [haproxyBinary() ? undefined : "haproxy", hasRedisServer() ? undefined : "redis-server"].filter(
  (m) => m !== undefined,
);
const SKIP = missing.length
  ? `needs ${missing.join(" and ")} (apt-get install ${missing.join(" ")}); CI installs them and never skips`
  : undefined;

describe("a fleet: three stateless instances behind HAProxy round-robin, one redis-server", () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let as: RunningDevAuthorizationServer;
  let proxy: RunningProxy;
  let resource: string;
  let prmUrl: string;
  let inspect: Redis;
  const instances: Instance[] = [];
  const redisClients: Redis[] = [];

  async function startInstance(name: string, port: number, incarnation: number): Promise<Instance> {
    // Each instance has its own connection, as separate processes would.
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    redisClients.push(client);
    const handler = protect(
      () => {
        const s = new McpServer({ name: `fleet-${name}`, version: "1.0.0" });
        registerTools(s, ...tools(name));
        return s;
      },
      {
        session_mode: "stateless",
        authorization: { enabled: true, authorization_servers: [as.issuer], resource },
        provider: new JWTValidator({
          jwks_uri: as.server.metadata.jwks_uri,
          issuer: as.issuer,
          required_typ: "at+jwt",
        }),
        dpop: {
          replay_store: new RedisReplayStore({ client, prefix: REPLAY_PREFIX }),
          nonce: { secret: NONCE_SECRET },
        },
      },
    );
    const node = toNodeHandler(handler);
    let draining = false;
    const http: Server = createServer((req, res) => {
      received++;
      inst.served++;
      inst.inFlight++;
      res.setHeader("x-served-by", `${name}#${incarnation}`);
      // While stopping, answer and hang up, so the proxy stops reusing this connection.
      if (draining) res.setHeader("connection", "close");
      res.once("close", () => {
        inst.inFlight--;
        if (draining) setImmediate(() => http.closeIdleConnections());
      });
      node(req, res);
    });
    const inst: Instance = {
      name,
      incarnation,
      port,
      served: 0,
      inFlight: 0,
      async stop() {
        draining = true;
        const closed = new Promise<void>((r) => http.close(() => r()));
        http.closeIdleConnections();
        // Nothing here should take long; if a connection hung, cut it (and the test would see a failure).
        const cut = setTimeout(() => http.closeAllConnections(), 5000);
        await closed;
        clearTimeout(cut);
        client.disconnect();
      },
    };
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject);
      http.listen(port, "127.0.0.1", () => resolve());
    });
    inst.port = (http.address() as { port: number }).port;
    return inst;
  }

  const post = (headers: Record<string, string>, body: string) =>
    fetch(resource, { method: "POST", headers: { ...MCP_HEADERS, ...headers }, body });
  const servedBy = (res: Response) => res.headers.get("x-served-by") ?? "?";
  const snapshot = () => instances.map((i) => i.served);

  before(async () => {
    if (SKIP) {
      if (process.env.CI === "true")
        throw new Error(`fleet test: ${missing.join(" and ")} not found, and CI must not skip (.ci/run installs them)`);
      console.log(`# fleet test skipped: ${SKIP}`);
      return;
    }
    redis = await startRedis();
    inspect = new Redis(redis.url);
    const proxyPort = await freePort();
    resource = `http://127.0.0.1:${proxyPort}/mcp`;
    prmUrl = `http://127.0.0.1:${proxyPort}/.well-known/oauth-protected-resource/mcp`;
    as = await startDevAuthorizationServer({ resources: [resource], log: () => {} });
    for (const name of ["i1", "i2", "i3"]) instances.push(await startInstance(name, 0, 1));
    proxy = await startHaproxy({ port: proxyPort, upstreams: instances.map((i) => `127.0.0.1:${i.port}`) });
  });

  after(async () => {
    await proxy?.stop();
    for (const i of instances) await i.stop().catch(() => {});
    for (const c of redisClients) c.disconnect();
    inspect?.disconnect();
    await as?.close();
    await redis?.stop();
  });

  test("the official SDK client's whole OAuth flow runs through the proxy, spread round-robin over the three instances", async (t) => {
    if (SKIP) return t.skip(SKIP);
    const start = snapshot();
    // HAProxy logs a request after answering it: wait for every earlier request's line.
    const logStart = (await proxy.log(received)).length;
    const provider = new HeadlessOAuthProvider("alice");
    // 401 → resource metadata (through the proxy) → AS metadata → registration → PKCE + consent → token → initialize.
    const client = await connectWithOAuth(resource, provider);
    const answeredBy: string[] = [];
    try {
      for (let i = 0; i < 6; i++) {
        const who = (await client.callTool({ name: "whoami", arguments: {} })).structuredContent as {
          instance: string;
          subject: string;
        };
        assert.equal(who.subject, "alice");
        answeredBy.push(who.instance);
      }
    } finally {
      await client.close();
    }
    const token = decodeJwt(provider.tokens()!.access_token);
    assert.equal(token.aud, resource, "the token names the proxy's URL, the fleet's one canonical resource");
    assert.deepEqual([...new Set(answeredBy)].sort(), ["i1", "i2", "i3"]);

    const perInstance = snapshot().map((n, i) => n - start[i]!);
    const total = perInstance.reduce((a, b) => a + b, 0);
    assert.ok(Math.min(...perInstance) >= 3, `per instance: ${perInstance}`);
    assert.ok(
      Math.max(...perInstance) - Math.min(...perInstance) <= 1,
      `round-robin over ${total} requests: ${perInstance}`,
    );
    // The proxy saw the same requests: discovery of the resource metadata, the first 401, the calls.
    const log = (await proxy.log(logStart + total)).slice(logStart);
    assert.equal(log.length, total);
    assert.deepEqual(
      ["s1", "s2", "s3"].map((s) => log.filter((e) => e.server === s).length),
      perInstance,
    );
    assert.ok(
      log.some((e) => e.method === "GET" && e.path === "/.well-known/oauth-protected-resource/mcp" && e.status === 200),
      "discovery went through the proxy",
    );
    assert.ok(
      log.some((e) => e.method === "POST" && e.path === "/mcp" && e.status === 401),
      "the first request was challenged",
    );
    assert.equal(log.filter((e) => e.retries > 0).length, 0, "no retries while every instance is up");
  });

  /**
   * Discovery through the proxy, registration, PKCE, and a DPoP-bound token for `key` (the example's oauth4webapi
   * flow).
   */
  async function dpopToken(key: ClientKey, username: string): Promise<string> {
    const { token, resource: named } = await getDpopBoundToken(resource, username, {
      privateKey: key.privateKey,
      publicKey: key.publicKey,
    });
    assert.equal(named, resource);
    return token;
  }

  /**
   * A fetch for the SDK client: a fresh DPoP proof per request (oauth4webapi), and one retry when the
   * resource asks for a nonce. oauth4webapi keeps the nonce per origin — the proxy's — so a nonce one
   * instance issued goes out in proofs that other instances check.
   */
  function dpopNonceFetch(token: string, key: ClientKey, nonceRetries: { count: number }): typeof fetch {
    const handle = oauth.DPoP({}, { privateKey: key.privateKey, publicKey: key.publicKey });
    return async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const send = () => {
        const headers = new Headers(init?.headers);
        headers.delete("authorization");
        return oauth.protectedResourceRequest(
          token,
          init?.method ?? "GET",
          url,
          headers,
          (init?.body ?? null) as never,
          {
            DPoP: handle,
            ...(init?.signal ? { signal: init.signal } : {}),
            ...insecure,
          },
        );
      };
      try {
        return await send();
      } catch (err) {
        if (oauth.isDPoPNonceError(err)) {
          nonceRetries.count++;
          return send();
        }
        if (err instanceof oauth.WWWAuthenticateChallengeError) return err.response;
        throw err;
      }
    };
  }

  test("DPoP across instances: a nonce issued by one is accepted by another; a proof accepted by one is refused by the other two", async (t) => {
    if (SKIP) return t.skip(SKIP);
    const key = await clientKey();
    const token = await dpopToken(key, "bob");
    const claims = decodeJwt(token) as { aud: string; cnf: { jkt: string } };
    assert.equal(claims.aud, resource);
    assert.equal(claims.cnf.jkt, key.jkt);
    const challenge = (error: string, description: string) =>
      `Bearer realm="MCP", resource_metadata="${prmUrl}", DPoP algs="${DEFAULT_DPOP_ALGORITHMS.join(" ")}", error="${error}", error_description="${description}"`;
    const runsBefore = totalRuns();

    // No nonce yet: the instance that answers issues one.
    const first = await post(
      { authorization: `DPoP ${token}`, dpop: await makeProof({ key, htu: resource, token }) },
      toolCall("whoami"),
    );
    assert.equal(first.status, 401);
    assert.equal(
      first.headers.get("www-authenticate"),
      challenge("use_dpop_nonce", "Resource server requires nonce in DPoP proof"),
    );
    const nonce = first.headers.get("dpop-nonce");
    assert.ok(nonce, "the 401 carries a DPoP-Nonce");
    const issuer = servedBy(first);

    // The next instance in the rotation accepts that nonce.
    const jti = randomUUID();
    const proof = await makeProof({ key, htu: resource, token, nonce, jti });
    const accepted = await post({ authorization: `DPoP ${token}`, dpop: proof }, toolCall("whoami"));
    assert.equal(accepted.status, 200);
    assert.notEqual(
      servedBy(accepted).split("#")[0],
      issuer.split("#")[0],
      "the nonce was checked by another instance than the one that issued it",
    );
    const who = (await readRpc(accepted)).result.structuredContent;
    assert.deepEqual(who, { instance: servedBy(accepted).split("#")[0], subject: "bob", dpop_jkt: key.jkt });
    // The proof's jti is in the shared Redis, expiring with the proof's window.
    const pttl = await inspect.pttl(`${REPLAY_PREFIX}${key.jkt}:${jti}`);
    assert.ok(pttl > 0 && pttl <= 600_000, `pttl ${pttl}`);

    // The same proof again lands on each of the two other instances in turn: both refuse it.
    const refusedBy: string[] = [];
    for (let i = 0; i < 2; i++) {
      const replay = await post({ authorization: `DPoP ${token}`, dpop: proof }, toolCall("whoami"));
      assert.equal(replay.status, 401);
      assert.equal(
        replay.headers.get("www-authenticate"),
        challenge("invalid_dpop_proof", "The DPoP proof was already used"),
      );
      assert.equal(replay.headers.get("dpop-nonce"), null);
      assert.deepEqual(await replay.json(), {
        error: "invalid_dpop_proof",
        error_description: "The DPoP proof was already used",
      });
      refusedBy.push(servedBy(replay).split("#")[0]!);
    }
    assert.deepEqual([servedBy(accepted).split("#")[0]!, ...refusedBy].sort(), ["i1", "i2", "i3"]);
    assert.equal(totalRuns() - runsBefore, 1, "the tool ran once: nothing was let through on a replay");

    // The official SDK client with DPoP through the proxy: one nonce round trip, then every instance accepts.
    const nonceRetries = { count: 0 };
    const sdk = new Client({ name: "fleet-dpop", version: "1.0.0" });
    await sdk.connect(
      new StreamableHTTPClientTransport(new URL(resource), { fetch: dpopNonceFetch(token, key, nonceRetries) }),
    );
    const answeredBy = new Set<string>();
    try {
      // Six calls in a row cover the three instances even with the one GET (SSE stream) the client
      // opens in the background after initializing taking a turn of the rotation.
      for (let i = 0; i < 6; i++) {
        const r = (await sdk.callTool({ name: "whoami", arguments: {} })).structuredContent as {
          instance: string;
          subject: string;
          dpop_jkt: string;
        };
        assert.equal(r.subject, "bob");
        assert.equal(r.dpop_jkt, key.jkt);
        answeredBy.add(r.instance);
      }
    } finally {
      await sdk.close();
    }
    assert.deepEqual([...answeredBy].sort(), ["i1", "i2", "i3"]);
    assert.equal(nonceRetries.count, 1, "one use_dpop_nonce round trip for the whole fleet");
  });

  test("rolling restart of one instance under a steady stream of requests: no request lost", async (t) => {
    if (SKIP) return t.skip(SKIP);
    const provider = new HeadlessOAuthProvider("carol");
    await (await connectWithOAuth(resource, provider)).close();
    const bearer = provider.tokens()!.access_token;
    const key = await clientKey();
    const dpop = await dpopToken(key, "dave");
    const nonceProbe = await post(
      { authorization: `DPoP ${dpop}`, dpop: await makeProof({ key, htu: resource, token: dpop }) },
      toolCall("work", { ms: 0 }),
    );
    assert.equal(nonceProbe.status, 401);
    const nonce = nonceProbe.headers.get("dpop-nonce")!;

    interface Outcome {
      ok: boolean;
      status: number;
      servedBy: string;
      startedAt: number;
      detail?: string;
    }
    const outcomes: Outcome[] = [];
    let streaming = true;
    // 4 clients in a loop: 2 with the bearer token, 2 with the DPoP-bound one (fresh proof each time).
    const client = async (kind: "bearer" | "dpop") => {
      while (streaming) {
        const startedAt = Date.now();
        try {
          const headers: Record<string, string> =
            kind === "bearer"
              ? { authorization: `Bearer ${bearer}`, "x-test-tag": "stream" }
              : {
                  authorization: `DPoP ${dpop}`,
                  dpop: await makeProof({ key, htu: resource, token: dpop, nonce }),
                  "x-test-tag": "stream",
                };
          const res = await post(headers, toolCall("work", { ms: 20 }));
          const text = await res.text();
          const ok = res.status === 200 && JSON.parse(text).result?.structuredContent?.instance !== undefined;
          outcomes.push({
            ok,
            status: res.status,
            servedBy: servedBy(res),
            startedAt,
            ...(ok ? {} : { detail: `${res.headers.get("www-authenticate") ?? ""} ${text.slice(0, 200)}` }),
          });
        } catch (err) {
          outcomes.push({ ok: false, status: 0, servedBy: "-", startedAt, detail: String(err) });
        }
      }
    };
    const runsBefore = totalRuns();
    const stream = [client("bearer"), client("bearer"), client("dpop"), client("dpop")];
    // Each phase lasts until what it is for has happened, never a fixed time (a loaded machine only
    // makes a phase longer; at most 10 s).
    const waitFor = async (what: string, cond: () => boolean | Promise<boolean>) => {
      const deadline = Date.now() + 10_000;
      while (!(await cond())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(1);
      }
    };
    const servedBy1 = (incarnation: string) => outcomes.filter((o) => o.servedBy === incarnation).length;

    try {
      await waitFor("stream requests answered by every instance", () =>
        ["i1#1", "i2#1", "i3#1"].every((n) => servedBy1(n) >= 3),
      );
      const old = instances[1]!;
      // Stop i2 while it is serving: the requests it already read must complete.
      await waitFor("a request in flight at i2", () => old.inFlight > 0);
      const inFlightAtStop = old.inFlight;
      await old.stop();
      const downAt = Date.now();
      // i2 stays down until the proxy has moved requests routed to it to another instance (no health
      // checks: every one routed there takes that path) and others were answered meanwhile.
      await waitFor(
        "requests redispatched away from the stopped i2",
        async () =>
          (await proxy.log(0, "stream")).filter((e) => e.redispatched).length >= 2 &&
          outcomes.filter((o) => o.startedAt >= downAt).length >= 8,
      );
      const restarted = await startInstance("i2", old.port, 2);
      const upAt = Date.now();
      instances[1] = restarted;
      await waitFor("the restarted i2 to serve", () => restarted.served >= 10);
      streaming = false;
      await Promise.all(stream);

      const failed = outcomes.filter((o) => !o.ok);
      assert.deepEqual(failed, [], `${failed.length} of ${outcomes.length} requests failed`);
      assert.ok(inFlightAtStop >= 1, "requests were in flight when the instance stopped");
      assert.equal(old.inFlight, 0, "the stopped i2 answered every request it had read");
      assert.ok(servedBy1("i2#1") > 0, "i2 served requests before it stopped");
      assert.ok(outcomes.filter((o) => o.servedBy === "i2#2").length >= 10, "the restarted i2 is back in the rotation");
      const whileDown = outcomes.filter((o) => o.startedAt >= downAt && o.startedAt < upAt);
      assert.ok(whileDown.length > 0, "requests kept coming while i2 was down");
      // The proxy retried what i2 could not take, on another instance, and every client saw a 200.
      const log = await proxy.log(outcomes.length, "stream");
      assert.equal(log.length, outcomes.length);
      assert.ok(
        log.every((e) => e.status === 200),
        "every logged request was served 200",
      );
      const redispatched = log.filter((e) => e.redispatched);
      assert.ok(redispatched.length > 0, "some requests were redispatched away from the stopped instance");
      // Every answer is one execution: no request ran twice (or not at all) because of a retry.
      assert.equal(totalRuns() - runsBefore, outcomes.length);
      t.diagnostic(
        `${outcomes.length} requests in ${((Date.now() - (outcomes[0]?.startedAt ?? Date.now())) / 1000).toFixed(1)} s; ` +
          `i2 had ${inFlightAtStop} in flight at stop, was down ${upAt - downAt} ms; ${whileDown.length} requests started meanwhile; ` +
          `${redispatched.length} redispatched by the proxy; per instance ${JSON.stringify(countBy(outcomes.map((o) => o.servedBy)))}`,
      );
    } finally {
      streaming = false;
      await Promise.all(stream);
    }
  });
});

function countBy(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort());
}
