/**
 * The seam between the authorization gate (`protect()`) and whatever serves MCP behind it, plus the
 * one place request bodies are read: bounded, once, and only for authorized requests.
 *
 * @module
 */
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type { AuthContext, RequestContext } from "../context/types.js";
import type { HandlerExtras } from "../adapters/contract.js";
import { BodyTooLarge, declaredTooLarge, readStreamBounded } from "../lib/body.js";
import { bodyTooLarge, parseError } from "../protect/responses.js";

/** Default largest request body, in bytes: 4 MiB, the SDK transports' own limit. */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

/** One authorized request on its way to the MCP server. */
export interface AuthorizedRequest {
  /** The request. Its body is not to be read again when `parsedBody` is set. */
  req: Request;
  /** The principal, or `null` (authorization disabled, or `fail_open`). */
  auth: AuthContext | null;
  /** The same principal as the SDK's `AuthInfo`. */
  authInfo: AuthInfo | undefined;
  /** Stable key of the principal, for binding sessions. */
  principal: string;
  /** The JSON body, parsed once (POST with a JSON content type); `undefined` otherwise. */
  parsedBody: unknown;
  /** What `getContext()` returns inside tools. */
  context: RequestContext;
  /**
   * What the backend's {@link McpBackend.findSession} found for the session the request names, handed
   * back so the session registry is looked up once per request; `undefined` when it names none (or the
   * backend keeps no sessions).
   */
  session: SessionLookup | undefined;
}

/**
 * A backend's answer to "which session does this request name": opaque to the gate, which only
 * carries it from {@link McpBackend.findSession} to {@link McpBackend.handle}.
 */
export type SessionLookup = object;

/** Serves authorized MCP requests. */
export interface McpBackend {
  /** Answer one authorized request. */
  handle(authorized: AuthorizedRequest): Promise<Response>;
  /**
   * The session the request names, before its body is read: throws {@link SessionMismatch} when another
   * principal opened it; `undefined` when it names none. Backends without sessions leave it out.
   */
  findSession?(req: Request, principal: string): SessionLookup | undefined;
  /** Close every open session and per-request server. */
  close(): Promise<void>;
}

/** `application/json`, with or without parameters: the only body type Streamable HTTP accepts. */
export function isJsonContentType(value: string | null): boolean {
  if (!value) return false;
  if (value === "application/json") return true;
  return (value.split(";", 1)[0] ?? "").trim().toLowerCase() === "application/json";
}

/** What {@link readJsonBody} gives: the parsed body, or the error answer to send instead. */
export type JsonBodyRead = { body: unknown } | { response: Response };

/**
 * Read and parse a POST's JSON body once, bounded by `limit`. Gives the parsed value (or
 * `undefined` when there is nothing to parse: not a POST, not JSON — the transport then answers), or
 * a ready error `Response` (413 over the limit, 400 for invalid JSON). Synchronous when there is
 * nothing to read (a body a framework parsed, or none): a promise only around a read.
 */
export function readJsonBody(
  req: Request,
  extras: HandlerExtras | undefined,
  limit: number,
): JsonBodyRead | Promise<JsonBodyRead> {
  if (req.method !== "POST" || !isJsonContentType(req.headers.get("content-type"))) return { body: undefined };
  if (extras?.parsedBody !== undefined) {
    const size = extras.parsedBodyBytes ?? Number(req.headers.get("content-length") ?? NaN);
    const bytes = Number.isFinite(size) ? size : Buffer.byteLength(JSON.stringify(extras.parsedBody) ?? "");
    return bytes > limit ? { response: bodyTooLarge(limit) } : { body: extras.parsedBody };
  }
  if (declaredTooLarge(req.headers.get("content-length"), limit)) return { response: bodyTooLarge(limit) };
  const unreadable = (e: unknown): JsonBodyRead => ({
    response: e instanceof BodyTooLarge ? bodyTooLarge(limit) : parseError("unreadable"),
  });
  let reading: Promise<Uint8Array>;
  try {
    reading = extras?.readBody ? extras.readBody(limit) : readStreamBounded(req.body, limit);
  } catch (e) {
    return unreadable(e);
  }
  return reading.then(parseJson, unreadable);
}

function parseJson(bytes: Uint8Array): JsonBodyRead {
  try {
    return { body: JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8")) };
  } catch {
    return { response: parseError("invalid_json") };
  }
}
