/**
 * The RFC 9728 metadata endpoint: `GET`/`HEAD` the document, `OPTIONS` for browsers, 405 otherwise.
 * The document is public and readable from any origin.
 *
 * @see RFC 9728 §3
 * @module
 */
import { methodNotAllowed } from "./responses.js";
import type { Cors } from "./cors.js";
import type { ResourceView } from "./resource-view.js";

/** Answer a request to a metadata path with `view`'s document, cached by clients for `cacheTtl` seconds. */
export function serveMetadata(req: Request, view: ResourceView, cors: Cors, cacheTtl: number): Response {
  const h = cors.headers(req, true);
  if (req.method === "OPTIONS") {
    h.set("Access-Control-Allow-Methods", "GET, OPTIONS");
    h.set("Access-Control-Allow-Headers", "MCP-Protocol-Version, Content-Type");
    h.set("Access-Control-Max-Age", "86400");
    return new Response(null, { status: 204, headers: h });
  }
  if (req.method !== "GET" && req.method !== "HEAD") return methodNotAllowed("GET, HEAD, OPTIONS", h);
  h.set("Content-Type", "application/json");
  h.set("Cache-Control", `public, max-age=${cacheTtl}`);
  return new Response(req.method === "HEAD" ? null : view.metadataBody, { status: 200, headers: h });
}
