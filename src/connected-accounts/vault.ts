/**
 * The token vaults: {@link MemoryTokenVault} (one process) and {@link RedisTokenVault} (a fleet). Both
 * keep every record sealed (AES-256-GCM under the key ring, see {@link TokenVault}) and name records by
 * hashes, so neither their memory nor a Redis dump holds a token, an API key, a subject or an issuer in
 * clear, and a record copied into another account's slot does not open there.
 *
 * @module
 */
import { withTimeout } from "../lib/timeout.js";
import { LRUCache } from "lru-cache";
import { z } from "zod";
import { randomToken } from "../lib/secrets.js";
import { Backoff, type BackoffWindow } from "../lib/backoff.js";
import type { Clock } from "../lib/clock.js";
import { backoffWindowSchema, functionSchema, optionsSchema, parseOptions, withMethods } from "../lib/options.js";
import { VaultUnavailable } from "./errors.js";
import { KeyRing, vaultKeyIssues } from "./key-ring.js";
import type { AccountKey, StoredCredential, TokenVault, VaultKey } from "./types.js";

/** A plain JSON object, or `undefined` for anything else (the vault stores and answers objects only). */
function jsonObject(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Hex SHA-256 of `text` (WebCrypto, as every runtime has it). */
async function hexSha256(text: string): Promise<string> {
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** `ttl_ms` as whole milliseconds, at least 1; a caller's bug (not finite, not positive) is a `RangeError`. */
function ttlOf(ttl_ms: number): number {
  if (typeof ttl_ms !== "number" || !Number.isFinite(ttl_ms) || ttl_ms <= 0)
    throw new RangeError("ttl_ms must be a positive number of milliseconds");
  return Math.max(1, Math.ceil(ttl_ms));
}

const isCredential = (v: Record<string, unknown>): boolean =>
  (v["kind"] === "oauth" || v["kind"] === "api_key") &&
  typeof v["access_token"] === "string" &&
  typeof v["obtained_at"] === "number";

/**
 * What both vaults share: how records are sealed, what they are bound to, and the names they are kept
 * under. Purposes: `credential`, `transient`, and `state:<purpose>` for {@link TokenVault.seal}, so no
 * caller-chosen purpose can reach the others' keys.
 */
class RecordCodec {
  readonly #ring: KeyRing;

  constructor(ring: KeyRing) {
    this.#ring = ring;
  }

  /** What a credential is bound to: the whole account, so a copy under another account or provider fails. */
  static credentialAd(account: AccountKey): string {
    return JSON.stringify(["credential", account.issuer, account.subject, account.provider]);
  }

  /** `cred:<hex SHA-256 of the associated data>`: no subject or issuer in a key name. */
  async credentialSlot(account: AccountKey): Promise<string> {
    return `cred:${await hexSha256(RecordCodec.credentialAd(account))}`;
  }

  /** `lock:<the same hash>`. */
  async lockSlot(account: AccountKey): Promise<string> {
    return `lock:${await hexSha256(RecordCodec.credentialAd(account))}`;
  }

  /** `transient:<hex SHA-256 of "transient:" + id>`: ids are connect-flow secrets, never kept in clear. */
  async transientSlot(id: string): Promise<string> {
    return `transient:${await hexSha256(`transient:${id}`)}`;
  }

  sealCredential(account: AccountKey, credential: StoredCredential): Promise<string> {
    return this.#ring.seal("credential", JSON.stringify(credential), RecordCodec.credentialAd(account));
  }

  async openCredential(account: AccountKey, sealed: string | null | undefined): Promise<StoredCredential | undefined> {
    if (typeof sealed !== "string") return undefined;
    const value = jsonObject(await this.#ring.open("credential", sealed, RecordCodec.credentialAd(account)));
    return value && isCredential(value) ? (value as unknown as StoredCredential) : undefined;
  }

  sealTransient(id: string, value: Readonly<Record<string, unknown>>): Promise<string> {
    return this.#ring.seal("transient", JSON.stringify(value), `transient:${id}`);
  }

  async openTransient(id: string, sealed: string | null | undefined): Promise<Record<string, unknown> | undefined> {
    return typeof sealed === "string"
      ? jsonObject(await this.#ring.open("transient", sealed, `transient:${id}`))
      : undefined;
  }

  seal(purpose: string, value: Readonly<Record<string, unknown>>): Promise<string> {
    return this.#ring.seal(`state:${purpose}`, JSON.stringify(value), `state:${purpose}`);
  }

  async open(purpose: string, sealed: string): Promise<Record<string, unknown> | undefined> {
    return jsonObject(await this.#ring.open(`state:${purpose}`, sealed, `state:${purpose}`));
  }
}

/** The vault key option, checked by the key ring (every bad position named, no key material quoted). */
const keysSchema = z.custom<VaultKey[]>().superRefine((keys, ctx) => {
  for (const issue of vaultKeyIssues(keys, "")) {
    ctx.addIssue({ code: "custom", path: issue.key.split(".").filter(Boolean).map(Number), message: issue.message });
  }
});

/** Options of {@link MemoryTokenVault}. */
export interface MemoryTokenVaultOptions {
  /**
   * The key ring (the first key seals, all open). Default: one random key, so **every record dies with
   * the process**: after a restart users connect again. Give keys to keep records readable across a
   * rolling restart of the same process (they still live only in its memory).
   */
  keys?: VaultKey[];
  /**
   * Most records of each kind (credentials, transient records, locks). Default 10,000. Past it the
   * least recently used record of that kind is dropped: a credential's user is asked to connect again,
   * a connect link stops working. Use {@link RedisTokenVault} for more, or for several instances.
   */
  max_records?: number;
  /** Clock for the expiry of transient records and locks. Default `Date.now`. */
  clock?: Clock;
}

const MemoryOptionsSchema = optionsSchema(
  "MemoryTokenVault",
  z.strictObject({
    keys: keysSchema.optional(),
    max_records: z.number().int().positive().max(10_000_000).optional(),
    clock: functionSchema.optional(),
  }),
);

/** One record of the memory vault: sealed text, or a lock's token, with its expiry (epoch ms). */
interface MemoryEntry {
  readonly value: string;
  readonly expires_at: number;
}

/**
 * The memory vault's storage, for its tests: names are the Redis vault's key names without the prefix.
 *
 * @internal
 */
export interface MemoryVaultStorage {
  /** `cred:<hex>` → sealed credential (never expires). */
  readonly credentials: LRUCache<string, MemoryEntry>;
  /** `transient:<hex>` → sealed transient record. */
  readonly transients: LRUCache<string, MemoryEntry>;
  /** `lock:<hex>` → the holder's random token. */
  readonly locks: LRUCache<string, MemoryEntry>;
}

let storageOf: (vault: MemoryTokenVault) => MemoryVaultStorage;

/**
 * A {@link TokenVault} in this process's memory, bounded by `max_records`. Records are sealed even
 * here (a heap dump shows no token), and lost with the process; with the default random key they
 * cannot be read by any other process either. One instance only: locks and single-use transient
 * records hold within this process.
 *
 * @example
 * ```ts
 * import { MemoryTokenVault } from "protected-mcp";
 * const vault = new MemoryTokenVault(); // one random key: users reconnect after a restart
 * ```
 */
export class MemoryTokenVault implements TokenVault {
  readonly #codec: RecordCodec;
  readonly #now: Clock;
  readonly #credentials: LRUCache<string, MemoryEntry>;
  readonly #transients: LRUCache<string, MemoryEntry>;
  readonly #locks: LRUCache<string, MemoryEntry>;

  static {
    storageOf = (v) => ({ credentials: v.#credentials, transients: v.#transients, locks: v.#locks });
  }

  /**
   * @param options - see {@link MemoryTokenVaultOptions}.
   * @throws `ConfigError` naming each bad option (a bad key by its position, never its value).
   */
  constructor(options: MemoryTokenVaultOptions = {}) {
    const o = parseOptions(MemoryOptionsSchema, options, "MemoryTokenVault");
    this.#codec = new RecordCodec(o.keys ? new KeyRing(o.keys, "MemoryTokenVault") : KeyRing.random());
    this.#now = (o.clock as Clock | undefined) ?? Date.now;
    const max = o.max_records ?? 10_000;
    this.#credentials = new LRUCache({ max });
    this.#transients = new LRUCache({ max });
    // A lock dropped for room only costs a second concurrent refresh; at 10,000 refreshes in flight at once.
    this.#locks = new LRUCache({ max });
  }

  /** The entry under `slot` unless it has expired (an expired one is removed). */
  #live(cache: LRUCache<string, MemoryEntry>, slot: string): MemoryEntry | undefined {
    const entry = cache.get(slot);
    if (entry && this.#now() >= entry.expires_at) {
      cache.delete(slot);
      return undefined;
    }
    return entry;
  }

  /** {@inheritDoc TokenVault.get} */
  async get(account: AccountKey): Promise<StoredCredential | undefined> {
    const entry = this.#credentials.get(await this.#codec.credentialSlot(account));
    return this.#codec.openCredential(account, entry?.value);
  }

  /** {@inheritDoc TokenVault.set} */
  async set(account: AccountKey, credential: StoredCredential): Promise<void> {
    const [slot, value] = await Promise.all([
      this.#codec.credentialSlot(account),
      this.#codec.sealCredential(account, credential),
    ]);
    this.#credentials.set(slot, { value, expires_at: Number.POSITIVE_INFINITY });
  }

  /** {@inheritDoc TokenVault.delete} */
  async delete(account: AccountKey): Promise<boolean> {
    return this.#credentials.delete(await this.#codec.credentialSlot(account));
  }

  /** {@inheritDoc TokenVault.lock} */
  async lock(account: AccountKey, ttl_ms: number): Promise<(() => Promise<void>) | undefined> {
    const ttl = ttlOf(ttl_ms);
    const slot = await this.#codec.lockSlot(account);
    // From here to the set, no await: the check and the claim are one step for this process.
    if (this.#live(this.#locks, slot)) return undefined;
    const token = randomToken(16); // a lease holder's token
    this.#locks.set(slot, { value: token, expires_at: this.#now() + ttl });
    return async () => {
      // Only our own lease: after it expired another holder's may be there.
      if (this.#locks.peek(slot)?.value === token) this.#locks.delete(slot);
    };
  }

  /** {@inheritDoc TokenVault.putTransient} */
  async putTransient(id: string, value: Readonly<Record<string, unknown>>, ttl_ms: number): Promise<void> {
    const ttl = ttlOf(ttl_ms);
    const [slot, sealed] = await Promise.all([this.#codec.transientSlot(id), this.#codec.sealTransient(id, value)]);
    this.#transients.set(slot, { value: sealed, expires_at: this.#now() + ttl });
  }

  /** {@inheritDoc TokenVault.peekTransient} */
  async peekTransient(id: string): Promise<Record<string, unknown> | undefined> {
    const entry = this.#live(this.#transients, await this.#codec.transientSlot(id));
    return this.#codec.openTransient(id, entry?.value);
  }

  /** {@inheritDoc TokenVault.takeTransient} */
  async takeTransient(id: string): Promise<Record<string, unknown> | undefined> {
    const slot = await this.#codec.transientSlot(id);
    // Read and remove with no await between: of two concurrent takes, the first one here gets it.
    const entry = this.#live(this.#transients, slot);
    this.#transients.delete(slot);
    return this.#codec.openTransient(id, entry?.value);
  }

  /** {@inheritDoc TokenVault.seal} */
  seal(purpose: string, value: Readonly<Record<string, unknown>>): Promise<string> {
    return this.#codec.seal(purpose, value);
  }

  /** {@inheritDoc TokenVault.open} */
  open(purpose: string, sealed: string): Promise<Record<string, unknown> | undefined> {
    return this.#codec.open(purpose, sealed);
  }
}

/**
 * The records a {@link MemoryTokenVault} holds, as stored (sealed text under hashed names): for tests
 * that check what is kept, and that a record moved to another slot does not open.
 *
 * @internal
 */
export function memoryVaultStorage(vault: MemoryTokenVault): MemoryVaultStorage {
  return storageOf(vault);
}

/**
 * The Redis commands {@link RedisTokenVault} sends, as `ioredis` exposes them (`node-redis` v4+
 * through a small wrapper):
 * - `GET key`;
 * - `SET key value` (credentials), `SET key value PX ms` (transient records), `SET key value PX ms NX`
 *   (locks: `"OK"` when taken, `null` when held);
 * - `DEL key` (the number of keys removed);
 * - `EVAL script 1 key [arg]`: two scripts, compare-and-delete (a lock's release) and GET+DEL (a
 *   transient record taken once).
 */
export interface RedisVaultClient {
  /** `GET key`: the value, or `null`. */
  get(key: string): Promise<string | null>;
  /** `SET key value`. */
  set(key: string, value: string): Promise<unknown>;
  /** `SET key value PX ms`. */
  set(key: string, value: string, px: "PX", ttl_ms: number): Promise<unknown>;
  /** `SET key value PX ms NX`: `"OK"` when set, `null` when the key exists. */
  set(key: string, value: string, px: "PX", ttl_ms: number, nx: "NX"): Promise<string | null>;
  /** `DEL key`: how many keys were removed. */
  del(key: string): Promise<number>;
  /** `EVAL script numkeys key… arg…`. */
  eval(script: string, numkeys: number, ...keys_and_args: string[]): Promise<unknown>;
}

/** Options of {@link RedisTokenVault}. */
export interface RedisTokenVaultOptions {
  /**
   * A connected client, e.g. `new Redis(url)` from `ioredis`. Configure it to fail rather than queue
   * while disconnected (ioredis: `enableOfflineQueue: false`, `maxRetriesPerRequest: 0`) so an outage
   * is seen at once.
   */
  client: RedisVaultClient;
  /**
   * The key ring, the same on every instance (the first key seals, all open). Rotate by putting the
   * new key first and keeping the old ones until their records have been rewritten or expired.
   */
  keys: VaultKey[];
  /** Key prefix. Default `"protected-mcp:vault:"`. */
  prefix?: string;
  /** Milliseconds one command may take before the vault gives up ({@link VaultUnavailable}). Default 500. */
  timeout_ms?: number;
  /** Back-off after a failed or timed-out command (calls fail at once meanwhile). Default 1 s doubling to 30 s. */
  backoff?: BackoffWindow;
}

const RedisOptionsSchema = optionsSchema(
  "RedisTokenVault",
  z.strictObject({
    client: withMethods<RedisVaultClient>("get", "set", "del", "eval"),
    keys: keysSchema,
    prefix: z.string().max(256).optional(),
    timeout_ms: z.number().positive().max(60_000).optional(),
    backoff: backoffWindowSchema.optional(),
  }),
);

/** Compare-and-delete: a lock is released only by the holder whose token is still there. */
const RELEASE_SCRIPT = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`;
/** GET then DEL in one step: of two takes, one gets the value. */
const TAKE_SCRIPT = `local v = redis.call("GET", KEYS[1]) if v then redis.call("DEL", KEYS[1]) end return v`;

/**
 * A {@link TokenVault} in Redis, shared by a fleet: every instance with the same `keys` and `prefix`
 * reads what another stored, a lock taken on one holds on all, and a transient record is taken once
 * fleet-wide. Keys (under `prefix`): `cred:<hex>` (no expiry), `lock:<hex>` and `transient:<hex>`
 * (with `PX`), the hex a SHA-256 of what the record is bound to: no subject, issuer or connect-flow id
 * in a key name, and values are sealed text only. See {@link RedisVaultClient} for the exact commands.
 *
 * Credentials have no TTL: run Redis with `maxmemory-policy noeviction` (or a `volatile-*` policy) so
 * they are not evicted, and with persistence if users should not reconnect after a Redis restart.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { RedisTokenVault } from "protected-mcp";
 * const vault = new RedisTokenVault({
 *   client: new Redis(process.env.REDIS_URL!, { enableOfflineQueue: false, maxRetriesPerRequest: 0 }),
 *   keys: [process.env.VAULT_KEY!], // 32 random bytes, base64url: new key first to rotate
 * });
 * ```
 */
export class RedisTokenVault implements TokenVault {
  readonly #client: RedisVaultClient;
  readonly #codec: RecordCodec;
  readonly #prefix: string;
  readonly #timeout: number;
  readonly #backoff: Backoff;

  /**
   * @param options - see {@link RedisTokenVaultOptions}.
   * @throws `ConfigError` naming each bad option (a bad key by its position, never its value).
   */
  constructor(options: RedisTokenVaultOptions) {
    const o = parseOptions(RedisOptionsSchema, options, "RedisTokenVault");
    this.#client = o.client;
    this.#codec = new RecordCodec(new KeyRing(o.keys, "RedisTokenVault"));
    this.#prefix = o.prefix ?? "protected-mcp:vault:";
    this.#timeout = o.timeout_ms ?? 500;
    this.#backoff = new Backoff(o.backoff);
  }

  /** One command, bounded by `timeout_ms`; any failure (or a back-off in progress) is a {@link VaultUnavailable}. */
  async #run<T>(command: () => Promise<T>): Promise<T> {
    if (!this.#backoff.ready()) throw new VaultUnavailable(this.#backoff.retryAfterSeconds());
    let reply: T;
    try {
      reply = await withTimeout(command(), this.#timeout);
    } catch (e) {
      this.#backoff.failed();
      throw new VaultUnavailable(this.#backoff.retryAfterSeconds(), { cause: e });
    }
    this.#backoff.succeeded();
    return reply;
  }

  /**
   * {@inheritDoc TokenVault.get}
   * @throws {@link VaultUnavailable} when Redis fails or is slow.
   */
  async get(account: AccountKey): Promise<StoredCredential | undefined> {
    const key = this.#prefix + (await this.#codec.credentialSlot(account));
    return this.#codec.openCredential(account, await this.#run(() => this.#client.get(key)));
  }

  /**
   * {@inheritDoc TokenVault.set}
   * @throws {@link VaultUnavailable} when Redis fails or is slow.
   */
  async set(account: AccountKey, credential: StoredCredential): Promise<void> {
    const [slot, value] = await Promise.all([
      this.#codec.credentialSlot(account),
      this.#codec.sealCredential(account, credential),
    ]);
    await this.#run(() => this.#client.set(this.#prefix + slot, value));
  }

  /**
   * {@inheritDoc TokenVault.delete}
   * @throws {@link VaultUnavailable} when Redis fails or is slow.
   */
  async delete(account: AccountKey): Promise<boolean> {
    const key = this.#prefix + (await this.#codec.credentialSlot(account));
    return (await this.#run(() => this.#client.del(key))) > 0;
  }

  /**
   * A lease on `account` for `ttl_ms` (`SET NX PX` with a random value): a function that releases it (a
   * compare-and-delete, so a stale holder never frees a newer lease), or `undefined` when another holder
   * has it. The release never throws: when Redis cannot be reached the lease simply runs out.
   * @throws {@link VaultUnavailable} when Redis fails or is slow.
   */
  async lock(account: AccountKey, ttl_ms: number): Promise<(() => Promise<void>) | undefined> {
    const ttl = ttlOf(ttl_ms);
    const key = this.#prefix + (await this.#codec.lockSlot(account));
    const token = randomToken(16); // a lease holder's token
    const reply = await this.#run(() => this.#client.set(key, token, "PX", ttl, "NX"));
    if (reply !== "OK") return undefined;
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      try {
        await this.#run(() => this.#client.eval(RELEASE_SCRIPT, 1, key, token));
      } catch {
        // The lease expires by itself; a release that cannot reach Redis must not fail the caller's work.
      }
    };
  }

  /**
   * {@inheritDoc TokenVault.putTransient}
   * @throws {@link VaultUnavailable} when Redis fails or is slow.
   */
  async putTransient(id: string, value: Readonly<Record<string, unknown>>, ttl_ms: number): Promise<void> {
    const ttl = ttlOf(ttl_ms);
    const [slot, sealed] = await Promise.all([this.#codec.transientSlot(id), this.#codec.sealTransient(id, value)]);
    await this.#run(() => this.#client.set(this.#prefix + slot, sealed, "PX", ttl));
  }

  /**
   * {@inheritDoc TokenVault.peekTransient}
   * @throws {@link VaultUnavailable} when Redis fails or is slow.
   */
  async peekTransient(id: string): Promise<Record<string, unknown> | undefined> {
    const key = this.#prefix + (await this.#codec.transientSlot(id));
    return this.#codec.openTransient(id, await this.#run(() => this.#client.get(key)));
  }

  /**
   * {@inheritDoc TokenVault.takeTransient}
   * @throws {@link VaultUnavailable} when Redis fails or is slow.
   */
  async takeTransient(id: string): Promise<Record<string, unknown> | undefined> {
    const key = this.#prefix + (await this.#codec.transientSlot(id));
    const reply = await this.#run(() => this.#client.eval(TAKE_SCRIPT, 1, key));
    return this.#codec.openTransient(id, typeof reply === "string" ? reply : undefined);
  }

  /** {@inheritDoc TokenVault.seal} */
  seal(purpose: string, value: Readonly<Record<string, unknown>>): Promise<string> {
    return this.#codec.seal(purpose, value);
  }

  /** {@inheritDoc TokenVault.open} */
  open(purpose: string, sealed: string): Promise<Record<string, unknown> | undefined> {
    return this.#codec.open(purpose, sealed);
  }
}
