/**
 * Exponential back-off with jitter, for anything that fetches from an authorization server (key
 * sets, introspection, discovery) or talks to a shared store.
 *
 * After a failure the next attempt is not due before `retryAt`; callers fail fast until then
 * instead of each waiting for (or hammering) a dependency that is down. A success resets it.
 *
 * @module
 */
import type { Clock } from "./clock.js";

/** Options of the back-off. Every value is in milliseconds. */
export interface BackoffOptions {
  /** Delay after the first failure. Default 1,000. */
  initial_ms?: number;
  /** Largest delay, whatever the number of failures. Default 30,000. */
  max_ms?: number;
  /** Fraction of each delay that is randomised downwards (0 – 1), so a fleet does not retry in step. Default 0.2. */
  jitter?: number;
  /** Clock, for tests. Default `Date.now`. */
  clock?: Clock;
  /** @deprecated Use `clock`. Removed in 0.3. */
  now?: Clock;
  /** Randomness in [0, 1), for tests. Default `Math.random`. */
  random?: () => number;
}

/** The two knobs users set on a back-off: first delay and cap, in milliseconds. */
export type BackoffWindow = Pick<BackoffOptions, "initial_ms" | "max_ms">;

/**
 * Failure counter with an exponentially growing, capped, jittered delay.
 *
 * The n-th consecutive failure waits `min(max_ms, initial_ms · 2^(n-1)) · (1 - jitter · random())`:
 * never more than the cap, never less than `(1 - jitter)` of the nominal delay.
 *
 * @example
 * ```ts
 * const backoff = new Backoff({ initial_ms: 1000, max_ms: 30_000 });
 * if (!backoff.ready()) throw new Unavailable({ retryAfter: backoff.retryAfterSeconds() });
 * try { await fetchKeys(); backoff.succeeded(); } catch (e) { backoff.failed(); throw e; }
 * ```
 */
export class Backoff {
  readonly #initial: number;
  readonly #max: number;
  readonly #jitter: number;
  readonly #now: () => number;
  readonly #random: () => number;
  #failures = 0;
  #retryAt = 0;

  /** @param options - see {@link BackoffOptions}; bad values throw a `TypeError` naming the option. */
  constructor(options: BackoffOptions = {}) {
    const initial = options.initial_ms ?? 1000;
    const max = options.max_ms ?? 30_000;
    const jitter = options.jitter ?? 0.2;
    if (!(Number.isFinite(initial) && initial > 0))
      throw new TypeError('Backoff: "initial_ms" must be a positive number');
    if (!(Number.isFinite(max) && max >= initial))
      throw new TypeError('Backoff: "max_ms" must be a number ≥ initial_ms');
    if (!(jitter >= 0 && jitter <= 1)) throw new TypeError('Backoff: "jitter" must be between 0 and 1');
    this.#initial = initial;
    this.#max = max;
    this.#jitter = jitter;
    this.#now = options.clock ?? options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  /** Consecutive failures since the last success. */
  get failures(): number {
    return this.#failures;
  }

  /** When the next attempt is due (epoch ms); 0 when there is no failure to wait out. */
  get retryAt(): number {
    return this.#retryAt;
  }

  /** Whether an attempt may be made now. */
  ready(): boolean {
    return this.#now() >= this.#retryAt;
  }

  /** Whole seconds until the next attempt is due, at least 1 (for a `Retry-After` header). */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.#retryAt - this.#now()) / 1000));
  }

  /** Record a failure; returns the delay (ms) before the next attempt. */
  failed(): number {
    this.#failures++;
    const nominal = Math.min(this.#max, this.#initial * 2 ** Math.min(this.#failures - 1, 30));
    const delay = Math.max(1, Math.round(nominal * (1 - this.#jitter * this.#random())));
    this.#retryAt = this.#now() + delay;
    return delay;
  }

  /** Record a success: the next failure starts again from `initial_ms`. */
  succeeded(): void {
    this.#failures = 0;
    this.#retryAt = 0;
  }
}
