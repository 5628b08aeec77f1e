/**
 * The fleet replay store under fault and abuse at once, with a real redis-server: while the holder
 * of Alice's stolen DPoP-bound token floods the server with proofs he can make (his own key) and
 * proofs he captured (Alice's, replayed), Redis is healthy, then slow (DEBUG SLEEP), then killed,
 * then restarted on the same port (with AOF persistence). Alice keeps calling in her session.
 *
 * Single faults (down → 503, slow → 503 after timeout_ms then fail fast, cross-instance replay) are
 * proven by test/stores/replay-store.test.ts; this file adds the flood, the restart and the legitimate user.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { getContext, JWTValidator, MCPServer, RedisReplayStore, tool } from "../../src/index.js";
import { clientKey, makeProof } from "../helpers/dpop.js";
import { startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";
import { hasRedisServer, startRedis } from "../helpers/redis.js";
import { initialize, MCP_HEADERS, toolCall } from "../helpers/mcp.js";
import { assertMemory, checkResponse, measureMemory, memoryFigures, pool, sleep, summary } from "./lib.js";

const available = hasRedisServer();
let issuer: LocalIssuer;
const dir = mkdtempSync(join(tmpdir(), "soak-redis-"));
before(async () => {
  if (!available && process.env.CI === "true")
    throw new Error("redis-server is required in CI (.ci/run installs it): not found on PATH");
  issuer = await startLocalIssuer();
});
after(async () => {
  await issuer?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("Redis healthy → slow → killed → restarted, under a stolen-token proof flood: Alice is served or refused 503 (never let through unchecked), the flood never gets in, replays stay refused after the restart", async (t) => {
  if (!available)
    return t.skip("needs redis-server on PATH (apt-get install redis-server); CI installs it and never skips");
  const persist = ["--appendonly", "yes", "--appendfsync", "always", "--dir", dir];
  let redis = await startRedis({ args: persist });
  const port = redis.port;
  const client = new Redis(redis.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 100 });
  client.on("error", () => {});
  const admin = new Redis(redis.url, { retryStrategy: () => 100, maxRetriesPerRequest: 0 });
  admin.on("error", () => {});
  const runs: string[] = [];
  const server = new MCPServer("redis-soak", {
    authorization: { enabled: true, authorization_servers: [issuer.issuer], dpop_required: true },
    dpop: {
      replay_store: new RedisReplayStore({ client, timeout_ms: 300, backoff: { initial_ms: 500, max_ms: 2000 } }),
    },
  });
  server.setAuthorizationProvider(new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }));
  server.collect(
    tool({ name: "secret", description: "" }, () => (runs.push(getContext().auth?.subject ?? "(anonymous)"), "ran")),
  );
  const { url, address } = await server.serve({ port: 0 });
  const expect = { resource_metadata_url: `${address}/.well-known/oauth-protected-resource/mcp`, dpopOnly: true };

  const aliceKey = await clientKey();
  const attackerKey = await clientKey();
  const token = await issuer.sign({ aud: url, sub: "alice", cnf: { jkt: aliceKey.jkt } });
  const accepted: string[] = []; // proofs the server accepted (the attacker captures them)
  const send = async (proof: string, body: string, session?: string) => {
    const t0 = performance.now();
    const res = await fetch(url, {
      method: "POST",
      headers: {
        ...MCP_HEADERS,
        authorization: `DPoP ${token}`,
        dpop: proof,
        ...(session ? { "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" } : {}),
      },
      body,
    });
    const text = await res.text();
    checkResponse(res.status, res.headers, text, [token, proof], expect);
    return { status: res.status, ms: performance.now() - t0, session: res.headers.get("mcp-session-id") };
  };
  const fresh = () => makeProof({ key: aliceKey, htu: url, token });
  const first = await fresh();
  const opened = await send(first, initialize());
  assert.equal(opened.status, 200);
  accepted.push(first);
  const session = opened.session!;

  type Phase = "up" | "slow" | "stopping" | "down" | "restarted";
  let phase: Phase = "up";
  const alice: { phase: Phase; status: number; ms: number }[] = [];
  const floodStatuses = new Map<string, number>();
  let stop = false;

  const aliceLoop = (async () => {
    while (!stop) {
      const proof = await fresh();
      const p = phase;
      const r = await send(proof, toolCall("secret"), session);
      alice.push({ phase: p, status: r.status, ms: r.ms });
      if (r.status === 200) accepted.push(proof);
      await sleep(20);
    }
  })();
  const floodLoop = pool(16, 16, async () => {
    let i = 0;
    while (!stop) {
      i++;
      // His own key (right shape, wrong key: refused before the store), or one of Alice's accepted proofs replayed.
      const own = i % 2 === 0;
      const proof = own ? await makeProof({ key: attackerKey, htu: url, token }) : accepted[i % accepted.length]!;
      const r = await send(proof, toolCall("secret"), session);
      const key = `${own ? "own-key" : "replay"}:${r.status}`;
      floodStatuses.set(key, (floodStatuses.get(key) ?? 0) + 1);
    }
  });

  const waitFor = async (what: string, ok: () => boolean, ms: number) => {
    const deadline = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(20);
    }
  };
  const okAfter = (n: number) => () => alice.slice(n).some((a) => a.status === 200);
  let recoveryMs = 0;

  try {
    const { memory } = await measureMemory(
      () => sleep(500),
      async () => {
        await sleep(800);
        phase = "slow";
        void admin.call("DEBUG", "SLEEP", "1").catch(() => {});
        await sleep(1100);
        phase = "up";
        let mark = alice.length;
        await waitFor("Alice served again after the slow spell", okAfter(mark), 4000);

        phase = "stopping";
        await redis.stop();
        phase = "down"; // the process has exited: from here no request can reach Redis
        await sleep(1000);
        phase = "restarted";
        const t0 = performance.now();
        redis = await startRedis({ port, args: persist });
        mark = alice.length;
        await waitFor("Alice served again after the restart", okAfter(mark), 6000);
        recoveryMs = performance.now() - t0;
        await sleep(300);
      },
    );
    stop = true;
    await Promise.all([aliceLoop, floodLoop]);

    // Every proof Alice got accepted — before the outage and after the restart — stays refused: the AOF kept them.
    const replays = await Promise.all(accepted.map((p) => send(p, toolCall("secret"), session)));
    const aliceBy = (p: Phase) => alice.filter((a) => a.phase === p);
    const refusedMax = Math.max(0, ...alice.filter((a) => a.status === 503).map((a) => a.ms));
    summary("redis/slow+down+restart+stolen-token-flood", {
      alice_calls: alice.length,
      alice_ok: alice.filter((a) => a.status === 200).length,
      alice_503: alice.filter((a) => a.status === 503).length,
      alice_503_latency_max_ms: refusedMax,
      recovery_after_restart_ms: recoveryMs,
      flood: [...floodStatuses.values()].reduce((a, b) => a + b, 0),
      flood_statuses: [...floodStatuses]
        .sort()
        .map(([k, n]) => `${k}:${n}`)
        .join(","),
      replays_after_restart: `${replays.filter((r) => r.status === 401).length}/${replays.length} refused`,
      ...memoryFigures(memory),
    });

    assert.ok(
      alice.every((a) => a.status === 200 || a.status === 503),
      `Alice: ${[...new Set(alice.map((a) => a.status))].join(",")}`,
    );
    assert.ok(
      aliceBy("up").every((a) => a.status === 200 || a.status === 503),
      "healthy phases",
    );
    assert.ok(
      aliceBy("down").some((a) => a.status === 503),
      "Redis down: refused 503 (fail closed)",
    );
    assert.ok(
      aliceBy("down").every((a) => a.status === 503),
      "Redis down: never served without the replay check",
    );
    assert.ok(refusedMax < 1000, `a 503 never waits much past timeout_ms (300): ${refusedMax.toFixed(0)} ms`);
    assert.equal(alice.at(-1)?.status, 200, "Alice is served again at the end, in the same session");
    assert.equal(
      runs.filter((s) => s === "alice").length,
      alice.filter((a) => a.status === 200).length,
      "the tool ran exactly for Alice's accepted calls",
    );
    assert.equal(runs.length, alice.filter((a) => a.status === 200).length, "and for nothing else");
    for (const [key] of floodStatuses) {
      const [kind, status] = key.split(":");
      assert.ok(kind === "own-key" ? status === "401" : status === "401" || status === "503", `flood ${key}`);
    }
    assert.ok(
      replays.every((r) => r.status === 401),
      "every accepted proof is refused when replayed after the restart",
    );
    assertMemory(memory, { peakMb: 256, heapMb: 48 });
  } finally {
    stop = true;
    await Promise.allSettled([aliceLoop, floodLoop]);
    client.disconnect();
    admin.disconnect();
    await server.close();
    await redis.stop();
  }
});
