/**
 * `ReplayStore`: remembers DPoP proof `jti`s for as long as a proof could still be accepted, so a
 * captured proof cannot be sent twice — on this instance (memory) or anywhere in a fleet (Redis).
 *
 * @see RFC 9449 §11.1 (replay of DPoP proofs)
 * @module
 */
import { LRUCache } from "lru-cache";
import { Backoff, type BackoffOptions } from "../lib/backoff.js";

/** Where seen proof identifiers live. */
export interface ReplayStore {
  /**
   * Record `key` for `ttlMs` milliseconds. Resolves `true` when the key was not already recorded
   * (first use), `false` when it was (a replay). Must be atomic across every instance sharing the store.
   * Rejects when the store cannot answer; the server then refuses the request (503) unless `fail_open`.
   */
  remember(key: string, ttlMs: number): Promise<boolean>;
}

/** Options of {@link MemoryReplayStore}. */
export interface MemoryReplayStoreOptions {
  /**
   * Most identifiers kept. Default 100,000. Size it above the number of proofs one instance accepts
   * within two `iat` windows: past it the oldest identifiers are forgotten early (memory stays
   * bounded under a flood of unique `jti`s, at the price that a proof evicted that way could be
   * replayed). Use {@link RedisReplayStore} for several instances or high rates.
   */
  max?: number;
}

/**
 * In-process replay store on a bounded `lru-cache`; each entry expires with the proof's window.
 *
 * @example
 * ```ts
 * new MCPServer("x", { dpop: { replay_store: new MemoryReplayStore({ max: 50_000 }) } });
 * ```
 */
export class MemoryReplayStore implements ReplayStore {
  readonly #seen: LRUCache<string, true>;

  /** @param options - see {@link MemoryReplayStoreOptions}. */
  constructor(options: MemoryReplayStoreOptions = {}) {
    const max = options.max ?? 100_000;
    if (!Number.isInteger(max) || max < 1) throw new TypeError('MemoryReplayStore: "max" must be a positive integer');
    // ttl here only turns TTL tracking on; every entry gets its own ttl (never 0, which would mean forever).
    this.#seen = new LRUCache<string, true>({ max, ttl: 3_600_000, ttlAutopurge: false, ttlResolution: 0 });
  }

  /** Number of identifiers currently remembered (at most `max`). */
  get size(): number {
    return this.#seen.size;
  }

  async remember(key: string, ttlMs: number): Promise<boolean> {
    if (this.#seen.has(key)) return false;
    this.#seen.set(key, true, { ttl: Math.max(1, Math.ceil(ttlMs)) });
    return true;
  }
}

/**
 * The one Redis command the store needs, as `ioredis` (and `node-redis` v4+ via a small wrapper)
 * expose it: `SET key value PX ms NX`, answering `"OK"` when set and `null` when the key existed.
 */
export interface RedisSetClient {
  /** `SET key value PX ttl NX`. */
  set(key: string, value: string, px: "PX", ttlMs: number, nx: "NX"): Promise<string | null>;
}

/** Options of {@link RedisReplayStore}. */
export interface RedisReplayStoreOptions {
  /** A connected client, e.g. `new Redis(url)` from `ioredis` (an optional peer dependency). */
  client: RedisSetClient;
  /** Key prefix. Default `"protected-mcp:dpop:"`. */
  prefix?: string;
  /**
   * Milliseconds one `SET` may take before the store gives up (and the request is refused with 503).
   * Default 500. Configure the client to fail rather than queue while disconnected (ioredis:
   * `enableOfflineQueue: false`, `maxRetriesPerRequest: 0`) so an outage is seen at once.
   */
  timeout_ms?: number;
  /**
   * Back-off after a failed or timed-out command: until it has run out, `remember` rejects at once
   * without asking Redis (fail closed, fast). Default 1 s doubling up to 30 s.
   */
  backoff?: BackoffOptions;
}

/**
 * The replay store could not answer (down, slow, or backing off after a failure). The server refuses
 * the request with 503 and `Retry-After`: without the store a replayed proof could not be told apart.
 */
export class ReplayStoreUnavailable extends Error {
  /** Whole seconds until the store is tried again. */
  readonly retry_after: number;
  /** @param retry_after - seconds until the next attempt; @param options - `cause`, never sent to clients. */
  constructor(retry_after: number, options?: { cause?: unknown }) {
    super("The replay store is unavailable", options);
    this.name = "ReplayStoreUnavailable";
    this.retry_after = retry_after;
  }
}

/**
 * Fleet-wide replay store: one atomic `SET key 1 PX ttl NX` round trip per proof, so a proof used
 * at one instance is refused at every other.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * const replay_store = new RedisReplayStore({ client: new Redis(process.env.REDIS_URL!) });
 * new MCPServer("x", { authorization, dpop: { replay_store } });
 * ```
 */
export class RedisReplayStore implements ReplayStore {
  readonly #client: RedisSetClient;
  readonly #prefix: string;
  readonly #timeout: number;
  readonly #backoff: Backoff;

  /** @param options - see {@link RedisReplayStoreOptions}. */
  constructor(options: RedisReplayStoreOptions) {
    if (!options?.client || typeof options.client.set !== "function") throw new TypeError('RedisReplayStore: "client" must have a set() method');
    const timeout = options.timeout_ms ?? 500;
    if (!(Number.isFinite(timeout) && timeout > 0 && timeout <= 60_000)) throw new TypeError('RedisReplayStore: "timeout_ms" must be between 1 and 60000');
    this.#client = options.client;
    this.#prefix = options.prefix ?? "protected-mcp:dpop:";
    this.#timeout = timeout;
    this.#backoff = new Backoff(options.backoff);
  }

  /**
   * `SET key 1 PX ttl NX`, bounded by `timeout_ms`.
   *
   * @throws {@link ReplayStoreUnavailable} when Redis fails or is slow, and at once while backing off.
   */
  async remember(key: string, ttlMs: number): Promise<boolean> {
    if (!this.#backoff.ready()) throw new ReplayStoreUnavailable(this.#backoff.retryAfterSeconds());
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const reply = await Promise.race([
        this.#client.set(this.#prefix + key, "1", "PX", Math.max(1, Math.ceil(ttlMs)), "NX"),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${this.#timeout} ms`)), this.#timeout);
        }),
      ]);
      this.#backoff.succeeded();
      return reply === "OK";
    } catch (e) {
      this.#backoff.failed();
      throw new ReplayStoreUnavailable(this.#backoff.retryAfterSeconds(), { cause: e });
    } finally {
      clearTimeout(timer);
    }
  }
}
