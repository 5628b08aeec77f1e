/**
 * `ReplayStore`: remembers DPoP proof `jti`s for as long as a proof could still be accepted, so a
 * captured proof cannot be sent twice — on this instance (memory) or anywhere in a fleet (Redis).
 *
 * @see RFC 9449 §11.1 (replay of DPoP proofs)
 * @module
 */
import { withTimeout } from "../lib/timeout.js";
import { LRUCache } from "lru-cache";
import { z } from "zod";
import { Backoff, type BackoffOptions } from "../lib/backoff.js";
import type { Clock } from "../lib/clock.js";
import { functionSchema, optionsSchema, parseOptions, withMethods } from "../lib/options.js";
import { ReplayStoreFull, ReplayStoreUnavailable } from "./errors.js";

/** Where seen proof identifiers live. */
export interface ReplayStore {
  /**
   * Record `key` for `ttlMs` milliseconds. Resolves `true` when the key was not already recorded
   * (first use), `false` when it was (a replay). Must be atomic across every instance sharing the store,
   * and must never forget a key before its `ttlMs` has passed (a forgotten key is a replayable proof).
   * Rejects when the store cannot answer ({@link ReplayStoreUnavailable}: 503) or cannot record one
   * more key without forgetting a live one ({@link ReplayStoreFull}); the request is then refused.
   */
  remember(key: string, ttlMs: number): Promise<boolean>;
}

/** Options of {@link MemoryReplayStore}. */
export interface MemoryReplayStoreOptions {
  /**
   * Most identifiers kept, all keys together. Default 100,000. Size it above the number of proofs
   * one instance accepts within two `iat` windows: past it new proofs are refused (503 with
   * `Retry-After`) until the oldest identifier expires — never remembered by forgetting a live one.
   * Use {@link RedisReplayStore} for several instances or high rates.
   */
  max?: number;
  /**
   * Most identifiers kept for one key prefix (the part of the key before the first `:`, i.e. the
   * proof's `jkt`, so one client key). Default `max / 10` (10,000: a client key may send about 16 proofs a second,
   * sustained), at least 1. A key over its share
   * has its new proofs refused (401 `invalid_dpop_proof`, reason `replay_store_full`) until its own
   * oldest identifiers expire, so one client cannot fill the store for everybody. Size it above the
   * proofs one client key sends within two `iat` windows. Keys without `:` each count on their own.
   */
  max_per_key?: number;
  /**
   * Clock, for tests: a {@link Clock} (`Date.now`-like). Only differences between two readings are
   * used, so the default is the monotonic `performance.now`.
   */
  clock?: Clock;
}

const MemoryOptionsSchema = optionsSchema(
  "MemoryReplayStore",
  z
    .strictObject({
      max: z.number().int().positive().max(10_000_000).optional(),
      max_per_key: z.number().int().positive().optional(),
      clock: functionSchema.optional(),
    })
    .refine((o) => o.max_per_key === undefined || o.max_per_key <= (o.max ?? 100_000), {
      path: ["max_per_key"],
      error: "must not exceed max",
    }),
);

/** The share a key counts against: its prefix up to the first `:` (the proof's `jkt`), else the key itself. */
const prefixOf = (key: string): string => {
  const i = key.indexOf(":");
  return i < 0 ? key : key.slice(0, i);
};

/** A full store is swept for expired entries at most this often (a sweep walks every entry). */
const SWEEP_INTERVAL_MS = 1000;

/**
 * In-process replay store on a bounded `lru-cache`; each entry expires with the proof's window.
 *
 * **It never forgets a live identifier.** `lru-cache` would make room by evicting the least recently
 * used entry — a still-valid proof someone may have captured. Instead, a new identifier that does not
 * fit is refused with {@link ReplayStoreFull}:
 * - its key's share (`max_per_key`) is full → `scope: "key"`: only that client is refused (it sent
 *   the proofs); everybody else goes on;
 * - the whole store (`max`) is full → `scope: "store"`, with `retry_after` = seconds until the
 *   oldest identifier expires.
 * Before refusing, expired identifiers are reclaimed (at most one sweep a second). Memory stays
 * bounded by `max`; a replay is answered `false` whatever the fill level.
 *
 * @example
 * ```ts
 * new MCPServer("x", { dpop: { replay_store: new MemoryReplayStore({ max: 50_000, max_per_key: 2_000 }) } });
 * ```
 * @see RFC 9449 §11.1
 */
export class MemoryReplayStore implements ReplayStore {
  /** Identifier → the prefix it counts against (kept as the value so disposal knows whose count to lower). */
  readonly #seen: LRUCache<string, string>;
  /** Live-or-not-yet-swept identifiers per prefix; a prefix leaves the map with its last identifier. */
  readonly #perKey = new Map<string, number>();
  readonly #max: number;
  readonly #maxPerKey: number;
  readonly #now: () => number;
  #lastSweep = Number.NEGATIVE_INFINITY;

  /**
   * @param options - see {@link MemoryReplayStoreOptions}.
   * @throws {@link ConfigError} naming each bad option.
   */
  constructor(options: MemoryReplayStoreOptions = {}) {
    const o = parseOptions(MemoryOptionsSchema, options, "MemoryReplayStore");
    this.#max = o.max ?? 100_000;
    this.#maxPerKey = o.max_per_key ?? Math.max(1, Math.floor(this.#max / 10));
    const now = (o.clock as (() => number) | undefined) ?? (() => performance.now());
    this.#now = now;
    this.#seen = new LRUCache<string, string>({
      max: this.#max,
      // ttl here only turns TTL tracking on; every entry gets its own ttl (never 0, which would mean forever).
      ttl: 3_600_000,
      ttlAutopurge: false,
      ttlResolution: 0,
      perf: { now },
      onInsert: (prefix, _key, how) => {
        if (how === "add") this.#perKey.set(prefix, (this.#perKey.get(prefix) ?? 0) + 1);
      },
      dispose: (prefix) => {
        const left = (this.#perKey.get(prefix) ?? 1) - 1;
        if (left > 0) this.#perKey.set(prefix, left);
        else this.#perKey.delete(prefix);
      },
    });
  }

  /** Number of identifiers currently held (at most `max`; expired ones count until swept). */
  get size(): number {
    return this.#seen.size;
  }

  /**
   * Record `key` for `ttlMs`; `false` when it is already recorded and unexpired.
   *
   * @throws {@link ReplayStoreFull} when recording it would take more than the key's share or the
   *   store's `max` of unexpired identifiers.
   */
  async remember(key: string, ttlMs: number): Promise<boolean> {
    if (this.#seen.has(key)) return false;
    const prefix = prefixOf(key);
    if (this.#keyFull(prefix) || this.#storeFull()) {
      this.#sweep();
      // Still full after reclaiming what expired: refuse, never evict a live identifier.
      if (this.#keyFull(prefix)) throw new ReplayStoreFull("key");
      if (this.#storeFull()) throw new ReplayStoreFull("store", this.#secondsUntilOldestExpires());
    }
    this.#seen.set(key, prefix, { ttl: Math.max(1, Math.ceil(ttlMs)) });
    return true;
  }

  #keyFull(prefix: string): boolean {
    return (this.#perKey.get(prefix) ?? 0) >= this.#maxPerKey;
  }

  #storeFull(): boolean {
    return this.#seen.size >= this.#max;
  }

  /**
   * Reclaim expired identifiers (lru-cache's `purgeStale`, which also lowers the per-key counts
   * through `dispose`), at most once per {@link SWEEP_INTERVAL_MS}: a sweep walks every entry, and a
   * flood against a full store must not buy one per request.
   */
  #sweep(): void {
    const now = this.#now();
    if (now - this.#lastSweep < SWEEP_INTERVAL_MS) return;
    this.#lastSweep = now;
    this.#seen.purgeStale();
  }

  /**
   * Seconds until the least recently added live identifier expires (at least 1): when a place frees
   * up. Exact when every entry has the same ttl (as the DPoP check gives them), else an upper bound.
   */
  #secondsUntilOldestExpires(): number {
    const oldest = this.#seen.rkeys().next();
    const ms = oldest.done ? 0 : this.#seen.getRemainingTTL(oldest.value);
    return Math.max(1, Math.ceil(ms / 1000));
  }
}

/**
 * The Redis commands the store uses, as `ioredis` (and `node-redis` v4+ via a small wrapper) expose
 * them: `SET key value PX ms NX`, answering `"OK"` when set and `null` when the key existed; and,
 * optionally, a generic `call` used once to read `maxmemory-policy` (see
 * {@link RedisReplayStore.checkEvictionPolicy}).
 */
export interface RedisSetClient {
  /** `SET key value PX ttl NX`. */
  set(key: string, value: string, px: "PX", ttlMs: number, nx: "NX"): Promise<string | null>;
  /** Any command, e.g. `call("CONFIG", "GET", "maxmemory-policy")` (ioredis has it). Optional. */
  call?(command: string, ...args: string[]): Promise<unknown>;
}

/** Options of {@link RedisReplayStore}. */
export interface RedisReplayStoreOptions {
  /** A connected client, e.g. `new Redis(url)` from `ioredis` (an optional peer dependency). */
  client: RedisSetClient;
  /** Key prefix. Default `"protected-mcp:dpop:"`. */
  prefix?: string;
  /**
   * Milliseconds one command may take before the store gives up (and the request is refused with 503).
   * Default 500. Configure the client to fail rather than queue while disconnected (ioredis:
   * `enableOfflineQueue: false`, `maxRetriesPerRequest: 0`) so an outage is seen at once.
   */
  timeout_ms?: number;
  /**
   * Back-off after a failed or timed-out command: until it has run out, `remember` rejects at once
   * without asking Redis (fail closed, fast). Default 1 s doubling up to 30 s.
   */
  backoff?: BackoffOptions;
  /**
   * After the first successful `SET`, read Redis' `maxmemory-policy` once and warn (through `on_warning`)
   * unless it is `noeviction`. Default `true`. See {@link RedisReplayStore.checkEvictionPolicy}.
   */
  check_eviction_policy?: boolean;
  /** Receives the eviction-policy warning. Default `console.warn`. */
  on_warning?: (message: string) => void;
  /** @deprecated Use `on_warning`. Removed in 0.3. */
  log?: (message: string) => void;
}

const BackoffSchema = optionsSchema(
  "RedisReplayStore backoff",
  z
    .strictObject({
      initial_ms: z.number().positive().max(3_600_000).optional(),
      max_ms: z.number().positive().max(3_600_000).optional(),
      jitter: z.number().min(0).max(1).optional(),
      clock: functionSchema.optional(),
      random: functionSchema.optional(),
    })
    .refine((b) => (b.initial_ms ?? 1000) <= (b.max_ms ?? 30_000), { error: "initial_ms must not exceed max_ms" }),
  { now: "clock" },
);

const RedisOptionsSchema = optionsSchema(
  "RedisReplayStore",
  z.strictObject({
    client: withMethods<RedisSetClient>("set"),
    prefix: z.string().optional(),
    timeout_ms: z.number().positive().max(60_000).optional(),
    backoff: BackoffSchema.optional(),
    check_eviction_policy: z.boolean().optional(),
    on_warning: functionSchema.optional(),
  }),
  { log: "on_warning" },
);

/** The value of `CONFIG GET maxmemory-policy` in any reply shape (RESP2 array, RESP3 map, node-redis object). */
function policyFrom(reply: unknown): string | undefined {
  const value: unknown = Array.isArray(reply)
    ? (reply as unknown[])[1]
    : reply instanceof Map
      ? reply.get("maxmemory-policy")
      : typeof reply === "object" && reply !== null
        ? (reply as Record<string, unknown>)["maxmemory-policy"]
        : undefined;
  return typeof value === "string" && value.length > 0 ? value.slice(0, 64) : undefined;
}

/**
 * Whether Redis may evict our keys under `policy`. Every key the store writes has a TTL, so the
 * `volatile-*` policies (which evict keys with a TTL) are as dangerous as `allkeys-*`: only
 * `noeviction` keeps a remembered proof until it expires (at `maxmemory`, writes fail instead: 503).
 */
const evictionPolicyIsSafe = (policy: string): boolean => policy === "noeviction";

/**
 * Fleet-wide replay store: one atomic `SET key 1 PX ttl NX` round trip per proof, so a proof used
 * at one instance is refused at every other.
 *
 * **Eviction.** A key Redis evicts is a proof that can be replayed. Run Redis with
 * `maxmemory-policy noeviction` (Redis' default): at `maxmemory` a `SET` then fails and the proof is
 * refused with 503 (fail closed), and nothing remembered is dropped. Every key has a TTL, so the
 * `volatile-*` policies that many managed offerings default to evict them too. After the first
 * successful `SET` the store reads the policy once and warns through `log` when it is not
 * `noeviction`, or when it cannot be read (managed Redis often refuses `CONFIG`).
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * const replay_store = new RedisReplayStore({ client: new Redis(process.env.REDIS_URL!) });
 * new MCPServer("x", { authorization, dpop: { replay_store } });
 * ```
 * @see RFC 9449 §11.1
 */
export class RedisReplayStore implements ReplayStore {
  readonly #client: RedisSetClient;
  readonly #prefix: string;
  readonly #timeout: number;
  readonly #backoff: Backoff;
  readonly #log: (message: string) => void;
  #policyChecked: boolean;

  /**
   * @param options - see {@link RedisReplayStoreOptions}.
   * @throws {@link ConfigError} naming each bad option.
   */
  constructor(options: RedisReplayStoreOptions) {
    const o = parseOptions(RedisOptionsSchema, options, "RedisReplayStore");
    this.#client = o.client;
    this.#prefix = o.prefix ?? "protected-mcp:dpop:";
    this.#timeout = o.timeout_ms ?? 500;
    this.#backoff = new Backoff(o.backoff as BackoffOptions | undefined);
    this.#log = (o.on_warning as ((message: string) => void) | undefined) ?? console.warn;
    this.#policyChecked = o.check_eviction_policy === false;
  }

  /**
   * `SET key 1 PX ttl NX`, bounded by `timeout_ms`.
   *
   * @throws {@link ReplayStoreUnavailable} when Redis fails or is slow (an `OOM` error under
   *   `noeviction` included), and at once while backing off.
   */
  async remember(key: string, ttlMs: number): Promise<boolean> {
    if (!this.#backoff.ready()) throw new ReplayStoreUnavailable(this.#backoff.retryAfterSeconds());
    let reply: string | null;
    try {
      reply = await withTimeout(
        this.#client.set(this.#prefix + key, "1", "PX", Math.max(1, Math.ceil(ttlMs)), "NX"),
        this.#timeout,
      );
    } catch (e) {
      this.#backoff.failed();
      throw new ReplayStoreUnavailable(this.#backoff.retryAfterSeconds(), { cause: e });
    }
    this.#backoff.succeeded();
    if (!this.#policyChecked) {
      // Once, off the request's path, and only against a Redis known to answer.
      this.#policyChecked = true;
      void this.checkEvictionPolicy();
    }
    return reply === "OK";
  }

  /**
   * Read Redis' `maxmemory-policy` (`CONFIG GET`, through the client's `call`) and warn through
   * `log` unless it is `noeviction` — or when it cannot be read (no `call`, `CONFIG` refused as on
   * many managed offerings, no answer within `timeout_ms`): then check it yourself. Never throws.
   *
   * @returns the policy, or `undefined` when it could not be read.
   */
  async checkEvictionPolicy(): Promise<string | undefined> {
    let policy: string | undefined;
    try {
      const reply = this.#client.call
        ? await withTimeout(this.#client.call("CONFIG", "GET", "maxmemory-policy"), this.#timeout)
        : undefined;
      policy = policyFrom(reply);
    } catch {
      policy = undefined; // refused or unsupported: say so below, never fail a request for it
    }
    const warning =
      policy === undefined
        ? "RedisReplayStore: could not read Redis maxmemory-policy; make sure it is noeviction, or Redis may evict remembered DPoP proofs, which could then be replayed"
        : evictionPolicyIsSafe(policy)
          ? undefined
          : `RedisReplayStore: Redis maxmemory-policy is "${policy}": at maxmemory Redis may evict remembered DPoP proofs (all have a TTL, so volatile-* policies evict them too), which could then be replayed; set maxmemory-policy noeviction (full Redis then answers 503)`;
    if (warning) {
      try {
        this.#log(warning);
      } catch {
        // A logger must never change an answer.
      }
    }
    return policy;
  }
}
