/**
 * `createDpopCheck`: the server side of DPoP — proof verification, key binding, replay and nonces —
 * packaged as the {@link DpopCheck} the protected handler calls.
 *
 * @see RFC 9449 §7 (protected resource access)
 * @module
 */
import type { DpopCheck } from "../authenticate.js";
import type { AuthContext } from "../context.js";
import { AuthorizationUnavailable, InvalidDpopProof, UseDpopNonce } from "../errors.js";
import { MemoryReplayStore, ReplayStoreUnavailable, type ReplayStore } from "../stores/replay.js";
import { createDpopNonces, type DpopNonceOptions } from "./nonce.js";
import { accessTokenHash, createDpopKeyCache, DEFAULT_DPOP_ALGORITHMS, verifyDpopProof } from "./verify.js";

/** DPoP settings of a protected server. */
export interface DpopOptions {
  /** Accepted proof algorithms (asymmetric only). Default ES256, EdDSA, RS256, PS256. */
  algorithms?: string[];
  /** Seconds a proof's `iat` may differ from the server clock. Default 300. */
  iat_window?: number;
  /** Where seen `jti`s are kept. Default: a {@link MemoryReplayStore} per server. Use a {@link RedisReplayStore} for a fleet. */
  replay_store?: ReplayStore;
  /** Require server nonces (RFC 9449 §8); stateless, shared through the secret. */
  nonce?: DpopNonceOptions;
  /** Current time in milliseconds, for tests. */
  clock?: () => number;
}

/**
 * Build the DPoP check for a protected server.
 *
 * @example
 * ```ts
 * const dpop = createDpopCheck({ replay_store: new RedisReplayStore({ client: redis }) });
 * protect(factory, { authorization, provider, dpop });
 * ```
 */
export function createDpopCheck(options: DpopOptions = {}): DpopCheck {
  const algorithms = Object.freeze([...(options.algorithms ?? DEFAULT_DPOP_ALGORITHMS)]);
  for (const a of algorithms) {
    if (a === "none" || a.startsWith("HS")) throw new TypeError('DPoP: "algorithms" must be asymmetric');
  }
  const iatWindow = options.iat_window ?? 300;
  if (!(iatWindow > 0 && iatWindow <= 3600)) throw new TypeError('DPoP: "iat_window" must be between 1 and 3600 seconds');
  const store = options.replay_store ?? new MemoryReplayStore();
  const nonces = options.nonce ? createDpopNonces(options.nonce) : undefined;
  const clock = options.clock ?? Date.now;
  const keyCache = createDpopKeyCache();
  const tokenHashes = new WeakMap<AuthContext, { token: string; ath: string }>();

  return {
    algorithms,
    async verify(req: Request, token: string, auth: AuthContext, htu: string): Promise<void> {
      const now = clock();
      // A validator's cache hands back the same principal for the same token: hash the token once per
      // principal, not once per proof. Kept with the token it hashes, so a provider that returns one
      // principal for several tokens still gets each token's own hash.
      let hashed = tokenHashes.get(auth);
      if (hashed?.token !== token) tokenHashes.set(auth, (hashed = { token, ath: accessTokenHash(token) }));
      const ath = hashed.ath;
      const proof = await verifyDpopProof(req, { htu, accessToken: token, accessTokenHash: ath, algorithms, iatWindow, now, keyCache });
      if (proof.jkt !== auth.jkt) throw new InvalidDpopProof("The DPoP proof key does not match the access token binding");
      if (nonces && !nonces.isValid(proof.nonce, now)) throw new UseDpopNonce(nonces.current(now));
      let first: boolean;
      try {
        // A proof stays acceptable from iat - window to iat + window: remember it that long.
        first = await store.remember(`${proof.jkt}:${proof.jti}`, 2 * iatWindow * 1000);
      } catch (e) {
        throw new AuthorizationUnavailable({ cause: e, retry_after: e instanceof ReplayStoreUnavailable ? e.retry_after : undefined });
      }
      if (!first) throw new InvalidDpopProof("The DPoP proof was already used");
    },
  };
}
