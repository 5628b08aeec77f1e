/**
 * Per-item scope policy at the HTTP level, the same for both protocol eras: which scopes a
 * `tools/call`, `resources/read` or `prompts/get` needs (step-up), and which items a caller may see
 * in `tools/list`, `resources/list` and `prompts/list` (scope-aware listing).
 *
 * Decisions use the JSON-RPC body only — never the 2026-07-28 `Mcp-Method`/`Mcp-Name` headers, which
 * a client could set to anything.
 *
 * @module
 */
import { missingFrom } from "../lib/scope.js";

/** Anything with a kind, a name (or URI) and required scopes: `tool()`, `resource()`, `prompt()` definitions. */
export interface ScopedDefinition {
  /** Which MCP primitive it is. */
  readonly kind: "tool" | "resource" | "prompt";
  /** Tool or prompt name; for a resource, its name (the URI is `uri`). */
  readonly name: string;
  /** A resource's URI. */
  readonly uri?: string;
  /** Scopes the item requires. */
  readonly required_scopes: readonly string[];
}

/** Required scopes by item, built once from the definitions. */
export interface ScopePolicy {
  /** Tools by name. */
  readonly tools: ReadonlyMap<string, readonly string[]>;
  /** Resources by URI. */
  readonly resources: ReadonlyMap<string, readonly string[]>;
  /** Prompts by name. */
  readonly prompts: ReadonlyMap<string, readonly string[]>;
}

/** Index definitions by what requests name them with. Items without scopes are left out. */
export function buildScopePolicy(definitions: readonly ScopedDefinition[]): ScopePolicy {
  const tools = new Map<string, readonly string[]>();
  const resources = new Map<string, readonly string[]>();
  const prompts = new Map<string, readonly string[]>();
  for (const d of definitions) {
    if (!d.required_scopes.length) continue;
    if (d.kind === "tool") tools.set(d.name, d.required_scopes);
    else if (d.kind === "prompt") prompts.set(d.name, d.required_scopes);
    else if (d.uri) resources.set(d.uri, d.required_scopes);
  }
  return { tools, resources, prompts };
}

const messagesOf = (body: unknown): unknown[] => (Array.isArray(body) ? body : body === undefined ? [] : [body]);

function paramString(message: unknown, key: string): string | undefined {
  const params = (message as { params?: unknown } | null)?.params;
  const v = typeof params === "object" && params !== null ? (params as Record<string, unknown>)[key] : undefined;
  return typeof v === "string" ? v : undefined;
}

function canonicalUri(uri: string): string {
  return URL.canParse(uri) ? new URL(uri).href : uri;
}

/** The scopes one JSON-RPC message needs beyond the server-wide ones, or none. */
export function scopesForMessage(message: unknown, policy: ScopePolicy): readonly string[] | undefined {
  const method = (message as { method?: unknown } | null)?.method;
  if (method === "tools/call") return policy.tools.get(paramString(message, "name") ?? "");
  if (method === "prompts/get") return policy.prompts.get(paramString(message, "name") ?? "");
  if (method === "resources/read") {
    const uri = paramString(message, "uri");
    return uri === undefined ? undefined : policy.resources.get(canonicalUri(uri));
  }
  return undefined;
}

/**
 * The first message of a request (or batch) whose item the caller's scopes do not cover: the scopes
 * it requires, or `undefined` when every message is covered.
 */
export function unmetRequirement(
  body: unknown,
  policy: ScopePolicy,
  granted: readonly string[],
): readonly string[] | undefined {
  for (const m of messagesOf(body)) {
    const required = scopesForMessage(m, policy);
    if (required && missingFrom(required, granted).length) return required;
  }
  return undefined;
}

/**
 * The scopes to name in a step-up challenge: the granted ones plus the required ones (`"union"`), or
 * only the required ones (`"operation"`, SEP-2350). Order: granted first, as the client had them.
 */
export function stepUpScopes(
  granted: readonly string[],
  required: readonly string[],
  mode: "union" | "operation",
): string[] {
  return mode === "operation" ? [...required] : [...new Set([...granted, ...required])];
}

const LIST_METHODS = new Set(["tools/list", "resources/list", "prompts/list"]);

/** Whether the request (or batch) asks for a list whose items may be filtered. */
export function asksForList(body: unknown): boolean {
  return messagesOf(body).some((m) => LIST_METHODS.has((m as { method?: unknown } | null)?.method as string));
}

const visible = (required: readonly string[] | undefined, granted: readonly string[]): boolean =>
  !required || missingFrom(required, granted).length === 0;

/** Drop the items `granted` does not cover from a list result (tools, resources, prompts). */
export function filterListResult(result: unknown, policy: ScopePolicy, granted: readonly string[]): unknown {
  if (typeof result !== "object" || result === null) return result;
  const r = { ...(result as Record<string, unknown>) };
  if (Array.isArray(r.tools))
    r.tools = r.tools.filter((t) => visible(policy.tools.get((t as { name?: string }).name ?? ""), granted));
  if (Array.isArray(r.prompts))
    r.prompts = r.prompts.filter((p) => visible(policy.prompts.get((p as { name?: string }).name ?? ""), granted));
  if (Array.isArray(r.resources))
    r.resources = r.resources.filter((x) =>
      visible(policy.resources.get(canonicalUri((x as { uri?: string }).uri ?? "")), granted),
    );
  return r;
}

function filterMessage(message: unknown, policy: ScopePolicy, granted: readonly string[]): unknown {
  if (typeof message !== "object" || message === null || !("result" in message)) return message;
  return { ...(message as object), result: filterListResult(message.result, policy, granted) };
}

/**
 * Filter the list results in a response, JSON or a (finite) event stream, keeping status and
 * headers. Only called for requests that ask for a list, so only those responses are buffered.
 */
export async function filterListResponse(
  res: Response,
  policy: ScopePolicy,
  granted: readonly string[],
): Promise<Response> {
  const type = (res.headers.get("content-type") ?? "").split(";", 1)[0]!.trim().toLowerCase();
  if (res.status !== 200 || !res.body) return res;
  const headers = new Headers(res.headers);
  headers.delete("content-length");
  if (type === "application/json") {
    const json: unknown = await res.json();
    const out = Array.isArray(json)
      ? json.map((m) => filterMessage(m, policy, granted))
      : filterMessage(json, policy, granted);
    return new Response(JSON.stringify(out), { status: res.status, headers });
  }
  if (type === "text/event-stream") {
    const text = await res.text();
    const out = text
      .split("\n")
      .map((line) => {
        if (!line.startsWith("data:")) return line;
        const data = line.slice(5).trimStart();
        try {
          return `data: ${JSON.stringify(filterMessage(JSON.parse(data), policy, granted))}`;
        } catch {
          return line;
        }
      })
      .join("\n");
    return new Response(out, { status: res.status, headers });
  }
  return res;
}
