/**
 * `notifications/elicitation/complete` for 2025-11-25 sessions: sent once the connect link of an
 * elicitation has stored a credential. When the flow ends on this instance the notice comes at once;
 * when it ends on another instance of a fleet (the browser may land anywhere, the MCP session lives
 * here), the vault says so: pending elicitations look for a credential stored after they were made,
 * every {@link WATCH_MS}, until their link expires.
 *
 * @internal
 * @module
 */
import { LRUCache } from "lru-cache";
import type { Clock } from "../lib/clock.js";
import type { AccountKey, TokenVault } from "./types.js";

/** How often pending elicitations look in the vault for a flow that ended on another instance. */
export const WATCH_MS = 2000;

interface Pending {
  account: AccountKey;
  /** Seconds since the epoch when the elicitation was made: a credential obtained since then completes it. */
  since: number;
  notify: () => Promise<void>;
}

/** Elicitations waiting for their connect flow, with the session's notifier each. */
export class PendingCompletions {
  readonly #vault: TokenVault;
  readonly #now: Clock;
  readonly #pending: LRUCache<string, Pending>;
  #timer: ReturnType<typeof setInterval> | undefined;
  #watching = false;

  /** @param ttl_ms - how long an elicitation may wait (its link's lifetime). */
  constructor(vault: TokenVault, clock: Clock, ttl_ms: number) {
    this.#vault = vault;
    this.#now = clock;
    this.#pending = new LRUCache({ max: 10_000, ttl: ttl_ms, ttlResolution: 0, perf: { now: clock } });
  }

  /** Wait for `elicitation_id`'s flow to store a credential for `account`, then call `notify` once. */
  add(elicitation_id: string, account: AccountKey, notify: () => Promise<void>): void {
    this.#pending.set(elicitation_id, { account, since: Math.floor(this.#now() / 1000), notify });
    this.#timer ??= setInterval(() => void this.#watch(), WATCH_MS);
    this.#timer.unref?.();
  }

  /** The flow of `elicitation_id` ended here: notify now. */
  async complete(elicitation_id: string): Promise<void> {
    const pending = this.#pending.get(elicitation_id);
    this.#pending.delete(elicitation_id);
    this.#stopWhenIdle();
    // The session may be gone; the client then simply retries by hand.
    if (pending) await pending.notify().catch(() => {});
  }

  /** One look in the vault for every pending elicitation (never two looks at once). */
  async #watch(): Promise<void> {
    if (this.#watching) return;
    this.#watching = true;
    try {
      for (const [id, pending] of [...this.#pending.entries()]) {
        const credential = await this.#vault.get(pending.account).catch(() => undefined);
        if (credential && credential.obtained_at >= pending.since) await this.complete(id);
      }
    } finally {
      this.#watching = false;
      this.#stopWhenIdle();
    }
  }

  #stopWhenIdle(): void {
    this.#pending.purgeStale();
    if (this.#pending.size > 0 || !this.#timer) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Stop watching (the server closes). */
  close(): void {
    this.#pending.clear();
    this.#stopWhenIdle();
  }
}
