/**
 * The list changes a user's v2 server emits reach clients through protect() (`engine: "v2"`) with no
 * call to `handler.notify`: `registerTool` after connect, `sendToolListChanged()`, enable / disable /
 * remove, prompts and resources alike, `sendResourceUpdated`.
 *
 * Semantics under test: a server protect() built for principal P publishes its changes for P only —
 * P's 2026-07-28 `subscriptions/listen` streams and P's 2025-era sessions get them, another
 * principal's streams and sessions do not; `handler.notify` still reaches everyone. "Did not get it"
 * is shown with a sentinel: a broadcast published after the change arrives, and nothing before it.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from "@modelcontextprotocol/client";
import { McpServer as McpServerV2 } from "@modelcontextprotocol/server";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  PromptListChangedNotificationSchema,
  ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { JWTValidator, MCPServer, protect, toNodeHandler, type ProtectedHandler } from "../../src/index.js";
import type { LocalIssuer } from "../helpers/issuer.js";
import { startProtectedV2, type ProtectedV2 } from "../helpers/protected-v2.js";

const MODERN = "2026-07-28";
const WATCHED = "test://watched";
const SENTINEL = "test://sentinel";

/** A user's server: tools that change its own lists the ways the SDK offers. */
function userServer(): McpServerV2 {
  const server = new McpServerV2(
    { name: "list-changes", version: "1.0.0" },
    {
      capabilities: {
        tools: { listChanged: true },
        prompts: { listChanged: true },
        resources: { listChanged: true, subscribe: true },
      },
    },
  );
  const ok = (text: string) => ({ content: [{ type: "text" as const, text }] });
  server.registerTool("register_tool", { inputSchema: z.object({}) }, async () => {
    server.registerTool(`added_${Math.random().toString(36).slice(2)}`, { inputSchema: z.object({}) }, async () =>
      ok("added"),
    );
    return ok("registered");
  });
  server.registerTool("send_tool_list_changed", { inputSchema: z.object({}) }, async () => {
    server.sendToolListChanged();
    return ok("sent");
  });
  server.registerTool("disable_enable_remove", { inputSchema: z.object({}) }, async () => {
    const t = server.registerTool("short_lived", { inputSchema: z.object({}) }, async () => ok("short"));
    t.disable();
    t.enable();
    t.remove();
    return ok("toggled");
  });
  server.registerTool("register_prompt", { inputSchema: z.object({}) }, async () => {
    server.registerPrompt(`prompt_${Math.random().toString(36).slice(2)}`, {}, async () => ({
      messages: [{ role: "user" as const, content: { type: "text" as const, text: "hi" } }],
    }));
    return ok("prompt");
  });
  server.registerTool("register_resource", { inputSchema: z.object({}) }, async () => {
    const uri = `test://r/${Math.random().toString(36).slice(2)}`;
    server.registerResource(uri, uri, {}, async () => ({ contents: [{ uri, text: "r" }] }));
    return ok("resource");
  });
  server.registerTool("touch_watched", { inputSchema: z.object({}) }, async () => {
    await server.server.sendResourceUpdated({ uri: WATCHED });
    return ok("touched");
  });
  return server;
}

let setup: ProtectedV2;
let issuer: LocalIssuer;
let url: string;
let handler: ProtectedHandler;

before(async () => {
  setup = await startProtectedV2(() => userServer());
  ({ issuer, url, handler } = setup);
});
after(() => setup.close());

/** What a client has been told, in order, with a way to wait for the next matching entry. */
class Inbox {
  readonly seen: string[] = [];
  private waiters: { method: string; from: number; resolve: () => void }[] = [];
  push(method: string): void {
    this.seen.push(method);
    for (const w of [...this.waiters]) {
      if (this.seen.indexOf(w.method, w.from) < 0) continue;
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
  }
  /** Resolves once `method` arrived at index `from` or later. */
  next(method: string, from = 0): Promise<void> {
    if (this.seen.indexOf(method, from) >= 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ method, from, resolve }));
  }
}

const token = (sub: string) => issuer.sign({ sub, aud: url });

/** A 2026-07-28 client (SDK v2) with a `subscriptions/listen` stream open. */
async function listener(sub: string, filter: Record<string, unknown>) {
  const inbox = new Inbox();
  const transport = new TransportV2(new URL(url), {
    requestInit: { headers: { authorization: `Bearer ${await token(sub)}` } },
  });
  const client = new ClientV2(
    { name: `modern-${sub}`, version: "1" },
    { versionNegotiation: { mode: { pin: MODERN } } },
  );
  client.setNotificationHandler("notifications/tools/list_changed", () => inbox.push("tools"));
  client.setNotificationHandler("notifications/prompts/list_changed", () => inbox.push("prompts"));
  client.setNotificationHandler("notifications/resources/list_changed", () => inbox.push("resources"));
  client.setNotificationHandler("notifications/resources/updated", (n) => inbox.push(`updated ${n.params.uri}`));
  await client.connect(transport);
  const subscription = await client.listen(filter);
  return {
    client,
    inbox,
    call: (name: string) => client.callTool({ name, arguments: {} }),
    close: async () => {
      await subscription.close();
      await client.close();
    },
  };
}

/** A 2025-era session (SDK v1 client, with its GET stream for server notifications). */
async function session(sub: string) {
  const inbox = new Inbox();
  const client = new ClientV1({ name: `legacy-${sub}`, version: "1" });
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => inbox.push("tools"));
  client.setNotificationHandler(PromptListChangedNotificationSchema, () => inbox.push("prompts"));
  client.setNotificationHandler(ResourceListChangedNotificationSchema, () => inbox.push("resources"));
  // The transport opens its GET stream after initialize; the server holds it once the answer's headers are back.
  let streamOpen!: () => void;
  const opened = new Promise<void>((r) => (streamOpen = r));
  const watchGet: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    if ((init?.method ?? "GET") === "GET" && res.status === 200) streamOpen();
    return res;
  };
  const transport = new TransportV1(new URL(url), {
    requestInit: { headers: { authorization: `Bearer ${await token(sub)}` } },
    fetch: watchGet,
  });
  await client.connect(transport);
  await opened;
  return {
    client,
    inbox,
    call: (name: string) => client.callTool({ name, arguments: {} }),
    close: () => client.close(),
  };
}

const ALL = {
  toolsListChanged: true,
  promptsListChanged: true,
  resourcesListChanged: true,
  resourceSubscriptions: [WATCHED, SENTINEL],
};

const LIMIT = { timeout: 15_000 };

describe("engine v2: a server's own list changes reach the same principal's listen streams", () => {
  test("registerTool after connect: Alice's stream gets tools/list_changed, Bob's does not", LIMIT, async () => {
    const alice = await listener("alice", ALL);
    const bob = await listener("bob", ALL);
    try {
      await alice.call("register_tool");
      await alice.inbox.next("tools");
      handler.notify!.promptsChanged(); // the sentinel: published after Alice's change
      await bob.inbox.next("prompts");
      assert.deepEqual(bob.inbox.seen, ["prompts"], "Bob's stream got the broadcast and nothing of Alice's server");
      await alice.inbox.next("prompts");
      assert.deepEqual(
        alice.inbox.seen,
        ["tools", "prompts"],
        "Alice's stream: her server's change, then the broadcast",
      );
    } finally {
      await alice.close();
      await bob.close();
    }
  });

  test("Alice's other streams get it too (a change is for the principal, not for one request)", LIMIT, async () => {
    const first = await listener("alice", ALL);
    const second = await listener("alice", ALL);
    const caller = await listener("alice", { promptsListChanged: true });
    try {
      await caller.call("send_tool_list_changed");
      await first.inbox.next("tools");
      await second.inbox.next("tools");
      handler.notify!.promptsChanged();
      await caller.inbox.next("prompts");
      assert.deepEqual(
        caller.inbox.seen,
        ["prompts"],
        "each stream's own filter still applies (this one asked for prompts only)",
      );
    } finally {
      await Promise.all([first.close(), second.close(), caller.close()]);
    }
  });

  test("register, disable, enable and remove each publish; prompts and resources alike", LIMIT, async () => {
    const alice = await listener("alice", ALL);
    try {
      await alice.call("disable_enable_remove");
      await alice.call("register_prompt");
      await alice.call("register_resource");
      await alice.call("touch_watched");
      await alice.inbox.next(`updated ${WATCHED}`);
      assert.deepEqual(
        alice.inbox.seen,
        ["tools", "tools", "tools", "tools", "prompts", "resources", `updated ${WATCHED}`],
        "one notification per change (registerTool, disable, enable, remove, registerPrompt, registerResource, sendResourceUpdated), in order",
      );
    } finally {
      await alice.close();
    }
  });

  test(
    "a resource update of Alice's server does not reach Bob's stream subscribed to the same URI",
    LIMIT,
    async () => {
      const alice = await listener("alice", ALL);
      const bob = await listener("bob", ALL);
      try {
        await alice.call("touch_watched");
        await alice.inbox.next(`updated ${WATCHED}`);
        handler.notify!.resourceUpdated(SENTINEL);
        await bob.inbox.next(`updated ${SENTINEL}`);
        assert.deepEqual(bob.inbox.seen, [`updated ${SENTINEL}`], "Bob got the broadcast update only");
      } finally {
        await alice.close();
        await bob.close();
      }
    },
  );
});

describe("engine v2: 2025-era sessions, same rules", () => {
  test("a change of Alice's 2026 server reaches Alice's 2025 session, not Bob's", LIMIT, async () => {
    const aliceSession = await session("alice");
    const bobSession = await session("bob");
    const alice = await listener("alice", ALL);
    try {
      const a0 = aliceSession.inbox.seen.length;
      const b0 = bobSession.inbox.seen.length;
      await alice.call("register_tool");
      await aliceSession.inbox.next("tools", a0);
      handler.notify!.promptsChanged();
      await bobSession.inbox.next("prompts", b0);
      assert.deepEqual(bobSession.inbox.seen.slice(b0), ["prompts"], "Bob's session got the broadcast only");
    } finally {
      await alice.close();
      await aliceSession.close();
      await bobSession.close();
    }
  });

  test(
    "a 2025 session's own change: its client is told once, Alice's listen stream is told, Bob's session is not",
    LIMIT,
    async () => {
      const aliceSession = await session("alice");
      const bobSession = await session("bob");
      const alice = await listener("alice", ALL);
      try {
        const a0 = aliceSession.inbox.seen.length;
        const b0 = bobSession.inbox.seen.length;
        await aliceSession.call("register_prompt");
        await alice.inbox.next("prompts");
        await aliceSession.inbox.next("prompts", a0);
        handler.notify!.toolsChanged();
        await aliceSession.inbox.next("tools", a0);
        await bobSession.inbox.next("tools", b0);
        assert.deepEqual(
          aliceSession.inbox.seen.slice(a0),
          ["prompts", "tools"],
          "the session's own change arrived once, then the broadcast",
        );
        assert.deepEqual(bobSession.inbox.seen.slice(b0), ["tools"], "Bob's session got the broadcast only");
      } finally {
        await alice.close();
        await aliceSession.close();
        await bobSession.close();
      }
    },
  );
});

describe("engine v2: a bus shared by two handlers (processes), events serialized on the way", () => {
  test("Alice's change through one handler reaches Alice's stream on the other, not Bob's", LIMIT, async () => {
    // A bus like a pub/sub across processes: every event is JSON on the wire.
    const listeners = new Set<(event: unknown) => void>();
    const wire = {
      publish: (event: unknown) => {
        const copy = JSON.stringify(event);
        assert.ok(!copy.includes("alice") && !copy.includes("bob"), `no principal in clear on the bus: ${copy}`);
        for (const l of listeners) l(JSON.parse(copy));
      },
      subscribe: (l: (event: unknown) => void) => (listeners.add(l), () => void listeners.delete(l)),
    };
    const [firstHttp, second] = [createServer(), createServer()];
    await Promise.all([firstHttp, second].map((h) => new Promise<void>((r) => h.listen(0, "127.0.0.1", r))));
    const [oneUrl, otherUrl] = [firstHttp, second].map(
      (h) => `http://127.0.0.1:${(h.address() as AddressInfo).port}/mcp`,
    ) as [string, string];
    const options = (resource: string) => ({
      authorization: { enabled: true, authorization_servers: [issuer.issuer], resource },
      provider: new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer, audience: resource }),
      engine: "v2" as const,
      v2_handler_options: { bus: wire },
    });
    const one = protect(() => userServer(), options(oneUrl));
    const two = protect(() => userServer(), options(otherUrl));
    firstHttp.on("request", toNodeHandler(one));
    second.on("request", toNodeHandler(two));
    const open = async (sub: string, at: string) => {
      const inbox = new Inbox();
      const t = new TransportV2(new URL(at), {
        requestInit: { headers: { authorization: `Bearer ${await issuer.sign({ sub, aud: at })}` } },
      });
      const client = new ClientV2(
        { name: `bus-${sub}`, version: "1" },
        { versionNegotiation: { mode: { pin: MODERN } } },
      );
      client.setNotificationHandler("notifications/tools/list_changed", () => inbox.push("tools"));
      client.setNotificationHandler("notifications/prompts/list_changed", () => inbox.push("prompts"));
      await client.connect(t);
      const subscription = await client.listen({ toolsListChanged: true, promptsListChanged: true });
      return { client, inbox, close: async () => (await subscription.close(), await client.close()) };
    };
    const aliceCaller = await open("alice", oneUrl);
    const aliceThere = await open("alice", otherUrl);
    const bobThere = await open("bob", otherUrl);
    try {
      await aliceCaller.client.callTool({ name: "register_tool", arguments: {} });
      await aliceThere.inbox.next("tools");
      two.notify!.promptsChanged();
      await bobThere.inbox.next("prompts");
      assert.deepEqual(bobThere.inbox.seen, ["prompts"], "Bob's stream on the other handler got the broadcast only");
    } finally {
      await Promise.all([aliceCaller.close(), aliceThere.close(), bobThere.close()]);
      await Promise.all([one.close(), two.close()]);
      for (const h of [firstHttp, second]) {
        h.closeAllConnections();
        await new Promise<void>((r) => h.close(() => r()));
      }
    }
  });
});

describe("MCPServer engine v2: its 2026-07-28 servers publish their changes the same way", () => {
  test("a configureV2 tool that registers a tool: Alice's stream is told, Bob's is not", LIMIT, async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const resource = `http://127.0.0.1:${port}/mcp`;
    const server = new MCPServer("list-changes", {
      version: "1.0.0",
      engine: "v2",
      authorization: { enabled: true, authorization_servers: [issuer.issuer], resource },
      v2_server_options: { capabilities: { tools: { listChanged: true }, prompts: { listChanged: true } } },
      log: () => {},
    });
    server.setAuthorizationProvider(
      new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer, audience: resource }),
    );
    server.configureV2((s: McpServerV2) => {
      s.registerTool("register_tool", { inputSchema: z.object({}) }, async () => {
        s.registerTool(`added_${Math.random().toString(36).slice(2)}`, { inputSchema: z.object({}) }, async () => ({
          content: [],
        }));
        return { content: [{ type: "text" as const, text: "registered" }] };
      });
    });
    const { url: served } = await server.serve({ port, host: "127.0.0.1" });
    const open = async (sub: string) => {
      const inbox = new Inbox();
      const t = new TransportV2(new URL(served), {
        requestInit: { headers: { authorization: `Bearer ${await issuer.sign({ sub, aud: resource })}` } },
      });
      const client = new ClientV2(
        { name: `mcpserver-${sub}`, version: "1" },
        { versionNegotiation: { mode: { pin: MODERN } } },
      );
      client.setNotificationHandler("notifications/tools/list_changed", () => inbox.push("tools"));
      client.setNotificationHandler("notifications/prompts/list_changed", () => inbox.push("prompts"));
      await client.connect(t);
      const subscription = await client.listen({ toolsListChanged: true, promptsListChanged: true });
      return { client, inbox, close: async () => (await subscription.close(), await client.close()) };
    };
    const alice = await open("alice");
    const bob = await open("bob");
    try {
      await alice.client.callTool({ name: "register_tool", arguments: {} });
      await alice.inbox.next("tools");
      server.notify.promptsChanged();
      await bob.inbox.next("prompts");
      assert.deepEqual(bob.inbox.seen, ["prompts"], "Bob's stream got the broadcast only");
    } finally {
      await Promise.all([alice.close(), bob.close()]);
      await server.close();
    }
  });
});

describe('engine v2, session_mode "stateless": the SDK\'s stateless 2025 fallback servers publish too', () => {
  test("a 2025-era call's server registers a tool: Alice's listen stream is told, Bob's is not", LIMIT, async () => {
    const h = createServer();
    await new Promise<void>((r) => h.listen(0, "127.0.0.1", r));
    const at = `http://127.0.0.1:${(h.address() as AddressInfo).port}/mcp`;
    const stateless = protect(() => userServer(), {
      authorization: { enabled: true, authorization_servers: [issuer.issuer], resource: at },
      provider: new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer, audience: at }),
      engine: "v2",
      session_mode: "stateless",
    });
    h.on("request", toNodeHandler(stateless));
    const headers = async (sub: string) => ({ authorization: `Bearer ${await issuer.sign({ sub, aud: at })}` });
    const open = async (sub: string) => {
      const inbox = new Inbox();
      const client = new ClientV2(
        { name: `stateless-${sub}`, version: "1" },
        { versionNegotiation: { mode: { pin: MODERN } } },
      );
      client.setNotificationHandler("notifications/tools/list_changed", () => inbox.push("tools"));
      client.setNotificationHandler("notifications/prompts/list_changed", () => inbox.push("prompts"));
      await client.connect(new TransportV2(new URL(at), { requestInit: { headers: await headers(sub) } }));
      const subscription = await client.listen({ toolsListChanged: true, promptsListChanged: true });
      return { inbox, close: async () => (await subscription.close(), await client.close()) };
    };
    const alice = await open("alice");
    const bob = await open("bob");
    const legacy = new ClientV1({ name: "legacy-alice", version: "1" });
    try {
      await legacy.connect(new TransportV1(new URL(at), { requestInit: { headers: await headers("alice") } }));
      await legacy.callTool({ name: "register_tool", arguments: {} });
      await alice.inbox.next("tools");
      stateless.notify!.promptsChanged();
      await bob.inbox.next("prompts");
      assert.deepEqual(bob.inbox.seen, ["prompts"], "Bob's stream got the broadcast only");
    } finally {
      await legacy.close();
      await Promise.all([alice.close(), bob.close()]);
      await stateless.close();
      h.closeAllConnections();
      await new Promise<void>((r) => h.close(() => r()));
    }
  });
});
