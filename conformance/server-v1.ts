/**
 * The conformance fixture on SDK v1 (`@modelcontextprotocol/sdk` `McpServer`, protocol revisions up
 * to 2025-11-25). `registerV1()` adds everything to a server someone else built (so `MCPServer`'s
 * `configure()` can use it); `createV1Server()` builds a fresh one.
 *
 * @module
 */
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { completable } from "@modelcontextprotocol/sdk/server/completable.js";
import {
  CreateMessageResultSchema,
  ElicitResultSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type CallToolResult,
  type LoggingLevel,
} from "@modelcontextprotocol/sdk/types.js";
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

/** Register the fixture's tools, resources, prompts and handlers on a v1 server (before it connects). */
export function registerV1(server: McpServer): McpServer {
  server.server.registerCapabilities(structuredClone(CAPABILITIES));
  const subscriptions = new Set<string>();
  const log = (level: LoggingLevel, data: string) =>
    void server.server.sendLoggingMessage({ level, logger: "conformance", data }).catch(() => {});

  for (const [name, t] of Object.entries(CONTENT_TOOLS)) {
    server.registerTool(name, { description: t.description }, async (): Promise<CallToolResult> => ({
      content: t.content(),
    }));
  }

  server.registerTool("test_error_handling", { description: "Always fails" }, async () => {
    throw new Error(TEXT.error);
  });

  server.registerTool(
    "test_tool_with_logging",
    { description: "Logs three lines while it runs", inputSchema: {} },
    async (_args, extra) => {
      for (const [i, line] of TEXT.logLines.entries()) {
        if (i > 0) await sleep(50);
        await extra.sendNotification({ method: "notifications/message", params: { level: "info", data: line } });
      }
      return { content: [text("Tool with logging executed successfully")] };
    },
  );

  server.registerTool(
    "test_tool_with_progress",
    { description: "Reports progress 0, 50, 100 of 100", inputSchema: {} },
    async (_args, extra) => {
      const progressToken = extra._meta?.progressToken;
      for (const progress of [0, 50, 100]) {
        if (progressToken !== undefined) {
          await extra.sendNotification({
            method: "notifications/progress",
            params: { progressToken, progress, total: 100, message: `${progress}%` },
          });
        }
        if (progress < 100) await sleep(50);
      }
      return { content: [text(`Progress reported (token ${String(progressToken ?? "none")})`)] };
    },
  );

  server.registerTool(
    "test_sampling",
    {
      description: "Asks the client's model",
      inputSchema: { prompt: z.string().describe("The prompt to send to the LLM") },
    },
    async ({ prompt }, extra) => {
      const result = await extra.sendRequest(
        { method: "sampling/createMessage", params: samplingParams(prompt) },
        CreateMessageResultSchema,
      );
      return { content: [text(`LLM response: ${samplingText(result)}`)] };
    },
  );

  server.registerTool(
    "test_elicitation",
    { description: "Asks the user", inputSchema: { message: z.string().describe("The message to show the user") } },
    async ({ message }, extra) => {
      const result = await extra.sendRequest(
        { method: "elicitation/create", params: elicitationParams(message) },
        ElicitResultSchema,
      );
      return { content: [text(elicitationSummary("User response", result))] };
    },
  );

  for (const [name, params] of [
    ["test_elicitation_sep1034_defaults", ELICIT_DEFAULTS],
    ["test_elicitation_sep1330_enums", ELICIT_ENUMS],
  ] as const) {
    server.registerTool(
      name,
      { description: `Elicitation (${name.slice(16)})`, inputSchema: {} },
      async (_args, extra) => {
        const result = await extra.sendRequest(
          { method: "elicitation/create", params: params as never },
          ElicitResultSchema,
        );
        return { content: [text(elicitationSummary("Elicitation completed", result))] };
      },
    );
  }

  // SEP-1699: end the POST's SSE stream mid-call; the client reconnects with Last-Event-ID.
  server.registerTool(
    "test_reconnection",
    { description: "Closes the SSE stream mid-call", inputSchema: {} },
    async (_args, extra) => {
      extra.closeSSEStream?.();
      await sleep(100);
      return { content: [text("Reconnection test completed successfully.")] };
    },
  );

  // SEP-1613 / SEP-2106: v1 lists zod schemas only, so the tool is registered with an open object and
  // its listing is rewritten to the raw 2020-12 schema (the SDK keeps list handlers private: reached by name).
  server.registerTool(
    "json_schema_2020_12_tool",
    { description: "Lists a JSON Schema 2020-12 input schema verbatim", inputSchema: z.looseObject({}) },
    async (args) => ({ content: [text(`Called with ${JSON.stringify(args)}`)] }),
  );
  const handlers = (
    server.server as unknown as {
      _requestHandlers: Map<string, (...a: unknown[]) => Promise<{ tools: { name: string; inputSchema: unknown }[] }>>;
    }
  )._requestHandlers;
  const listTools = handlers.get("tools/list");
  if (listTools) {
    handlers.set("tools/list", async (...a) => {
      const result = await listTools(...a);
      for (const t of result.tools)
        if (t.name === "json_schema_2020_12_tool") t.inputSchema = structuredClone(JSON_SCHEMA_2020_12);
      return result;
    });
  }

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

  server.server.setRequestHandler(SubscribeRequestSchema, async ({ params }) => {
    subscriptions.add(params.uri);
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, async ({ params }) => {
    subscriptions.delete(params.uri);
    return {};
  });

  server.registerPrompt("test_simple_prompt", { description: "A prompt without arguments" }, () => ({
    messages: [{ role: "user", content: text(TEXT.simplePrompt) }],
  }));
  server.registerPrompt(
    "test_prompt_with_arguments",
    {
      description: "A prompt with two required arguments",
      argsSchema: {
        arg1: completable(z.string().describe("First test argument"), (v) => completeWord(v)),
        arg2: completable(z.string().describe("Second test argument"), (v) => completeWord(v)),
      },
    },
    ({ arg1, arg2 }) => ({
      messages: [{ role: "user", content: text(`Prompt with arguments: arg1='${arg1}', arg2='${arg2}'`) }],
    }),
  );
  server.registerPrompt(
    "test_prompt_with_embedded_resource",
    {
      description: "A prompt embedding a resource",
      argsSchema: { resourceUri: z.string().describe("URI of the resource to embed") },
    },
    ({ resourceUri }) => ({
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
  server.registerPrompt("test_prompt_with_image", { description: "A prompt with an image" }, () => ({
    messages: [
      { role: "user", content: { type: "image", data: PNG_1X1, mimeType: "image/png" } },
      { role: "user", content: text(TEXT.imagePromptTail) },
    ],
  }));

  // The SDK answers logging/setLevel itself; ours also confirms with a log line at the new level.
  server.server.setRequestHandler(SetLevelRequestSchema, async ({ params }) => {
    log("info", `Log level set to ${params.level}`);
    return {};
  });
  return server;
}

/** A fresh v1 server with the whole fixture. */
export function createV1Server(): McpServer {
  return registerV1(new McpServer({ ...SERVER_INFO }, {}));
}
