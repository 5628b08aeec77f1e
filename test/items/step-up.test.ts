/**
 * Step-up authorization and scope-aware listing, built once in protect() for both protocol eras:
 * with the official clients (SDK v1 1.32 over 2025-11-25, SDK v2 over 2026-07-28) against the demo's
 * development authorization server (counted authorizations, the scopes they asked for), and with
 * raw requests for the exact refusals, the default isError path byte for byte, resources and prompts.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
  UnauthorizedError as UnauthorizedErrorV2,
} from "@modelcontextprotocol/client";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { z } from "zod";
import { startDemo, type Demo } from "../../examples/quickstart/demo.js";
import { connectWithOAuth, HeadlessOAuthProvider } from "../../examples/oauth-client.js";
import {
  getContext,
  JWTValidator,
  MCPServer,
  prompt,
  protect,
  registerTools,
  resource,
  tool,
  type AuthEvent,
} from "../../src/index.js";
import { freePortPair } from "../helpers/dev-as.js";
import { startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";
import { initialize, MCP_HEADERS, readRpc, toolCall } from "../helpers/mcp.js";

/** A provider that counts authorization requests and records the scope each asked for. */
function countingProvider(username: string, options: { refresh_tokens?: boolean } = {}) {
  const provider = new HeadlessOAuthProvider(username, undefined, options);
  const asked: string[] = [];
  const redirect = provider.redirectToAuthorization.bind(provider);
  provider.redirectToAuthorization = async (url: URL) => {
    asked.push(url.searchParams.get("scope") ?? "");
    return redirect(url);
  };
  return { provider, asked };
}

const structured = (r: unknown) => (r as { structuredContent?: Record<string, unknown> }).structuredContent;

describe("step-up with the official SDK v1 client (1.32, protocol 2025-11-25)", () => {
  let demo: Demo;
  const events: AuthEvent[] = [];
  before(async () => {
    demo = await startDemo({
      port: await freePortPair(),
      log: () => {},
      step_up: true,
      on_auth_event: (e) => events.push(e),
    });
  });
  after(() => demo.close());

  test("mcp:read first; delete_file → 403 insufficient_scope → second authorization for mcp:read files:delete → the retried call runs", async () => {
    const { provider, asked } = countingProvider("alice", { refresh_tokens: false });
    const client = await connectWithOAuth(demo.url, provider);
    try {
      assert.equal(provider.tokens()?.scope, "mcp:read");
      events.length = 0;
      await assert.rejects(client.callTool({ name: "delete_file", arguments: { path: "/tmp/a" } }), UnauthorizedError);
      assert.ok(
        events.some((e) => e.type === "refused" && e.code === "ERR_INSUFFICIENT_SCOPE" && e.status === 403),
        "a refused event with ERR_INSUFFICIENT_SCOPE and 403",
      );
      // The app completes the redirect (consent was given for the wider scope) and retries.
      await (client.transport as StreamableHTTPClientTransport).finishAuth(provider.code!);
      const r = await client.callTool({ name: "delete_file", arguments: { path: "/tmp/a" } });
      assert.deepEqual(structured(r), { deleted: "/tmp/a" });
      assert.deepEqual(
        asked,
        ["mcp:read", "mcp:read files:delete"],
        "exactly two authorizations; the second kept mcp:read",
      );
      assert.equal(provider.tokens()?.scope, "mcp:read files:delete");
      // The session survived the new token: same principal.
      assert.equal(structured(await client.callTool({ name: "whoami", arguments: {} }))?.subject, "alice");
    } finally {
      await client.close();
    }
  });

  test("known client behaviour: holding a refresh token, the v1 client refreshes instead of re-authorizing, and step-up fails", async () => {
    // SDK 1.32's upscoping calls auth(), which tries the refresh token first; a refresh cannot widen
    // the scopes, so the same 403 comes back and the client gives up. Nothing the server can change.
    const { provider, asked } = countingProvider("bob");
    const client = await connectWithOAuth(demo.url, provider);
    try {
      assert.ok(provider.tokens()?.refresh_token, "the client holds a refresh token");
      await assert.rejects(
        client.callTool({ name: "delete_file", arguments: { path: "/tmp/b" } }),
        /403 after trying upscoping/,
      );
      assert.deepEqual(asked, ["mcp:read"], "no second authorization");
    } finally {
      await client.close();
    }
  });
});

describe("step_up_scope: union (default) vs operation, with the v1 client that replaces its scope", () => {
  test('"operation" names only files:delete: the v1 client replaces mcp:read with it and then fails the server-wide mcp:read', async () => {
    const port = await freePortPair();
    const demo = await startDemo({ port, log: () => {}, step_up: true });
    // Re-serve the same demo tools with operation-only challenges on another MCPServer sharing the AS.
    const server = new MCPServer("op", {
      authorization: {
        enabled: true,
        authorization_servers: [demo.as.issuer],
        resource: demo.url.replace(String(port), String(port)),
        required_scopes: ["mcp:read"],
        step_up: true,
        step_up_scope: "operation",
      },
    });
    await demo.server.close(); // free the port for the operation-mode server on the same resource URL
    server.setAuthorizationProvider(
      new JWTValidator({ jwks_uri: demo.as.server.metadata.jwks_uri, issuer: demo.as.issuer }),
    );
    server.collect(
      tool({ name: "whoami", description: "" }, () => ({ subject: getContext().auth?.subject })),
      tool(
        { name: "delete_file", description: "", input: { path: z.string() }, required_scopes: ["files:delete"] },
        ({ path }) => ({
          deleted: path,
        }),
      ),
    );
    await server.serve({ port });
    const { provider, asked } = countingProvider("carol", { refresh_tokens: false });
    try {
      const client = await connectWithOAuth(demo.url, provider);
      await assert.rejects(client.callTool({ name: "delete_file", arguments: { path: "/x" } }), UnauthorizedError);
      await (client.transport as StreamableHTTPClientTransport).finishAuth(provider.code!);
      assert.equal(provider.tokens()?.scope, "files:delete", "the client replaced its scope with the challenge's");
      // The token now lacks the server-wide mcp:read: the retry is refused and the client is stuck in step-up.
      await assert.rejects(client.callTool({ name: "delete_file", arguments: { path: "/x" } }));
      assert.deepEqual(asked, ["mcp:read", "files:delete", "mcp:read"]);
      await client.close().catch(() => {});
    } finally {
      await server.close();
      await demo.close(); // its MCP server is closed already; this closes the AS and the downstream API
    }
  });
});

describe("step-up with the SDK v2 client (protocol 2026-07-28)", () => {
  for (const mode of ["union", "operation"] as const) {
    test(`step_up_scope "${mode}": one more authorization, the retried call runs, the client keeps mcp:read`, async () => {
      const port = await freePortPair();
      const demo = await startDemo({ port, log: () => {}, step_up: true });
      let handler: ReturnType<typeof protect> | undefined;
      const { provider, asked } = countingProvider("dave");
      const opts = { versionNegotiation: { mode: { pin: "2026-07-28" } } } as const;
      const make = () => new TransportV2(new URL(demo.url), { authProvider: provider as never });
      try {
        if (mode === "operation") {
          await demo.server.close();
          const s = new MCPServer("op2", {
            engine: "v2",
            authorization: {
              enabled: true,
              authorization_servers: [demo.as.issuer],
              resource: demo.url,
              required_scopes: ["mcp:read"],
              step_up: true,
              step_up_scope: "operation",
            },
          });
          s.setAuthorizationProvider(
            new JWTValidator({ jwks_uri: demo.as.server.metadata.jwks_uri, issuer: demo.as.issuer }),
          );
          s.collect(
            tool(
              { name: "delete_file", description: "", input: { path: z.string() }, required_scopes: ["files:delete"] },
              ({ path }) => ({
                deleted: path,
              }),
            ),
          );
          await s.serve({ port });
          handler = { close: () => s.close() } as never;
        }
        let transport = make();
        let client = new ClientV2({ name: "v2", version: "1" }, opts);
        try {
          await client.connect(transport);
        } catch (e) {
          if (!(e instanceof UnauthorizedErrorV2)) throw e;
          transport = make();
          await transport.finishAuth(provider.callbackParams!);
          client = new ClientV2({ name: "v2", version: "1" }, opts);
          await client.connect(transport);
        }
        assert.equal(provider.tokens()?.scope, "mcp:read");
        await assert.rejects(client.callTool({ name: "delete_file", arguments: { path: "/d" } }), UnauthorizedErrorV2);
        await transport.finishAuth(provider.callbackParams!);
        assert.deepEqual(structured(await client.callTool({ name: "delete_file", arguments: { path: "/d" } })), {
          deleted: "/d",
        });
        assert.equal(asked.length, 2, `authorizations: ${JSON.stringify(asked)}`);
        // SEP-2350: the v2 client unions the challenge's scopes with what it had, whatever the server names.
        assert.deepEqual(asked[1]!.split(" ").sort(), ["files:delete", "mcp:read"]);
        await client.close();
      } finally {
        await handler?.close();
        await demo.close();
      }
    });
  }
});

describe("raw requests: exact refusals, the default path byte for byte, resources, prompts, lists", () => {
  let issuer: LocalIssuer;
  const RESOURCE = "http://127.0.0.1:1/mcp";
  const ran: string[] = [];
  const defs = [
    tool({ name: "open", description: "" }, () => (ran.push("open"), "ok")),
    tool(
      { name: "delete_file", description: "", input: { path: z.string() }, required_scopes: ["files:delete"] },
      ({ path }) => (ran.push("delete"), { deleted: path }),
    ),
    resource(
      { name: "report", uri: "file:///reports/q3.txt", required_scopes: ["reports:read"] },
      () => (ran.push("report"), `q3 for ${getContext().auth?.subject}`),
    ),
    resource({ name: "readme", uri: "file:///README" }, () => "hello"),
    prompt(
      { name: "review", args: { code: z.string() }, required_scopes: ["prompts:review"] },
      ({ code }) => (ran.push("review"), `Review: ${code}`),
    ),
  ];
  before(async () => {
    issuer = await startLocalIssuer();
  });
  after(() => issuer.close());

  function handler(authz: Record<string, unknown>, session_mode: "stateless" | "stateful" = "stateless") {
    return protect(
      () => {
        const s = new McpServer({ name: "p", version: "1" });
        registerTools(s, ...(defs.filter((d) => d.kind === "tool") as never[]));
        for (const d of defs) if (d.kind !== "tool") d.register(s);
        return s;
      },
      {
        session_mode,
        authorization: { enabled: true, authorization_servers: [issuer.issuer], resource: RESOURCE, ...authz },
        provider: new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }),
        definitions: defs,
      },
    );
  }
  const rpc = (method: string, params: Record<string, unknown>, id = 1) =>
    JSON.stringify({ jsonrpc: "2.0", id, method, params });
  const send = (h: ReturnType<typeof handler>, body: string, token: string, session?: string) =>
    h(
      new Request(RESOURCE, {
        method: "POST",
        headers: {
          ...MCP_HEADERS,
          authorization: `Bearer ${token}`,
          ...(session ? { "mcp-session-id": session, "mcp-protocol-version": "2025-11-25" } : {}),
        },
        body,
      }),
    );
  const base = `Bearer realm="MCP", resource_metadata="http://127.0.0.1:1/.well-known/oauth-protected-resource/mcp"`;

  test("step_up off (default): the isError result, byte for byte as before", async () => {
    const h = handler({});
    const res = await send(
      h,
      toolCall("delete_file", { path: "/x" }),
      await issuer.sign({ aud: RESOURCE, scope: "mcp" }),
    );
    assert.equal(res.status, 200);
    assert.equal(
      JSON.stringify((await readRpc(res)).result),
      JSON.stringify({
        content: [
          { type: "text", text: "Tool \"delete_file\" requires scopes: ['files:delete']. Missing: ['files:delete']" },
        ],
        isError: true,
      }),
    );
  });

  test("step_up on: 403 with the exact challenge (union / operation), the OAuth error body, nothing run", async () => {
    for (const [mode, scope] of [
      ["union", "mcp other files:delete"],
      ["operation", "files:delete"],
    ] as const) {
      ran.length = 0;
      const h = handler({ step_up: true, step_up_scope: mode });
      const token = await issuer.sign({ aud: RESOURCE, scope: "mcp other" });
      const res = await send(h, toolCall("delete_file", { path: "/x" }), token);
      assert.equal(res.status, 403);
      assert.equal(
        res.headers.get("www-authenticate"),
        `${base}, scope="${scope}", error="insufficient_scope", error_description="The access token lacks a required scope", DPoP algs="ES256 EdDSA Ed25519 RS256 PS256"`,
      );
      assert.deepEqual(await res.json(), {
        error: "insufficient_scope",
        error_description: "The access token lacks a required scope",
      });
      assert.deepEqual(ran, []);
      // Covered scopes pass; an item without scopes passes.
      assert.equal((await send(h, toolCall("open"), token)).status, 200);
      const ok = await send(
        h,
        toolCall("delete_file", { path: "/y" }),
        await issuer.sign({ aud: RESOURCE, scope: "files:delete" }),
      );
      assert.deepEqual((await readRpc(ok)).result.structuredContent, { deleted: "/y" });
    }
  });

  test("step_up on: a batch with one under-scoped call is refused whole; resources/read and prompts/get step up too", async () => {
    ran.length = 0;
    const h = handler({ step_up: true });
    const token = await issuer.sign({ aud: RESOURCE, scope: "mcp" });
    const batch = `[${toolCall("open", {}, 1)},${toolCall("delete_file", { path: "/z" }, 2)}]`;
    assert.equal((await send(h, batch, token)).status, 403);
    const read = await send(h, rpc("resources/read", { uri: "file:///reports/q3.txt" }), token);
    assert.equal(read.status, 403);
    assert.match(read.headers.get("www-authenticate")!, /scope="mcp reports:read"/);
    const get = await send(h, rpc("prompts/get", { name: "review", arguments: { code: "x" } }), token);
    assert.equal(get.status, 403);
    assert.match(get.headers.get("www-authenticate")!, /scope="mcp prompts:review"/);
    assert.deepEqual(ran, []);
  });

  test("resource() and prompt() without step-up: a JSON-RPC error -32003 naming the scopes; with them, getContext() inside", async () => {
    ran.length = 0;
    const h = handler({});
    const token = await issuer.sign({ aud: RESOURCE, scope: "mcp", sub: "erin" });
    const read = await readRpc(await send(h, rpc("resources/read", { uri: "file:///reports/q3.txt" }), token));
    assert.deepEqual(read.error, {
      code: -32003,
      message: "Resource \"file:///reports/q3.txt\" requires scopes: ['reports:read']. Missing: ['reports:read']",
      data: { required: ["reports:read"], missing: ["reports:read"] },
    });
    const get = await readRpc(await send(h, rpc("prompts/get", { name: "review", arguments: { code: "x" } }), token));
    assert.equal(get.error.code, -32003);
    assert.equal(
      get.error.message,
      "Prompt \"review\" requires scopes: ['prompts:review']. Missing: ['prompts:review']",
    );
    assert.deepEqual(ran, []);
    const full = await issuer.sign({ aud: RESOURCE, scope: "reports:read prompts:review", sub: "erin" });
    assert.equal(
      (await readRpc(await send(h, rpc("resources/read", { uri: "file:///reports/q3.txt" }), full))).result.contents[0]
        .text,
      "q3 for erin",
    );
    assert.equal(
      (await readRpc(await send(h, rpc("prompts/get", { name: "review", arguments: { code: "x" } }), full))).result
        .messages[0].content.text,
      "Review: x",
    );
  });

  test("hide_unauthorized_tools: lists omit what the caller cannot use (JSON, stateless)", async () => {
    const h = handler({ hide_unauthorized_tools: true });
    const token = await issuer.sign({ aud: RESOURCE, scope: "files:delete" });
    const tools = (await readRpc(await send(h, rpc("tools/list", {}), token))).result.tools.map(
      (t: { name: string }) => t.name,
    );
    assert.deepEqual(tools, ["open", "delete_file"]);
    const narrow = await issuer.sign({ aud: RESOURCE, scope: "mcp" });
    assert.deepEqual(
      (await readRpc(await send(h, rpc("tools/list", {}), narrow))).result.tools.map((t: { name: string }) => t.name),
      ["open"],
    );
    assert.deepEqual(
      (await readRpc(await send(h, rpc("resources/list", {}), narrow))).result.resources.map(
        (r: { uri: string }) => r.uri,
      ),
      ["file:///README"],
    );
    assert.deepEqual((await readRpc(await send(h, rpc("prompts/list", {}), narrow))).result.prompts, []);
    // Off: everything listed.
    const all = handler({});
    assert.equal((await readRpc(await send(all, rpc("tools/list", {}), narrow))).result.tools.length, 2);
  });

  test("hide_unauthorized_tools on a stateful session (event-stream responses)", async () => {
    const h = handler({ hide_unauthorized_tools: true }, "stateful");
    const narrow = await issuer.sign({ aud: RESOURCE, scope: "mcp" });
    const init = await send(h, initialize(), narrow);
    const session = init.headers.get("mcp-session-id")!;
    await init.text();
    const res = await send(h, rpc("tools/list", {}, 2), narrow, session);
    assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
    assert.deepEqual(
      (await readRpc(res)).result.tools.map((t: { name: string }) => t.name),
      ["open"],
    );
    await h.close();
  });

  test("step_up / hide_unauthorized_tools without definitions is refused at construction", () => {
    assert.throws(
      () =>
        protect(() => new McpServer({ name: "x", version: "1" }), {
          authorization: { enabled: true, authorization_servers: [issuer.issuer], resource: RESOURCE, step_up: true },
          provider: new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }),
        }),
      /definitions/,
    );
  });
});
