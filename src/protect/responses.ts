/**
 * Every HTTP answer the gate gives that is not an auth challenge (those are in `challenges.ts`):
 * not found, method not allowed, body too large, parse errors, session answers, refused hosts and
 * origins, and the provider-failure 500. One module, so a status, a body or a header is decided once.
 *
 * Bodies are short fixed sentences: never a token, a header value taken from the request, or a stack.
 *
 * @module
 */

/** `Content-Type` of every JSON answer here. */
const JSON_TYPE = "application/json";

/** A JSON-RPC error response with no id (Streamable HTTP transport errors). */
export function jsonRpcError(status: number, code: number, message: string, headers?: HeadersInit): Response {
  const h = new Headers(headers);
  h.set("Content-Type", JSON_TYPE);
  return new Response(JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null }), { status, headers: h });
}

/**
 * The answer for an unknown session **and** for another principal's session: byte-identical
 * (status, headers, body), so a session id's existence cannot be learned from it.
 */
export function sessionNotFound(): Response {
  return jsonRpcError(404, -32001, "Session not found", { "Cache-Control": "no-store" });
}

/** A request without `Mcp-Session-Id` that is not an `initialize`. */
export function sessionRequired(): Response {
  return jsonRpcError(400, -32000, "Bad Request: Mcp-Session-Id header is required");
}

/** A second `initialize` to a single `McpServer` instance whose one session is open. */
export function oneSessionAtATime(): Response {
  return jsonRpcError(409, -32000, "This server serves one session at a time");
}

/** A body over the limit: 413, and the connection is not kept (the rest of the body is not read). */
export function bodyTooLarge(limit: number): Response {
  return jsonRpcError(413, -32000, `Request body too large: the limit is ${limit} bytes`, { Connection: "close" });
}

/** A body that could not be read or parsed as JSON (JSON-RPC `-32700`). */
export function parseError(detail: "unreadable" | "invalid_json"): Response {
  return jsonRpcError(
    400,
    -32700,
    detail === "unreadable" ? "Parse error: the request body could not be read" : "Parse error: Invalid JSON",
  );
}

/** A path this handler does not serve. */
export function notFound(): Response {
  return new Response("Not Found", { status: 404, headers: { "Content-Type": "text/plain" } });
}

/** A method the path does not take. */
export function methodNotAllowed(allow: string, headers?: HeadersInit): Response {
  const h = new Headers(headers);
  h.set("Allow", allow);
  return new Response(null, { status: 405, headers: h });
}

/**
 * 403 for a request whose `Host` or `Origin` this resource does not accept (DNS-rebinding
 * protection). The body names the check, never the value sent.
 */
export function forbiddenHost(what: "host" | "origin"): Response {
  const description =
    what === "host"
      ? "The Host header does not name this resource (see the dns_rebinding_protection option)"
      : "The Origin of this request is not allowed (see the dns_rebinding_protection and cors_origins options)";
  return new Response(JSON.stringify({ error: "forbidden", error_description: description }), {
    status: 403,
    headers: { "Content-Type": JSON_TYPE, "Cache-Control": "no-store" },
  });
}

/**
 * 400 for a `Host` header, or the authority of an absolute-form request target, that is not a valid
 * `uri-host [":" port]` (RFC 9112 §3.2: a server MUST answer 400 to a `Host` with an invalid value or
 * to several `Host` lines). A malformed request, not a refused host: hence 400, not
 * {@link forbiddenHost}'s 403. The body names what was wrong, never the value sent.
 */
export function malformedHost(what: "host" | "target"): Response {
  const description =
    what === "host"
      ? "The Host header must be one host[:port] (RFC 9112 section 3.2)"
      : "The request target's authority must be host[:port], without userinfo (RFC 9112 section 3.2.2)";
  return new Response(JSON.stringify({ error: "invalid_request", error_description: description }), {
    status: 400,
    headers: { "Content-Type": JSON_TYPE, "Cache-Control": "no-store" },
  });
}

/**
 * 500 when the authorization provider (or the DPoP check) failed with something other than an
 * auth error: a bug, not an outage. Nobody is admitted, and `fail_open` does not apply.
 */
export function providerFailed(headers?: HeadersInit): Response {
  const h = new Headers(headers);
  h.set("Content-Type", JSON_TYPE);
  h.set("Cache-Control", "no-store");
  return new Response(
    JSON.stringify({ error: "server_error", error_description: "The access token could not be checked" }),
    {
      status: 500,
      headers: h,
    },
  );
}

/** 500 from an adapter when the handler itself threw: no body detail at all. */
export function internalError(): Response {
  return new Response(null, { status: 500 });
}

/** 400 for a forwarded header with several values while `trust_proxy` is on (no value of the list can be trusted). */
export function ambiguousForwardedHeader(): Response {
  return new Response(
    JSON.stringify({
      error: "invalid_request",
      error_description: "X-Forwarded-Host and X-Forwarded-Proto must carry one value each",
    }),
    { status: 400, headers: { "Content-Type": JSON_TYPE, "Cache-Control": "no-store" } },
  );
}
