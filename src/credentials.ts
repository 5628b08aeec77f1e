/**
 * Reading the access token from a request: exactly one credential, in the `Authorization` header.
 *
 * @see RFC 6750 §2.1 (header), §2.3 (query: refused here), RFC 9449 §7.1 (`DPoP` scheme)
 * @module
 */
import { InvalidRequest, MissingToken } from "./errors.js";

/** A credential found in the request. */
export interface Credentials {
  /** `bearer` for `Authorization: Bearer`, `dpop` for `Authorization: DPoP`. */
  scheme: "bearer" | "dpop";
  /** The token68 value. */
  token: string;
}

/** Largest token accepted, in characters. Real IdP tokens stay well under this. */
export const MAX_TOKEN_LENGTH = 16_384;

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
  // Parse the query only when it could name the parameter (the common request has no query at all).
  if (req.url.includes("access_token") && new URL(req.url).searchParams.has("access_token")) {
    throw new InvalidRequest("Access tokens are accepted only in the Authorization header");
  }
  if (header === null) throw new MissingToken();
  if (header.length > MAX_TOKEN_LENGTH + 16) throw new InvalidRequest("The Authorization header is too large");
  const wellFormed = WELL_FORMED.exec(header);
  if (wellFormed) return { scheme: (wellFormed[1] as string).length === 6 ? "bearer" : "dpop", token: wellFormed[2] as string };
  const match = AUTHORIZATION.exec(header.trim());
  if (!match) throw new InvalidRequest("The Authorization header is malformed");
  const scheme = (match[1] ?? "").toLowerCase();
  if (scheme !== "bearer" && scheme !== "dpop") throw new MissingToken();
  const token = match[2] ?? "";
  if (token.length === 0) throw new InvalidRequest("The Authorization header has no token");
  if (!TOKEN68.test(token)) throw new InvalidRequest("The Authorization header is malformed");
  return { scheme, token };
}
