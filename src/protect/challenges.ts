/**
 * The one place where {@link AuthError}s become HTTP: status, `WWW-Authenticate`, body.
 *
 * @see RFC 6750 §3 (Bearer challenges), RFC 9728 §5.1 (`resource_metadata`), RFC 9449 §7.1 (DPoP).
 * @module
 */
import { AuthError, AuthorizationUnavailable, InsufficientScope, UseDpopNonce } from "../errors.js";
import { renamedFields } from "../lib/options.js";
import { sessionNotFound } from "./responses.js";

/** What a challenge needs to know about the resource. */
export interface ChallengeOptions {
  /**
   * Absolute URL of the RFC 9728 metadata document. Required: optional in the type only while the
   * deprecated `resourceMetadataUrl` is accepted in its place (until 0.3).
   */
  resource_metadata_url?: string;
  /** Scopes to advertise in `scope="…"` on 401 (what a client should ask for up front). */
  scopes?: readonly string[];
  /** When set, a `DPoP` challenge is added with these algorithms. */
  dpop_algorithms?: readonly string[];
  /** When true, the `Bearer` challenge is omitted (only DPoP-bound tokens are accepted). */
  dpop_required?: boolean;
  /** Realm. Default `"MCP"`. */
  realm?: string;
  /** @deprecated Use `resource_metadata_url`. Removed in 0.3. */
  resourceMetadataUrl?: string;
  /** @deprecated Use `dpop_algorithms`. Removed in 0.3. */
  dpopAlgorithms?: readonly string[];
  /** @deprecated Use `dpop_required`. Removed in 0.3. */
  dpopRequired?: boolean;
}

/** The {@link ChallengeOptions} keys renamed in 0.2 (old → new), accepted with a deprecation warning. */
const CHALLENGE_RENAMED = {
  resourceMetadataUrl: "resource_metadata_url",
  dpopAlgorithms: "dpop_algorithms",
  dpopRequired: "dpop_required",
} as const;

/** Status and headers for a refusal, before a body is attached. */
export interface Challenge {
  /** HTTP status: 400, 401, 403, 404 or 503. */
  status: number;
  /** Headers to send (`WWW-Authenticate`, `DPoP-Nonce`, `Retry-After`, `Cache-Control`). */
  headers: Record<string, string>;
  /** The OAuth `error` code, when there is one. */
  error?: string;
}

/** Longest value put in a challenge parameter; longer text is cut (a header is not a log). */
const MAX_PARAM_LENGTH = 512;

/**
 * Reduce a value to what RFC 6750 §3 allows inside a quoted string: printable ASCII (%x20-7E). Every
 * other code point (control characters such as CR, LF and NUL, DEL, non-ASCII text, lone
 * surrogates) becomes `?`, so no provider text can break the header, add a header or make the
 * `Headers` constructor throw. The result is cut at {@link MAX_PARAM_LENGTH}.
 */
export function toHeaderSafe(value: string): string {
  let out = "";
  for (const ch of value) {
    if (out.length >= MAX_PARAM_LENGTH) break;
    const c = ch.codePointAt(0)!;
    out += c >= 0x20 && c <= 0x7e ? ch : "?";
  }
  return out;
}

/** Escape a value for an RFC 9110 quoted-string, after reducing it with {@link toHeaderSafe}. */
export const quote = (value: string): string => `"${toHeaderSafe(value).replace(/[\\"]/g, "\\$&")}"`;

/**
 * Build one auth-param list, skipping undefined values. Parameter names are fixed by this module;
 * every value is quoted and escaped, so no caller-provided text can inject a parameter.
 */
function authParams(params: [string, string | undefined][]): string {
  return params
    .filter((p): p is [string, string] => p[1] !== undefined)
    .map(([k, v]) => `${k}=${quote(v)}`)
    .join(", ");
}

/** OAuth error code per library error code. `undefined` means "no `error` attribute". */
function oauthError(err: AuthError): string | undefined {
  switch (err.code) {
    case "ERR_MISSING_TOKEN":
      return undefined;
    case "ERR_INVALID_REQUEST":
      return "invalid_request";
    case "ERR_INSUFFICIENT_SCOPE":
      return "insufficient_scope";
    case "ERR_INVALID_DPOP_PROOF":
      return "invalid_dpop_proof";
    case "ERR_USE_DPOP_NONCE":
      return "use_dpop_nonce";
    default:
      return "invalid_token";
  }
}

function statusFor(err: AuthError): number {
  switch (err.code) {
    case "ERR_INVALID_REQUEST":
      return 400;
    case "ERR_INSUFFICIENT_SCOPE":
      return 403;
    case "ERR_SESSION_MISMATCH":
      return 404;
    case "ERR_AUTHORIZATION_UNAVAILABLE":
      return 503;
    default:
      return 401;
  }
}

/**
 * Map an error to status and headers.
 *
 * - `ERR_MISSING_TOKEN` → 401, challenge without `error` (RFC 6750 §3.1).
 * - `ERR_INVALID_REQUEST` → 400 `invalid_request`.
 * - token errors → 401 `invalid_token`; DPoP errors → 401 `invalid_dpop_proof` / `use_dpop_nonce`.
 * - `ERR_INSUFFICIENT_SCOPE` → 403 `insufficient_scope` with the required `scope`.
 * - `ERR_AUTHORIZATION_UNAVAILABLE` → 503 with `Retry-After` (the error's `retry_after`, else 5), no challenge: asking
 * the client to
 *   re-authenticate would not help and would send it into a loop.
 * - `ERR_SESSION_MISMATCH` → 404, like an unknown session.
 */
export function challengeFor(err: AuthError, options: ChallengeOptions): Challenge {
  const status = statusFor(err);
  const headers: Record<string, string> = { "Cache-Control": "no-store" };
  const error = oauthError(err);
  if (status === 503) {
    const after = err instanceof AuthorizationUnavailable ? err.retry_after : undefined;
    headers["Retry-After"] = String(after !== undefined && after >= 1 ? Math.ceil(after) : 5);
    return { status, headers };
  }
  if (status === 404) return { status, headers };

  const scope =
    err instanceof InsufficientScope
      ? err.required.join(" ")
      : options.scopes?.length
        ? options.scopes.join(" ")
        : undefined;
  const description = error ? err.message : undefined;
  const isDpopError = err.code === "ERR_INVALID_DPOP_PROOF" || err.code === "ERR_USE_DPOP_NONCE";
  const challenges: string[] = [];

  if (!options.dpop_required) {
    challenges.push(
      `Bearer ${authParams([
        ["realm", options.realm ?? "MCP"],
        ["resource_metadata", options.resource_metadata_url],
        ["scope", scope],
        ["error", isDpopError ? undefined : error],
        ["error_description", isDpopError ? undefined : description],
      ])}`,
    );
  }
  if (options.dpop_algorithms?.length) {
    const dpopOwnsError = isDpopError || options.dpop_required;
    // Alongside a Bearer challenge the DPoP one only adds `algs` (and DPoP errors); when DPoP is
    // required it is the only challenge and carries the discovery parameters itself.
    const discovery: [string, string | undefined][] = options.dpop_required
      ? [
          ["realm", options.realm ?? "MCP"],
          ["resource_metadata", options.resource_metadata_url],
          ["scope", scope],
        ]
      : [];
    challenges.push(
      `DPoP ${authParams([
        ...discovery,
        ["algs", options.dpop_algorithms.join(" ")],
        ["error", dpopOwnsError ? error : undefined],
        ["error_description", dpopOwnsError ? description : undefined],
      ])}`,
    );
  }
  headers["WWW-Authenticate"] = challenges.join(", ");
  if (err instanceof UseDpopNonce) headers["DPoP-Nonce"] = toHeaderSafe(err.nonce);
  return error ? { status, headers, error } : { status, headers };
}

/**
 * A ready `Response` for a refusal: the challenge plus a small JSON body
 * `{ error, error_description }` (never the token, never a stack trace).
 *
 * @example
 * ```ts
 * return challengeResponse(new MissingToken(), { resource_metadata_url: resourceMetadataUrl });
 * ```
 */
export function challengeResponse(err: AuthError, options: ChallengeOptions, extraHeaders?: HeadersInit): Response {
  if (err.code === "ERR_SESSION_MISMATCH") {
    // Byte-identical to an unknown session's answer: a session id's existence is not revealed.
    const res = sessionNotFound();
    new Headers(extraHeaders).forEach((v, k) => res.headers.set(k, v));
    return res;
  }
  const c = challengeFor(err, renamedFields("challengeResponse()", options, CHALLENGE_RENAMED));
  const headers = new Headers(extraHeaders);
  for (const [k, v] of Object.entries(c.headers)) headers.set(k, v);
  headers.set("Content-Type", "application/json");
  const body = {
    error: c.error ?? (c.status === 503 ? "temporarily_unavailable" : "unauthorized"),
    error_description: err.message,
  };
  return new Response(JSON.stringify(body), { status: c.status, headers });
}
