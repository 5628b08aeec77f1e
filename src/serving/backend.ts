/**
 * The seam between the authorization gate (`protect()`) and whatever serves MCP behind it, plus the
 * one place request bodies are read: bounded, once, and only for authorized requests.
 *
 * @module
 */
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import type { AuthContext, RequestContext } from "../context/types.js";
import { BodyTooLarge, declaredTooLarge, readStreamBounded } from "../lib/body.js";
import { bodyTooLarge, parseError } from "../protect/responses.js";

/** Default largest request body, in bytes: 4 MiB, the SDK transports' own limit. */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

/** One authorized request on its way to the MCP server. */
export interface McpExchange {
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
}

/** Serves authorized MCP requests. */
export interface McpBackend {
  /** Answer one authorized request. */
  handle(exchange: McpExchange): Promise<Response>;
  /** Throw {@link SessionMismatch} when the request names a session another principal opened. */
  checkSession?(req: Request, principal: string): void;
  /** Close every open session and per-request server. */
  close(): Promise<void>;
}

/**
 * What an adapter may hand a handler besides the `Request`. Adapters use it to avoid Web streams:
 * the Node adapter passes `readBody`, which reads the socket directly; Express passes the body its
 * JSON parser already produced. The handler reads the body only after the request is authorized.
 */
export interface HandlerExtras {
  /** Read the whole request body, throwing `BodyTooLarge` past `limit` bytes (used instead of `request.body`). */
  readBody?: (limit: number) => Promise<Uint8Array>;
  /** A body a framework already parsed (e.g. `express.json()`). */
  parsedBody?: unknown;
  /** Size in bytes of the body behind `parsedBody`, when known. */
  parsedBodyBytes?: number;
}

/**
 * Marks a handler that takes {@link HandlerExtras} and reads its body itself (a `protect()` handler),
 * so adapters may hand it a body reader instead of a streamed `Request` body.
 */
export const kReadsBodyLazily: unique symbol = Symbol.for("protected-mcp.reads-body-lazily");

/**
 * Set by an adapter on the {@link HandlerExtras} it passes when it writes the `Response` out itself
 * (the Node adapter): the handler then leaves the CORS headers for it to write, through
 * {@link deferHeaders}, instead of adding them to the transport's `Response`. A `Headers.set` on
 * undici's `Headers` validates the name and value and makes the next iteration sort the list again:
 * about 1.5 µs per request for two headers, measured.
 */
export const kWritesHeaders: unique symbol = Symbol("protected-mcp.writes-headers");

/** Where {@link deferHeaders} leaves the headers: a property, not a `WeakMap` entry (a `WeakMap.set` per response cost as much as the `Headers.set` it replaced, measured). */
const kDeferred: unique symbol = Symbol("protected-mcp.deferred-headers");

/** Leave `pairs` for the adapter that asked for it ({@link kWritesHeaders}) to write with `res`, replacing same-named headers. */
export function deferHeaders(res: Response, pairs: readonly (readonly [string, string])[]): Response {
  (res as { [kDeferred]?: readonly (readonly [string, string])[] })[kDeferred] = pairs;
  return res;
}

/** The headers left with `res` by {@link deferHeaders}, if any. */
export function deferredHeaders(res: Response): readonly (readonly [string, string])[] | undefined {
  return (res as { [kDeferred]?: readonly (readonly [string, string])[] })[kDeferred];
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
export function readJsonBody(req: Request, extras: HandlerExtras | undefined, limit: number): JsonBodyRead | Promise<JsonBodyRead> {
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
