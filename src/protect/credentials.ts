/**
 * Reading the access token from a request: exactly one credential, in the `Authorization` header.
 *
 * @see RFC 6750 §2.1 (header), §2.3 (query: refused here), RFC 9449 §7.1 (`DPoP` scheme)
 * @module
 */
import { InvalidRequest, MissingToken } from "../errors.js";

/** A credential found in the request. */
export interface Credentials {
  /** `bearer` for `Authorization: Bearer`, `dpop` for `Authorization: DPoP`. */
  scheme: "bearer" | "dpop";
  /** The token68 value. */
  token: string;
}

/** Largest token accepted, in characters. Real IdP tokens stay well under this. */
export const MAX_TOKEN_LENGTH = 16_384;

/** Largest `Authorization` header read: a token of {@link MAX_TOKEN_LENGTH} and its scheme. */
const MAX_HEADER_LENGTH = MAX_TOKEN_LENGTH + 16;

/** Whether the URL could name an `access_token` query parameter (the common request has no query at all). */
const mayCarryQueryToken = (req: Request): boolean => req.url.includes("access_token");

/** RFC 9110 §11.2: `auth-scheme [ 1*SP token68 ]`. */
const AUTHORIZATION = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?: +(.*))?$/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;
/**
 * The common, well-formed case in one pass: `Bearer` or `DPoP` (any case), one space, a token68.
 * Whatever it matches, the general parse below would accept identically; anything else goes there.
 */
const WELL_FORMED = /^(bearer|dpop) ([A-Za-z0-9\-._~+/]+=*)$/i;

/**
 * Extract the access token.
 *
 * - no `Authorization` header → {@link MissingToken} (or {@link InvalidRequest} when an
 *   `access_token` query parameter is present: query tokens end up in logs and are never accepted);
 * - a scheme other than Bearer/DPoP → {@link MissingToken} (we do not understand it; the challenge
 *   says what we accept);
 * - empty, malformed (spaces, commas: two credentials folded into one header), or longer than
 *   {@link MAX_TOKEN_LENGTH} → {@link InvalidRequest}.
 *
 * Does not look at the token's contents.
 */
export function extractCredentials(req: Request): Credentials {
  const header = req.headers.get("authorization");
  // Parse the query only when it could name the parameter.
  if (mayCarryQueryToken(req) && new URL(req.url).searchParams.has("access_token")) {
    throw new InvalidRequest("Access tokens are accepted only in the Authorization header");
  }
  if (header === null) throw new MissingToken();
  if (header.length > MAX_HEADER_LENGTH) throw new InvalidRequest("The Authorization header is too large");
  const wellFormed = WELL_FORMED.exec(header);
  if (wellFormed)
    return { scheme: (wellFormed[1] as string).length === 6 ? "bearer" : "dpop", token: wellFormed[2] as string };
  const match = AUTHORIZATION.exec(header.trim());
  if (!match) throw new InvalidRequest("The Authorization header is malformed");
  const scheme = (match[1] ?? "").toLowerCase();
  if (scheme !== "bearer" && scheme !== "dpop") throw new MissingToken();
  const token = match[2] ?? "";
  if (token.length === 0) throw new InvalidRequest("The Authorization header has no token");
  if (!TOKEN68.test(token)) throw new InvalidRequest("The Authorization header is malformed");
  return { scheme, token };
}

/**
 * The token of the usual header, `Authorization: Bearer <token>`, found without parsing the header,
 * for a verified-token cache probe only; `undefined` for anything else (another scheme or spelling, a
 * query that may name `access_token`, an oversized header), which {@link extractCredentials} decides.
 *
 * Why not parse it first: checking the token's characters costs about 1.5 µs per request for a
 * 500-character token (measured), as much as the rest of a cache hit. It is not needed for the
 * probe: a cache holds only tokens `verify()` accepted, and `verify()` is only ever called with a
 * token that passed {@link extractCredentials}, so a token the cache knows is well-formed, and one it
 * does not know takes the full path, which refuses a malformed header exactly as before. A value
 * with a space, a tab or a comma (e.g. two `Authorization` headers, joined) is never a candidate.
 */
export function cacheProbeToken(req: Request): string | undefined {
  const header = req.headers.get("authorization");
  if (header === null || header.length > MAX_HEADER_LENGTH || !header.startsWith("Bearer ") || mayCarryQueryToken(req))
    return undefined;
  const token = header.slice(7);
  if (token.length === 0 || token.includes(" ") || token.includes(",") || token.includes("\t")) return undefined;
  return token;
}
