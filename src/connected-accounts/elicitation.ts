/**
 * Answering a tool call that needs a connected account the caller has not connected, in the words
 * each client understands (MCP client/elicitation, URL mode):
 *
 * - 2025-11-25, client declared `elicitation.url`: JSON-RPC error `-32042` with one URL-mode
 *   elicitation; `notifications/elicitation/complete` to that session when the connect flow ends;
 * - 2026-07-28, client declared `elicitation.url` on the request: an `InputRequiredResult` with a
 *   URL-mode `elicitation/create` input request and a sealed `requestState` bound to the principal,
 *   the tool and its arguments; the retry that accepted waits for the account, then runs the tool;
 * - any other client: an `isError` result whose text names the provider and the connect URL.
 *
 * @internal
 * @module
 */
import { sha256 } from "../lib/hash.js";
import { UrlElicitationRequiredError } from "@modelcontextprotocol/sdk/types.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { RequestContext } from "../context/types.js";
import { contextAccounts } from "../context/request-context.js";
import { ConnectedAccounts, accountOf } from "./accounts.js";
import type { ConnectionRequired } from "./errors.js";

const PROTOCOL_VERSION_KEY = "io.modelcontextprotocol/protocolVersion";
const CLIENT_CAPABILITIES_KEY = "io.modelcontextprotocol/clientCapabilities";
/** Marks a `requestState` this library sealed (a tool's own state passes through untouched). */
const STATE_PREFIX = "pmcp1.";
const STATE_PURPOSE = "request-state";

/** What the SDK hands a tool callback, as far as elicitation goes (v1 `extra`, v2 `ctx`). */
interface CallbackExtra {
  mcpReq?: {
    envelope?: Record<string, unknown>;
    inputResponses?: Record<string, unknown>;
    requestState?: () => unknown;
  };
}

/** The low-level SDK server a tool was registered through (`McpServer.server`), as far as used here. */
interface LowServer {
  getClientCapabilities?(): { elicitation?: { url?: unknown } } | undefined;
  createElicitationCompletionNotifier?(elicitationId: string): () => Promise<void>;
}

/** The tool call being answered. */
export interface ToolCall {
  /** Tool name. */
  name: string;
  /** Its arguments as received. */
  args: unknown;
  /** The SDK's callback extra. */
  extra: unknown;
  /** The `McpServer` the tool was registered on. */
  server: unknown;
}

/** The state sealed into `requestState`. */
interface SealedState {
  iss: string;
  sub: string;
  tool: string;
  args: string;
  provider: string;
  key: string;
  url: string;
  elicitation_id: string;
  exp: number;
}

/** The SDK server the tool was registered through (`McpServer.server`), when it has one. */
const lowServerOf = (call: ToolCall): LowServer | undefined =>
  (call.server as { server?: LowServer } | undefined)?.server;

/** What every URL elicitation of a provider says. */
const connectMessage = (display_name: string): string => `Connect your ${display_name} account to continue.`;

function eraOf(call: ToolCall): { modern: boolean; url_mode: boolean } {
  const envelope = (call.extra as CallbackExtra | undefined)?.mcpReq?.envelope;
  if (envelope && (PROTOCOL_VERSION_KEY in envelope || CLIENT_CAPABILITIES_KEY in envelope)) {
    const caps = envelope[CLIENT_CAPABILITIES_KEY] as { elicitation?: { url?: unknown } } | undefined;
    return { modern: true, url_mode: caps?.elicitation?.url !== undefined };
  }
  return { modern: false, url_mode: lowServerOf(call)?.getClientCapabilities?.()?.elicitation?.url !== undefined };
}

/** The arguments' digest bound into `requestState` (a retry must repeat the same call). */
const digest = (args: unknown): string => sha256(JSON.stringify(args ?? {}));

const textResult = (text: string): CallToolResult => ({ isError: true, content: [{ type: "text", text }] });

/**
 * The answer to `e` for this call: a result to return (fallback or `InputRequiredResult`), or a thrown
 * `-32042` error (2025-11-25 with URL mode).
 */
export async function answerConnectionRequired(
  e: ConnectionRequired,
  context: RequestContext,
  call: ToolCall,
): Promise<Record<string, unknown>> {
  const accounts = contextAccounts(context);
  const era = eraOf(call);
  if (!(accounts instanceof ConnectedAccounts) || !context.auth || !era.url_mode)
    return textResult(`Tool "${call.name}": ${e.message}`);
  if (era.modern) {
    const key = `connect_${e.provider}`;
    const state: SealedState = {
      iss: context.auth.issuer ?? "",
      sub: context.auth.subject,
      tool: call.name,
      args: digest(call.args),
      provider: e.provider,
      key,
      url: e.url,
      elicitation_id: e.elicitation_id,
      exp: e.expires_at,
    };
    return inputRequired(state, e.display_name, STATE_PREFIX + (await accounts.seal(STATE_PURPOSE, { ...state })));
  }
  try {
    const notify = lowServerOf(call)?.createElicitationCompletionNotifier?.(e.elicitation_id);
    if (notify) accounts.onCompletion(e.elicitation_id, accountOf(context.auth, e.provider), notify);
  } catch {
    // The client declared URL mode on initialize; a server that cannot notify still answers -32042.
  }
  const message = connectMessage(e.display_name);
  const elicitation = { mode: "url" as const, elicitationId: e.elicitation_id, url: e.url, message };
  if ((call.extra as CallbackExtra | undefined)?.mcpReq) {
    // An SDK v2 server only passes through its own error class.
    const v2 = (await import("@modelcontextprotocol/server")) as unknown as {
      UrlElicitationRequiredError: new (elicitations: unknown[], message?: string) => Error;
    };
    throw new v2.UrlElicitationRequiredError([elicitation], message);
  }
  throw new UrlElicitationRequiredError([elicitation], message);
}

/** Whether {@link resumeAfterElicitation} has anything to look at (no promise for every other call). */
export function mayResume(context: RequestContext, extra: unknown): boolean {
  return typeof (extra as CallbackExtra | undefined)?.mcpReq?.requestState === "function" && !!contextAccounts(context);
}

/**
 * Before the handler runs: a 2026-07-28 retry carrying a `requestState` this library sealed. Refuses a
 * state that does not open or was made for another principal, tool or arguments; answers a decline;
 * after an accept waits (bounded) for the account and asks again with the same link if it is still
 * missing. Returns `undefined` to run the handler (the account is there, or the link has expired and
 * the handler will ask with a new one).
 */
export async function resumeAfterElicitation(
  context: RequestContext,
  call: ToolCall,
): Promise<Record<string, unknown> | undefined> {
  const mcpReq = (call.extra as CallbackExtra | undefined)?.mcpReq;
  let raw: unknown;
  try {
    raw = mcpReq?.requestState?.();
  } catch {
    return undefined;
  }
  if (typeof raw !== "string" || !raw.startsWith(STATE_PREFIX)) return undefined;
  const accounts = contextAccounts(context);
  const refused = textResult(`Tool "${call.name}": the request state is invalid; call the tool again.`);
  if (!(accounts instanceof ConnectedAccounts) || !context.auth) return refused;
  const opened = (await accounts.open(STATE_PURPOSE, raw.slice(STATE_PREFIX.length))) as SealedState | undefined;
  const auth = context.auth;
  if (
    !opened ||
    opened.iss !== (auth.issuer ?? "") ||
    opened.sub !== auth.subject ||
    opened.tool !== call.name ||
    opened.args !== digest(call.args) ||
    typeof opened.exp !== "number"
  )
    return refused;
  if (opened.exp * 1000 <= accounts.now()) return undefined;
  const provider = accounts.provider(opened.provider);
  const action = (mcpReq?.inputResponses?.[opened.key] as { action?: unknown } | undefined)?.action;
  if (action === "decline" || action === "cancel")
    return textResult(
      `Tool "${call.name}": connecting ${provider.display_name} was ${action === "decline" ? "declined" : "cancelled"}.`,
    );
  const wait = Math.min(accounts.retry_wait_ms, opened.exp * 1000 - accounts.now());
  if (action === "accept" && !(await accounts.waitForAccount(accountOf(auth, provider.name), wait)))
    return inputRequired(opened, provider.display_name, raw);
  return undefined;
}

/** The `InputRequiredResult` asking to open `state.url`, carrying `requestState`. */
function inputRequired(state: SealedState, display_name: string, requestState: string): Record<string, unknown> {
  const message = connectMessage(display_name);
  return {
    resultType: "input_required",
    inputRequests: { [state.key]: { method: "elicitation/create", params: { mode: "url", message, url: state.url } } },
    requestState,
  };
}
