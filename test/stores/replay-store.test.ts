import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import {
  JWTValidator,
  MCPServer,
  MemoryReplayStore,
  RedisReplayStore,
  ReplayStoreFull,
  ReplayStoreUnavailable,
  tool,
} from "../../src/index.js";
import { startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";
import { MCP_HEADERS, toolCall } from "../helpers/mcp.js";
import { clientKey, makeProof } from "../helpers/dpop.js";
import { hasRedisServer, startRedis } from "../helpers/redis.js";

describe("MemoryReplayStore", () => {
  test("first use true, replay false", async () => {
    const s = new MemoryReplayStore({ max: 10 });
    assert.equal(await s.remember("a", 60_000), true);
    assert.equal(await s.remember("a", 60_000), false);
    assert.equal(await s.remember("b", 60_000), true);
  });

  test("200,000 unique jtis from many keys: memory stays at max, and no remembered jti is ever forgotten", async () => {
    const s = new MemoryReplayStore({ max: 10_000, max_per_key: 100 });
    let peak = 0;
    let accepted = 0;
    for (let i = 0; i < 200_000; i++) {
      try {
        if (await s.remember(`jkt${i % 1000}:${i}`, 600_000)) accepted++;
      } catch (e) {
        assert.ok(e instanceof ReplayStoreFull, "a ReplayStoreFull");
      }
      if (s.size > peak) peak = s.size;
    }
    assert.equal(peak, 10_000);
    assert.equal(accepted, 10_000);
    // The first ones are still remembered: refused, never evicted to make room.
    assert.equal(await s.remember("jkt0:0", 600_000), false);
    assert.equal(await s.remember("jkt999:999", 600_000), false);
  });

  test("bad options", () => {
    assert.throws(() => new MemoryReplayStore({ max: 0 }), { code: "ERR_INVALID_CONFIG" });
    assert.throws(() => new RedisReplayStore({ client: {} as never }), { code: "ERR_INVALID_CONFIG" });
  });
});

describe("RedisReplayStore with a real redis-server (two instances, one fleet)", () => {
  let redis: Awaited<ReturnType<typeof startRedis>> | undefined;
  let issuer: LocalIssuer;
  const clients: Redis[] = [];
  const available = hasRedisServer();

  before(async () => {
    if (!available) {
      if (process.env.CI === "true")
        throw new Error("redis-server is required in CI (.ci/run installs it): not found on PATH");
      return;
    }
    redis = await startRedis();
    issuer = await startLocalIssuer();
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await redis?.stop();
    await issuer?.close();
  });

  test("a proof accepted by instance A is refused when replayed to instance B", async (t) => {
    if (!redis)
      return t.skip("needs redis-server on PATH (apt-get install redis-server); CI installs it and never skips");
    const resource = "http://127.0.0.1:1/mcp"; // the canonical resource both instances serve (behind one load balancer)
    const instances: MCPServer[] = [];
    const urls: string[] = [];
    for (let i = 0; i < 2; i++) {
      const client = new Redis(redis.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
      clients.push(client);
      const s = new MCPServer(`fleet-${i}`, {
        session_mode: "stateless",
        authorization: { enabled: true, authorization_servers: [issuer.issuer], resource },
        dpop: { replay_store: new RedisReplayStore({ client, prefix: "test:dpop:" }) },
      });
      s.setAuthorizationProvider(new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }));
      s.collect(tool({ name: "whoami", description: "" }, () => "ran"));
      instances.push(s);
      urls.push((await s.serve({ port: 0 })).address + "/mcp");
    }
    try {
      const key = await clientKey();
      const token = await issuer.sign({ aud: resource, cnf: { jkt: key.jkt } });
      const headers = {
        ...MCP_HEADERS,
        authorization: `DPoP ${token}`,
        dpop: await makeProof({ key, htu: resource, token }),
      };
      const a = await fetch(urls[0]!, { method: "POST", headers, body: toolCall("whoami") });
      assert.equal(a.status, 200);
      const b = await fetch(urls[1]!, { method: "POST", headers, body: toolCall("whoami") });
      assert.equal(b.status, 401);
      assert.match(
        b.headers.get("www-authenticate") ?? "",
        /error="invalid_dpop_proof", error_description="The DPoP proof was already used"/,
      );
      // A fresh proof works at B.
      const fresh = { ...headers, dpop: await makeProof({ key, htu: resource, token }) };
      assert.equal((await fetch(urls[1]!, { method: "POST", headers: fresh, body: toolCall("whoami") })).status, 200);
      // The key carries the prefix and expires (PX): nothing is kept forever.
      const keys = await clients[0]!.keys("test:dpop:*");
      assert.equal(keys.length, 2);
      const ttl = await clients[0]!.pttl(keys[0]!);
      assert.ok(ttl > 0 && ttl <= 600_000, `pttl ${ttl}`);
    } finally {
      for (const s of instances) await s.close();
    }
  });

  test("Redis down: the request is refused with 503 (fail closed), never let through", async (t) => {
    if (!redis)
      return t.skip("needs redis-server on PATH (apt-get install redis-server); CI installs it and never skips");
    const dead = new Redis("redis://127.0.0.1:1", {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    clients.push(dead);
    const s = new MCPServer("down", {
      session_mode: "stateless",
      authorization: { enabled: true, authorization_servers: [issuer.issuer] },
      dpop: { replay_store: new RedisReplayStore({ client: dead }) },
    });
    s.setAuthorizationProvider(new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }));
    let ran = false;
    s.collect(tool({ name: "whoami", description: "" }, () => ((ran = true), "ran")));
    const { url } = await s.serve({ port: 0 });
    try {
      const key = await clientKey();
      const token = await issuer.sign({ aud: url, cnf: { jkt: key.jkt } });
      const r = await fetch(url, {
        method: "POST",
        headers: { ...MCP_HEADERS, authorization: `DPoP ${token}`, dpop: await makeProof({ key, htu: url, token }) },
        body: toolCall("whoami"),
      });
      assert.equal(r.status, 503);
      assert.equal(ran, false);
    } finally {
      await s.close();
    }
  });

  test("Redis not answering (CLIENT PAUSE): 503 after timeout_ms, then fail fast during the back-off, then recovery", async (t) => {
    if (!redis)
      return t.skip("needs redis-server on PATH (apt-get install redis-server); CI installs it and never skips");
    const client = new Redis(redis.url, { maxRetriesPerRequest: 0 });
    const admin = new Redis(redis.url);
    clients.push(client, admin);
    let now = 0;
    const s = new MCPServer("slow", {
      session_mode: "stateless",
      authorization: { enabled: true, authorization_servers: [issuer.issuer] },
      // The back-off runs on a test clock; timeout_ms is a real timer (Redis really does not answer).
      dpop: {
        replay_store: new RedisReplayStore({
          client,
          timeout_ms: 1000,
          backoff: { initial_ms: 2000, jitter: 0, clock: () => now },
        }),
      },
    });
    s.setAuthorizationProvider(new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }));
    let runs = 0;
    s.collect(tool({ name: "whoami", description: "" }, () => (runs++, "ran")));
    const { url } = await s.serve({ port: 0 });
    const key = await clientKey();
    const token = await issuer.sign({ aud: url, cnf: { jkt: key.jkt } });
    const call = async () => {
      const dpop = await makeProof({ key, htu: url, token });
      const t0 = performance.now();
      const r = await fetch(url, {
        method: "POST",
        headers: { ...MCP_HEADERS, authorization: `DPoP ${token}`, dpop },
        body: toolCall("whoami"),
      });
      await r.arrayBuffer();
      return { status: r.status, retryAfter: r.headers.get("retry-after"), ms: performance.now() - t0 };
    };
    try {
      assert.equal((await call()).status, 200);
      // Writes are held until CLIENT UNPAUSE (10 s at most), at once and without sleeping.
      await admin.call("CLIENT", "PAUSE", "10000", "WRITE");
      const slow = await call();
      assert.equal(slow.status, 503);
      assert.ok(
        slow.ms >= 950 && slow.ms < 2500,
        `the first request waited about timeout_ms: ${slow.ms.toFixed(0)} ms`,
      );
      assert.equal(slow.retryAfter, "2");
      const fast = await Promise.all(Array.from({ length: 10 }, call));
      assert.ok(
        fast.every((r) => r.status === 503 && r.retryAfter === "2"),
        "every fail-fast answer is 503 with Retry-After: 2",
      );
      const slowest = Math.max(...fast.map((r) => r.ms));
      // Far below timeout_ms (1000; large so that a loaded machine cannot blur the two): nobody waits for
      // Redis during the back-off (HTTP end to end, shared machine).
      assert.ok(slowest < 500, `during the back-off, refused at once: ${slowest.toFixed(0)} ms`);
      // Redis answers again, but the back-off has not run out: still refused at once.
      await admin.call("CLIENT", "UNPAUSE");
      now += 1999;
      assert.equal((await call()).status, 503, "refused until the back-off has run out");
      now += 1;
      assert.equal((await call()).status, 200, "served once the back-off ran out");
      assert.equal(runs, 2);
    } finally {
      await admin.call("CLIENT", "UNPAUSE").catch(() => {});
      await s.close();
    }
  });

  test("RedisReplayStore options are validated", () => {
    assert.throws(() => new RedisReplayStore({ client: { set: async () => "OK" }, timeout_ms: 0 }), /timeout_ms/);
  });

  test("eviction: only noeviction keeps remembered proofs; the store reads the policy once and warns otherwise", async (t) => {
    if (!redis)
      return t.skip("needs redis-server on PATH (apt-get install redis-server); CI installs it and never skips");
    const client = new Redis(redis.url, { maxRetriesPerRequest: 0 });
    const admin = new Redis(redis.url);
    clients.push(client, admin);
    const warnings: string[] = [];
    const store = (prefix: string) =>
      new RedisReplayStore({ client, prefix, on_warning: (m) => warnings.push(m), check_eviction_policy: false });
    try {
      await client.ping(); // connected first: the check's own timeout must not include the connection
      // Redis' default: nothing to say.
      assert.equal(await store("ev:a:").checkEvictionPolicy(), "noeviction");
      assert.equal(warnings.length, 0);
      // Why it matters: an evicting Redis at maxmemory drops a remembered proof under a flood of other
      // proofs (all with a TTL, so volatile-* evicts them too), and the captured one is accepted again.
      const used = Number(/used_memory:(\d+)/.exec(await admin.info("memory"))![1]);
      await admin.config("SET", "maxmemory-policy", "volatile-lru");
      await admin.config("SET", "maxmemory", String(used + 100_000));
      const evicting = store("ev:b:");
      assert.equal(await evicting.remember("jkt:captured", 600_000), true);
      const flood = admin.pipeline();
      for (let i = 0; i < 20_000; i++) flood.set(`ev:b:mallory:${i}`, "1", "PX", 600_000, "NX");
      await flood.exec();
      assert.equal(
        await evicting.remember("jkt:captured", 600_000),
        true,
        "volatile-lru evicted it: the replay was accepted",
      );
      assert.equal(await evicting.checkEvictionPolicy(), "volatile-lru");
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /maxmemory-policy is "volatile-lru".*noeviction/);
      assert.doesNotMatch(warnings[0]!, /captured|jkt/);
      // noeviction at maxmemory: SET fails, the store is unavailable (503), nothing is forgotten.
      await admin.config("SET", "maxmemory-policy", "noeviction");
      // Well under what is used (evictions above may have left room for one more key otherwise).
      await admin.config("SET", "maxmemory", "1");
      await assert.rejects(store("ev:c:").remember("jkt:x", 600_000), ReplayStoreUnavailable);
      await admin.config("SET", "maxmemory", "0");

      // At first use, once, off the request's path.
      warnings.length = 0;
      await admin.config("SET", "maxmemory-policy", "allkeys-lru");
      const auto = new RedisReplayStore({ client, prefix: "ev:d:", on_warning: (m) => warnings.push(m) });
      assert.equal(await auto.remember("jkt:1", 60_000), true);
      assert.equal(await auto.remember("jkt:2", 60_000), true);
      // The check runs off the request's path: wait for its warning (at most 5 s), not for a fixed time.
      const deadline = performance.now() + 5000;
      while (warnings.length === 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /"allkeys-lru"/);
    } finally {
      await admin.config("SET", "maxmemory", "0");
      await admin.config("SET", "maxmemory-policy", "noeviction");
      await admin.flushdb();
    }
  });

  test("eviction check tolerates a Redis that refuses CONFIG (managed Redis) and a client without call()", async (t) => {
    if (!redis)
      return t.skip("needs redis-server on PATH (apt-get install redis-server); CI installs it and never skips");
    const managed = await startRedis({ args: ["--rename-command", "CONFIG", ""] });
    const client = new Redis(managed.url, { maxRetriesPerRequest: 0 });
    clients.push(client);
    try {
      const warnings: string[] = [];
      const s = new RedisReplayStore({ client, on_warning: (m) => warnings.push(m), check_eviction_policy: false });
      assert.equal(await s.checkEvictionPolicy(), undefined);
      assert.match(warnings[0]!, /could not read Redis maxmemory-policy/);
      assert.equal(await s.remember("jkt:1", 60_000), true, "the store still works");
      const bare = new RedisReplayStore({
        client: { set: (k, v, px, ms, nx) => client.set(k, v, px, ms, nx) },
        log: (m) => warnings.push(m),
        check_eviction_policy: false,
      });
      assert.equal(await bare.checkEvictionPolicy(), undefined);
      assert.equal(warnings.length, 2);
    } finally {
      client.disconnect();
      await managed.stop();
    }
  });
});
