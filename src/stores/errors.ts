/**
 * The replay stores' errors: the store is full ({@link ReplayStoreFull}) or cannot answer
 * ({@link ReplayStoreUnavailable}). The DPoP check turns them into the request's refusal.
 *
 * @module
 */

/** Which limit a {@link ReplayStoreFull} hit. */
export type ReplayStoreFullScope = "key" | "store";

/**
 * The replay store cannot record one more identifier without forgetting a live one: one key's share
 * (`scope: "key"`) or the whole store (`scope: "store"`) is full of unexpired identifiers. The proof
 * is refused (key: 401 `invalid_dpop_proof`; store: 503 with `Retry-After`) and nothing is forgotten,
 * so a captured proof stays refused until its window ends. Carries no key or token material.
 */
export class ReplayStoreFull extends Error {
  /** `ERR_REPLAY_STORE_FULL`. */
  static readonly code: string = "ERR_REPLAY_STORE_FULL";
  /** Always `ERR_REPLAY_STORE_FULL`. */
  readonly code = "ERR_REPLAY_STORE_FULL" as const;
  /** The limit hit: this key's share or the whole store. */
  readonly scope: ReplayStoreFullScope;
  /** Whole seconds until the store's oldest identifier expires and frees a place (`scope: "store"`). */
  readonly retry_after: number | undefined;
  /** @param scope - the limit hit; @param retry_after - seconds until a place frees up, when known. */
  constructor(scope: ReplayStoreFullScope, retry_after?: number) {
    super(scope === "key" ? "The replay store share of this key is full" : "The replay store is full");
    this.name = "ReplayStoreFull";
    this.scope = scope;
    this.retry_after = retry_after;
  }
}

/**
 * The replay store could not answer (down, slow, or backing off after a failure). The server refuses
 * the request with 503 and `Retry-After`: without the store a replayed proof could not be told apart.
 */
export class ReplayStoreUnavailable extends Error {
  /** `ERR_REPLAY_STORE_UNAVAILABLE`. */
  static readonly code: string = "ERR_REPLAY_STORE_UNAVAILABLE";
  /** Always `ERR_REPLAY_STORE_UNAVAILABLE`. */
  readonly code = "ERR_REPLAY_STORE_UNAVAILABLE" as const;
  /** Whole seconds until the store is tried again. */
  readonly retry_after: number;
  /** @param retry_after - seconds until the next attempt; @param options - `cause`, never sent to clients. */
  constructor(retry_after: number, options?: { cause?: unknown }) {
    super("The replay store is unavailable", options);
    this.name = "ReplayStoreUnavailable";
    this.retry_after = retry_after;
  }
}
