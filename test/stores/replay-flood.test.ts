/**
 * Security review, issue 18 item 1: a client flooding its own DPoP key with fresh proofs must never
 * make the replay store forget another user's live proof (lru-cache used to evict it, and the
 * captured proof was accepted again). Store level with an injected clock, then end to end over HTTP.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createDpopCheck, createDpopNonces } from "../../src/dpop/index.js";
import {
  ConfigError,
  JWTValidator,
  MCPServer,
  MemoryReplayStore,
  RedisReplayStore,
  ReplayStoreFull,
  tool,
  type AuthEvent,
} from "../../src/index.js";
import { startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";
import { MCP_HEADERS, toolCall } from "../helpers/mcp.js";
import { clientKey, makeProof, type ClientKey } from "../helpers/dpop.js";

const WINDOW_MS = 600_000; // what the DPoP check asks for: twice the 300 s iat window

/** A store on a clock the test moves. */
function storeAt(options: { max: number; max_per_key: number }) {
  const clock = { now: 1_000_000 };
  return { clock, store: new MemoryReplayStore({ ...options, clock: () => clock.now }) };
}

/** The rejection of `promise`, asserted to be a {@link ReplayStoreFull}. */
async function full(promise: Promise<boolean>): Promise<ReplayStoreFull> {
  const e = await promise.then(
    (v) => assert.fail(`expected ReplayStoreFull, resolved ${v}`),
    (err: unknown) => err,
  );
  assert.ok(e instanceof ReplayStoreFull, String(e));
  return e;
}

describe("MemoryReplayStore never forgets a live identifier", () => {
  test("one key floods its own share: refused past max_per_key; another key's used identifier stays refused; memory bounded", async () => {
    const { store } = storeAt({ max: 50, max_per_key: 10 });
    assert.equal(await store.remember("bob:captured", WINDOW_MS), true);
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 6000; i++) {
      try {
        if (await store.remember(`mallory:${i}`, WINDOW_MS)) accepted++;
      } catch (e) {
        assert.ok(
          e instanceof ReplayStoreFull && e.scope === "key" && e.retry_after === undefined,
          "ReplayStoreFull, scope key, no retry_after",
        );
        refused++;
      }
    }
    assert.deepEqual({ accepted, refused }, { accepted: 10, refused: 5990 });
    assert.equal(await store.remember("bob:captured", WINDOW_MS), false, "the captured proof is still refused");
    assert.equal(store.size, 11);
    // Others still get in: the flood used up its own share only.
    assert.equal(await store.remember("carol:1", WINDOW_MS), true);
  });

  test("the whole store full: new identifiers refused (scope store, retry_after = until the oldest expires), replays still answered", async () => {
    const { clock, store } = storeAt({ max: 30, max_per_key: 10 });
    for (const k of ["a", "b", "c"]) {
      for (let i = 0; i < 10; i++) {
        assert.equal(await store.remember(`${k}:${i}`, WINDOW_MS), true);
        clock.now += 1000; // a:0 is the oldest, 30 s older than the newest
      }
    }
    const e = await full(store.remember("d:0", WINDOW_MS));
    assert.equal(e.scope, "store");
    assert.equal(e.retry_after, 570, "a:0 was added 30 s ago with a 600 s window");
    assert.equal(await store.remember("a:0", WINDOW_MS), false, "a replay is a replay, full or not");
    assert.equal(store.size, 30);
    assert.doesNotMatch(e.message, /a:0|d:0/, "no identifier in the message");
  });

  test("expired identifiers are reclaimed: the store and the flooding key accept again once their windows end", async () => {
    const { clock, store } = storeAt({ max: 20, max_per_key: 10 });
    for (let i = 0; i < 10; i++) await store.remember(`a:${i}`, WINDOW_MS);
    clock.now += 300_000;
    for (let i = 0; i < 10; i++) await store.remember(`b:${i}`, WINDOW_MS);
    assert.equal((await full(store.remember("a:new", WINDOW_MS))).scope, "key");
    assert.equal((await full(store.remember("c:0", WINDOW_MS))).scope, "store");
    clock.now += 300_001; // a:* have expired, b:* have not
    assert.equal(await store.remember("a:new", WINDOW_MS), true, "a's share was reclaimed");
    assert.equal(store.size, 11, "expired entries were dropped, not kept until evicted");
    assert.equal(await store.remember("c:0", WINDOW_MS), true);
    assert.equal(await store.remember("b:0", WINDOW_MS), false, "b:0 is still live and still refused");
    clock.now += WINDOW_MS;
    assert.equal(
      await store.remember("b:0", WINDOW_MS),
      true,
      "after its window a proof would be refused by iat anyway",
    );
  });

  test("a full store is swept at most once a second (a flood does not buy a full walk per request)", async () => {
    const { clock, store } = storeAt({ max: 2, max_per_key: 2 });
    await store.remember("a:0", 1000);
    await store.remember("a:1", 5000);
    await full(store.remember("b:0", 100)); // full: sweeps, nothing has expired yet
    clock.now += 1001; // a:0 expired, over a second since that sweep
    assert.equal(await store.remember("b:0", 100), true, "swept: a:0's place is reused");
    clock.now += 500; // b:0 expired, but the last sweep was 500 ms ago
    assert.equal((await full(store.remember("b:1", 100))).scope, "store");
    clock.now += 500;
    assert.equal(await store.remember("b:1", 100), true);
  });

  test("the default share is max / 10", async () => {
    const store = new MemoryReplayStore({ max: 50 });
    for (let i = 0; i < 5; i++) assert.equal(await store.remember(`k:${i}`, WINDOW_MS), true);
    assert.equal((await full(store.remember("k:5", WINDOW_MS))).scope, "key");
  });
});

describe("over HTTP: a proof flood through a protected server", () => {
  let issuer: LocalIssuer;
  let server: MCPServer;
  let url: string;
  let store: MemoryReplayStore;
  const clock = { now: Date.now() };
  const events: AuthEvent[] = [];
  const iat = () => Math.floor(clock.now / 1000);

  before(async () => {
    issuer = await startLocalIssuer();
    store = new MemoryReplayStore({ max: 30, max_per_key: 10, clock: () => clock.now });
    server = new MCPServer("flood", {
      session_mode: "stateless",
      authorization: { enabled: true, authorization_servers: [issuer.issuer] },
      dpop: { replay_store: store, clock: () => clock.now },
      on_auth_event: (e) => events.push(e),
    });
    server.setAuthorizationProvider(new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }));
    server.collect(tool({ name: "whoami", description: "" }, () => "ran"));
    ({ url } = await server.serve({ port: 0 }));
  });
  after(async () => {
    await server.close();
    await issuer.close();
  });

  const challenge = (description: string) =>
    `Bearer realm="MCP", resource_metadata="${new URL(url).origin}/.well-known/oauth-protected-resource/mcp", DPoP algs="ES256 EdDSA Ed25519 RS256 PS256", error="invalid_dpop_proof", error_description="${description}"`;

  async function caller() {
    const key: ClientKey = await clientKey();
    const token = await issuer.sign({ aud: url, cnf: { jkt: key.jkt } });
    return {
      key,
      async headers() {
        return {
          ...MCP_HEADERS,
          authorization: `DPoP ${token}`,
          dpop: await makeProof({ key, htu: url, token, iat: iat() }),
        };
      },
    };
  }
  const post = async (headers: Record<string, string>) => {
    const r = await fetch(url, { method: "POST", headers, body: toolCall("whoami") });
    await r.arrayBuffer();
    return r;
  };

  test("a flooding client gets its own 401; another user's captured proof is still refused; memory bounded", async () => {
    const bob = await caller();
    const captured = await bob.headers();
    assert.equal((await post(captured)).status, 200);

    const mallory = await caller();
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 40; i++) {
      last = await post(await mallory.headers());
      statuses.push(last.status);
    }
    assert.deepEqual(statuses, [...Array<number>(10).fill(200), ...Array<number>(30).fill(401)]);
    assert.equal(last!.headers.get("www-authenticate"), challenge("Too many DPoP proofs for this key; retry later"));
    assert.equal(last!.headers.get("retry-after"), null);

    const replay = await post(captured);
    assert.equal(replay.status, 401);
    assert.equal(replay.headers.get("www-authenticate"), challenge("The DPoP proof was already used"));
    assert.ok(store.size <= 30, `size ${store.size}`);

    assert.equal(events.filter((e) => e.type === "replay_store_full" && e.scope === "key").length, 30);
    const reasons = events.flatMap((e) => (e.type === "refused" ? [`${e.reason} ${e.status}`] : []));
    assert.deepEqual(reasons, [...Array<string>(30).fill("replay_store_full 401"), "dpop_replay 401"]);
    assert.doesNotMatch(JSON.stringify(events), /eyJ/, "no token or proof in any event");
  });

  test("the whole store full: 503 with Retry-After until the oldest proof expires; after it, proofs are accepted again", async () => {
    for (const n of [10, 9]) {
      const filler = await caller();
      for (let i = 0; i < n; i++) assert.equal((await post(await filler.headers())).status, 200);
    }
    assert.equal(store.size, 30);
    events.length = 0;
    const carol = await caller();
    const r = await post(await carol.headers());
    assert.equal(r.status, 503);
    assert.equal(r.headers.get("retry-after"), "600", "the oldest proof was remembered for 600 s on the test's clock");
    assert.deepEqual(events, [
      { type: "replay_store_full", scope: "store", retry_after: 600 },
      { type: "refused", code: "ERR_AUTHORIZATION_UNAVAILABLE", reason: "replay_store_full", status: 503 },
    ]);

    clock.now += 600_001; // every remembered proof has expired (and would fail the iat window anyway)
    assert.equal((await post(await carol.headers())).status, 200);
    assert.equal(store.size, 1);
  });
});

describe("strict options", () => {
  const issues = (f: () => unknown): { key: string; message: string }[] => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      assert.equal(e.code, "ERR_INVALID_CONFIG");
      return e.issues.map((i) => ({ ...i }));
    }
    return assert.fail("no ConfigError");
  };

  test("MemoryReplayStore: unknown key with a suggestion, wrong types, every problem listed", () => {
    assert.deepEqual(
      issues(() => new MemoryReplayStore({ max_per_kye: 5 } as never)),
      [{ key: "max_per_kye", message: 'unknown key (did you mean "max_per_key"?)' }],
    );
    assert.deepEqual(
      issues(() => new MemoryReplayStore({ max: "5", max_per_key: 1.5, clock: 3 } as never)).map((i) => i.key),
      ["max", "max_per_key", "clock"],
    );
    assert.deepEqual(
      issues(() => new MemoryReplayStore({ max: 10, max_per_key: 11 })),
      [{ key: "max_per_key", message: "must not exceed max" }],
    );
  });

  test("RedisReplayStore: client needs set(), unknown keys suggested, bad values listed", () => {
    const found = issues(
      () =>
        new RedisReplayStore({
          client: {},
          timout_ms: 5,
          backoff: { initial_ms: 5000, max_ms: 1000 },
          on_warning: "console",
        } as never),
    );
    assert.deepEqual(found, [
      { key: "client", message: "must be an object with set()" },
      { key: "backoff", message: "initial_ms must not exceed max_ms" },
      { key: "on_warning", message: "must be a function" },
      { key: "timout_ms", message: 'unknown key (did you mean "timeout_ms"?)' },
    ]);
    assert.deepEqual(
      issues(() => new RedisReplayStore(undefined as never)).map((i) => i.key),
      ["client"],
    );
  });

  test("createDpopCheck: replay_store needs remember(), nested nonce checked, every problem listed", () => {
    assert.deepEqual(
      issues(() => createDpopCheck({ replay_stor: new MemoryReplayStore() } as never)),
      [{ key: "replay_stor", message: 'unknown key (did you mean "replay_store"?)' }],
    );
    const found = issues(() =>
      createDpopCheck({
        algorithms: ["ES256", "HS256"],
        iat_window_seconds: 0,
        replay_store: {} as never,
        nonce: { secret: "short", stpe: 5 } as never,
        clock: 1 as never,
      }),
    );
    assert.deepEqual(
      found.map((i) => i.key),
      ["algorithms.1", "iat_window_seconds", "replay_store", "nonce.secret", "nonce.stpe", "clock"],
    );
    assert.match(found.find((i) => i.key === "nonce.stpe")!.message, /did you mean "step_seconds"/);
  });

  test("createDpopNonces: secret length and unknown keys", () => {
    assert.deepEqual(
      issues(() => createDpopNonces({ secret: new Uint8Array(16), steps: 30 } as never)),
      [
        { key: "secret", message: "must be at least 32 bytes" },
        { key: "steps", message: 'unknown key (did you mean "step_seconds"?)' },
      ],
    );
  });
});
