/**
 * `prompt()`: define an MCP prompt once, with the scopes a caller needs to get it, and register it on
 * any server (SDK v1 or v2) — the prompt counterpart of {@link tool}.
 *
 * @module
 */
import type { GetPromptResult } from "@modelcontextprotocol/sdk/types.js";
import type { z } from "zod";
import { callbackContext, type SdkCallbackExtra } from "../context/sdk-bridge.js";
import { missingScopesOf } from "../context/request-context.js";
import { runWithContext } from "../context/storage.js";
import { checkRequiredScopes } from "../lib/scope.js";
import { MissingScopes, toJsonRpcError } from "./scope-errors.js";

/** A zod object shape of string arguments (MCP prompt arguments are strings). */
export type PromptArgsShape = Record<string, z.ZodType<string | undefined>>;

/** What `prompt()` needs to know about a prompt. */
export interface PromptOptions<Args extends PromptArgsShape> {
  /** Prompt name. */
  name: string;
  /** Human/LLM-readable description. */
  description?: string;
  /** Display title. */
  title?: string;
  /** Arguments as a zod shape, e.g. `{ code: z.string() }`. Default: none. */
  args?: Args;
  /** Scopes the caller's token must carry to get it; checked before the handler runs. Default `[]`. */
  required_scopes?: string[];
}

/** A prompt handler: return a `GetPromptResult`, or a string (one user message). */
export type PromptHandler<Args extends PromptArgsShape> = (args: z.infer<z.ZodObject<Args>>) => unknown;

/** A prompt definition produced by {@link prompt}. */
export interface PromptDefinition {
  /** Always `"prompt"`. */
  readonly kind: "prompt";
  /** Prompt name. */
  readonly name: string;
  /** Scopes the prompt requires (frozen copy). */
  readonly required_scopes: readonly string[];
  /** Register this prompt on an SDK `McpServer` (v1 or v2). */
  register(server: PromptRegistry): void;
}

/** The part of an SDK `McpServer` (v1 or v2) `prompt()` registers on. */
export interface PromptRegistry {
  /** The SDK's `registerPrompt(name, config, callback)`. */
  registerPrompt(name: string, config: never, callback: never): unknown;
}

function toPromptResult(value: unknown): GetPromptResult {
  if (typeof value === "object" && value !== null && Array.isArray((value as GetPromptResult).messages))
    return value as GetPromptResult;
  const text = typeof value === "string" ? value : JSON.stringify(value ?? null);
  return { messages: [{ role: "user", content: { type: "text", text } }] };
}

/**
 * Define a prompt with scopes. A `prompts/get` by a caller without them is refused with a JSON-RPC
 * error (code `-32003`) naming the required and missing scopes — or, with
 * `step_up` on, with an HTTP 403 `insufficient_scope` challenge. `getContext()` works inside.
 *
 * @example
 * ```ts
 * export const review = prompt(
 *   { name: "review", args: { code: z.string() }, required_scopes: ["prompts:review"] },
 *   ({ code }) => `Review this code:\n${code}`,
 * );
 * ```
 */
export function prompt<Args extends PromptArgsShape = Record<string, never>>(
  options: PromptOptions<Args>,
  handler: PromptHandler<Args>,
): PromptDefinition {
  if (typeof options?.name !== "string" || !options.name)
    throw new TypeError('prompt(): "name" must be a non-empty string');
  if (typeof handler !== "function") throw new TypeError(`prompt("${options.name}"): handler must be a function`);
  const required = checkRequiredScopes(`prompt("${options.name}")`, options.required_scopes);
  const opts = Object.freeze({ ...options });
  return Object.freeze({
    kind: "prompt" as const,
    name: opts.name,
    required_scopes: required,
    register(server: PromptRegistry) {
      const config = {
        ...(opts.description ? { description: opts.description } : {}),
        ...(opts.title ? { title: opts.title } : {}),
        ...(opts.args ? { argsSchema: opts.args } : {}),
      };
      server.registerPrompt(
        opts.name,
        config as never,
        (async (...params: unknown[]) => {
          // The SDK passes (args, extra) when the prompt has arguments, (extra) when it has none.
          const [args, extra] = opts.args ? [params[0], params[1]] : [{}, params[0]];
          const context = callbackContext(extra as SdkCallbackExtra | undefined);
          const missing = missingScopesOf(context, required);
          if (missing.length) throw toJsonRpcError(new MissingScopes("Prompt", opts.name, required, missing));
          return toPromptResult(await runWithContext(context, () => handler(args as z.infer<z.ZodObject<Args>>)));
        }) as never,
      );
    },
  });
}
