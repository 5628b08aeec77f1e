/**
 * The conformance fixture on SDK v2 (`@modelcontextprotocol/server`): both protocol eras from one
 * definition. 2025-era sessions get server→client requests (`ctx.mcpReq.send`); 2026-07-28 requests
 * get the multi-round-trip tools (SEP-2322, `inputRequired(...)`) and the listen-stream triggers.
 *
 * @module
 */
import { randomBytes, randomUUID } from "node:crypto";
import {
  CLIENT_CAPABILITIES_META_KEY,
  McpServer,
  ProtocolError,
  ProtocolErrorCode,
  ResourceTemplate,
  acceptedContent,
  completable,
  createRequestStateCodec,
  fromJsonSchema,
  inputRequired,
  type CallToolResult,
  type InputRequests,
  type ServerContext,
  type ServerNotifier,
} from "@modelcontextprotocol/server";
import { z } from "zod";
import {
  CAPABILITIES,
  CONTENT_TOOLS,
  ELICIT_DEFAULTS,
  ELICIT_ENUMS,
  JSON_SCHEMA_2020_12,
  PNG_1X1,
  SERVER_INFO,
  TEXT,
  completeWord,
  elicitationParams,
  elicitationSummary,
  samplingParams,
  samplingText,
  sleep,
  templateJson,
  text,
} from "./fixture.js";

/** What the fixture needs from the place it is served. */
export interface V2FixtureHooks {
  /**
   * The `notify` of the `createMcpHandler(...)` serving 2026-07-28 requests, for the listen-stream
   * triggers (`test_trigger_*_change`). Absent where the handler is built out of reach (inside
   * `protect()` or `MCPServer`): the triggers then publish nothing.
   */
  notifier?: () => ServerNotifier | undefined;
}

/**
 * `requestState` comes back from the client: it is sealed (HMAC, per process) when minted and
 * verified before a handler runs, so a tampered one is refused with -32602.
 */
const stateCodec = createRequestStateCodec<Record<string, unknown>>({ key: new Uint8Array(randomBytes(32)) });

/** The options every fixture server is built with (the requestState check lives here). */
export const v2ServerOptions = () => ({
  capabilities: structuredClone(CAPABILITIES),
  requestState: { verify: (...args: Parameters<typeof stateCodec.verify>) => stateCodec.verify(...args) },
});

const nameSchema = { type: "object" as const, properties: { name: { type: "string" as const } }, required: ["name"] };
const askName = () => inputRequired.elicit({ message: "What is your name?", requestedSchema: nameSchema });

/** Register the fixture on a v2 server. */
export function registerV2(server: McpServer, hooks: V2FixtureHooks = {}): McpServer {
  server.server.registerCapabilities(structuredClone(CAPABILITIES));
  const subscriptions = new Set<string>();

  for (const [name, t] of Object.entries(CONTENT_TOOLS)) {
    server.registerTool(name, { description: t.description }, async (): Promise<CallToolResult> => ({
      content: t.content(),
    }));
  }
  server.registerTool("test_error_handling", { description: "Always fails" }, async (): Promise<CallToolResult> => {
    throw new Error(TEXT.error);
  });

  server.registerTool(
    "test_tool_with_logging",
    { description: "Logs three lines while it runs", inputSchema: z.object({}) },
    async (_args, ctx) => {
      for (const [i, line] of TEXT.logLines.entries()) {
        if (i > 0) await sleep(50);
        await ctx.mcpReq.notify({ method: "notifications/message", params: { level: "info", data: line } });
      }
      return { content: [text("Tool with logging executed successfully")] };
    },
  );

  server.registerTool(
    "test_tool_with_progress",
    { description: "Reports progress 0, 50, 100 of 100", inputSchema: z.object({}) },
    async (_args, ctx) => {
      const progressToken = ctx.mcpReq._meta?.progressToken;
      for (const progress of [0, 50, 100]) {
        if (progressToken !== undefined) {
          await ctx.mcpReq.notify({
            method: "notifications/progress",
            params: { progressToken, progress, total: 100, message: `${progress}%` },
          });
        }
        if (progress < 100) await sleep(50);
      }
      return { content: [text(`Progress reported (token ${String(progressToken ?? "none")})`)] };
    },
  );

  // 2025-era server→client requests (a session carries the answer back).
  server.registerTool(
    "test_sampling",
    {
      description: "Asks the client's model",
      inputSchema: z.object({ prompt: z.string().describe("The prompt to send to the LLM") }),
    },
    async ({ prompt }, ctx) => {
      const result = await ctx.mcpReq.send({ method: "sampling/createMessage", params: samplingParams(prompt) });
      return { content: [text(`LLM response: ${samplingText(result)}`)] };
    },
  );
  server.registerTool(
    "test_elicitation",
    {
      description: "Asks the user",
      inputSchema: z.object({ message: z.string().describe("The message to show the user") }),
    },
    async ({ message }, ctx) => {
      const result = await ctx.mcpReq.send({ method: "elicitation/create", params: elicitationParams(message) });
      return { content: [text(elicitationSummary("User response", result))] };
    },
  );
  for (const [name, params] of [
    ["test_elicitation_sep1034_defaults", ELICIT_DEFAULTS],
    ["test_elicitation_sep1330_enums", ELICIT_ENUMS],
  ] as const) {
    server.registerTool(
      name,
      { description: `Elicitation (${name.slice(16)})`, inputSchema: z.object({}) },
      async (_args, ctx) => {
        const result = await ctx.mcpReq.send({ method: "elicitation/create", params: params });
        return { content: [text(elicitationSummary("Elicitation completed", result))] };
      },
    );
  }

  server.registerTool(
    "test_reconnection",
    { description: "Closes the SSE stream mid-call", inputSchema: z.object({}) },
    async (_args, ctx) => {
      ctx.http?.closeSSE?.();
      await sleep(100);
      return { content: [text("Reconnection test completed successfully.")] };
    },
  );

  server.registerTool(
    "json_schema_2020_12_tool",
    {
      description: "Lists a JSON Schema 2020-12 input schema verbatim",
      inputSchema: fromJsonSchema(structuredClone(JSON_SCHEMA_2020_12) as never),
    },
    async (args): Promise<CallToolResult> => ({ content: [text(`Called with ${JSON.stringify(args)}`)] }),
  );

  // SEP-2243: an argument mirrored into the Mcp-Param-Region header, which the server checks against the body.
  server.registerTool(
    "test_x_mcp_header",
    {
      description: "Mirrors its region argument into an Mcp-Param-Region header",
      inputSchema: fromJsonSchema<{ region?: string; level?: number }>({
        type: "object",
        properties: { region: { type: "string", "x-mcp-header": "Region" }, level: { type: "integer" } },
      } as never),
    },
    async (args): Promise<CallToolResult> => ({ content: [text(`region=${args.region ?? "none"}`)] }),
  );

  // ---- 2026-07-28 (SEP-2575) diagnostics of the server-stateless scenario ----
  server.registerTool(
    "test_missing_capability",
    { description: "Needs the client's sampling capability", inputSchema: z.object({}) },
    async (_args, ctx) => {
      if (ctx.mcpReq.inputResponses?.["answer"] !== undefined) return { content: [text("sampled")] };
      return inputRequired({
        inputRequests: {
          answer: inputRequired.createMessage({
            messages: [{ role: "user", content: text("Say pong") }],
            maxTokens: 16,
          }),
        },
      });
    },
  );
  server.registerTool(
    "test_streaming_elicitation",
    { description: "Answers on the response stream only", inputSchema: z.object({}) },
    async () => ({
      content: [text("result frames only")],
    }),
  );
  server.registerTool(
    "test_logging_tool",
    { description: "Logs through the request's logLevel-gated channel", inputSchema: z.object({}) },
    async (_args, ctx) => {
      await ctx.mcpReq.log("info", "test_logging_tool ran");
      return { content: [text("logged")] };
    },
  );
  server.registerTool(
    "test_trigger_tool_change",
    { description: "Publishes tools/list_changed to listen streams", inputSchema: z.object({}) },
    async () => {
      const n = hooks.notifier?.();
      n?.toolsChanged();
      return { content: [text(n ? "tools list_changed published" : "no listen bus reachable from this server")] };
    },
  );
  server.registerTool(
    "test_trigger_prompt_change",
    { description: "Publishes prompts/list_changed to listen streams", inputSchema: z.object({}) },
    async () => {
      const n = hooks.notifier?.();
      n?.promptsChanged();
      return { content: [text(n ? "prompts list_changed published" : "no listen bus reachable from this server")] };
    },
  );

  // ---- 2026-07-28 multi-round-trip tools (SEP-2322) ----
  server.registerTool(
    "test_input_required_result_elicitation",
    { description: "MRTR: asks for a name", inputSchema: z.object({}) },
    async (_args, ctx) => {
      const name = acceptedContent<{ name: string }>(ctx.mcpReq.inputResponses, "user_name")?.name;
      if (typeof name !== "string") return inputRequired({ inputRequests: { user_name: askName() } });
      return { content: [text(`Hello, ${name}!`)] };
    },
  );

  server.registerTool(
    "test_input_required_result_sampling",
    { description: "MRTR: asks the model", inputSchema: z.object({}) },
    async (_args, ctx) => {
      const answer = ctx.mcpReq.inputResponses?.["capital_question"];
      if (answer === undefined) {
        return inputRequired({
          inputRequests: {
            capital_question: inputRequired.createMessage({
              messages: [{ role: "user", content: text("What is the capital of France?") }],
              maxTokens: 100,
            }),
          },
        });
      }
      return { content: [text(`Sampling response: ${samplingText(answer)}`)] };
    },
  );

  server.registerTool(
    "test_input_required_result_list_roots",
    { description: "MRTR: asks for roots", inputSchema: z.object({}) },
    async (_args, ctx) => {
      const roots = (ctx.mcpReq.inputResponses?.["client_roots"] as { roots?: { uri?: string }[] } | undefined)?.roots;
      if (!Array.isArray(roots)) return inputRequired({ inputRequests: { client_roots: inputRequired.listRoots() } });
      return { content: [text(`Roots: ${roots.map((r) => r.uri).join(", ")}`)] };
    },
  );

  const confirm = () =>
    inputRequired.elicit({
      message: "Please confirm",
      requestedSchema: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] },
    });

  server.registerTool(
    "test_input_required_result_request_state",
    { description: "MRTR: confirmation plus sealed state", inputSchema: z.object({}) },
    async (_args, ctx) => {
      if (acceptedContent(ctx.mcpReq.inputResponses, "confirm") === undefined) {
        return inputRequired({
          inputRequests: { confirm: confirm() },
          requestState: await stateCodec.mint({ tool: "request_state", n: randomUUID() }),
        });
      }
      if (ctx.mcpReq.requestState<Record<string, unknown>>()?.tool !== "request_state") {
        throw new ProtocolError(ProtocolErrorCode.InvalidParams, "requestState missing or not minted for this tool");
      }
      return { content: [text("state-ok: the requestState came back intact")] };
    },
  );

  server.registerTool(
    "test_input_required_result_multiple_inputs",
    { description: "MRTR: three kinds of input at once", inputSchema: z.object({}) },
    async (_args, ctx) => {
      const r = ctx.mcpReq.inputResponses;
      const name = acceptedContent<{ name: string }>(r, "user_name")?.name;
      const greeting = r?.["greeting"];
      const roots = (r?.["client_roots"] as { roots?: unknown[] } | undefined)?.roots;
      if (typeof name !== "string" || greeting === undefined || !Array.isArray(roots)) {
        return inputRequired({
          inputRequests: {
            user_name: askName(),
            greeting: inputRequired.createMessage({
              messages: [{ role: "user", content: text("Generate a greeting") }],
              maxTokens: 50,
            }),
            client_roots: inputRequired.listRoots(),
          },
          requestState: await stateCodec.mint({ tool: "multiple_inputs" }),
        });
      }
      return { content: [text(`${samplingText(greeting)} ${name} (${roots.length} roots)`)] };
    },
  );

  server.registerTool(
    "test_input_required_result_multi_round",
    { description: "MRTR: two rounds, state evolves", inputSchema: z.object({}) },
    async (_args, ctx) => {
      const state = ctx.mcpReq.requestState<Record<string, unknown>>();
      const round = state?.tool === "multi_round" && typeof state.round === "number" ? state.round : 0;
      const ask = (key: string, message: string, field: string) =>
        inputRequired.elicit({
          message,
          requestedSchema: { type: "object", properties: { [field]: { type: "string" } }, required: [field] },
        });
      if (round === 0) {
        return inputRequired({
          inputRequests: { step1: ask("step1", "Step 1: What is your name?", "name") },
          requestState: await stateCodec.mint({ tool: "multi_round", round: 1 }),
        });
      }
      if (round === 1) {
        const name = acceptedContent<{ name: string }>(ctx.mcpReq.inputResponses, "step1")?.name ?? "someone";
        return inputRequired({
          inputRequests: { step2: ask("step2", "Step 2: What is your favorite color?", "color") },
          requestState: await stateCodec.mint({ tool: "multi_round", round: 2, name }),
        });
      }
      const color = acceptedContent<{ color: string }>(ctx.mcpReq.inputResponses, "step2")?.color ?? "no color";
      return { content: [text(`Multi-round complete: ${String(state?.name)} likes ${color}`)] };
    },
  );

  server.registerTool(
    "test_input_required_result_tampered_state",
    { description: "MRTR: refuses a tampered requestState", inputSchema: z.object({}) },
    async (_args, ctx) => {
      // A tampered state never reaches here: the server's requestState.verify refuses it first.
      if (
        ctx.mcpReq.requestState() !== undefined &&
        acceptedContent(ctx.mcpReq.inputResponses, "confirm") !== undefined
      ) {
        return { content: [text("integrity-ok")] };
      }
      return inputRequired({
        inputRequests: { confirm: confirm() },
        requestState: await stateCodec.mint({ tool: "tampered_state" }),
      });
    },
  );

  server.registerTool(
    "test_input_required_result_capabilities",
    { description: "MRTR: asks only what the client declared", inputSchema: z.object({}) },
    async (_args, ctx) => {
      if (ctx.mcpReq.inputResponses !== undefined) return { content: [text("fulfilled")] };
      const declared = ((ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[CLIENT_CAPABILITIES_META_KEY] ??
        {}) as Record<string, unknown>;
      const inputRequests: InputRequests = {};
      if (declared["elicitation"] !== undefined) inputRequests["user_name"] = askName();
      if (declared["sampling"] !== undefined) {
        inputRequests["greeting"] = inputRequired.createMessage({
          messages: [{ role: "user", content: text("Generate a short greeting") }],
          maxTokens: 50,
        });
      }
      if (declared["roots"] !== undefined) inputRequests["client_roots"] = inputRequired.listRoots();
      if (Object.keys(inputRequests).length === 0)
        return { content: [text("the client declared nothing to ask through")] };
      return inputRequired({ inputRequests });
    },
  );

  // ---- resources ----
  server.registerResource(
    "static-text",
    "test://static-text",
    { description: "A static text resource", mimeType: "text/plain" },
    async (uri) => ({
      contents: [{ uri: uri.href, mimeType: "text/plain", text: TEXT.staticText }],
    }),
  );
  server.registerResource(
    "static-binary",
    "test://static-binary",
    { description: "A static PNG resource", mimeType: "image/png" },
    async (uri) => ({
      contents: [{ uri: uri.href, mimeType: "image/png", blob: PNG_1X1 }],
    }),
  );
  server.registerResource(
    "watched-resource",
    "test://watched-resource",
    { description: "A resource to subscribe to", mimeType: "text/plain" },
    async (uri) => ({
      contents: [{ uri: uri.href, mimeType: "text/plain", text: TEXT.watched }],
    }),
  );
  server.registerResource(
    "template",
    new ResourceTemplate("test://template/{id}/data", { list: undefined }),
    { description: "A templated JSON resource", mimeType: "application/json" },
    async (uri, { id }) => ({
      contents: [{ uri: uri.href, mimeType: "application/json", text: templateJson(String(id)) }],
    }),
  );
  server.server.setRequestHandler("resources/subscribe", async (request) => {
    subscriptions.add(request.params.uri);
    return {};
  });
  server.server.setRequestHandler("resources/unsubscribe", async (request) => {
    subscriptions.delete(request.params.uri);
    return {};
  });

  // ---- prompts ----
  server.registerPrompt("test_simple_prompt", { description: "A prompt without arguments" }, async () => ({
    messages: [{ role: "user", content: text(TEXT.simplePrompt) }],
  }));
  server.registerPrompt(
    "test_prompt_with_arguments",
    {
      description: "A prompt with two required arguments",
      argsSchema: z.object({
        arg1: completable(z.string().describe("First test argument"), (v: string) => completeWord(v)),
        arg2: completable(z.string().describe("Second test argument"), (v: string) => completeWord(v)),
      }),
    },
    async ({ arg1, arg2 }) => ({
      messages: [{ role: "user", content: text(`Prompt with arguments: arg1='${arg1}', arg2='${arg2}'`) }],
    }),
  );
  server.registerPrompt(
    "test_prompt_with_embedded_resource",
    {
      description: "A prompt embedding a resource",
      argsSchema: z.object({ resourceUri: z.string().describe("URI of the resource to embed") }),
    },
    async ({ resourceUri }) => ({
      messages: [
        {
          role: "user",
          content: {
            type: "resource",
            resource: { uri: resourceUri, mimeType: "text/plain", text: TEXT.embeddedPrompt },
          },
        },
        { role: "user", content: text(TEXT.embeddedPromptTail) },
      ],
    }),
  );
  server.registerPrompt("test_prompt_with_image", { description: "A prompt with an image" }, async () => ({
    messages: [
      { role: "user", content: { type: "image", data: PNG_1X1, mimeType: "image/png" } },
      { role: "user", content: text(TEXT.imagePromptTail) },
    ],
  }));
  server.registerPrompt(
    "test_input_required_result_prompt",
    { description: "MRTR: a prompt that asks for context first" },
    async (ctx: unknown) => {
      const c = ctx as ServerContext;
      const context = acceptedContent<{ context: string }>(c.mcpReq.inputResponses, "user_context")?.context;
      if (typeof context !== "string") {
        return inputRequired({
          inputRequests: {
            user_context: inputRequired.elicit({
              message: "What context should the prompt use?",
              requestedSchema: { type: "object", properties: { context: { type: "string" } }, required: ["context"] },
            }),
          },
        });
      }
      return { messages: [{ role: "user" as const, content: text(`Context: ${context}`) }] };
    },
  );

  server.server.setRequestHandler("logging/setLevel", async (request) => {
    void server.server
      .sendLoggingMessage({ level: "info", logger: "conformance", data: `Log level set to ${request.params.level}` })
      .catch(() => {});
    return {};
  });
  return server;
}

/** A fresh v2 server with the whole fixture. */
export function createV2Server(hooks: V2FixtureHooks = {}): McpServer {
  return registerV2(new McpServer({ ...SERVER_INFO }, v2ServerOptions()), hooks);
}
