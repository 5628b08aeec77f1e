/**
 * `GET {issuer path}/api/whoami` (the `whoami_api` option): a small protected API, so that a
 * development authorization server can play a third-party service — its own users, consent page and
 * API — for an MCP server that connects its users' accounts there. It accepts only this server's own
 * Bearer access tokens whose audience is the configured resource, and answers whom a token belongs to.
 *
 * Refusals follow RFC 6750 §3: no token → 401 with a bare `Bearer realm` challenge; a malformed
 * `Authorization` header → 400 `error="invalid_request"`; a token that is
 * malformed, expired, signed by another key, for another audience or DPoP-bound (this API checks no
 * proofs) → 401 `error="invalid_token"`. The description is fixed text; nothing of the token is echoed.
 *
 * @see RFC 6750 §2.1, §3; RFC 9068 §4 (validating JWT access tokens)
 * @module
 */
import { createLocalJWKSet, jwtVerify, type JWTPayload } from "jose";
import type { Signer } from "./keys.js";
import type { ResolvedOptions } from "./options.js";

/** What the API answers: whom the token was issued for, with which scopes, to which client. */
export interface WhoamiResponse {
  /** The user (`sub`). */
  subject: string;
  /** The granted scopes. */
  scopes: string[];
  /** The client the token was issued to (the service's OAuth client, e.g. an MCP server). */
  client_id: string | null;
}

const REALM = "whoami";

/** The `whoami` path under an issuer. */
export function whoamiPath(issuer: string): string {
  return `${new URL(issuer).pathname.replace(/\/+$/, "")}/api/whoami`;
}

function challenge(error?: string, description?: string, status = 401): Response {
  const params = [`realm="${REALM}"`];
  if (error) params.push(`error="${error}"`);
  if (description) params.push(`error_description="${description}"`);
  return new Response(JSON.stringify({ error: error ?? "invalid_request" }), {
    status,
    headers: {
      "content-type": "application/json",
      "cache-control": "no-store",
      "www-authenticate": `Bearer ${params.join(", ")}`,
    },
  });
}

/** The bearer token of a request: `undefined` without one; `null` for a malformed `Authorization` header. */
function bearerToken(req: Request): string | undefined | null {
  const header = req.headers.get("authorization");
  if (header === null) return undefined;
  // RFC 6750 §2.1 b64token, one space-separated value.
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
  return m ? m[1]! : null;
}

/**
 * Build the `GET /api/whoami` handler for a resolved server.
 *
 * @param o - the resolved options (issuer, clock, the `whoami_api` resource).
 * @param signer - the server's signer: its public keys verify the tokens.
 */
export function createWhoamiApi(o: ResolvedOptions, signer: Signer): (req: Request) => Promise<Response> {
  const audience = o.whoami_api?.resource ?? o.resources[0]!;
  const jwks = createLocalJWKSet(signer.jwks);
  return async (req) => {
    if (req.method !== "GET" && req.method !== "HEAD")
      return new Response(null, { status: 405, headers: { allow: "GET, HEAD" } });
    const token = bearerToken(req);
    if (token === undefined) return challenge();
    if (token === null) return challenge("invalid_request", "Malformed Authorization header", 400);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, {
        issuer: o.issuer,
        audience,
        typ: "at+jwt",
        algorithms: ["ES256"],
        currentDate: new Date(o.clock()),
        clockTolerance: 0,
        requiredClaims: ["sub", "exp"],
      }));
    } catch {
      return challenge("invalid_token", "The access token is invalid, expired or not for this API");
    }
    // A DPoP-bound token needs a proof this API does not check: refused rather than used as a bearer token.
    if (payload.cnf !== undefined) return challenge("invalid_token", "DPoP-bound tokens are not accepted here");
    const body: WhoamiResponse = {
      subject: payload.sub!,
      scopes: typeof payload.scope === "string" ? payload.scope.split(" ").filter(Boolean) : [],
      client_id: typeof payload.client_id === "string" ? payload.client_id : null,
    };
    return new Response(JSON.stringify(body), {
      status: 200,
      headers: { "content-type": "application/json", "cache-control": "no-store" },
    });
  };
}
