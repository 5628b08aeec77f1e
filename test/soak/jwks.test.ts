/**
 * Identity provider faults combined with abuse, through the real HTTP server: while the JWKS
 * endpoint hangs / answers 503 / 500 / HTML / 5 MB, a flood of tokens with unknown `kid`s arrives
 * (10,000 in the hanging case), and a legitimate user with known keys keeps calling in her open
 * session with freshly issued tokens (so every call needs a signature check against the stale keys).
 * Then a key rotation under the same flood.
 *
 * Single-fault behaviour (fetch counts, back-off, timeouts, cold start) is proven by
 * test/key-set.test.ts and test/validators/jwks-single-flight.test.ts; this file adds the concurrency.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { getContext, JWTValidator, MCPServer, tool } from "../../src/index.js";
import { makeKey, startLocalIssuer, type JwksMode, type LocalIssuer } from "../helpers/issuer.js";
import { initialize, MCP_HEADERS, toolCall } from "../helpers/mcp.js";
import { assertMemory, checkResponse, measureMemory, memoryFigures, pool, sleep, summary } from "./lib.js";

let issuer: LocalIssuer;
before(async () => {
  issuer = await startLocalIssuer();
});
after(() => issuer.close());

const runs: string[] = [];

async function startServer() {
  const server = new MCPServer("jwks-soak", {
    authorization: { enabled: true, authorization_servers: [issuer.issuer], cache_ttl: 1 },
  });
  server.setAuthorizationProvider(
    new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer, jwks_timeout_ms: 1500 }),
  );
  server.collect(
    tool({ name: "secret", description: "" }, () => (runs.push(getContext().auth?.subject ?? "(anonymous)"), "ran")),
  );
  const { url, address } = await server.serve({ port: 0 });
  return { server, url, expect: { resource_metadata_url: `${address}/.well-known/oauth-protected-resource/mcp` } };
}

/** `n` distinct tokens whose `kid` no key set holds (a real signature by a key the issuer never published). */
async function unknownKidTokens(url: string, n: number): Promise<string[]> {
  const stranger = await makeKey("stranger");
  const [, payload, sig] = (await issuer.sign({ aud: url, sub: "flood" }, { key: stranger })).split(".");
  return Array.from(
    { length: n },
    (_, i) =>
      `${Buffer.from(JSON.stringify({ alg: "ES256", typ: "at+jwt", kid: `unknown-${i}` })).toString("base64url")}.${payload}.${sig}`,
  );
}

/** A legitimate user with an open session, calling with a fresh token each time. */
async function legitimateUser(url: string, sub: string, key = issuer.keys[0]!) {
  const token = () => issuer.sign({ aud: url, sub, jti: crypto.randomUUID() }, { key });
  const res = await fetch(url, {
    method: "POST",
    headers: { ...MCP_HEADERS, authorization: `Bearer ${await token()}` },
    body: initialize(),
  });
  assert.equal(res.status, 200);
  await res.arrayBuffer();
  const session = res.headers.get("mcp-session-id")!;
  const latencies: number[] = [];
  const statuses: number[] = [];
  return {
    latencies,
    statuses,
    async call(): Promise<number> {
      const t = await token();
      const t0 = performance.now();
      const r = await fetch(url, {
        method: "POST",
        headers: {
          ...MCP_HEADERS,
          authorization: `Bearer ${t}`,
          "mcp-session-id": session,
          "mcp-protocol-version": "2025-06-18",
        },
        body: toolCall("secret"),
      });
      await r.arrayBuffer();
      latencies.push(performance.now() - t0);
      statuses.push(r.status);
      return r.status;
    },
  };
}

async function flood(url: string, tokens: string[], expect: { resource_metadata_url: string }, concurrency = 64) {
  const byStatus = new Map<number, number>();
  let maxMs = 0;
  await pool(tokens.length, concurrency, async (i) => {
    const t0 = performance.now();
    const res = await fetch(url, {
      method: "POST",
      headers: { ...MCP_HEADERS, authorization: `Bearer ${tokens[i]}` },
      body: toolCall("secret"),
    });
    const body = await res.text();
    maxMs = Math.max(maxMs, performance.now() - t0);
    checkResponse(res.status, res.headers, body, [tokens[i]!], expect);
    byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
  });
  return {
    byStatus,
    maxMs,
    statuses: [...byStatus]
      .sort()
      .map(([s, n]) => `${s}:${n}`)
      .join(","),
  };
}

describe("JWKS faults × unknown-kid flood × a legitimate user", () => {
  const modes: [JwksMode, number][] = [
    ["hang", 10_000],
    ["down", 1_000],
    ["500", 1_000],
    ["html", 1_000],
    ["huge", 1_000],
  ];
  for (const [mode, n] of modes) {
    test(`JWKS ${mode} after cache_ttl, ${n.toLocaleString("en")} unknown kids in parallel: the legitimate user is never refused nor held up; the flood is refused 401/503; fetches bounded`, async () => {
      issuer.setMode("ok");
      const { server, url, expect } = await startServer();
      try {
        const bob = await legitimateUser(url, `bob-${mode}`);
        const tokens = await unknownKidTokens(url, n);
        const fetches0 = issuer.jwksFetches();
        const runs0 = runs.length;
        let result!: Awaited<ReturnType<typeof flood>>;
        let floodSeconds = 0;
        const { memory } = await measureMemory(
          // Warm-up with the key set healthy: unknown kids are 401 (within the cooldown no refetch).
          () => flood(url, tokens.slice(0, 200), expect),
          async () => {
            issuer.setMode(mode);
            await sleep(1100); // the keys are now stale: the next request starts a background refresh that fails
            let done = false;
            const legit = (async () => {
              while (!done) {
                await bob.call();
                await sleep(5);
              }
            })();
            const f0 = performance.now();
            result = await flood(url, tokens, expect);
            floodSeconds = (performance.now() - f0) / 1000;
            done = true;
            await legit;
          },
        );
        const fetches = issuer.jwksFetches() - fetches0;
        issuer.setMode("ok");
        for (let i = 0; i < 3; i++) await bob.call();

        const legitMax = Math.max(...bob.latencies);
        summary(`jwks/${mode}+unknown-kid-flood`, {
          flood: n,
          flood_statuses: result.statuses,
          flood_latency_max_ms: result.maxMs,
          legit_calls: bob.statuses.length,
          legit_ok: bob.statuses.filter((s) => s === 200).length,
          legit_latency_max_ms: legitMax,
          jwks_fetches: fetches,
          flood_s: floodSeconds,
          ...memoryFigures(memory),
        });
        assert.ok(
          bob.statuses.every((s) => s === 200),
          `legitimate statuses: ${[...new Set(bob.statuses)].join(",")}`,
        );
        // A 1,000-request flood lasts well under a second: a few calls of his fall inside it.
        assert.ok(
          bob.statuses.length >= 3,
          `the legitimate user kept calling during the flood (${bob.statuses.length} calls)`,
        );
        // Every legitimate call was answered 200, which a request needing the failing key set could not be (it gets
        // 503):
        // none waited for a fetch. The latency (printed above) is queueing behind the flood in this one process, which
        // also runs the fake IdP; the bound only catches a hang.
        assert.ok(legitMax < 5000, `legitimate latency max ${legitMax.toFixed(0)} ms`);
        assert.deepEqual(
          [...result.byStatus.keys()].filter((s) => s !== 401 && s !== 503),
          [],
          "the flood gets 401 or 503 only",
        );
        // Failed refreshes back off 1 s, 2 s, 4 s … (−20 % jitter): over T seconds at most about 2 + log2(1 + T)
        // attempts.
        assert.ok(
          fetches <= 2 + Math.log2(1 + floodSeconds),
          `JWKS fetches during a ${floodSeconds.toFixed(1)} s flood: ${fetches}`,
        );
        assert.ok(
          runs.slice(runs0).every((s) => s === `bob-${mode}`),
          "no tool ran for the flood",
        );
        // Live heap after GC is the retention check (48 MB). RSS moves with V8's reserved heap: under
        // 10,000 requests Node 24 reserves about twice what Node 20 does (heapTotal 190–300 MB while
        // heapUsed stays ~30 MB, measured) and a second batch of 10,000 adds almost nothing — bounded.
        assertMemory(memory, { peakMb: n >= 10_000 ? 448 : 256, heapMb: 48 });
      } finally {
        issuer.setMode("ok");
        await server.close();
      }
    });
  }

  test("key rotation under an unknown-kid flood: the new key is accepted within cache_ttl of being published; the flood never causes more than one fetch per cache_ttl", async () => {
    issuer.setMode("ok");
    const k1 = issuer.keys[0]!;
    const { server, url, expect } = await startServer();
    try {
      const bob = await legitimateUser(url, "bob-rotation");
      const tokens = await unknownKidTokens(url, 3000);
      const fetches0 = issuer.jwksFetches();
      const k2 = await makeKey("k2");
      let acceptedAfterMs = NaN;
      const carolStatuses: number[] = [];
      const t0 = performance.now();
      const floodDone = flood(url, tokens, expect, 32);
      await sleep(300);
      // The IdP publishes k2 next to k1, then starts signing with it.
      issuer.setKeys([k1, k2]);
      const published = performance.now();
      // Carol's tokens are signed with k2 from now on; she retries until it is accepted.
      const carolK2 = await (async () => {
        const token = () => issuer.sign({ aud: url, sub: "carol-k2", jti: crypto.randomUUID() }, { key: k2 });
        for (;;) {
          const r = await fetch(url, {
            method: "POST",
            headers: { ...MCP_HEADERS, authorization: `Bearer ${await token()}` },
            body: initialize(),
          });
          await r.arrayBuffer();
          carolStatuses.push(r.status);
          if (r.status === 200) return performance.now() - published;
          if (performance.now() - published > 5000) return NaN;
          await sleep(50);
        }
      })();
      acceptedAfterMs = carolK2;
      while (performance.now() - t0 < 2000) await bob.call();
      const result = await floodDone;
      const elapsed = (performance.now() - t0) / 1000;
      const fetches = issuer.jwksFetches() - fetches0;
      summary("jwks/rotation+unknown-kid-flood", {
        flood: tokens.length,
        flood_statuses: result.statuses,
        k2_accepted_after_ms: acceptedAfterMs,
        k2_refusals_before: carolStatuses.filter((s) => s !== 200).length,
        legit_calls: bob.statuses.length,
        legit_latency_max_ms: Math.max(...bob.latencies),
        jwks_fetches: fetches,
        elapsed_s: elapsed,
      });
      assert.ok(
        acceptedAfterMs <= 2000,
        `k2 accepted ${acceptedAfterMs.toFixed(0)} ms after publication (cache_ttl 1 s)`,
      );
      assert.ok(
        carolStatuses.every((s) => s === 200 || s === 401),
        `before acceptance k2 tokens were refused 401, never 5xx: ${carolStatuses.join(",")}`,
      );
      assert.ok(
        bob.statuses.every((s) => s === 200),
        "every request of bob served 200",
      );
      assert.deepEqual([...result.byStatus.keys()], [401]);
      assert.ok(fetches <= Math.ceil(elapsed / 1) + 1, `fetches ${fetches} in ${elapsed.toFixed(1)} s`);
    } finally {
      issuer.setKeys([k1]);
      await server.close();
    }
  });
});
