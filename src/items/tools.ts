/**
 * `tool()`: define an MCP tool once, with the scopes it needs, and register it on any server.
 *
 * @module
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult, ToolAnnotations } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { checkRequiredScopes, pyList } from "../lib/scope.js";
import { callbackContext, type SdkCallbackExtra } from "../context/sdk-bridge.js";
import { missingScopesOf } from "../context/request-context.js";
import { runWithContext } from "../context/storage.js";
import { TokenExchangeError } from "../token-exchange/errors.js";
import { ConnectedAccountError, ConnectionRequired } from "../connected-accounts/errors.js";
import {
  answerConnectionRequired,
  mayResume,
  resumeAfterElicitation,
  type ToolCall,
} from "../connected-accounts/elicitation.js";

/** A zod object shape: the tool's arguments. */
export type ToolInputShape = Record<string, z.ZodType>;

/** What `tool()` needs to know about a tool. */
export interface ToolOptions<Input extends ToolInputShape> {
  /** Tool name as clients see it. */
  name: string;
  /** Human/LLM-readable description. */
  description: string;
  /** Arguments as a zod shape, e.g. `{ path: z.string() }`. Default: no arguments. */
  input?: Input;
  /** Scopes the caller's token must carry; checked before the handler runs. Default `[]`. */
  required_scopes?: string[];
  /** Display title. */
  title?: string;
  /** MCP tool annotations (`readOnlyHint`, `destructiveHint`, …). */
  annotations?: ToolAnnotations;
}

/**
 * A tool handler. Return a `CallToolResult` to control the result exactly; any other value is
 * wrapped: a string becomes text content, anything else becomes JSON text content (and
 * `structuredContent` when it is a plain object).
 */
export type ToolHandler<Input extends ToolInputShape> = (args: z.infer<z.ZodObject<Input>>) => unknown;

/**
 * The part of an MCP server `tool()` registers on: the SDK v1 `McpServer`
 * (`@modelcontextprotocol/sdk`) and the SDK v2 `McpServer` (`@modelcontextprotocol/server`) both fit.
 */
export interface ToolRegistry {
  /** The SDK's `registerTool(name, config, callback)`. */
  registerTool(name: string, config: never, callback: never): unknown;
}

/** A tool definition produced by {@link tool}. Register it with {@link registerTools} or `MCPServer.collect`. */
export interface ToolDefinition<Input extends ToolInputShape = ToolInputShape> {
  /** Tool name. */
  readonly name: string;
  /** Always `"tool"`. */
  readonly kind: "tool";
  /** Scopes the tool requires (frozen copy). */
  readonly required_scopes: readonly string[];
  /** Register this tool on an SDK `McpServer` (v1 or v2). */
  register(server: McpServer | ToolRegistry): void;
  /** @internal the options as given (copied). */
  readonly options: Readonly<ToolOptions<Input>>;
}

/** The exact refusal result for a call without the tool's scopes. */
export function missingScopesResult(
  name: string,
  required: readonly string[],
  missing: readonly string[],
): CallToolResult {
  return {
    isError: true,
    content: [
      { type: "text", text: `Tool "${name}" requires scopes: ${pyList(required)}. Missing: ${pyList(missing)}` },
    ],
  };
}

function isCallToolResult(v: unknown): v is CallToolResult {
  return typeof v === "object" && v !== null && Array.isArray((v as { content?: unknown }).content);
}

function toResult(value: unknown): CallToolResult {
  if (isCallToolResult(value)) return value;
  if (typeof value === "string") return { content: [{ type: "text", text: value }] };
  const text = JSON.stringify(value ?? null);
  const result: CallToolResult = { content: [{ type: "text", text }] };
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    result.structuredContent = value as Record<string, unknown>;
  }
  return result;
}

/**
 * Define a tool with per-tool scopes.
 *
 * A call whose caller lacks any of `required_scopes` (including an anonymous caller) gets an
 * `isError` result naming the required and missing scopes, and the handler does not run. When
 * authorization is disabled (`enabled: false`) no scope is checked.
 *
 * @example
 * ```ts
 * export const deleteFile = tool(
 *   { name: "delete_file", description: "Delete file", input: { path: z.string() }, required_scopes: ["files:delete"] },
 *   async ({ path }) => ({ deleted: path }),
 * );
 * ```
 */
export function tool<Input extends ToolInputShape = Record<string, never>>(
  options: ToolOptions<Input>,
  handler: ToolHandler<Input>,
): ToolDefinition<Input> {
  if (typeof options?.name !== "string" || options.name.length === 0)
    throw new TypeError('tool(): "name" must be a non-empty string');
  if (typeof handler !== "function") throw new TypeError(`tool("${options.name}"): handler must be a function`);
  const required = checkRequiredScopes(`tool("${options.name}")`, options.required_scopes);
  const opts = Object.freeze({ ...options, required_scopes: [...required] });

  const run = async (args: unknown, extra: SdkCallbackExtra | undefined, server: unknown): Promise<CallToolResult> => {
    const context = callbackContext(extra);
    const missing = missingScopesOf(context, required);
    if (missing.length) return missingScopesResult(opts.name, required, missing);
    const call: ToolCall = { name: opts.name, args, extra, server };
    try {
      if (mayResume(context, extra)) {
        const answer = await resumeAfterElicitation(context, call);
        if (answer) return answer as CallToolResult;
      }
      return toResult(await runWithContext(context, () => handler(args as z.infer<z.ZodObject<Input>>)));
    } catch (e) {
      // No usable third-party credential: a URL-mode elicitation in the client's words (or its fallback).
      if (e instanceof ConnectionRequired) return (await answerConnectionRequired(e, context, call)) as CallToolResult;
      // A failed token exchange or connection is the tool's answer, naming the audience (never a token).
      if (e instanceof TokenExchangeError || e instanceof ConnectedAccountError)
        return { isError: true, content: [{ type: "text", text: `Tool "${opts.name}": ${e.message}` }] };
      throw e;
    }
  };

  return Object.freeze({
    kind: "tool" as const,
    name: opts.name,
    required_scopes: required,
    options: opts,
    register(server: McpServer | ToolRegistry) {
      const config: {
        description: string;
        inputSchema: ToolInputShape;
        title?: string;
        annotations?: ToolAnnotations;
      } = {
        description: opts.description,
        inputSchema: opts.input ?? {},
      };
      if (opts.title) config.title = opts.title;
      if (opts.annotations) config.annotations = opts.annotations;
      server.registerTool(
        opts.name,
        config as never,
        (async (args: unknown, extra?: SdkCallbackExtra) => run(args, extra, server)) as never,
      );
    },
  });
}

/**
 * Register {@link tool} definitions on an SDK `McpServer` you built yourself.
 *
 * @example
 * ```ts
 * const mcp = new McpServer({ name: "files", version: "1.0.0" });
 * registerTools(mcp, deleteFile, whoami);
 * ```
 */
export function registerTools(server: McpServer | ToolRegistry, ...tools: ToolDefinition<any>[]): void {
  for (const t of tools) t.register(server);
}
