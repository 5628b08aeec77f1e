/**
 * `createDpopCheck`: the server side of DPoP — proof verification, key binding, replay and nonces —
 * packaged as the {@link DpopCheck} the protected handler calls.
 *
 * @see RFC 9449 §7 (protected resource access)
 * @module
 */
import { z } from "zod";
import type { DpopCheck } from "../protect/authenticate.js";
import type { AuthContext } from "../context/types.js";
import { AuthError, AuthorizationUnavailable, InvalidDpopProof, UseDpopNonce } from "../errors.js";
import { emitSafely, type AuthEventListener } from "../events.js";
import type { Clock } from "../lib/clock.js";
import { functionSchema, optionsSchema, parseOptions, withMethods } from "../lib/options.js";
import { ReplayStoreFull, ReplayStoreUnavailable } from "../stores/errors.js";
import { MemoryReplayStore, type ReplayStore } from "../stores/replay.js";
import { createDpopNonces, DpopNonceOptionsSchema, type DpopNonceOptions } from "./nonce.js";
import { accessTokenHash, createDpopKeyCache, DEFAULT_DPOP_ALGORITHMS, verifyDpopProof } from "./verify.js";

/** DPoP settings of a protected server. */
export interface DpopOptions {
  /** Accepted proof algorithms (asymmetric only). Default ES256, EdDSA, RS256, PS256. */
  algorithms?: string[];
  /** Seconds a proof's `iat` may differ from the server clock. Default 300. */
  iat_window_seconds?: number;
  /** @deprecated Use `iat_window_seconds`. Removed in 0.3. */
  iat_window?: number;
  /**
   * Where seen `jti`s are kept, each for twice `iat_window`. Default: a {@link MemoryReplayStore} per
   * server. Use a {@link RedisReplayStore} for a fleet. A store that is full refuses new proofs
   * rather than forgetting live ones; see {@link MemoryReplayStore}.
   */
  replay_store?: ReplayStore;
  /** Require server nonces (RFC 9449 §8); stateless, shared through the secret. */
  nonce?: DpopNonceOptions;
  /** Clock in epoch milliseconds, like `Date.now` (the default), for tests. Also the default replay store's clock. */
  clock?: Clock;
}

const isAsymmetric = (alg: string): boolean => alg !== "none" && !alg.startsWith("HS");

const DpopOptionsSchema = optionsSchema(
  "dpop",
  z.strictObject({
    algorithms: z
      .array(z.string().min(1).refine(isAsymmetric, { error: "must be an asymmetric algorithm (never none or HS*)" }))
      .min(1)
      .optional(),
    iat_window_seconds: z.number().positive().max(3600).optional(),
    replay_store: withMethods<ReplayStore>("remember").optional(),
    nonce: DpopNonceOptionsSchema.optional(),
    clock: functionSchema.optional(),
  }),
  { iat_window: "iat_window_seconds" },
);

/**
 * The refusal for a proof the replay store could not record (see {@link MemoryReplayStore}):
 * - one key's share is full → 401 `invalid_dpop_proof`: the key's holder sent those proofs, so only it
 *   is refused, and not with a 503 that would report the server down (and set off outage alarms) on
 *   one client's behalf;
 * - the whole store is full → 503 with `Retry-After` (seconds until the oldest entry expires).
 * Both with reason `replay_store_full`. Any other failure is the store being unavailable (503).
 */
export function replayStoreRefusal(e: unknown): AuthError {
  if (e instanceof ReplayStoreFull && e.scope === "key") {
    return new InvalidDpopProof("Too many DPoP proofs for this key; retry later", {
      cause: e,
      reason: "replay_store_full",
    });
  }
  if (e instanceof ReplayStoreFull)
    return new AuthorizationUnavailable({ cause: e, reason: "replay_store_full", retry_after: e.retry_after });
  return new AuthorizationUnavailable({
    cause: e,
    retry_after: e instanceof ReplayStoreUnavailable ? e.retry_after : undefined,
  });
}

/**
 * Build the DPoP check for a protected server.
 *
 * @throws `ConfigError` naming each bad option (unknown keys with the closest valid name).
 * @example
 * ```ts
 * const dpop = createDpopCheck({ replay_store: new RedisReplayStore({ client: redis }) });
 * protect(factory, { authorization, provider, dpop });
 * ```
 */
export function createDpopCheck(options: DpopOptions = {}): DpopCheck {
  const o = parseOptions(DpopOptionsSchema, options, "dpop");
  const algorithms = Object.freeze([...(o.algorithms ?? DEFAULT_DPOP_ALGORITHMS)]);
  const iatWindow = o.iat_window_seconds ?? 300;
  const clock = (o.clock as Clock | undefined) ?? Date.now;
  const store = o.replay_store ?? new MemoryReplayStore(o.clock ? { clock } : {});
  const nonces = o.nonce ? createDpopNonces(o.nonce) : undefined;
  const keyCache = createDpopKeyCache();
  const tokenHashes = new WeakMap<AuthContext, { token: string; ath: string }>();

  return {
    algorithms,
    async verify(req: Request, token: string, auth: AuthContext, htu: string, emit?: AuthEventListener): Promise<void> {
      const now = clock();
      // A validator's cache hands back the same principal for the same token: hash the token once per
      // principal, not once per proof. Kept with the token it hashes, so a provider that returns one
      // principal for several tokens still gets each token's own hash.
      let hashed = tokenHashes.get(auth);
      if (hashed?.token !== token) tokenHashes.set(auth, (hashed = { token, ath: accessTokenHash(token) }));
      const ath = hashed.ath;
      const proof = await verifyDpopProof(req, {
        htu,
        access_token: token,
        access_token_hash: ath,
        algorithms,
        iat_window_seconds: iatWindow,
        now_ms: now,
        key_cache: keyCache,
      });
      if (proof.jkt !== auth.jkt)
        throw new InvalidDpopProof("The DPoP proof key does not match the access token binding");
      if (nonces && !nonces.isValid(proof.nonce, now)) throw new UseDpopNonce(nonces.current(now));
      let first: boolean;
      try {
        // A proof stays acceptable from iat - window to iat + window: remember it that long.
        first = await store.remember(`${proof.jkt}:${proof.jti}`, 2 * iatWindow * 1000);
      } catch (e) {
        if (e instanceof ReplayStoreFull)
          emitSafely(emit, { type: "replay_store_full", scope: e.scope, retry_after: e.retry_after });
        throw replayStoreRefusal(e);
      }
      if (!first) throw new InvalidDpopProof("The DPoP proof was already used", { reason: "dpop_replay" });
    },
  };
}
