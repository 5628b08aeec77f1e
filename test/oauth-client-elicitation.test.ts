/**
 * examples/oauth-client.ts's URL-mode elicitation (MCP 2025-11-25), against a plain SDK v1 server on
 * loopback whose tool answers -32042 until a "connect page" is opened: the client shows the URL and
 * its domain, opens it only with consent, waits for `notifications/elicitation/complete` (or a manual
 * retry) and calls again. Declined and non-http URLs are never opened.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { UrlElicitationRequiredError } from "@modelcontextprotocol/sdk/types.js";
import { callToolWithConnect, createClient, type UrlElicitationOptions } from "../examples/oauth-client.js";

/** A server whose `connected_tool` needs a connect page opened first; `notify` says whether that page completes. */
interface Fixture {
  base: string;
  /** Elicitation ids whose page was opened. */
  opened: string[];
  /** Send the completion notification when the page is opened. */
  notify: boolean;
  /** The URL the next elicitation carries (default: the connect page). */
  url?: (id: string) => string;
  connected: boolean;
}

const f: Fixture = { base: "", opened: [], notify: true, connected: false };
const sessions = new Map<string, { transport: StreamableHTTPServerTransport; server: McpServer }>();
let http: Server;

function mcpServer(): McpServer {
  const server = new McpServer({ name: "elicitation-fixture", version: "1.0.0" });
  server.registerTool("connected_tool", { description: "needs a connected account" }, () => {
    if (f.connected) return { content: [{ type: "text", text: "connected: octocat" }] };
    const id = randomUUID();
    pending.set(id, server);
    throw new UrlElicitationRequiredError([
      {
        mode: "url",
        elicitationId: id,
        url: f.url ? f.url(id) : `${f.base}/connect?e=${id}`,
        message: "Connect your Example account to continue.",
      },
    ]);
  });
  return server;
}

/** Which server (session) made each elicitation: its completion goes to that session. */
const pending = new Map<string, McpServer>();

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", f.base);
  if (url.pathname === "/connect") {
    const id = url.searchParams.get("e") ?? "";
    f.opened.push(id);
    f.connected = true;
    const server = pending.get(id);
    if (f.notify && server) await server.server.createElicitationCompletionNotifier(id)();
    res.writeHead(200, { "content-type": "text/plain" }).end("Connected. You can close this page.");
    return;
  }
  const sid = req.headers["mcp-session-id"];
  let entry = typeof sid === "string" ? sessions.get(sid) : undefined;
  if (!entry) {
    const server = mcpServer();
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => void sessions.set(id, { transport, server }),
    });
    await server.connect(transport);
    entry = { transport, server };
  }
  await entry.transport.handleRequest(req, res);
}

before(async () => {
  http = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  f.base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});
after(async () => {
  for (const { transport } of sessions.values()) await transport.close();
  http.closeAllConnections();
  await new Promise((r) => http.close(r));
});

function reset(o: Partial<Fixture> = {}): void {
  Object.assign(f, { opened: [], notify: true, connected: false, url: undefined }, o);
}

/** A connected client, the lines it logged, and what the "browser" was asked to open. */
async function connect(o: UrlElicitationOptions = {}) {
  const lines: string[] = [];
  const browsed: string[] = [];
  const options: UrlElicitationOptions = {
    log: (l) => lines.push(l),
    // The test's browser opens the page like a person would (the client itself never fetches it).
    browser: async (url) => {
      browsed.push(url.href);
      await (await fetch(url)).text();
    },
    manual_retry: () => new Promise(() => {}),
    ...o,
  };
  const client = createClient(options);
  await client.connect(new StreamableHTTPClientTransport(new URL(`${f.base}/mcp`)));
  return { client, lines, browsed, options };
}

const text = (r: unknown) => ((r as { content?: { text?: string }[] }).content ?? []).map((c) => c.text ?? "").join("");

test("the client declares elicitation.url; -32042 → URL and domain shown, opened with consent, completion awaited, call retried", async () => {
  reset();
  const { client, lines, browsed, options } = await connect({ confirm: async () => true });
  try {
    const result = await callToolWithConnect(client, { name: "connected_tool" }, options);
    assert.equal(text(result), "connected: octocat", "the retried call succeeded");
    const server = [...pending.values()].at(-1)!;
    assert.deepEqual(server.server.getClientCapabilities()?.elicitation, { url: {} }, "declared URL mode only");
    assert.equal(browsed.length, 1, "one page opened");
    assert.match(browsed[0]!, /\/connect\?e=/, "the elicitation's URL");
    assert.ok(lines.includes("  Connect your Example account to continue."), "the server's message is shown");
    assert.ok(lines.includes(`  URL:    ${browsed[0]}`), "the full URL is shown");
    assert.ok(lines.includes(`  Domain: ${new URL(f.base).host}`), "the domain is shown");
    assert.ok(
      lines.some((l) => l.startsWith("Done (notifications/elicitation/complete)")),
      `completion seen:\n${lines.join("\n")}`,
    );
  } finally {
    await client.close();
  }
});

test("without a completion notification, a manual retry ends the wait", async () => {
  reset({ notify: false });
  let retry!: () => void;
  const manual = new Promise<void>((r) => (retry = r));
  const { client, lines, options } = await connect({
    open: true,
    browser: async (url) => {
      await (await fetch(url)).text();
      retry(); // the person comes back and presses Enter
    },
    manual_retry: () => manual,
  });
  try {
    const result = await callToolWithConnect(client, { name: "connected_tool" }, options);
    assert.equal(text(result), "connected: octocat", "retried after the manual signal");
    assert.ok(
      lines.some((l) => l.startsWith("Retrying; calling connected_tool again")),
      lines.join("\n"),
    );
  } finally {
    await client.close();
  }
});

test("a declined URL is never opened and the -32042 error is the result", async () => {
  reset();
  const { client, browsed, lines, options } = await connect({ confirm: async () => false });
  try {
    await assert.rejects(callToolWithConnect(client, { name: "connected_tool" }, options), (e: unknown) => {
      assert.ok(e instanceof UrlElicitationRequiredError, "the server's UrlElicitationRequiredError");
      return true;
    });
    assert.deepEqual(browsed, [], "nothing opened");
    assert.deepEqual(f.opened, [], "the page was never fetched");
    assert.ok(
      lines.some((l) => l.startsWith("Not opened.")),
      lines.join("\n"),
    );
  } finally {
    await client.close();
  }
});

test("a URL that is not http(s) is shown but never opened, even with --open", async () => {
  reset({ url: () => "javascript:alert(1)" });
  const { client, browsed, lines, options } = await connect({ open: true });
  try {
    await assert.rejects(callToolWithConnect(client, { name: "connected_tool" }, options), (e: unknown) => {
      assert.ok(e instanceof UrlElicitationRequiredError, "the server's UrlElicitationRequiredError");
      return true;
    });
    assert.deepEqual(browsed, [], "nothing opened");
    assert.ok(lines.includes("Not an http(s) URL: it will not be opened."), lines.join("\n"));
  } finally {
    await client.close();
  }
});

test("an internationalized domain is flagged next to the URL", async () => {
  reset({ url: (id) => `http://xn--exmple-cua.test/connect?e=${id}` });
  const { client, lines, options } = await connect({ confirm: async () => false });
  try {
    await assert.rejects(callToolWithConnect(client, { name: "connected_tool" }, options));
    assert.ok(
      lines.some((l) =>
        l.startsWith('  Domain: xn--exmple-cua.test  (WARNING: internationalized domain, shown as "exämple.test"'),
      ),
      lines.join("\n"),
    );
  } finally {
    await client.close();
  }
});
