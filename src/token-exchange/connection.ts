/**
 * Connection handles: `fetch` to one origin with the exchanged token attached by the library, so tool
 * code never holds the downstream token, and never sends it anywhere else.
 *
 * @internal
 * @module
 */
import type { TokenExchangeError, TokenExchangeFailureReason } from "./errors.js";
import type { Fetch } from "../lib/fetch.js";
import type { Connection } from "./types.js";

import { pinnedFetch } from "../lib/pinned-fetch.js";

/** What a connection needs from its exchanger. */
export interface ConnectionParts {
  audience: string;
  /** The only origin requests may go to. */
  origin: string;
  fetch: Fetch;
  /** The exchanged token (cached by the exchanger). */
  token(): Promise<string>;
  /** Build (and report) a refusal. */
  refuse(reason: TokenExchangeFailureReason): TokenExchangeError;
}

/** A frozen {@link Connection}: its only state is the audience and origin; the token lives in `fetch`'s frame. */
export function createConnection(p: ConnectionParts): Connection {
  const send = pinnedFetch({
    origins: [p.origin],
    fetch: p.fetch,
    authorize: async (headers) => headers.set("authorization", `Bearer ${await p.token()}`),
    refuse: (reason) => p.refuse(reason),
  });
  return Object.freeze({ audience: p.audience, origin: p.origin, fetch: send });
}
