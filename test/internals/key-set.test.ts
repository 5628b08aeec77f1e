/**
 * Key set resilience: what the server does while the identity provider's JWKS endpoint is down,
 * erroring, hanging, oversized or rotating. Counted fetches and per-request latencies through the
 * real HTTP server. Time passes on the validator's injected clock (freshness, back-off, how long a
 * request may still join a fetch), never by sleeping; the only real waits are the deadlines that are
 * timers by nature (a fetch's `jwks_timeout`, a joiner's `jwks_max_wait`).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { setImmediate as tick } from "node:timers/promises";
import { JWTValidator, MCPServer, tool, type AuthEvent, type JWTValidatorOptions } from "../../src/index.js";
import { Backoff } from "../../src/lib/backoff.js";
import { RemoteKeySet } from "../../src/validators/key-set.js";
import { makeKey, startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";
import { MCP_HEADERS, toolCall } from "../helpers/mcp.js";

let issuer: LocalIssuer;
before(async () => {
  issuer = await startLocalIssuer();
});
after(() => issuer.close());

/**
 * A server whose validator runs on a test clock: `clock.advance(ms)` is how time passes for the key
 * set. It starts at the real time, so the tokens' `iat`/`exp` (signed on the real clock) hold.
 */
async function startServer(validator: Partial<JWTValidatorOptions> = {}, cache_ttl = 300) {
  const clock = testClock();
  const events: AuthEvent[] = [];
  /** How long each token check took (start time and duration, ms): the server-side wait, without HTTP. */
  const waits: { start: number; ms: number }[] = [];
  const server = new MCPServer("ks", {
    session_mode: "stateless",
    authorization: { enabled: true, authorization_servers: [issuer.issuer], cache_ttl },
    on_auth_event: (e) => events.push(e),
  });
  const jwt = new JWTValidator({
    jwks_uri: issuer.jwksUri,
    issuer: issuer.issuer,
    token_cache_max: 0,
    clock: clock.now,
    ...validator,
  });
  server.setAuthorizationProvider({
    async verify(token, context) {
      const start = performance.now();
      try {
        return await jwt.verify(token, context);
      } finally {
        waits.push({ start, ms: performance.now() - start });
      }
    },
  });
  server.collect(tool({ name: "ping", description: "pong" }, () => "pong"));
  const { url } = await server.serve({ port: 0 });
  return { server, url, events, waits, clock };
}

/** A clock that only moves when told to, starting at the real time. */
function testClock() {
  let t = Date.now();
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

/**
 * Wait (polling the event loop, at most 5 s) until `cond()` holds: for something the server does, not for time to pass.
 */
async function until(what: string, cond: () => boolean) {
  const deadline = performance.now() + 5000;
  while (!cond()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** POST a tool call; resolves to status, Retry-After and how long the answer took (ms). */
async function call(url: string, token: string) {
  const t0 = performance.now();
  const res = await fetch(url, {
    method: "POST",
    headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` },
    body: toolCall("ping"),
  });
  await res.arrayBuffer();
  return { status: res.status, retryAfter: res.headers.get("retry-after"), ms: performance.now() - t0 };
}

const burst = (url: string, tokens: string[]) => Promise.all(tokens.map((t) => call(url, t)));

describe("JWKS outage, cold start (no keys yet)", () => {
  test("JWKS answering 500: 250 requests in 5 bursts 100 ms apart cause one fetch, every answer a fast 503 with Retry-After", async () => {
    issuer.setMode("500");
    const { server, url, clock } = await startServer();
    const before = issuer.jwksFetches();
    try {
      const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => issuer.sign({ aud: url, sub: `u${i}` })));
      const results = [];
      for (let b = 0; b < 5; b++) {
        results.push(...(await burst(url, tokens)));
        clock.advance(100);
      }
      assert.equal(results.length, 250);
      assert.deepEqual(new Set(results.map((r) => r.status)), new Set([503]));
      assert.ok(
        results.every((r) => Number(r.retryAfter) >= 1),
        "every 503 says when to retry",
      );
      // 0.5 s in all, within the first back-off (1 s, at least 0.8 s with its jitter): no second fetch.
      const fetches = issuer.jwksFetches() - before;
      assert.equal(fetches, 1, `fetches: ${fetches}`);
      console.log(`# JWKS 500: 250 requests → ${fetches} fetch(es)`);
    } finally {
      issuer.setMode("ok");
      await server.close();
    }
  });

  test("JWKS hanging: only the request that started the fetch waits for the timeout; later ones fail fast; recovery needs no restart", async () => {
    issuer.setMode("hang");
    // The timeout is a real timer (the socket hangs for real); jwks_max_wait (default 1 s) a real
    // deadline too, while whether a request may still join the fetch is decided on the clock.
    const { server, url, waits, clock } = await startServer({ jwks_timeout_ms: 2500 });
    const before = issuer.jwksFetches();
    try {
      const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => issuer.sign({ aud: url, sub: `u${i}` })));
      const first = call(url, tokens[0]!);
      await until("the first request's fetch to reach the key set", () => issuer.jwksFetches() - before === 1);
      clock.advance(50);
      // Joiners wait for the in-flight fetch at most what is left of jwks_max_wait (950 ms), never the full timeout.
      const joined = await burst(url, tokens.slice(1, 6));
      clock.advance(1200);
      // Past jwks_max_wait_ms: refused at once, while the fetch is still hanging.
      const fastFrom = performance.now();
      const during = await burst(url, tokens);
      const firstResult = await first;
      // After the failed fetch: back-off, refused at once.
      const afterFailure = await burst(url, tokens);

      assert.equal(firstResult.status, 503);
      assert.ok(firstResult.ms >= 2400, `the first request waited the timeout (${firstResult.ms.toFixed(0)} ms)`);
      assert.ok(
        joined.every((r) => r.status === 503 && r.ms >= 940 && r.ms < 2400),
        `joiners waited for the fetch, not for the timeout: ${joined.map((r) => r.ms.toFixed(0)).join(",")} ms`,
      );
      const fast = [...during, ...afterFailure];
      assert.ok(
        fast.every((r) => r.status === 503 && Number(r.retryAfter) >= 1),
        "every fail-fast answer is 503 with Retry-After",
      );
      // The wait the server adds (token check, without HTTP on a shared loopback): none, far below
      // jwks_max_wait (the bound leaves room for a loaded machine). End to end, including HTTP with
      // client and server in one process, it stays far below any timeout.
      const serverWaits = waits.filter((w) => w.start >= fastFrom).map((w) => w.ms);
      assert.equal(serverWaits.length, fast.length);
      const slowestWait = Math.max(...serverWaits);
      assert.ok(slowestWait < 250, `slowest token check while failing fast: ${slowestWait.toFixed(1)} ms`);
      const slowest = Math.max(...fast.map((r) => r.ms));
      assert.ok(slowest < 500, `slowest fail-fast answer end to end ${slowest.toFixed(1)} ms`);
      assert.equal(issuer.jwksFetches() - before, 1, "one fetch reached the hanging endpoint");
      console.log(
        `# JWKS hanging: first ${firstResult.ms.toFixed(0)} ms, joiners ≤ ${Math.max(...joined.map((r) => r.ms)).toFixed(0)} ms, ${fast.length} others: token check ≤ ${slowestWait.toFixed(2)} ms, end to end ≤ ${slowest.toFixed(1)} ms`,
      );

      // The key set comes back: the first attempt once Retry-After has passed succeeds, without a restart.
      issuer.setMode("ok");
      const retryAfter = Number(afterFailure[0]!.retryAfter);
      assert.ok(retryAfter >= 1, `Retry-After: ${afterFailure[0]!.retryAfter}`);
      clock.advance(retryAfter * 1000);
      assert.equal((await call(url, tokens[0]!)).status, 200, `recovered once Retry-After (${retryAfter} s) passed`);
    } finally {
      issuer.setMode("ok");
      await server.close();
    }
  });

  for (const mode of ["html", "huge", "down"] as const) {
    test(`JWKS answering ${mode === "huge" ? "5 MB" : mode === "html" ? "an HTML page" : "503"}: 503 + Retry-After, one fetch, not read past the limit`, async () => {
      issuer.setMode(mode);
      const { server, url } = await startServer();
      const before = issuer.jwksFetches();
      const rss0 = process.memoryUsage().rss;
      try {
        const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => issuer.sign({ aud: url, sub: `u${i}` })));
        const results = [...(await burst(url, tokens)), ...(await burst(url, tokens))];
        assert.ok(
          results.every((r) => r.status === 503 && Number(r.retryAfter) >= 1),
          "every answer is 503 with Retry-After",
        );
        assert.equal(issuer.jwksFetches() - before, 1);
        assert.ok(process.memoryUsage().rss - rss0 < 64 * 1024 * 1024, "RSS growth under 64 MB");
      } finally {
        issuer.setMode("ok");
        await server.close();
      }
    });
  }
});

describe("JWKS outage with keys already known", () => {
  test("stale-if-error: after cache_ttl a failing JWKS does not stop known keys, nor cost a fetch per request", async () => {
    const { server, url, events, clock } = await startServer({}, 1);
    try {
      const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => issuer.sign({ aud: url, sub: `u${i}` })));
      assert.ok(
        (await burst(url, tokens)).every((r) => r.status === 200),
        "every request with fresh keys is served 200",
      );
      const before = issuer.jwksFetches();
      issuer.setMode("500");
      clock.advance(1100); // keys are now stale
      const results = [];
      for (let b = 0; b < 5; b++) results.push(...(await burst(url, tokens)));
      assert.deepEqual(new Set(results.map((r) => r.status)), new Set([200]));
      // The clock stands still during the bursts: one refresh, then its back-off.
      const fetches = issuer.jwksFetches() - before;
      assert.equal(fetches, 1, `fetches while failing: ${fetches}`);
      // The refresh may still be in flight when the last burst ends: its event comes when it fails.
      const staleEvents = () => events.filter((e) => e.type === "jwks_stale");
      await until("the jwks_stale event of the failed refresh", () => staleEvents().length >= fetches);
      const stale = staleEvents();
      assert.equal(stale.length, issuer.jwksFetches() - before, "one jwks_stale event per failed refresh");
      assert.equal(stale[0]?.type === "jwks_stale" && stale[0].jwks_uri, issuer.jwksUri);
    } finally {
      issuer.setMode("ok");
      await server.close();
    }
  });

  test("a hanging JWKS after cache_ttl: requests with known keys are answered without waiting for the refresh", async () => {
    const { server, url, clock } = await startServer({ jwks_timeout_ms: 3000 }, 1);
    try {
      const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => issuer.sign({ aud: url, sub: `u${i}` })));
      assert.ok(
        (await burst(url, tokens)).every((r) => r.status === 200),
        "every request with fresh keys is served 200",
      );
      issuer.setMode("hang");
      const before = issuer.jwksFetches();
      clock.advance(1100); // keys are now stale
      const results = [...(await burst(url, tokens)), ...(await burst(url, tokens))];
      assert.ok(
        results.every((r) => r.status === 200),
        "every request with known keys is served 200",
      );
      const slowest = Math.max(...results.map((r) => r.ms));
      assert.ok(slowest < 500, `slowest ${slowest.toFixed(0)} ms`);
      assert.equal(issuer.jwksFetches() - before, 1, "one background refresh, still hanging");
    } finally {
      issuer.setMode("ok");
      await server.close();
    }
  });

  test("a refresh for an unknown kid never blocks requests whose kid is known", async () => {
    // jwks_timeout is a real timer (the socket hangs for real): long enough for the burst to run meanwhile.
    const { server, url } = await startServer({ jwks_timeout_ms: 1500, jwks_cooldown_seconds: 0 });
    try {
      const known = await issuer.sign({ aud: url });
      assert.equal((await call(url, known)).status, 200);
      issuer.setMode("hang");
      const stranger = await makeKey("rotated-in");
      const before = issuer.jwksFetches();
      const unknown = call(url, await issuer.sign({ aud: url }, { key: stranger }));
      await until("the unknown kid's refetch to reach the key set", () => issuer.jwksFetches() > before);
      const meanwhile = await burst(
        url,
        Array.from({ length: 20 }, () => known),
      );
      assert.ok(
        meanwhile.every((r) => r.status === 200 && r.ms < 500),
        `known kid: ${Math.max(...meanwhile.map((r) => r.ms)).toFixed(0)} ms`,
      );
      const u = await unknown;
      assert.equal(u.status, 503, "the unknown kid could not be checked while the key set hangs");
    } finally {
      issuer.setMode("ok");
      await server.close();
    }
  });

  test("a rotating key set: the new kid is accepted after one refetch, the retired one still works until the keys are refreshed", async () => {
    const { server, url } = await startServer({ jwks_cooldown_seconds: 0 });
    const k1 = issuer.keys[0]!;
    try {
      assert.equal((await call(url, await issuer.sign({ aud: url }))).status, 200);
      const k2 = await makeKey("k2");
      issuer.setKeys([k2]);
      const before = issuer.jwksFetches();
      assert.equal((await call(url, await issuer.sign({ aud: url }, { key: k2 }))).status, 200);
      assert.equal(issuer.jwksFetches() - before, 1);
      // The refetch replaced the set: k1 is gone from it now, so a k1 token is an unknown key.
      assert.equal((await call(url, await issuer.sign({ aud: url, sub: "x" }, { key: k1 }))).status, 401);
    } finally {
      issuer.setKeys([k1]);
      await server.close();
    }
  });

  test("10,000 tokens with unknown kids: at most one extra fetch per cooldown, all refused 401", async () => {
    const events: AuthEvent[] = [];
    const v = new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer, token_cache_max: 0 });
    const resource = "https://mcp.example.com/mcp";
    const ctx = { resource, emit: (e: AuthEvent) => events.push(e) };
    await v.verify(await issuer.sign({ aud: resource }), ctx);
    const before = issuer.jwksFetches();
    const stranger = await makeKey("x");
    const base = await issuer.sign({ aud: resource }, { key: stranger, kid: "unknown-0" });
    const [, payload, sig] = base.split(".");
    let refused = 0;
    for (let i = 0; i < 10_000; i++) {
      const header = Buffer.from(JSON.stringify({ alg: "ES256", typ: "at+jwt", kid: `unknown-${i}` })).toString(
        "base64url",
      );
      await v.verify(`${header}.${payload}.${sig}`, ctx).catch((e) => {
        if ((e as { code?: string }).code === "ERR_INVALID_TOKEN") refused++;
      });
    }
    assert.equal(refused, 10_000);
    assert.ok(issuer.jwksFetches() - before <= 1, `fetches: ${issuer.jwksFetches() - before}`);
  });
});

describe("Backoff and RemoteKeySet on an injected clock", () => {
  test("Backoff grows exponentially, is capped, jittered downwards only, and resets on success", () => {
    let now = 0;
    const b = new Backoff({ initial_ms: 1000, max_ms: 8000, jitter: 0.2, clock: () => now, random: () => 0.999 });
    const delays = Array.from({ length: 6 }, () => b.failed());
    assert.deepEqual(
      delays,
      [1000, 2000, 4000, 8000, 8000, 8000].map((d) => Math.round(d * (1 - 0.2 * 0.999))),
    );
    assert.equal(b.ready(), false);
    assert.equal(b.retryAfterSeconds(), 7);
    now += 6403;
    assert.equal(b.ready(), true);
    b.succeeded();
    assert.equal(b.failures, 0);
    assert.equal(b.failed(), Math.round(1000 * (1 - 0.2 * 0.999)));
    const noJitter = new Backoff({ initial_ms: 500, max_ms: 500, jitter: 0, clock: () => now });
    assert.equal(noJitter.failed(), 500);
    assert.throws(() => new Backoff({ initial_ms: 0 }), /initial_ms/);
    assert.throws(() => new Backoff({ initial_ms: 10, max_ms: 5 }), /max_ms/);
    assert.throws(() => new Backoff({ jitter: 2 }), /jitter/);
  });

  test("RemoteKeySet: fetch attempts follow the back-off; stale keys are dropped after stale_if_error", async () => {
    let now = 1_000_000;
    let fail = false;
    let fetches = 0;
    const key = await makeKey("k1");
    const keySet = new RemoteKeySet({
      url: "https://idp.example/jwks",
      cache_ttl_ms: 60_000,
      stale_if_error_ms: 600_000,
      cooldown_ms: 30_000,
      timeout_ms: 1000,
      backoff: { initial_ms: 1000, max_ms: 4000, jitter: 0 },
      clock: () => now,
      fetch: async () => {
        fetches++;
        return fail ? new Response("no", { status: 500 }) : Response.json({ keys: [key.publicJwk] });
      },
    });
    const header = { alg: "ES256", kid: "k1" } as const;
    const input = { payload: "", signature: "" };
    await keySet.getKey(header, input);
    assert.equal(fetches, 1);
    fail = true;
    now += 61_000; // stale: a background refresh starts, the request uses the old keys
    await keySet.getKey(header, input);
    await tick(); // the background refresh fails (its back-off starts)
    assert.equal(fetches, 2);
    // Within the back-off no new attempt, whatever the number of requests.
    for (let i = 0; i < 100; i++) await keySet.getKey(header, input);
    assert.equal(fetches, 2);
    now += 1000;
    await keySet.getKey(header, input);
    await tick();
    assert.equal(fetches, 3);
    now += 1999;
    await keySet.getKey(header, input);
    assert.equal(fetches, 3, "second delay is 2 s");
    now += 1;
    await keySet.getKey(header, input);
    await tick();
    assert.equal(fetches, 4);
    // Past stale_if_error the keys are dropped: without a successful fetch, no key at all.
    now += 600_000;
    await assert.rejects(
      keySet.getKey(header, input),
      (e) => (e as { code?: string }).code === "ERR_AUTHORIZATION_UNAVAILABLE",
    );
    fail = false;
    now += 4000;
    await keySet.getKey(header, input);
    assert.equal(fetches, 6);
  });
});
