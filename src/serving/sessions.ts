/**
 * `SessionRegistry`: open Streamable HTTP sessions, bounded so that no principal can push out
 * another principal's sessions.
 *
 * Three bounds, from the narrowest:
 * 1. per principal (`max_sessions_per_principal`): a principal opening one session too many loses
 *    its *own* least recently used session, never anyone else's;
 * 2. anonymous (`max_anonymous_sessions`): every unauthenticated session (`fail_open`, or
 *    authorization disabled) counts against one shared bucket, so anonymous traffic cannot push out
 *    authenticated sessions either;
 * 3. global (`max_sessions`): the last line — least recently used across everyone — reached only when
 *    more than `max_sessions / max_sessions_per_principal` principals hold full buckets.
 *
 * Idle sessions expire after `idle_timeout_ms`. Every removal (eviction, expiry, deletion) closes the
 * session through the `close` callback exactly once.
 *
 * @module
 */
import { LRUCache } from "lru-cache";

/** The principal key of sessions opened without authentication. */
export const ANONYMOUS_PRINCIPAL = "anonymous";

/** Bounds of a {@link SessionRegistry}. */
export interface SessionLimits {
  /** Most sessions in all. Default 1000. */
  max_sessions?: number;
  /** Most sessions one principal (issuer, subject, client) may hold. Default 32. */
  max_sessions_per_principal?: number;
  /** Most anonymous sessions in all. Default 100. */
  max_anonymous_sessions?: number;
  /** Milliseconds an idle session is kept. Default 30 minutes. */
  idle_timeout_ms?: number;
}

/** One registered session and its owner. */
export interface SessionEntry<S> {
  /** The principal that opened it. */
  readonly principal: string;
  /** The session itself (a transport and its server). */
  readonly session: S;
  /**
   * Set once the session has left the registry. A request that found the entry before it left (its
   * body was still being read) checks this instead of looking the id up again.
   */
  gone: boolean;
}

/**
 * Sessions by id, each owned by one principal, with per-principal, anonymous and global caps.
 *
 * @typeParam S - what a session is (a transport and its server).
 */
export class SessionRegistry<S> {
  readonly #all: LRUCache<string, SessionEntry<S>>;
  readonly #byPrincipal = new Map<string, LRUCache<string, true>>();
  readonly #perPrincipal: number;
  readonly #anonymous: number;

  /**
   * @param limits - see {@link SessionLimits}.
   * @param close - called once for every session that leaves the registry, whatever the reason.
   * @param now - clock in milliseconds (any origin) for idle expiry; tests pass their own. Default `performance.now`.
   */
  constructor(limits: SessionLimits, close: (session: S) => void, now?: () => number) {
    const max = limits.max_sessions ?? 1000;
    this.#perPrincipal = Math.min(limits.max_sessions_per_principal ?? 32, max);
    this.#anonymous = Math.min(limits.max_anonymous_sessions ?? 100, max);
    this.#all = new LRUCache<string, SessionEntry<S>>({
      max,
      ttl: limits.idle_timeout_ms ?? 1_800_000,
      updateAgeOnGet: true,
      ttlAutopurge: true,
      // Read the clock on each lookup rather than arming a 1 ms timer per clock read (see JWTValidator).
      ttlResolution: 0,
      ...(now ? { perf: { now } } : {}),
      // disposeAfter, not dispose: the callbacks touch the other cache, which must not happen while
      // either cache is in the middle of an eviction.
      disposeAfter: (entry, id, reason) => {
        entry.gone = true;
        if (reason === "set") return;
        const own = this.#byPrincipal.get(entry.principal);
        if (own) {
          own.delete(id);
          if (own.size === 0) this.#byPrincipal.delete(entry.principal);
        }
        close(entry.session);
      },
    });
  }

  /** Number of open sessions. */
  get size(): number {
    return this.#all.size;
  }

  /** Number of open sessions held by `principal`. */
  countFor(principal: string): number {
    return this.#byPrincipal.get(principal)?.size ?? 0;
  }

  /** The session and its owner, marking it used (it moves to the back of every eviction queue). */
  get(id: string): SessionEntry<S> | undefined {
    const entry = this.#all.get(id);
    if (entry) this.#byPrincipal.get(entry.principal)?.get(id);
    return entry;
  }

  /** The session and its owner, without marking it used. */
  peek(id: string): SessionEntry<S> | undefined {
    return this.#all.peek(id);
  }

  /**
   * Register a session opened by `principal`. When the principal's bucket is full, its own least
   * recently used session is closed first.
   */
  add(id: string, principal: string, session: S): void {
    let own = this.#byPrincipal.get(principal);
    if (!own) {
      own = new LRUCache<string, true>({
        max: principal === ANONYMOUS_PRINCIPAL ? this.#anonymous : this.#perPrincipal,
        // The principal's own LRU session is the one to go: close it through the global registry.
        disposeAfter: (_v, evicted, reason) => {
          if (reason === "evict") this.#all.delete(evicted);
        },
      });
      this.#byPrincipal.set(principal, own);
    }
    own.set(id, true);
    this.#all.set(id, { principal, session, gone: false });
  }

  /** Remove (and close) a session. */
  delete(id: string): void {
    this.#all.delete(id);
  }

  /** Remove (and close) every session. */
  clear(): void {
    this.#all.clear();
    this.#byPrincipal.clear();
  }
}
