/**
 * A GET over `node:http`/`node:https` that connects only to addresses already checked, so a DNS
 * answer cannot change between the check and the connection (DNS rebinding). Private to the
 * development authorization server.
 *
 * @module
 */
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import { Readable } from "node:stream";

/** One checked address. */
export interface PinnedAddress {
  /** IPv4 or IPv6 address. */
  address: string;
  /** 4 or 6. */
  family: number;
}

/**
 * A `lookup` for `http.request` that answers with `addresses` whatever name it is asked for: the
 * socket connects to a checked address while the URL's hostname still names the `Host` header and
 * the TLS SNI / certificate check.
 */
export function pinnedLookup(addresses: readonly PinnedAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const first = addresses[0];
    if (!first) return callback(Object.assign(new Error("no checked address"), { code: "ENOTFOUND" }), "", 0);
    if (options.all) return (callback as unknown as (e: null, a: PinnedAddress[]) => void)(null, [...addresses]);
    callback(null, first.address, first.family);
  };
}

function headerRecord(init: HeadersInit | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  new Headers(init).forEach((value, name) => (out[name] = value));
  return out;
}

/**
 * `GET url`, connecting to `addresses` only (never resolving the hostname again), redirects not
 * followed, abortable through `init.signal`. Answers a Web `Response` whose body streams.
 */
export function pinnedFetch(url: string, init: RequestInit, addresses: readonly PinnedAddress[]): Promise<Response> {
  const u = new URL(url);
  const request = u.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise<Response>((resolve, reject) => {
    const req = request(
      u,
      {
        method: "GET",
        headers: headerRecord(init.headers),
        lookup: pinnedLookup(addresses),
        // No pooled socket: each fetch connects to the address it has just checked.
        agent: false,
        ...(init.signal ? { signal: init.signal } : {}),
      },
      (res: IncomingMessage) => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers))
          if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(", ") : v);
        const status = res.statusCode ?? 502;
        const nullBody = status === 204 || status === 304;
        if (nullBody) res.resume();
        resolve(
          new Response(nullBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, headers }),
        );
      },
    );
    req.once("error", reject);
    req.end();
  });
}
