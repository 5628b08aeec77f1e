/**
 * DPoP at the token endpoint (RFC 9449 §5): the same proof checks the resource server uses, with
 * `htu` = the token endpoint and no `ath` (there is no access token yet), plus replay protection.
 *
 * @module
 */
import { createDpopKeyCache, verifyDpopProof } from "../dpop/verify.js";
import { MemoryReplayStore, type ReplayStore } from "../stores/replay.js";
import type { VerifyDpopProof } from "./options.js";

/** Options of {@link tokenEndpointDpop}. */
export interface TokenEndpointDpopOptions {
  /** Absolute token endpoint URL: the `htu` every proof must name. */
  token_endpoint: string;
  /** Accepted proof algorithms. */
  algorithms: readonly string[];
  /** Seconds a proof's `iat` may differ from now. Default 300. */
  iat_window?: number;
  /** Seen `jti`s. Default: a bounded in-memory store. */
  replay_store?: ReplayStore;
  /** Clock in milliseconds. */
  clock?: () => number;
}

/**
 * The default `verifyDpopProof` of the development authorization server: no `DPoP` header means an
 * unbound (Bearer) token; a valid proof binds the token to its key (`cnf.jkt`); an invalid or
 * replayed proof is refused.
 */
export function tokenEndpointDpop(o: TokenEndpointDpopOptions): VerifyDpopProof {
  const keyCache = createDpopKeyCache();
  const store = o.replay_store ?? new MemoryReplayStore();
  const window = o.iat_window ?? 300;
  return async (req) => {
    if (!req.headers.has("dpop")) return undefined;
    const proof = await verifyDpopProof(req, {
      htu: o.token_endpoint,
      algorithms: o.algorithms,
      iat_window_seconds: window,
      now_ms: (o.clock ?? Date.now)(),
      key_cache: keyCache,
    });
    if (!(await store.remember(`${proof.jkt}:${proof.jti}`, 2 * window * 1000))) throw new Error("replayed DPoP proof");
    return proof.jkt;
  };
}
