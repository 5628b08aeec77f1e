/**
 * Protocol revision 2026-07-28 through the SDK v2 (`@modelcontextprotocol/server`), next to the 2025
 * era on the same endpoint: the v2 client's whole OAuth flow, the v1 client on the same endpoint, the
 * refusal matrix on modern-era requests, a server from the SDK v2 README wrapped with protect(), and
 * the modern-era details that touch authorization (Mcp-Method/Mcp-Name, cacheScope).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import {
  Client as ClientV2,
  StreamableHTTPClientTransport as TransportV2,
  UnauthorizedError as UnauthorizedErrorV2,
} from "@modelcontextprotocol/client";
import { createMcpHandler, McpServer as McpServerV2 } from "@modelcontextprotocol/server";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { z } from "zod";
import { startDemo, type Demo } from "../../examples/quickstart/demo.js";
import { HeadlessOAuthProvider } from "../../examples/oauth-client.js";
import {
  startDevAuthorizationServer,
  type RunningDevAuthorizationServer,
} from "../../src/dev-authorization-server/index.js";
import { getContext, JWTValidator, protect, toNodeHandler } from "../../src/index.js";
import { freePortPair } from "../helpers/dev-as.js";
import { clientKey } from "../helpers/dpop.js";

const MODERN = "2026-07-28";
const META = {
  "io.modelcontextprotocol/protocolVersion": MODERN,
  "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
  "io.modelcontextprotocol/clientCapabilities": {},
};

/** A raw modern-era request: `Mcp-Method`/`Mcp-Name` headers, `_meta` envelope, no session. */
function modernRequest(
  method: string,
  params: Record<string, unknown> = {},
  headers: Record<string, string> = {},
  name?: string,
): RequestInit {
  return {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": MODERN,
      "mcp-method": method,
      ...(name ? { "mcp-name": name } : {}),
      ...headers,
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: { ...params, _meta: META } }),
  };
}

/**
 * Connect a v2 client over 2026-07-28, running the OAuth flow (discovery, registration, PKCE, consent, token) on the
 * first 401.
 */
async function connectModern(url: string, provider: HeadlessOAuthProvider, log?: string[]): Promise<ClientV2> {
  const fetchLogged: typeof fetch = async (input, init) => {
    const method = new Headers(init?.headers).get("mcp-method");
    if (log && method) log.push(method);
    return fetch(input, init);
  };
  const make = () => new TransportV2(new URL(url), { authProvider: provider as never, fetch: fetchLogged });
  const client = new ClientV2({ name: "v2-test", version: "1.0.0" }, { versionNegotiation: { mode: { pin: MODERN } } });
  try {
    await client.connect(make());
    return client;
  } catch (err) {
    if (!(err instanceof UnauthorizedErrorV2) || !provider.code) throw err;
  }
  const transport = make();
  // The v2 client checks the RFC 9207 `iss` of the authorization response: hand it the whole callback.
  await transport.finishAuth(provider.callbackParams!);
  const again = new ClientV2({ name: "v2-test", version: "1.0.0" }, { versionNegotiation: { mode: { pin: MODERN } } });
  await again.connect(transport);
  return again;
}

const text = (r: unknown) => ((r as { content?: { text?: string }[] }).content ?? []).map((c) => c.text ?? "").join("");

describe("npm start's server (MCPServer engine v2): both eras on one endpoint", () => {
  let demo: Demo;
  before(async () => {
    demo = await startDemo({ port: await freePortPair(), log: () => {} });
  });
  after(() => demo.close());

  test("the v2 client: whole OAuth flow over 2026-07-28 (server/discover, no initialize), getContext() in tools, per-tool scopes", async () => {
    const methods: string[] = [];
    const provider = new HeadlessOAuthProvider("alice");
    const client = await connectModern(demo.url, provider, methods);
    try {
      assert.equal(client.getNegotiatedProtocolVersion?.() ?? MODERN, MODERN);
      const who = await client.callTool({ name: "whoami", arguments: {} });
      assert.equal((who.structuredContent as { subject: string }).subject, "alice");
      assert.deepEqual((await client.listTools()).tools.map((t) => t.name).sort(), [
        "delete_file",
        "downstream_whoami",
        "echo",
        "upstream_whoami",
        "whoami",
      ]);
      assert.ok(methods.includes("server/discover"), `methods: ${methods.join(",")}`);
      assert.ok(!methods.includes("initialize"), "no initialize was sent");
      // The demo's consent grants every requested scope: delete_file runs.
      assert.equal(
        text(await client.callTool({ name: "delete_file", arguments: { path: "/tmp/x" } })),
        '{"deleted":"/tmp/x"}',
      );
    } finally {
      await client.close();
    }
  });

  test("the v1 client on the same endpoint: 2025-era initialize and a session bound to its principal", async () => {
    const { access_token: alice } = await demo.as.server.issueAccessToken({
      subject: "alice",
      scopes: ["mcp:read"],
      client_id: "c1",
    });
    const { access_token: bob } = await demo.as.server.issueAccessToken({
      subject: "bob",
      scopes: ["mcp:read"],
      client_id: "c1",
    });
    const transport = new TransportV1(new URL(demo.url), {
      requestInit: { headers: { authorization: `Bearer ${alice}` } },
    });
    const client = new ClientV1({ name: "v1", version: "1" });
    await client.connect(transport);
    try {
      assert.ok(transport.sessionId, "a 2025-era session");
      assert.equal(
        ((await client.callTool({ name: "whoami", arguments: {} })).structuredContent as { subject: string }).subject,
        "alice",
      );
      const stolen = await fetch(demo.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "mcp-session-id": transport.sessionId,
          "mcp-protocol-version": "2025-11-25",
          authorization: `Bearer ${bob}`,
        },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 9,
          method: "tools/call",
          params: { name: "whoami", arguments: {} },
        }),
      });
      assert.equal(stolen.status, 404, "another principal cannot use the session");
    } finally {
      await client.close();
    }
  });

  test("refusal matrix on modern-era requests: exact status and challenge, nothing served", async () => {
    const metadataUrl = `${new URL(demo.url).origin}/.well-known/oauth-protected-resource/mcp`;
    const base = `Bearer realm="MCP", resource_metadata="${metadataUrl}"`;
    const dpopAlgs = `DPoP algs="ES256 EdDSA Ed25519 RS256 PS256"`;
    const { access_token: other } = await demo.as.server
      .issueAccessToken({
        subject: "eve",
        scopes: ["mcp:read"],
        client_id: "c",
        resource: "https://elsewhere.example/mcp",
      })
      .catch(() => ({ access_token: "" }));
    const key = await clientKey();
    const { access_token: bound } = await demo.as.server.issueAccessToken({
      subject: "dave",
      scopes: ["mcp:read"],
      client_id: "c",
      jkt: key.jkt,
    });
    const cases: [string, Record<string, string>, number, string][] = [
      ["no token", {}, 401, `${base}, ${dpopAlgs}`],
      [
        "garbage token",
        { authorization: "Bearer not-a-jwt" },
        401,
        `${base}, error="invalid_token", error_description="The access token is not a signed JWT", ${dpopAlgs}`,
      ],
      [
        "DPoP-bound token sent as Bearer",
        { authorization: `Bearer ${bound}` },
        401,
        `${base}, error="invalid_token", error_description="A DPoP-bound access token must use the DPoP authorization scheme", ${dpopAlgs}`,
      ],
    ];
    if (other)
      cases.push([
        "token for another resource",
        { authorization: `Bearer ${other}` },
        401,
        `${base}, error="invalid_token", error_description="The access token is not intended for this resource", ${dpopAlgs}`,
      ]);
    for (const method of ["server/discover", "tools/call"]) {
      for (const [label, headers, status, challenge] of cases) {
        const res = await fetch(
          demo.url,
          modernRequest(
            method,
            method === "tools/call" ? { name: "delete_file", arguments: { path: "/x" } } : {},
            headers,
            method === "tools/call" ? "delete_file" : undefined,
          ),
        );
        const body = await res.text();
        assert.equal(res.status, status, `${method} / ${label}`);
        assert.equal(res.headers.get("www-authenticate"), challenge, `${method} / ${label}`);
        assert.ok(!body.includes("deleted"), "the tool did not run");
        for (const h of Object.values(headers))
          assert.ok(
            !body.includes(h.slice(7)) && !(res.headers.get("www-authenticate") ?? "").includes(h.slice(7) || "\0"),
            "no token echoed",
          );
      }
    }
  });

  test("Mcp-Method/Mcp-Name never decide: a header naming whoami over a body calling delete_file does not run delete_file", async () => {
    const { access_token } = await demo.as.server.issueAccessToken({
      subject: "mallory",
      scopes: ["mcp:read"],
      client_id: "c",
    });
    const init = modernRequest(
      "tools/call",
      { name: "delete_file", arguments: { path: "/etc" } },
      { authorization: `Bearer ${access_token}` },
      "whoami",
    );
    const res = await fetch(demo.url, init);
    const body = await res.text();
    assert.ok(!body.includes('"deleted"'), body);
    // The SDK refuses the disagreement outright, or the per-tool check refuses delete_file: either way, not served.
    assert.ok(
      res.status === 400 || body.includes("requires scopes: ['files:delete']"),
      `${res.status} ${body.slice(0, 200)}`,
    );
  });

  test("caller-dependent results are not shareable: list results carry cacheScope private", async () => {
    const { access_token } = await demo.as.server.issueAccessToken({
      subject: "alice",
      scopes: ["mcp:read"],
      client_id: "c",
    });
    const res = await fetch(demo.url, modernRequest("tools/list", {}, { authorization: `Bearer ${access_token}` }));
    assert.equal(res.status, 200);
    const json = (await res.json()) as { result: { cacheScope?: string; tools: unknown[] } };
    assert.equal(json.result.cacheScope, "private");
  });
});

describe("protect(createMcpHandler(...)): a server as the SDK v2 README builds it", () => {
  let as: RunningDevAuthorizationServer;
  let http: Server;
  let url: string;
  let handler: ReturnType<typeof protect>;
  before(async () => {
    const port = await freePortPair();
    url = `http://127.0.0.1:${port}/mcp`;
    as = await startDevAuthorizationServer({
      port: port + 1,
      host: "127.0.0.1",
      issuer: `http://127.0.0.1:${port + 1}`,
      resources: [url],
      scopes_supported: ["mcp:read"],
      log: () => {},
    });
    // From the SDK v2 README: a factory of McpServer instances, served by createMcpHandler.
    const mcp = createMcpHandler(() => {
      const server = new McpServerV2({ name: "readme-server", version: "1.0.0" });
      server.registerTool(
        "greet",
        { description: "Greet someone", inputSchema: z.object({ name: z.string() }) },
        async ({ name }) => ({
          content: [{ type: "text", text: `Hello, ${name}! (as ${getContext().auth?.subject})` }],
        }),
      );
      return server;
    });
    handler = protect(mcp, {
      authorization: { enabled: true, authorization_servers: [as.issuer], resource: url },
      provider: new JWTValidator({ jwks_uri: as.server.metadata.jwks_uri, issuer: as.issuer }),
    });
    http = createServer(toNodeHandler(handler));
    await new Promise<void>((r) => http.listen(port, "127.0.0.1", r));
  });
  after(async () => {
    await handler.close();
    http.closeAllConnections();
    await new Promise<void>((r) => http.close(() => r()));
    await as.close();
  });

  test("the v2 client's whole OAuth flow, and getContext() inside the v2 tool", async () => {
    const client = await connectModern(url, new HeadlessOAuthProvider("carol"));
    try {
      assert.equal(
        text(await client.callTool({ name: "greet", arguments: { name: "world" } })),
        "Hello, world! (as carol)",
      );
    } finally {
      await client.close();
    }
  });

  test("2025-era requests (the handler's own stateless fallback) are authorized identically", async () => {
    const unauth = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 0,
        method: "initialize",
        params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "x", version: "1" } },
      }),
    });
    const modern = await fetch(url, modernRequest("server/discover"));
    assert.equal(unauth.status, 401);
    assert.equal(modern.status, 401);
    assert.equal(unauth.headers.get("www-authenticate"), modern.headers.get("www-authenticate"));
    const { access_token } = await as.server.issueAccessToken({ subject: "dan", scopes: ["mcp:read"], client_id: "c" });
    const client = new ClientV1({ name: "v1", version: "1" });
    await client.connect(
      new TransportV1(new URL(url), { requestInit: { headers: { authorization: `Bearer ${access_token}` } } }),
    );
    try {
      assert.equal(text(await client.callTool({ name: "greet", arguments: { name: "v1" } })), "Hello, v1! (as dan)");
    } finally {
      await client.close();
    }
  });
});
