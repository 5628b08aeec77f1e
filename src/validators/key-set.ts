/**
 * `RemoteKeySet`: an issuer's JWKS, fetched and kept so that an outage at the identity provider
 * neither hangs requests nor hammers the provider.
 *
 * Key selection and import are `jose`'s (`createLocalJWKSet`); this module decides *when* to fetch:
 *
 * - **fresh** (younger than `cache_ttl`): keys are used as they are;
 * - **stale** (older): keys are still used, and one background refresh is started — no request waits
 *   for it (stale-while-revalidate);
 * - **refresh failed**: the last good keys stay in use up to `stale_if_error` after they were fetched
 *   (a `jwks_stale` event says so), and the next attempt waits out an exponential, jittered back-off;
 * - **no usable keys** (first use, or stale beyond `stale_if_error`): the request that starts the
 *   fetch waits for it (at most `timeout`); others wait for that fetch at most `max_wait`, and while a
 *   back-off is running every request is refused at once with `Retry-After` (fail fast);
 * - **unknown `kid`** (key rotation, or a forged token): a refetch at most once per `cooldown`; only
 *   the request carrying the unknown `kid` waits for it, requests whose `kid` is known never do.
 *
 * The trade-off of stale-while-revalidate: a key *removed* from the JWKS (e.g. after a compromise)
 * stays usable until a refresh succeeds after `cache_ttl`, and while the provider is unreachable, up
 * to `stale_if_error`. Lower both if key removal must take effect faster than that.
 *
 * @module
 */
import { createLocalJWKSet, errors, type FlattenedJWSInput, type JSONWebKeySet, type JWSHeaderParameters } from "jose";
import { AuthorizationUnavailable } from "../errors.js";
import type { AuthEvent } from "../events.js";
import { Backoff, type BackoffOptions } from "../lib/backoff.js";
import type { Clock } from "../lib/clock.js";
import type { Fetch } from "../lib/fetch.js";
import { BodyTooLarge, declaredTooLarge, readStreamBounded } from "../lib/body.js";

/** Largest key set accepted, in bytes. Real key sets are a few KB; a larger answer is a fault. */
export const MAX_JWKS_BYTES = 512 * 1024;

/** Options of {@link RemoteKeySet}. Durations in milliseconds. */
export interface RemoteKeySetOptions {
  /** URL of the JWKS. */
  url: string;
  /** How long fetched keys are fresh. */
  cache_ttl_ms: number;
  /** Longest use of the last good keys while refreshes fail. Default 24 h. */
  stale_if_error_ms?: number;
  /** Minimum time between two fetches caused by an unknown `kid`. */
  cooldown_ms: number;
  /** Timeout of one fetch. */
  timeout_ms: number;
  /** Longest a request waits for a fetch another request started. Default 1,000. */
  max_wait_ms?: number;
  /** Back-off after failed fetches. Default 1 s doubling up to 30 s, 20 % jitter. */
  backoff?: BackoffOptions;
  /** Fetch implementation. */
  fetch: Fetch;
  /** Receives `jwks_refreshed` and `jwks_stale` events. */
  onEvent?: (event: AuthEvent) => void;
  /** Clock in epoch milliseconds, like `Date.now` (the default): freshness, cooldown and back-off. */
  clock?: Clock;
}

interface Keys {
  select: ReturnType<typeof createLocalJWKSet>;
  fetchedAt: number;
}

/** Why a key set answer was not usable; kept as `cause`, never sent to a client. */
class KeySetFetchFailed extends Error {
  override name = "KeySetFetchFailed";
}

/**
 * A remote JWKS with stale-if-error, back-off and single-flight fetches. Use {@link RemoteKeySet.getKey}
 * as the key resolver of `jose`'s `jwtVerify`.
 */
export class RemoteKeySet {
  readonly #o: Required<Omit<RemoteKeySetOptions, "onEvent" | "backoff" | "clock">> &
    Pick<RemoteKeySetOptions, "onEvent">;
  readonly #backoff: Backoff;
  readonly #now: () => number;
  #keys: Keys | undefined;
  #inflight: { promise: Promise<Keys>; startedAt: number } | undefined;
  #lastAttempt = Number.NEGATIVE_INFINITY;

  /** @param options - see {@link RemoteKeySetOptions}. */
  constructor(options: RemoteKeySetOptions) {
    this.#now = options.clock ?? Date.now;
    this.#o = {
      url: options.url,
      cache_ttl_ms: options.cache_ttl_ms,
      stale_if_error_ms: options.stale_if_error_ms ?? 86_400_000,
      cooldown_ms: options.cooldown_ms,
      timeout_ms: options.timeout_ms,
      max_wait_ms: options.max_wait_ms ?? 1000,
      fetch: options.fetch,
      onEvent: options.onEvent,
    };
    this.#backoff = new Backoff({ clock: this.#now, ...options.backoff });
  }

  /** Key resolver for `jwtVerify`. Throws {@link AuthorizationUnavailable} when no key can be had now. */
  readonly getKey = async (header: JWSHeaderParameters, input: FlattenedJWSInput): Promise<CryptoKey> => {
    const now = this.#now();
    let keys = this.#keys;
    if (keys && now - keys.fetchedAt > this.#o.stale_if_error_ms) keys = this.#keys = undefined;
    if (!keys) return (await this.#refresh(true)).select(header, input);

    if (now - keys.fetchedAt >= this.#o.cache_ttl_ms && !this.#inflight && this.#backoff.ready()) {
      // Stale: refresh in the background; this request goes on with the keys it has.
      this.#refresh(false).catch(() => {});
    }
    try {
      return await keys.select(header, input);
    } catch (e) {
      if (!(e instanceof errors.JWKSNoMatchingKey)) throw e;
      // Unknown kid: a rotation we have not seen yet, or a forged token. Refetch, but not too often.
      if (!this.#inflight && now - this.#lastAttempt < this.#o.cooldown_ms) throw e;
      const fresh = await this.#refresh(true);
      return fresh.select(header, input);
    }
  };

  /** Start (or join) a fetch. `wait`: whether the caller will await it (bounded). */
  #refresh(wait: boolean): Promise<Keys> {
    const now = this.#now();
    const inflight = this.#inflight;
    if (inflight) {
      if (!wait) return inflight.promise;
      const budget = inflight.startedAt + this.#o.max_wait_ms - now;
      if (budget <= 0) return Promise.reject(this.#unavailable());
      return withDeadline(inflight.promise, budget, () => this.#unavailable());
    }
    if (!this.#backoff.ready()) return Promise.reject(this.#unavailable());
    this.#lastAttempt = now;
    const promise = this.#fetch().finally(() => {
      if (this.#inflight?.promise === promise) this.#inflight = undefined;
    });
    this.#inflight = { promise, startedAt: now };
    return promise;
  }

  #unavailable(cause?: unknown): AuthorizationUnavailable {
    return new AuthorizationUnavailable({
      cause,
      retry_after: this.#backoff.ready() ? 1 : this.#backoff.retryAfterSeconds(),
    });
  }

  async #fetch(): Promise<Keys> {
    const { url } = this.#o;
    try {
      const jwks = await withDeadline(this.#download(), this.#o.timeout_ms, () => new KeySetFetchFailed("timeout"));
      const keys: Keys = { select: createLocalJWKSet(jwks), fetchedAt: this.#now() };
      this.#keys = keys;
      this.#backoff.succeeded();
      this.#o.onEvent?.({ type: "jwks_refreshed", jwks_uri: url, ok: true });
      return keys;
    } catch (e) {
      this.#backoff.failed();
      this.#o.onEvent?.({ type: "jwks_refreshed", jwks_uri: url, ok: false });
      if (this.#keys) {
        const age = Math.floor((this.#now() - this.#keys.fetchedAt) / 1000);
        this.#o.onEvent?.({
          type: "jwks_stale",
          jwks_uri: url,
          age_seconds: age,
          retry_after: this.#backoff.retryAfterSeconds(),
        });
      }
      throw this.#unavailable(e);
    }
  }

  async #download(): Promise<JSONWebKeySet> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.#o.timeout_ms);
    try {
      const res = await this.#o.fetch(this.#o.url, {
        method: "GET",
        headers: new Headers({ accept: "application/json, application/jwk-set+json" }),
        redirect: "manual",
        signal: controller.signal,
      });
      if (res.status !== 200) {
        void res.body?.cancel().catch(() => {});
        throw new KeySetFetchFailed(`status ${res.status}`);
      }
      if (declaredTooLarge(res.headers.get("content-length"), MAX_JWKS_BYTES)) {
        void res.body?.cancel().catch(() => {});
        throw new KeySetFetchFailed("too large");
      }
      const bytes = await readStreamBounded(res.body, MAX_JWKS_BYTES);
      const json: unknown = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
      if (!isKeySet(json)) throw new KeySetFetchFailed("not a JWK Set");
      return json;
    } catch (e) {
      if (e instanceof BodyTooLarge) throw new KeySetFetchFailed("too large", { cause: e });
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }
}

function isKeySet(v: unknown): v is JSONWebKeySet {
  return (
    typeof v === "object" &&
    v !== null &&
    Array.isArray((v as { keys?: unknown }).keys) &&
    (v as { keys: unknown[] }).keys.every((k) => typeof k === "object" && k !== null && !Array.isArray(k))
  );
}

/**
 * `promise`, or a rejection with `onTimeout()` after `ms` — whichever comes first. The timer never keeps the process
 * alive.
 */
function withDeadline<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref?.();
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
