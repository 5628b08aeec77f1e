import { createHash, randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import {
  MemoryTokenVault,
  RedisTokenVault,
  memoryVaultStorage,
  type RedisVaultClient,
} from "../../src/connected-accounts/vault.js";
import { VaultUnavailable, ConnectedAccountError } from "../../src/connected-accounts/errors.js";
import type { AccountKey, StoredCredential, TokenVault } from "../../src/connected-accounts/types.js";
import { hasRedisServer, startRedis } from "../helpers/redis.js";
import { expectConfigError } from "../helpers/config-error.js";

const keyText = (): string => randomBytes(32).toString("base64url");

// Distinctive values, so a dump can be searched for each.
const ISSUER = "https://issuer-7f3a.example";
const ALICE: AccountKey = { issuer: ISSUER, subject: "alice-subject-91c2", provider: "github" };
const BOB: AccountKey = { issuer: ISSUER, subject: "bob-subject-44d0", provider: "github" };
const ALICE_GOOGLE: AccountKey = { ...ALICE, provider: "google" };
const ALICE_SUPABASE: AccountKey = { ...ALICE, provider: "supabase" };
const OAUTH: StoredCredential = {
  kind: "oauth",
  access_token: "gho_ACCESSTOKEN_5b1e9d",
  refresh_token: "ghr_REFRESHTOKEN_c04a7",
  expires_at: 1_900_000_000,
  scopes: ["repo", "read:user"],
  obtained_at: 1_800_000_000,
};
const API_KEY: StoredCredential = { kind: "api_key", access_token: "sbkey_APIKEY_e83f02", obtained_at: 1_800_000_000 };
const SECRETS = [
  OAUTH.access_token,
  OAUTH.refresh_token!,
  API_KEY.access_token,
  ALICE.subject,
  BOB.subject,
  ISSUER,
  "issuer-7f3a",
];
const HANDLE = "handle-secret-0d9e1a";

const hex = (text: string): string => createHash("sha256").update(text).digest("hex");
const credSlot = (a: AccountKey): string =>
  `cred:${hex(JSON.stringify(["credential", a.issuer, a.subject, a.provider]))}`;
const transientSlot = (id: string): string => `transient:${hex(`transient:${id}`)}`;

/** What a test may do to a vault's storage directly: read, overwrite, and dump every name and value. */
interface Raw {
  get(slot: string): Promise<string | undefined>;
  set(slot: string, value: string): Promise<void>;
  dump(): Promise<string>;
}

/** A vault under test: two instances sharing one storage (the same object for memory), and its raw storage. */
interface Harness {
  vault: TokenVault;
  peer: TokenVault;
  raw: Raw;
}

/** The tests every TokenVault passes. `setup` is called per test. */
function contract(setup: () => Promise<Harness | undefined>, skip: () => string | undefined): void {
  const it = (name: string, fn: (h: Harness) => Promise<void>): void => {
    void test(name, async (t) => {
      const reason = skip();
      if (reason) return t.skip(reason);
      await fn((await setup())!);
    });
  };

  it("credential round trip, per account and provider; delete says whether there was one", async ({ vault, peer }) => {
    assert.equal(await vault.get(ALICE), undefined, "nothing yet");
    await vault.set(ALICE, OAUTH);
    await vault.set(ALICE_SUPABASE, API_KEY);
    assert.deepEqual(await vault.get(ALICE), OAUTH, "oauth back");
    assert.deepEqual(await peer.get(ALICE), OAUTH, "the other instance reads it");
    assert.deepEqual(await vault.get(ALICE_SUPABASE), API_KEY, "api key back");
    assert.equal(await vault.get(BOB), undefined, "another user has none");
    assert.equal(await vault.get(ALICE_GOOGLE), undefined, "another provider has none");
    await vault.set(ALICE, { ...OAUTH, access_token: "rotated" });
    assert.equal((await vault.get(ALICE))?.access_token, "rotated", "set replaces");
    assert.equal(await vault.delete(ALICE), true, "deleted");
    assert.equal(await vault.delete(ALICE), false, "nothing left to delete");
    assert.equal(await peer.get(ALICE), undefined, "gone for every instance");
    assert.deepEqual(await vault.get(ALICE_SUPABASE), API_KEY, "the other provider's record stays");
  });

  it("the stored names and values hold no token, API key, subject, issuer or transient id", async (h) => {
    await h.vault.set(ALICE, OAUTH);
    await h.vault.set(BOB, OAUTH);
    await h.vault.set(ALICE_SUPABASE, API_KEY);
    await h.vault.putTransient(HANDLE, { subject: ALICE.subject, issuer: ISSUER, token: OAUTH.access_token }, 60_000);
    await h.vault.lock(ALICE, 60_000);
    const dump = await h.raw.dump();
    assert.ok(dump.includes(credSlot(ALICE)), "the dump holds the records (by their hashed names)");
    assert.ok(dump.includes(transientSlot(HANDLE)), "and the transient record");
    for (const secret of [...SECRETS, HANDLE]) assert.ok(!dump.includes(secret), `the dump holds no ${secret}`);
    assert.deepEqual(await h.vault.get(ALICE), OAUTH, "and still reads back");
  });

  it("a record copied to another user's or provider's slot does not open there", async ({ vault, raw }) => {
    await vault.set(ALICE, OAUTH);
    await vault.set(BOB, API_KEY);
    const alices = await raw.get(credSlot(ALICE));
    assert.ok(alices, "alice's record is where the key naming says");
    await raw.set(credSlot(BOB), alices);
    await raw.set(credSlot(ALICE_GOOGLE), alices);
    await raw.set(credSlot({ ...ALICE, issuer: "https://other.example" }), alices);
    assert.equal(await vault.get(BOB), undefined, "bob does not get alice's credential");
    assert.equal(await vault.get(ALICE_GOOGLE), undefined, "nor does another provider");
    assert.equal(await vault.get({ ...ALICE, issuer: "https://other.example" }), undefined, "nor another issuer");
    assert.deepEqual(await vault.get(ALICE), OAUTH, "alice's own still opens");
    // A credential record is no state blob or transient record either.
    assert.equal(await vault.open("credential", alices), undefined, "seal/open cannot open a credential");
    await raw.set(transientSlot("h1"), alices);
    assert.equal(await vault.takeTransient("h1"), undefined, "nor can a transient read");
  });

  it("tampered, truncated and unknown-kid records read as absent", async ({ vault, raw }) => {
    await vault.set(ALICE, OAUTH);
    const sealed = (await raw.get(credSlot(ALICE)))!;
    const [v, , iv, ct] = sealed.split(".") as [string, string, string, string];
    for (const [name, text] of [
      ["truncated", sealed.slice(0, -2)],
      ["tampered", [v, sealed.split(".")[1], iv, (ct[0] === "A" ? "B" : "A") + ct.slice(1)].join(".")],
      ["unknown kid", [v, "nobody", iv, ct].join(".")],
      ["garbage", "not sealed at all"],
    ] as const) {
      await raw.set(credSlot(ALICE), text);
      assert.equal(await vault.get(ALICE), undefined, name);
    }
  });

  it("transient records: peek keeps, take consumes, bound to their id", async ({ vault, peer, raw }) => {
    const value = { provider: "github", n: 1, nested: { ok: true } };
    await vault.putTransient("h1", value, 60_000);
    assert.deepEqual(await peer.peekTransient("h1"), value, "peek");
    assert.deepEqual(await vault.peekTransient("h1"), value, "peek again");
    assert.deepEqual(await peer.takeTransient("h1"), value, "take");
    assert.equal(await vault.takeTransient("h1"), undefined, "taken once");
    assert.equal(await vault.peekTransient("h1"), undefined, "gone");
    await vault.putTransient("h2", value, 60_000);
    await raw.set(transientSlot("h3"), (await raw.get(transientSlot("h2")))!);
    assert.equal(await vault.peekTransient("h3"), undefined, "a record moved to another id does not open");
    assert.equal(await vault.takeTransient("h3"), undefined, "nor can it be taken");
  });

  it("20 concurrent takes of one transient record: exactly one winner", async ({ vault, peer }) => {
    for (let round = 0; round < 5; round++) {
      await vault.putTransient(`race-${round}`, { round }, 60_000);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? peer : vault).takeTransient(`race-${round}`)),
      );
      const winners = results.filter((r) => r !== undefined);
      assert.equal(winners.length, 1, `round ${round}: one winner of 20`);
      assert.deepEqual(winners[0], { round }, "the winner has the value");
    }
  });

  it("seal/open: per purpose, JSON objects only, anything else undefined", async ({ vault, peer }) => {
    const sealed = await vault.seal("oauth-state", { n: 1, s: "x" });
    assert.deepEqual(await peer.open("oauth-state", sealed), { n: 1, s: "x" }, "round trip on the other instance");
    assert.equal(await vault.open("other", sealed), undefined, "another purpose");
    assert.equal(await vault.open("credential", sealed), undefined, "the credential purpose");
    assert.equal(await vault.open("transient", sealed), undefined, "the transient purpose");
    assert.equal(await vault.open("oauth-state", sealed.slice(0, -1)), undefined, "truncated");
    assert.equal(await vault.open("oauth-state", ""), undefined, "empty");
    assert.equal(await vault.open("oauth-state", JSON.stringify({ n: 1 })), undefined, "plain JSON");
  });

  it("lock: exclusive across instances; a release frees it; releasing twice is harmless", async ({ vault, peer }) => {
    const release = await vault.lock(ALICE, 60_000);
    assert.ok(release, "the first lock is granted");
    assert.equal(await peer.lock(ALICE, 60_000), undefined, "held: refused on the other instance");
    assert.equal(await vault.lock(ALICE, 60_000), undefined, "and on this one");
    const other = await peer.lock(BOB, 60_000);
    assert.ok(other, "another account's lock is independent");
    await release();
    await release();
    const again = await peer.lock(ALICE, 60_000);
    assert.ok(again, "free after release");
    await again();
    await other();
  });

  it("refuses non-positive or non-finite TTLs (a caller's bug, not forever)", async ({ vault }) => {
    for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await assert.rejects(vault.putTransient("x", {}, ttl), RangeError, `putTransient ttl ${ttl}`);
      await assert.rejects(vault.lock(ALICE, ttl), RangeError, `lock ttl ${ttl}`);
    }
    assert.equal(await vault.peekTransient("x"), undefined, "nothing stored");
  });
}

describe("MemoryTokenVault", () => {
  let now = 1_800_000_000_000;
  const clock = () => now;
  contract(
    async () => {
      const vault = new MemoryTokenVault({ keys: [keyText()], clock });
      const storage = memoryVaultStorage(vault);
      const cacheOf = (slot: string) => (slot.startsWith("cred:") ? storage.credentials : storage.transients);
      const raw: Raw = {
        get: async (slot) => cacheOf(slot).get(slot)?.value,
        set: async (slot, value) => void cacheOf(slot).set(slot, { value, expires_at: Number.POSITIVE_INFINITY }),
        dump: async () =>
          JSON.stringify([storage.credentials, storage.transients, storage.locks].map((c) => [...c.entries()])),
      };
      return { vault, peer: vault, raw };
    },
    () => undefined,
  );

  test("transient records expire with the injected clock", async () => {
    const vault = new MemoryTokenVault({ clock });
    await vault.putTransient("a", { v: 1 }, 1_000);
    await vault.putTransient("b", { v: 2 }, 1_000);
    now += 999;
    assert.deepEqual(await vault.peekTransient("a"), { v: 1 }, "alive at 999 ms");
    now += 1;
    assert.equal(await vault.peekTransient("a"), undefined, "expired at 1000 ms");
    assert.equal(await vault.takeTransient("b"), undefined, "an expired record cannot be taken");
    assert.equal(memoryVaultStorage(vault).transients.size, 0, "expired records are removed when met");
  });

  test("locks expire with the clock; a stale holder's release does not free the newer lock", async () => {
    const vault = new MemoryTokenVault({ clock });
    const stale = await vault.lock(ALICE, 1_000);
    assert.ok(stale, "granted");
    now += 999;
    assert.equal(await vault.lock(ALICE, 1_000), undefined, "still held at 999 ms");
    now += 1;
    const fresh = await vault.lock(ALICE, 1_000);
    assert.ok(fresh, "expired at 1000 ms: granted to the next holder");
    await stale();
    assert.equal(await vault.lock(ALICE, 1_000), undefined, "the stale release left the new lock in place");
    await fresh();
    assert.ok(await vault.lock(ALICE, 1_000), "the holder's own release frees it");
  });

  test("the default key is random: another default vault cannot open what this one sealed", async () => {
    const a = new MemoryTokenVault();
    const b = new MemoryTokenVault();
    assert.equal(await b.open("p", await a.seal("p", { x: 1 })), undefined, "another process's vault");
    await a.set(ALICE, OAUTH);
    assert.deepEqual(await a.get(ALICE), OAUTH, "its own records open");
  });

  test("key rotation: [A] records open under [B, A], new ones are sealed with B, [B] alone cannot open A's", async () => {
    const A = { id: "A", key: keyText() };
    const B = { id: "B", key: keyText() };
    const before = new MemoryTokenVault({ keys: [A] });
    await before.set(ALICE, OAUTH);
    const sealed = memoryVaultStorage(before).credentials.get(credSlot(ALICE))!.value;
    assert.match(sealed, /^v1\.A\./, "sealed under A");
    const rotated = new MemoryTokenVault({ keys: [B, A] });
    memoryVaultStorage(rotated).credentials.set(credSlot(ALICE), { value: sealed, expires_at: Infinity });
    assert.deepEqual(await rotated.get(ALICE), OAUTH, "the old record opens under [B, A]");
    await rotated.set(ALICE, OAUTH);
    assert.match(memoryVaultStorage(rotated).credentials.get(credSlot(ALICE))!.value, /^v1\.B\./, "rewritten under B");
    const withoutA = new MemoryTokenVault({ keys: [B] });
    memoryVaultStorage(withoutA).credentials.set(credSlot(ALICE), { value: sealed, expires_at: Infinity });
    assert.equal(await withoutA.get(ALICE), undefined, "a ring without A cannot open A's record");
  });

  test("max_records bounds each kind: the least recently used record goes", async () => {
    const vault = new MemoryTokenVault({ max_records: 2 });
    await vault.set(ALICE, OAUTH);
    await vault.set(BOB, OAUTH);
    await vault.set(ALICE_GOOGLE, OAUTH);
    assert.equal(memoryVaultStorage(vault).credentials.size, 2, "two kept");
    assert.equal(await vault.get(ALICE), undefined, "the oldest dropped");
    assert.deepEqual(await vault.get(ALICE_GOOGLE), OAUTH, "the newest kept");
  });

  test("bad options: ConfigError naming each field, never a key", () => {
    const short = randomBytes(31).toString("base64url");
    expectConfigError(() => new MemoryTokenVault({ max_records: 0 }), ["max_records"]);
    expectConfigError(() => new MemoryTokenVault({ keys: [] }), ["keys"]);
    expectConfigError(() => new MemoryTokenVault({ keys: [keyText(), short] }), ["keys.1"], [short]);
    expectConfigError(() => new MemoryTokenVault({ clock: 5 as never, max_records: 1.5 }), ["max_records", "clock"]);
    expectConfigError(() => new MemoryTokenVault({ max_record: 5 } as never), ["max_record"]);
  });
});

describe("RedisTokenVault with a real redis-server", () => {
  let redis: Awaited<ReturnType<typeof startRedis>> | undefined;
  const clients: Redis[] = [];
  const available = hasRedisServer();
  const PREFIX = "test:vault:";
  const KEYS = [{ id: "main", key: keyText() }];
  const skip = () =>
    redis ? undefined : "needs redis-server on PATH (apt-get install redis-server); CI installs it and never skips";
  const client = (): Redis => {
    const c = new Redis(redis!.url, { maxRetriesPerRequest: 1 });
    clients.push(c);
    return c;
  };

  before(async () => {
    if (!available) {
      if (process.env.CI === "true")
        throw new Error("redis-server is required in CI (.ci/run installs it): not found on PATH");
      console.log("# RedisTokenVault tests skipped: redis-server not on PATH");
      return;
    }
    redis = await startRedis();
  });
  after(async () => {
    for (const c of clients) c.disconnect();
    await redis?.stop();
  });

  contract(async () => {
    const inspect = client();
    await inspect.flushall();
    const raw: Raw = {
      get: async (slot) => (await inspect.get(PREFIX + slot)) ?? undefined,
      set: async (slot, value) => void (await inspect.set(PREFIX + slot, value)),
      dump: async () => {
        const names = await inspect.keys("*");
        const values = await Promise.all(names.map((n) => inspect.get(n)));
        return JSON.stringify([names, values]);
      },
    };
    return {
      vault: new RedisTokenVault({ client: client(), keys: KEYS, prefix: PREFIX }),
      peer: new RedisTokenVault({ client: client(), keys: KEYS, prefix: PREFIX }),
      raw,
    };
  }, skip);

  test("key names: prefix + cred:/transient:/lock: + hex SHA-256; default prefix protected-mcp:vault:", async (t) => {
    if (skip()) return t.skip(skip());
    const c = client();
    await c.flushall();
    const vault = new RedisTokenVault({ client: c, keys: KEYS });
    await vault.set(ALICE, OAUTH);
    await vault.putTransient(HANDLE, { a: 1 }, 60_000);
    await vault.lock(ALICE, 60_000);
    const lockSlot = credSlot(ALICE).replace("cred:", "lock:");
    assert.deepEqual(
      (await c.keys("*")).sort(),
      [credSlot(ALICE), lockSlot, transientSlot(HANDLE)].map((s) => `protected-mcp:vault:${s}`).sort(),
      "exactly these keys",
    );
    assert.equal(await c.pttl(`protected-mcp:vault:${credSlot(ALICE)}`), -1, "credentials do not expire");
  });

  test("transient records expire (PX)", async (t) => {
    if (skip()) return t.skip(skip());
    const c = client();
    const vault = new RedisTokenVault({ client: c, keys: KEYS, prefix: PREFIX });
    await vault.putTransient("long", { v: 1 }, 60_000);
    const pttl = await c.pttl(PREFIX + transientSlot("long"));
    assert.ok(pttl > 59_000 && pttl <= 60_000, `PX set: pttl ${pttl}`);
    await vault.putTransient("short", { v: 2 }, 40);
    assert.deepEqual(await vault.peekTransient("short"), { v: 2 }, "alive at first");
    const deadline = Date.now() + 10_000;
    while ((await vault.peekTransient("short")) !== undefined) {
      assert.ok(Date.now() < deadline, "expired within 10 s");
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await vault.takeTransient("short"), undefined, "an expired record cannot be taken");
    assert.equal(await c.exists(PREFIX + transientSlot("short")), 0, "Redis dropped the key");
  });

  test("locks expire (PX); a stale holder's release does not delete the newer lock", async (t) => {
    if (skip()) return t.skip(skip());
    const [a, b] = [client(), client()];
    const one = new RedisTokenVault({ client: a, keys: KEYS, prefix: PREFIX });
    const two = new RedisTokenVault({ client: b, keys: KEYS, prefix: PREFIX });
    const slot = PREFIX + credSlot(BOB).replace("cred:", "lock:");
    await a.del(slot);
    const stale = await one.lock(BOB, 40);
    assert.ok(stale, "granted");
    const pttl = await a.pttl(slot);
    assert.ok(pttl > 0 && pttl <= 40, `PX set: pttl ${pttl}`);
    let fresh: (() => Promise<void>) | undefined;
    const deadline = Date.now() + 10_000;
    while (!(fresh = await two.lock(BOB, 60_000))) {
      assert.ok(Date.now() < deadline, "the lease ran out within 10 s");
      await new Promise((r) => setTimeout(r, 20));
    }
    const holder = await a.get(slot);
    await stale();
    assert.equal(await a.get(slot), holder, "the stale release left the newer holder's value");
    assert.equal(await one.lock(BOB, 60_000), undefined, "still held");
    await fresh();
    assert.equal(await a.exists(slot), 0, "the holder's release deletes it");
    const next = await one.lock(BOB, 60_000);
    assert.ok(next, "free again");
    await next();
  });

  test("key rotation across a fleet: [A] records open under [B, A], new seals use B, [B] alone cannot", async (t) => {
    if (skip()) return t.skip(skip());
    const c = client();
    const A = { id: "A", key: keyText() };
    const B = { id: "B", key: keyText() };
    const old = new RedisTokenVault({ client: c, keys: [A], prefix: "rot:" });
    await old.set(ALICE, OAUTH);
    await old.putTransient("h", { v: 1 }, 60_000);
    const sealedState = await old.seal("s", { v: 2 });
    assert.match((await c.get(`rot:${credSlot(ALICE)}`))!, /^v1\.A\./, "sealed under A");
    const rotated = new RedisTokenVault({ client: c, keys: [B, A], prefix: "rot:" });
    const withoutA = new RedisTokenVault({ client: c, keys: [B], prefix: "rot:" });
    assert.equal(await withoutA.get(ALICE), undefined, "[B] cannot open A's credential");
    assert.equal(await withoutA.peekTransient("h"), undefined, "nor its transient record");
    assert.equal(await withoutA.open("s", sealedState), undefined, "nor its state");
    assert.deepEqual(await rotated.get(ALICE), OAUTH, "[B, A] opens the old credential");
    assert.deepEqual(await rotated.peekTransient("h"), { v: 1 }, "and the transient record");
    assert.deepEqual(await rotated.open("s", sealedState), { v: 2 }, "and the state");
    await rotated.set(ALICE, OAUTH);
    assert.match((await c.get(`rot:${credSlot(ALICE)}`))!, /^v1\.B\./, "rewritten under B");
    assert.deepEqual(await withoutA.get(ALICE), OAUTH, "which [B] opens");
  });

  test("Redis down: VaultUnavailable (ERR_VAULT_UNAVAILABLE), no key material in the message", async (t) => {
    if (skip()) return t.skip(skip());
    const dead = new Redis(`redis://127.0.0.1:1`, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    clients.push(dead);
    const key = keyText();
    const vault = new RedisTokenVault({ client: dead, keys: [key] });
    const e = await vault.get(ALICE).then(
      () => undefined,
      (x: unknown) => x,
    );
    assert.ok(e instanceof VaultUnavailable, `VaultUnavailable, got ${String(e)}`);
    assert.ok(e instanceof ConnectedAccountError, "a ConnectedAccountError");
    assert.equal(e.code, "ERR_VAULT_UNAVAILABLE", "code");
    assert.equal(VaultUnavailable.code, "ERR_VAULT_UNAVAILABLE", "static code");
    assert.equal(e.provider, "", "no provider");
    assert.equal(e.message, `The token vault is unavailable; try again in ${e.retry_after} s`, "exact text");
    for (const s of [key, ...SECRETS]) assert.ok(!e.message.includes(s), "no secret in the message");
  });
});

describe("RedisTokenVault with a fake client: timeouts, back-off, options", () => {
  const never = () => new Promise<never>(() => {});
  const fake = (calls: string[]): RedisVaultClient => ({
    get: (k) => (calls.push(`get ${k}`), never()),
    set: (k: string) => (calls.push(`set ${k}`), never()),
    del: (k) => (calls.push(`del ${k}`), never()),
    eval: (_s, _n, k) => (calls.push(`eval ${k}`), never()),
  });

  test("no answer within timeout_ms → VaultUnavailable; then calls fail at once while backing off", async () => {
    const calls: string[] = [];
    const vault = new RedisTokenVault({ client: fake(calls), keys: [keyText()], timeout_ms: 20 });
    await assert.rejects(vault.set(ALICE, OAUTH), { code: "ERR_VAULT_UNAVAILABLE", retry_after: 1 }, "timed out");
    assert.equal(calls.length, 1, "one command sent");
    for (const op of [
      () => vault.get(ALICE),
      () => vault.takeTransient("x"),
      () => vault.lock(ALICE, 1000),
      () => vault.putTransient("x", {}, 1000),
    ]) {
      await assert.rejects(op(), { code: "ERR_VAULT_UNAVAILABLE" }, "fails at once");
    }
    assert.equal(calls.length, 1, "nothing more sent while backing off");
  });

  test("a failing client: VaultUnavailable with the cause kept, message fixed", async () => {
    const err = new Error("ERR something about gho_ACCESSTOKEN_5b1e9d");
    const client: RedisVaultClient = {
      get: () => Promise.reject(err),
      set: () => Promise.reject(err),
      del: () => Promise.reject(err),
      eval: () => Promise.reject(err),
    };
    const vault = new RedisTokenVault({ client, keys: [keyText()], backoff: { initial_ms: 1, max_ms: 1 } });
    const e = await vault.get(ALICE).catch((x: unknown) => x);
    assert.ok(e instanceof VaultUnavailable, "VaultUnavailable");
    assert.equal(e.cause, err, "the cause is kept");
    assert.ok(!e.message.includes("gho_"), "the store's text is not copied into the message");
  });

  test("seal/open need no Redis round trip", async () => {
    const calls: string[] = [];
    const vault = new RedisTokenVault({ client: fake(calls), keys: [keyText()] });
    assert.deepEqual(await vault.open("p", await vault.seal("p", { a: 1 })), { a: 1 }, "round trip");
    assert.equal(calls.length, 0, "no command");
  });

  test("bad options: ConfigError naming each field, never a key", () => {
    const client = fake([]);
    const short = randomBytes(31).toString("base64url");
    expectConfigError(() => new RedisTokenVault({ client } as never), ["keys"]);
    expectConfigError(() => new RedisTokenVault({ client, keys: [] }), ["keys"]);
    expectConfigError(() => new RedisTokenVault({ client, keys: [short, keyText()] }), ["keys.0"], [short]);
    expectConfigError(() => new RedisTokenVault({ keys: [keyText()] } as never), ["client"]);
    expectConfigError(
      () => new RedisTokenVault({ client: { get() {}, set() {} } as never, keys: [keyText()] }),
      ["client"],
    );
    expectConfigError(
      () => new RedisTokenVault({ client, keys: [keyText()], prefix: 5 as never, timeout_ms: -1 }),
      ["prefix", "timeout_ms"],
    );
    expectConfigError(
      () => new RedisTokenVault({ client, keys: [keyText()], backoff: { initial_ms: 0 } }),
      ["backoff.initial_ms"],
    );
    expectConfigError(() => new RedisTokenVault({ client, keys: [keyText()], timeout: 5 } as never), ["timeout"]);
  });
});
