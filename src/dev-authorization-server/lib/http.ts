/**
 * Small HTTP helpers shared by the endpoints: OAuth error responses, bounded body reading,
 * escaping, random values and hashes. Private to the development authorization server.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { BodyTooLarge, declaredTooLarge, readFormBody, readStreamBounded } from "../../lib/body.js";
import { OAuthError } from "../errors.js";

/** Headers every JSON API response carries (token responses must not be cached: RFC 6749 §5.1). */
export const API_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "application/json",
  "cache-control": "no-store",
  "access-control-allow-origin": "*",
  "access-control-expose-headers": "WWW-Authenticate, DPoP-Nonce, Retry-After",
};

/** A JSON response with {@link API_HEADERS}. */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...API_HEADERS, ...headers } });
}

/** The JSON error response for an {@link OAuthError}. */
export function oauthErrorResponse(err: OAuthError): Response {
  return json({ error: err.error, error_description: err.description }, err.status, { ...err.headers });
}

/** CORS preflight answer for the JSON endpoints. */
export function preflight(methods: string): Response {
  return new Response(null, {
    status: 204,
    headers: {
      "access-control-allow-origin": "*",
      "access-control-allow-methods": methods,
      "access-control-allow-headers": "Authorization, Content-Type, DPoP, MCP-Protocol-Version",
      "access-control-max-age": "600",
    },
  });
}

/** Largest request body read, in bytes. */
export const MAX_BODY = 64 * 1024;

/** Read a body up to {@link MAX_BODY} bytes; larger bodies are refused without reading them all. */
export async function readBody(req: Request): Promise<string> {
  if (declaredTooLarge(req.headers.get("content-length"), MAX_BODY))
    throw new OAuthError("invalid_request", "Request body too large", 413);
  try {
    return Buffer.from(await readStreamBounded(req.body, MAX_BODY)).toString("utf8");
  } catch (e) {
    if (e instanceof BodyTooLarge) throw new OAuthError("invalid_request", "Request body too large", 413);
    throw e;
  }
}

/** Parse an `application/x-www-form-urlencoded` body; repeated parameters are refused (RFC 6749 §3.1). */
export async function readForm(req: Request): Promise<URLSearchParams> {
  const read = await readFormBody(req, MAX_BODY);
  if ("form" in read) return read.form;
  if (read.problem === "not_form")
    throw new OAuthError("invalid_request", "Content-Type must be application/x-www-form-urlencoded");
  if (read.problem === "too_large") throw new OAuthError("invalid_request", "Request body too large", 413);
  throw new OAuthError("invalid_request", "A parameter was repeated");
}

/** RFC 6749 §3.1 / §3.2: request parameters must not be included more than once. */
export function assertNoRepeats(params: URLSearchParams): void {
  const seen = new Set<string>();
  for (const key of params.keys()) {
    if (seen.has(key)) throw new OAuthError("invalid_request", "A parameter was repeated");
    seen.add(key);
  }
}

export { randomToken, safeEqual } from "../../lib/secrets.js";
export { getCookie } from "../../lib/cookie.js";

/** SHA-256, base64url: storage keys for secrets, and the PKCE S256 transform (RFC 7636 §4.2). */
export function sha256(value: string): string {
  return createHash("sha256").update(value, "ascii").digest("base64url");
}

/** True for `localhost`, `127.0.0.0/8` and `[::1]` (re-exported so endpoints import from one place). */
export { isLoopbackHost } from "../../config.js";
