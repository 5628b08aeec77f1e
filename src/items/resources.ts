/**
 * `resource()`: define an MCP resource once, with the scopes a caller needs to read it, and register
 * it on any server (SDK v1 or v2) — the resource counterpart of {@link tool}.
 *
 * @module
 */
import type { ReadResourceResult } from "@modelcontextprotocol/sdk/types.js";
import { callbackContext, type SdkCallbackExtra } from "../context/sdk-bridge.js";
import { missingScopesOf } from "../context/request-context.js";
import { runWithContext } from "../context/storage.js";
import { checkRequiredScopes } from "../lib/scope.js";
import { MissingScopes, toJsonRpcError } from "./scope-errors.js";

/** What `resource()` needs to know about a resource. */
export interface ResourceOptions {
  /** Resource name (for listings). */
  name: string;
  /** The resource's URI, e.g. `file:///reports/q3.txt`. A fixed URI, not a template. */
  uri: string;
  /** Human/LLM-readable description. */
  description?: string;
  /** Display title. */
  title?: string;
  /** MIME type of the contents. */
  mime_type?: string;
  /** Scopes the caller's token must carry to read it; checked before the handler runs. Default `[]`. */
  required_scopes?: string[];
}

/**
 * A resource handler. Return a `ReadResourceResult` to control the result exactly; a string becomes
 * text contents, a `Uint8Array` a blob, anything else JSON text.
 */
export type ResourceHandler = (uri: URL) => unknown;

/** A resource definition produced by {@link resource}. */
export interface ResourceDefinition {
  /** Always `"resource"`. */
  readonly kind: "resource";
  /** Resource name. */
  readonly name: string;
  /** Resource URI. */
  readonly uri: string;
  /** Scopes the resource requires (frozen copy). */
  readonly required_scopes: readonly string[];
  /** Register this resource on an SDK `McpServer` (v1 or v2). */
  register(server: ResourceRegistry): void;
}

/** The part of an SDK `McpServer` (v1 or v2) `resource()` registers on. */
export interface ResourceRegistry {
  /** The SDK's `registerResource(name, uri, metadata, readCallback)`. */
  registerResource(name: string, uri: string, metadata: never, callback: never): unknown;
}

function toReadResult(uri: URL, mimeType: string | undefined, value: unknown): ReadResourceResult {
  if (typeof value === "object" && value !== null && Array.isArray((value as ReadResourceResult).contents))
    return value as ReadResourceResult;
  const base = { uri: uri.href, ...(mimeType ? { mimeType } : {}) };
  if (typeof value === "string") return { contents: [{ ...base, text: value }] };
  if (value instanceof Uint8Array) return { contents: [{ ...base, blob: Buffer.from(value).toString("base64") }] };
  return { contents: [{ ...base, mimeType: mimeType ?? "application/json", text: JSON.stringify(value ?? null) }] };
}

/**
 * Define a resource with scopes. A read by a caller without them is refused with a JSON-RPC error
 * (code `-32003`) naming the required and missing scopes — or, with
 * `step_up` on, with an HTTP 403 `insufficient_scope` challenge before the handler is reached.
 * `getContext()` works inside the handler.
 *
 * @example
 * ```ts
 * export const report = resource(
 *   { name: "q3", uri: "file:///reports/q3.txt", required_scopes: ["reports:read"] },
 *   () => readFile("/srv/reports/q3.txt", "utf8"),
 * );
 * ```
 */
export function resource(options: ResourceOptions, handler: ResourceHandler): ResourceDefinition {
  if (typeof options?.name !== "string" || !options.name)
    throw new TypeError('resource(): "name" must be a non-empty string');
  if (typeof options.uri !== "string" || !URL.canParse(options.uri))
    throw new TypeError(`resource("${options.name}"): "uri" must be an absolute URI`);
  if (typeof handler !== "function") throw new TypeError(`resource("${options.name}"): handler must be a function`);
  const required = checkRequiredScopes(`resource("${options.name}")`, options.required_scopes);
  const uri = new URL(options.uri).href;
  const opts = Object.freeze({ ...options });
  return Object.freeze({
    kind: "resource" as const,
    name: opts.name,
    uri,
    required_scopes: required,
    register(server: ResourceRegistry) {
      const metadata = {
        ...(opts.description ? { description: opts.description } : {}),
        ...(opts.title ? { title: opts.title } : {}),
        ...(opts.mime_type ? { mimeType: opts.mime_type } : {}),
      };
      server.registerResource(
        opts.name,
        uri,
        metadata as never,
        (async (u: URL, extra?: SdkCallbackExtra) => {
          const context = callbackContext(extra);
          const missing = missingScopesOf(context, required);
          if (missing.length) throw toJsonRpcError(new MissingScopes("Resource", uri, required, missing));
          return toReadResult(u, opts.mime_type, await runWithContext(context, () => handler(u)));
        }) as never,
      );
    },
  });
}
