/**
 * What the conformance server serves, independent of the SDK that serves it: names, contents and
 * request shapes the suite's server scenarios describe (`@modelcontextprotocol/conformance`, "Server
 * Implementation Requirements" of each scenario). `server-v1.ts` and `server-v2.ts` register the
 * same things through their SDK, so a difference between the two runs is the SDK's, not the fixture's.
 *
 * @module
 */

/** A 1×1 PNG (one blue-ish pixel), base64. */
export const PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGOQy78AAAIMAV6MmJeuAAAAAElFTkSuQmCC";
/** A WAV file: 8 kHz mono 16-bit PCM, four samples of silence, base64. */
export const WAV_SILENCE = "UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQgAAAAAAAAAAAAAAA==";

export const SERVER_INFO = { name: "protected-mcp-conformance", version: "1.0.0" } as const;

/** Capabilities both eras declare (the SDK drops what an era does not know). */
export const CAPABILITIES = {
  tools: { listChanged: true },
  resources: { subscribe: true, listChanged: true },
  prompts: { listChanged: true },
  logging: {},
  completions: {},
} as const;

export const TEXT = {
  simple: "This is a simple text response for testing.",
  embeddedUri: "test://embedded-resource",
  embedded: "This is an embedded resource content.",
  mixedIntro: "Multiple content types test:",
  mixedUri: "test://mixed-content-resource",
  mixedJson: JSON.stringify({ test: "data", value: 123 }),
  error: "This tool intentionally returns an error for testing",
  logLines: ["Tool execution started", "Tool processing data", "Tool execution completed"],
  staticText: "This is the content of the static text resource.",
  watched: "Watched resource content",
  simplePrompt: "This is a simple prompt for testing.",
  embeddedPrompt: "Embedded resource content for testing.",
  embeddedPromptTail: "Please process the embedded resource above.",
  imagePromptTail: "Please analyze the image above.",
} as const;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Text content. */
export const text = (t: string) => ({ type: "text" as const, text: t });

/** Result bodies of the content tools (no arguments). */
export const CONTENT_TOOLS = {
  test_simple_text: { description: "Returns one text block", content: () => [text(TEXT.simple)] },
  test_image_content: {
    description: "Returns one PNG image block",
    content: () => [{ type: "image" as const, data: PNG_1X1, mimeType: "image/png" }],
  },
  test_audio_content: {
    description: "Returns one WAV audio block",
    content: () => [{ type: "audio" as const, data: WAV_SILENCE, mimeType: "audio/wav" }],
  },
  test_embedded_resource: {
    description: "Returns one embedded text resource",
    content: () => [
      { type: "resource" as const, resource: { uri: TEXT.embeddedUri, mimeType: "text/plain", text: TEXT.embedded } },
    ],
  },
  test_multiple_content_types: {
    description: "Returns text, an image and an embedded JSON resource",
    content: () => [
      text(TEXT.mixedIntro),
      { type: "image" as const, data: PNG_1X1, mimeType: "image/png" },
      {
        type: "resource" as const,
        resource: { uri: TEXT.mixedUri, mimeType: "application/json", text: TEXT.mixedJson },
      },
    ],
  },
} as const;

/** `sampling/createMessage` params of `test_sampling`. */
export const samplingParams = (prompt: string) => ({
  messages: [{ role: "user" as const, content: text(prompt) }],
  maxTokens: 100,
});

/** `elicitation/create` params of `test_elicitation`. */
export const elicitationParams = (message: string) => ({
  message,
  requestedSchema: {
    type: "object" as const,
    properties: {
      username: { type: "string" as const, description: "User's response" },
      email: { type: "string" as const, description: "User's email address" },
    },
    required: ["username", "email"],
  },
});

/** SEP-1034: a default for every primitive type. */
export const ELICIT_DEFAULTS = {
  message: "Please review and update the form fields with defaults",
  requestedSchema: {
    type: "object" as const,
    properties: {
      name: { type: "string" as const, description: "User name", default: "John Doe" },
      age: { type: "integer" as const, description: "User age", default: 30 },
      score: { type: "number" as const, description: "User score", default: 95.5 },
      status: {
        type: "string" as const,
        description: "User status",
        enum: ["active", "inactive", "pending"],
        default: "active",
      },
      verified: { type: "boolean" as const, description: "Verification status", default: true },
    },
    required: [] as string[],
  },
};

/** SEP-1330: the five enum shapes. */
export const ELICIT_ENUMS = {
  message: "Please select options from the enum fields",
  requestedSchema: {
    type: "object" as const,
    properties: {
      untitledSingle: {
        type: "string" as const,
        description: "Select one option",
        enum: ["option1", "option2", "option3"],
      },
      titledSingle: {
        type: "string" as const,
        description: "Select one option with titles",
        oneOf: [
          { const: "value1", title: "First Option" },
          { const: "value2", title: "Second Option" },
          { const: "value3", title: "Third Option" },
        ],
      },
      legacyEnum: {
        type: "string" as const,
        description: "Select one option (legacy)",
        enum: ["opt1", "opt2", "opt3"],
        enumNames: ["Option One", "Option Two", "Option Three"],
      },
      untitledMulti: {
        type: "array" as const,
        description: "Select multiple options",
        minItems: 1,
        maxItems: 3,
        items: { type: "string" as const, enum: ["option1", "option2", "option3"] },
      },
      titledMulti: {
        type: "array" as const,
        description: "Select multiple options with titles",
        minItems: 1,
        maxItems: 3,
        items: {
          anyOf: [
            { const: "value1", title: "First Choice" },
            { const: "value2", title: "Second Choice" },
            { const: "value3", title: "Third Choice" },
          ],
        },
      },
    },
    required: [] as string[],
  },
};

/** Summary text of an elicitation result, as the scenarios describe it. */
export function elicitationSummary(prefix: string, result: unknown): string {
  const r = (result ?? {}) as { action?: unknown; content?: unknown };
  return `${prefix}: action=${String(r.action)}, content=${JSON.stringify(r.content ?? {})}`;
}

/** The text of a sampling result, wherever the client put it. */
export function samplingText(result: unknown): string {
  const r = (result ?? {}) as { content?: unknown; message?: { content?: unknown } };
  const pick = (c: unknown): string | undefined => {
    if (Array.isArray(c)) return c.map(pick).find((t) => t !== undefined);
    const t = (c as { type?: unknown; text?: unknown } | undefined)?.text;
    return typeof t === "string" ? t : undefined;
  };
  return pick(r.content) ?? pick(r.message?.content) ?? JSON.stringify(result);
}

/** SEP-1613 / SEP-2106: a tool input schema using the 2020-12 vocabulary, to be listed verbatim. */
export const JSON_SCHEMA_2020_12 = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  $defs: {
    address: {
      $anchor: "addressDef",
      type: "object",
      properties: { street: { type: "string" }, city: { type: "string" } },
    },
  },
  properties: {
    name: { type: "string" },
    address: { $ref: "#/$defs/address" },
    contactMethod: { type: "string", enum: ["phone", "email"] },
    phone: { type: "string" },
    email: { type: "string" },
  },
  allOf: [{ anyOf: [{ required: ["phone"] }, { required: ["email"] }] }],
  if: { properties: { contactMethod: { const: "phone" } }, required: ["contactMethod"] },
  then: { required: ["phone"] },
  else: { required: ["email"] },
  additionalProperties: false,
} as const;

/** Completion values for `test_prompt_with_arguments` arguments: the candidates starting with the typed prefix. */
const COMPLETION_WORDS = ["paris", "park", "party", "test", "testing", "hello", "world"];
export function completeWord(prefix: string): string[] {
  const p = prefix.toLowerCase();
  return COMPLETION_WORDS.filter((w) => w.startsWith(p));
}

/** Result of the templated resource `test://template/{id}/data`. */
export const templateJson = (id: string) => JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` });
