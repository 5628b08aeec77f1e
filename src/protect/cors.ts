/**
 * CORS for the MCP endpoint and the metadata documents.
 *
 * Access tokens travel in `Authorization`, never in cookies, so `"*"` is the default: CORS does not
 * protect a bearer-token API, it only lets browser clients read the answers. A list of origins
 * narrows it; they are compared exactly (never by prefix or substring).
 *
 * @module
 */

import type { HeaderPair } from "../adapters/contract.js";

// Mcp-Method / Mcp-Name: request headers of protocol revision 2026-07-28; a browser client's preflight must allow them.
const ALLOW_HEADERS =
  "Authorization, Content-Type, DPoP, Mcp-Session-Id, Mcp-Protocol-Version, Mcp-Method, Mcp-Name, Last-Event-ID";
const EXPOSE: HeaderPair = [
  "Access-Control-Expose-Headers",
  "WWW-Authenticate, Mcp-Session-Id, DPoP-Nonce, Retry-After",
];
const ANY_ORIGIN: readonly HeaderPair[] = Object.freeze([["Access-Control-Allow-Origin", "*"], EXPOSE] as const);
const NO_ORIGIN: readonly HeaderPair[] = Object.freeze([EXPOSE]);

/** CORS answers for one handler. */
export interface Cors {
  /** Response headers for `req`; `publicDocument` (the RFC 9728 metadata) is readable from any origin. */
  pairs(req: Request, publicDocument: boolean): readonly HeaderPair[];
  /** {@link Cors.pairs} as a `Headers`. */
  headers(req: Request, publicDocument: boolean): Headers;
  /** The 204 answer to a preflight on the MCP endpoint. */
  preflight(req: Request): Response;
}

/** Build the CORS answers for `origins` (`"*"` or exact origins). */
export function createCors(origins: "*" | readonly string[]): Cors {
  const allowed = origins === "*" ? undefined : new Set(origins);
  const pairs = (req: Request, publicDocument: boolean): readonly HeaderPair[] => {
    if (publicDocument || !allowed) return ANY_ORIGIN;
    const origin = req.headers.get("origin");
    if (origin !== null && allowed.has(origin))
      return [["Access-Control-Allow-Origin", origin], ["Vary", "Origin"], EXPOSE];
    return NO_ORIGIN;
  };
  const headers = (req: Request, publicDocument: boolean): Headers =>
    new Headers(pairs(req, publicDocument) as [string, string][]);
  return {
    pairs,
    headers,
    preflight(req) {
      const h = headers(req, false);
      h.set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
      h.set("Access-Control-Allow-Headers", ALLOW_HEADERS);
      h.set("Access-Control-Max-Age", "86400");
      return new Response(null, { status: 204, headers: h });
    },
  };
}

/**
 * Add `extra` to a response: in place when its headers are mutable (the usual case), else on a copy
 * (e.g. a `Response.error()` or a fetched response, whose headers are immutable).
 */
export function withHeaders(res: Response, extra: readonly HeaderPair[]): Response {
  try {
    for (const [k, v] of extra) res.headers.set(k, v);
    return res;
  } catch {
    const headers = new Headers(res.headers);
    for (const [k, v] of extra) headers.set(k, v);
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
  }
}
