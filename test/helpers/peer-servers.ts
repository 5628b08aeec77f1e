/**
 * MCP servers protected by other people's code, set up as their documentation shows, on 127.0.0.1, and
 * protected-mcp itself: the setups `test/internals/audit-peers.test.ts` audits and `docs/audit-results.md`
 * publishes ({@link PEERS}). Where a setup has no authorization server of its own, the embedded development
 * authorization server issues real tokens for it; where it has one (the SDK's example server, Cloudflare's
 * `OAuthProvider`), tokens come through that server's own flow.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { existsSync, readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import express from "express";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { z } from "zod";
import {
  startDevAuthorizationServer,
  type RunningDevAuthorizationServer,
} from "../../src/dev-authorization-server/index.js";
import { freePortPair } from "./dev-as.js";

export interface PeerSetup {
  url: string;
  /** The embedded authorization server, when the setup's tokens come from it (not from the peer's own). */
  as?: RunningDevAuthorizationServer;
  /** A token for `url` (aud = url), signed by the authorization server; absent when none can be had offline. */
  token?: (subject?: string) => Promise<string>;
  /** A token from the same authorization server for another resource: to be refused. Absent as `token`. */
  foreignToken?: () => Promise<string>;
  close(): Promise<void>;
}

function mcp(): McpServer {
  const server = new McpServer({ name: "peer", version: "1.0.0" });
  server.registerTool("echo", { description: "Echo", inputSchema: { message: z.string() } }, ({ message }) => ({
    content: [{ type: "text", text: message }],
  }));
  return server;
}

/** The SDK's stateless pattern: a fresh server and transport per request. */
async function sdkStateless(req: IncomingMessage, res: ServerResponse, body?: unknown): Promise<void> {
  const server = mcp();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  res.on("close", () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res, body);
}

async function listen(
  handler?: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ http: Server; url: string }> {
  const http = createServer(handler);
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  return { http, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp` };
}

/** The other resource the authorization servers issue foreign tokens for (nothing listens there). */
export const FOREIGN_RESOURCE = "http://127.0.0.1:9/another-resource";

async function authorizationServer(url: string): Promise<RunningDevAuthorizationServer> {
  return startDevAuthorizationServer({
    resources: [url, FOREIGN_RESOURCE],
    scopes_supported: ["mcp:read"],
    on_warning: () => {},
  });
}

/** `token` and `foreignToken` of a {@link PeerSetup} from the embedded authorization server. */
function tokensOf(as: RunningDevAuthorizationServer, url: string): Required<Pick<PeerSetup, "token" | "foreignToken">> {
  return {
    token: async (subject = "alice") =>
      (await as.server.issueAccessToken({ subject, scopes: ["mcp:read"], resource: url })).access_token,
    foreignToken: async () =>
      (await as.server.issueAccessToken({ subject: "alice", scopes: ["mcp:read"], resource: FOREIGN_RESOURCE }))
        .access_token,
  };
}

const closeHttp = (http: Server) =>
  new Promise<void>((r) => {
    http.closeAllConnections();
    http.close(() => r());
  });

function verifier(as: RunningDevAuthorizationServer, audience: string) {
  const jwks = createRemoteJWKSet(new URL(as.server.metadata.jwks_uri));
  return async (token: string) => (await jwtVerify(token, jwks, { issuer: as.issuer, audience })).payload;
}

/** (b) @modelcontextprotocol/sdk: requireBearerAuth + mcpAuthMetadataRouter, as the SDK's examples do. */
export async function startSdkSetup(): Promise<PeerSetup> {
  const { requireBearerAuth } = await import("@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js");
  const { mcpAuthMetadataRouter, getOAuthProtectedResourceMetadataUrl } =
    await import("@modelcontextprotocol/sdk/server/auth/router.js");
  const { http, url } = await listen();
  const as = await authorizationServer(url);
  const verify = verifier(as, url);
  const app = express();
  app.use(
    mcpAuthMetadataRouter({
      oauthMetadata: as.server.metadata as never,
      resourceServerUrl: new URL(url),
      scopesSupported: ["mcp:read"],
      resourceName: "peer",
    }),
  );
  app.use(express.json());
  const auth = requireBearerAuth({
    verifier: {
      async verifyAccessToken(token: string) {
        const p = await verify(token);
        return {
          token,
          clientId: String(p.client_id ?? ""),
          scopes: typeof p.scope === "string" ? p.scope.split(" ") : [],
          expiresAt: p.exp,
        };
      },
    },
    resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(new URL(url)),
  });
  app.post("/mcp", auth, (req, res) => void sdkStateless(req, res, req.body));
  http.on("request", app);
  return {
    url,
    as,
    ...tokensOf(as, url),
    close: async () => (await closeHttp(http), await as.close()),
  };
}

/** The slice of mcp-auth's API used here. */
type McpAuthClass = new (config: Record<string, unknown>) => {
  protectedResourceMetadataRouter(): express.RequestHandler;
  bearerAuth(mode: "jwt", config: { resource: string; audience: string }): express.RequestHandler;
};

/** (c) mcp-auth's Express setup (as in its README and bench/servers.ts). */
export async function startMcpAuthSetup(): Promise<PeerSetup> {
  const { http, url } = await listen();
  const as = await authorizationServer(url);
  // Imported through a variable: mcp-auth's declarations augment the SDK's AuthInfo globally.
  const specifier = "mcp-auth";
  const { MCPAuth } = (await import(specifier)) as { MCPAuth: McpAuthClass };
  const m = as.server.metadata;
  const mcpAuth = new MCPAuth({
    protectedResources: [
      {
        metadata: {
          resource: url,
          authorizationServers: [
            {
              type: "oauth",
              metadata: {
                issuer: m.issuer,
                jwksUri: m.jwks_uri,
                authorizationEndpoint: m.authorization_endpoint,
                tokenEndpoint: m.token_endpoint,
                registrationEndpoint: m.registration_endpoint,
                responseTypesSupported: ["code"],
                codeChallengeMethodsSupported: ["S256"],
              },
            },
          ],
          scopesSupported: ["mcp:read"],
        },
      },
    ],
  });
  const app = express();
  app.use(mcpAuthMetadataRouterOf(mcpAuth));
  app.use(express.json());
  app.post(
    "/mcp",
    mcpAuth.bearerAuth("jwt", { resource: url, audience: url }),
    (req, res) => void sdkStateless(req, res, req.body),
  );
  http.on("request", app);
  return {
    url,
    as,
    ...tokensOf(as, url),
    close: async () => (await closeHttp(http), await as.close()),
  };
}
const mcpAuthMetadataRouterOf = (a: InstanceType<McpAuthClass>) => a.protectedResourceMetadataRouter();

/** (d) fastmcp with oauth.protectedResource and an authenticate function (its README's pattern, jose for the JWT). */
export async function startFastMcpSetup(): Promise<PeerSetup> {
  const { FastMCP } = await import("fastmcp");
  const port = await freePortPair();
  const url = `http://127.0.0.1:${port}/mcp`;
  const as = await authorizationServer(url);
  const verify = verifier(as, url);
  const server = new FastMCP<{ sub: string }>({
    name: "peer",
    version: "1.0.0",
    logger: { debug() {}, error() {}, info() {}, log() {}, warn() {} },
    oauth: {
      enabled: true,
      protectedResource: { resource: url, authorizationServers: [as.issuer], scopesSupported: ["mcp:read"] },
    },
    authenticate: async (request) => {
      const header = request.headers.authorization;
      if (!header?.startsWith("Bearer "))
        throw new Response(null, { status: 401, statusText: "Missing or invalid authorization header" });
      try {
        return { sub: String((await verify(header.slice(7))).sub) };
      } catch {
        throw new Response(null, { status: 401, statusText: "Invalid OAuth token" });
      }
    },
  });
  server.addTool({
    name: "echo",
    description: "Echo",
    parameters: z.object({ message: z.string() }),
    execute: async ({ message }) => message,
  });
  await server.start({ transportType: "httpStream", httpStream: { port, host: "127.0.0.1", endpoint: "/mcp" } });
  return {
    url,
    as,
    ...tokensOf(as, url),
    close: async () => (await server.stop(), await as.close()),
  };
}

/**
 * SDK v2: `@modelcontextprotocol/express`'s `createMcpExpressApp` + `mcpAuthMetadataRouter` + `requireBearerAuth`
 * with `expectedResource`, a verifier throwing `OAuthError(InvalidToken)` as `OAuthTokenVerifier`'s TSDoc asks and
 * filling `resource` from `aud`, and the README's stateless `NodeStreamableHTTPServerTransport` endpoint.
 */
export async function startSdkV2Setup(): Promise<PeerSetup> {
  const { createMcpExpressApp, getOAuthProtectedResourceMetadataUrl, mcpAuthMetadataRouter, requireBearerAuth } =
    await import("@modelcontextprotocol/express");
  const { McpServer: McpServerV2, OAuthError, OAuthErrorCode } = await import("@modelcontextprotocol/server");
  const { NodeStreamableHTTPServerTransport } = await import("@modelcontextprotocol/node");
  const { http, url } = await listen();
  const as = await authorizationServer(url);
  const jwks = createRemoteJWKSet(new URL(as.server.metadata.jwks_uri));
  const app = createMcpExpressApp({ host: "127.0.0.1" });
  app.use(
    mcpAuthMetadataRouter({
      oauthMetadata: as.server.metadata as never,
      resourceServerUrl: new URL(url),
      scopesSupported: ["mcp:read"],
      resourceName: "peer",
    }),
  );
  const auth = requireBearerAuth({
    verifier: {
      async verifyAccessToken(token: string) {
        let p;
        try {
          ({ payload: p } = await jwtVerify(token, jwks, { issuer: as.issuer }));
        } catch {
          throw new OAuthError(OAuthErrorCode.InvalidToken, "invalid access token");
        }
        const aud = Array.isArray(p.aud) ? p.aud[0] : p.aud;
        return {
          token,
          clientId: String(p.client_id ?? ""),
          scopes: typeof p.scope === "string" ? p.scope.split(" ") : [],
          expiresAt: p.exp,
          ...(aud && URL.canParse(aud) ? { resource: new URL(aud) } : {}),
        };
      },
    },
    expectedResource: new URL(url),
    resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(new URL(url)),
  });
  app.post("/mcp", auth, (req, res) => {
    void (async () => {
      const server = new McpServerV2({ name: "peer", version: "1.0.0" });
      server.registerTool(
        "echo",
        { description: "Echo", inputSchema: z.object({ message: z.string() }) },
        ({ message }) => ({
          content: [{ type: "text", text: message }],
        }),
      );
      const transport = new NodeStreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      res.on("close", () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(req, res, req.body);
    })();
  });
  http.on("request", app);
  return { url, as, ...tokensOf(as, url), close: async () => (await closeHttp(http), await as.close()) };
}

/**
 * fastmcp with its GitHub provider (`auth: new GitHubProvider({ baseUrl, clientId, clientSecret })`, as its TSDoc
 * shows), without network: placeholder client credentials, and `fetch` refusing every host but loopback while it
 * runs, so nothing reaches GitHub. No token: GitHub would issue it. What is audited is what needs none: the
 * challenges, the metadata fastmcp serves (its own OAuth proxy's included), CORS and the refusals.
 */
export async function startFastMcpGitHubSetup(): Promise<PeerSetup> {
  const { FastMCP, GitHubProvider } = await import("fastmcp");
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const target = new URL(input instanceof Request ? input.url : input);
    if (target.hostname !== "127.0.0.1" && target.hostname !== "localhost")
      throw new Error(`offline peer setup: no request to ${target.origin}`);
    return realFetch(input, init);
  };
  const port = await freePortPair();
  const provider = new GitHubProvider({
    baseUrl: `http://127.0.0.1:${port}`,
    clientId: "offline-client-id",
    clientSecret: "offline-client-secret",
  });
  const server = new FastMCP({
    name: "peer",
    version: "1.0.0",
    logger: { debug() {}, error() {}, info() {}, log() {}, warn() {} },
    auth: provider,
  });
  server.addTool({
    name: "echo",
    description: "Echo",
    parameters: z.object({ message: z.string() }),
    execute: async ({ message }) => message,
  });
  const close = async () => {
    await server.stop();
    // Its OAuth proxy's cleanup timers keep the process alive until destroyed.
    provider.getProxy().destroy();
    globalThis.fetch = realFetch;
  };
  try {
    await server.start({ transportType: "httpStream", httpStream: { port, host: "127.0.0.1", endpoint: "/mcp" } });
  } catch (err) {
    provider.getProxy().destroy();
    globalThis.fetch = realFetch;
    throw err;
  }
  return { url: `http://127.0.0.1:${port}/mcp`, close };
}

/**
 * The Worker for {@link startWorkersOAuthProviderSetup}: `OAuthProvider` in its one-Worker shape (its README), with
 * dynamic client registration, a `/authorize` that signs in the user named by `login_hint` and approves at once
 * (`parseAuthRequest()` then `completeAuthorization()`), and a minimal stateless MCP handler (JSON-RPC `initialize`,
 * `tools/list`, `tools/call`) as `apiHandler`. `__RESOURCE__` and `__ORIGIN__` are defined at bundling.
 */
const WORKERS_OAUTH_ENTRY = `
import { OAuthProvider } from "@cloudflare/workers-oauth-provider";
const mcp = {
  async fetch(request) {
    if (request.method !== "POST") return new Response(null, { status: 405, headers: { allow: "POST" } });
    const msg = await request.json().catch(() => null);
    if (!msg || typeof msg.method !== "string") return Response.json({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } }, { status: 400 });
    if (msg.id === undefined) return new Response(null, { status: 202 });
    const reply = (result) => Response.json({ jsonrpc: "2.0", id: msg.id, result });
    if (msg.method === "initialize")
      return reply({ protocolVersion: "2025-11-25", capabilities: { tools: {} }, serverInfo: { name: "peer", version: "1.0.0" } });
    if (msg.method === "tools/list")
      return reply({ tools: [{ name: "echo", description: "Echo", inputSchema: { type: "object", properties: { message: { type: "string" } } } }] });
    if (msg.method === "tools/call") return reply({ content: [{ type: "text", text: String(msg.params?.arguments?.message ?? "") }] });
    return Response.json({ jsonrpc: "2.0", id: msg.id, error: { code: -32601, message: "Method not found" } });
  },
};
const authorize = {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname !== "/authorize") return new Response("not found", { status: 404 });
    const info = await env.OAUTH_PROVIDER.parseAuthRequest(request);
    const userId = url.searchParams.get("login_hint") || "alice";
    const { redirectTo } = await env.OAUTH_PROVIDER.completeAuthorization({ request: info, userId, metadata: {}, scope: info.scope, props: { userId } });
    return Response.redirect(redirectTo, 302);
  },
};
export default new OAuthProvider({
  apiRoute: "/mcp",
  apiHandler: mcp,
  defaultHandler: authorize,
  authorizeEndpoint: "/authorize",
  tokenEndpoint: "/oauth/token",
  clientRegistrationEndpoint: "/register",
  scopesSupported: ["mcp:read"],
  resourceMetadata: { resource: __RESOURCE__, authorization_servers: [__ORIGIN__] },
  requiredScopes: ["mcp:read"],
});
`;

/**
 * `@cloudflare/workers-oauth-provider` under Miniflare (workerd, installed by `.ci/install-tools` into
 * `.tools/miniflare`, or `MINIFLARE_DIR`), listening on 127.0.0.1, its KV in memory. Tokens through its own flow:
 * dynamic registration, `/authorize` with PKCE and a `login_hint` naming the principal, `/oauth/token` with the
 * RFC 8707 `resource`. Its tokens (`user:grant:secret`) are outside RFC 6750's `b64token`: `token.syntax` WARNs.
 */
export async function startWorkersOAuthProviderSetup(): Promise<PeerSetup> {
  const { build } = await import("esbuild");
  const { createRequire } = await import("node:module");
  const { createHash, randomBytes } = await import("node:crypto");
  const { pathToFileURL } = await import("node:url");
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const dir = process.env.MINIFLARE_DIR || `${root}.tools/miniflare`;
  const entry = createRequire(`${dir}/package.json`).resolve("miniflare");
  // Installed outside package.json, so typed loosely here (as in test/runtimes/runtimes.test.ts).
  const { Miniflare } = (await import(pathToFileURL(entry).href)) as {
    Miniflare: new (o: Record<string, unknown>) => { ready: Promise<URL>; dispose(): Promise<void> };
  };
  const port = await freePortPair();
  const origin = `http://127.0.0.1:${port}`;
  const url = `${origin}/mcp`;
  const bundled = await build({
    stdin: { contents: WORKERS_OAUTH_ENTRY, resolveDir: root, loader: "js" },
    bundle: true,
    write: false,
    format: "esm",
    target: "es2022",
    platform: "browser",
    conditions: ["workerd", "worker", "browser"],
    external: ["node:*", "cloudflare:*"],
    define: { __RESOURCE__: JSON.stringify(url), __ORIGIN__: JSON.stringify(origin) },
    logLevel: "error",
  });
  const mf = new Miniflare({
    cf: false,
    modules: true,
    script: bundled.outputFiles[0]!.text,
    compatibilityDate: "2026-04-01",
    compatibilityFlags: ["nodejs_compat"],
    kvNamespaces: ["OAUTH_KV"],
    // The Worker's console (its refusals, the CIMD notice) is not the test's output.
    handleRuntimeStdio: (stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream) => (
      stdout.resume(),
      stderr.resume()
    ),
    host: "127.0.0.1",
    port,
  });
  await mf.ready;
  const redirectUri = "http://127.0.0.1:9/callback";
  const flow = async (user: string, resource: string): Promise<string> => {
    const reg = await fetch(`${origin}/register`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_name: user, redirect_uris: [redirectUri], token_endpoint_auth_method: "none" }),
    });
    const client = (await reg.json()) as { client_id?: string };
    if (!client.client_id) throw new Error(`/register: ${reg.status}`);
    const verifier = randomBytes(32).toString("base64url");
    const authorize = new URL(`${origin}/authorize`);
    for (const [k, v] of Object.entries({
      response_type: "code",
      client_id: client.client_id,
      redirect_uri: redirectUri,
      code_challenge: createHash("sha256").update(verifier).digest("base64url"),
      code_challenge_method: "S256",
      scope: "mcp:read",
      resource,
      login_hint: user,
    }))
      authorize.searchParams.set(k, v);
    const res = await fetch(authorize, { redirect: "manual" });
    const code = new URL(res.headers.get("location") ?? "", origin).searchParams.get("code");
    if (!code) throw new Error(`/authorize: ${res.status} ${await res.text()}`);
    const tok = await fetch(`${origin}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        code_verifier: verifier,
        redirect_uri: redirectUri,
        client_id: client.client_id,
        resource,
      }).toString(),
    });
    const body = (await tok.json()) as { access_token?: string };
    if (!body.access_token) throw new Error(`/oauth/token: ${tok.status} ${JSON.stringify(body)}`);
    return body.access_token;
  };
  return {
    url,
    token: (user = "alice") => flow(user, url),
    // No foreignToken: its authorization server refuses a `resource` other than its own.
    close: () => mf.dispose(),
  };
}

/** Makes `listen(port[, cb])` without a host listen on 127.0.0.1 (a peer's own script would listen on every interface). */
const LOOPBACK_LISTEN =
  "data:text/javascript," +
  encodeURIComponent(
    'import net from "node:net"; const listen = net.Server.prototype.listen; ' +
      "net.Server.prototype.listen = function (...a) { " +
      'if ((typeof a[0] === "number" || typeof a[0] === "string") && typeof a[1] !== "string") a.splice(1, 0, "127.0.0.1"); ' +
      "return listen.apply(this, a); };",
  );

/**
 * The official SDK v1 example server, `simpleStreamableHttp.js --oauth` as shipped in `@modelcontextprotocol/sdk`
 * (its README's `--oauth` demo): run as a child process on free ports (`MCP_PORT`, `MCP_AUTH_PORT`), its
 * listeners held to 127.0.0.1; tokens from its own demo authorization server through its flow (dynamic client
 * registration, `/authorize` with PKCE, which approves at once as "Demo User", `/token` with the RFC 8707
 * `resource`). Each principal is its own registered client; the foreign token names another resource, which the
 * demo authorization server accepts without `--oauth-strict`.
 */
export async function startSdkV1ExampleSetup(): Promise<PeerSetup> {
  const { spawn } = await import("node:child_process");
  const { createHash, randomBytes } = await import("node:crypto");
  const script = fileURLToPath(
    new URL(
      "../../node_modules/@modelcontextprotocol/sdk/dist/esm/examples/server/simpleStreamableHttp.js",
      import.meta.url,
    ),
  );
  const port = await freePortPair();
  const url = `http://localhost:${port}/mcp`;
  const auth = `http://localhost:${port + 1}`;
  const child = spawn(process.execPath, ["--import", LOOPBACK_LISTEN, script, "--oauth"], {
    env: { ...process.env, MCP_PORT: String(port), MCP_AUTH_PORT: String(port + 1) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  };
  try {
    await new Promise<void>((resolve, reject) => {
      let out = "";
      let err = "";
      const timer = setTimeout(
        () => reject(new Error(`the SDK example did not start within 20 s: ${out}${err}`)),
        20_000,
      );
      child.stderr.on("data", (d: Buffer) => (err += d.toString()));
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (
          out.includes("MCP Streamable HTTP Server listening") &&
          out.includes("OAuth Authorization Server listening")
        ) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`the SDK example exited (${code}): ${out}${err}`));
      });
    });
  } catch (e) {
    await close();
    throw e;
  }
  const redirectUri = "http://localhost:9/callback";
  const post = async (path: string, body: Record<string, string> | object, form = false) => {
    const res = await fetch(new URL(path, auth), {
      method: "POST",
      headers: { "content-type": form ? "application/x-www-form-urlencoded" : "application/json" },
      body: form ? new URLSearchParams(body as Record<string, string>).toString() : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, string>;
  };
  const flow = async (name: string, resource: string): Promise<string> => {
    const client = await post("/register", { client_name: name, redirect_uris: [redirectUri] });
    const verifier = randomBytes(32).toString("base64url");
    const authorize = new URL("/authorize", auth);
    for (const [k, v] of Object.entries({
      response_type: "code",
      client_id: client.client_id ?? "",
      redirect_uri: redirectUri,
      code_challenge: createHash("sha256").update(verifier).digest("base64url"),
      code_challenge_method: "S256",
      scope: "mcp:tools",
      resource,
    }))
      authorize.searchParams.set(k, v);
    const res = await fetch(authorize, { redirect: "manual" });
    const code = new URL(res.headers.get("location") ?? "", auth).searchParams.get("code");
    if (!code) throw new Error(`/authorize: ${res.status}, no code`);
    const token = await post(
      "/token",
      {
        grant_type: "authorization_code",
        code,
        code_verifier: verifier,
        redirect_uri: redirectUri,
        client_id: client.client_id ?? "",
        ...(client.client_secret ? { client_secret: client.client_secret } : {}),
        resource,
      },
      true,
    );
    if (!token.access_token) throw new Error("/token: no access_token");
    return token.access_token;
  };
  return {
    url,
    token: (subject = "alice") => flow(subject, url),
    foreignToken: () => flow("foreign", "http://localhost:9/another-resource"),
    close,
  };
}

/**
 * protected-mcp itself: `MCPServer` (protect() underneath) with a `JWTValidator` requiring `at+jwt`, the embedded
 * authorization server issuing its tokens, as the quickstart demo sets it up.
 */
export async function startProtectedMcpSetup(): Promise<PeerSetup> {
  const { MCPServer, JWTValidator, tool } = await import("../../src/index.js");
  const port = await freePortPair();
  const url = `http://127.0.0.1:${port}/mcp`;
  const as = await authorizationServer(url);
  const server = new MCPServer("peer", {
    version: "1.0.0",
    authorization: { enabled: true, authorization_servers: [as.issuer], resource: url, scopes_supported: ["mcp:read"] },
  });
  server.setAuthorizationProvider(
    new JWTValidator({ jwks_uri: as.server.metadata.jwks_uri, issuer: as.issuer, required_typ: "at+jwt" }),
  );
  server.collect(tool({ name: "echo", description: "Echo", input: { message: z.string() } }, ({ message }) => message));
  try {
    await server.serve({ port, host: "127.0.0.1" });
  } catch (err) {
    await as.close();
    throw err;
  }
  return { url, as, ...tokensOf(as, url), close: async () => (await server.close(), await as.close()) };
}

/** A setup the audit is run against in CI, with the package whose installed version its verdicts are pinned to. */
export interface PeerDefinition {
  /** A stable key (test names, `test/fixtures/audit-expected.json`). */
  id: string;
  /** The npm package whose version the expectations are pinned to (`protected-mcp`: this repository). */
  package: string;
  /** Other packages whose code the verdicts depend on: their versions are part of the pinned version. */
  with?: readonly string[];
  /** How it is set up, one line of Markdown. */
  setup: string;
  /** What this setup leaves unaudited and why, one sentence of Markdown (published under its table). */
  limits?: string;
  /** Why it cannot run in this environment (a tool not installed), or undefined when it can. */
  unavailable?: () => string | undefined;
  start(): Promise<PeerSetup>;
}

/** Every setup the audit is run against in CI, protected-mcp first. */
export const PEERS: readonly PeerDefinition[] = [
  {
    id: "protected-mcp",
    package: "protected-mcp",
    setup:
      "`MCPServer` (`protect()`) with a `JWTValidator` (`at+jwt`), as the quickstart demo; the embedded authorization server",
    start: startProtectedMcpSetup,
  },
  {
    id: "sdk-v1-require-bearer-auth",
    package: "@modelcontextprotocol/sdk",
    setup: "`requireBearerAuth` + `mcpAuthMetadataRouter` (Express), a `jose` JWT verifier, stateless transport",
    start: startSdkSetup,
  },
  {
    id: "sdk-v1-example-oauth",
    package: "@modelcontextprotocol/sdk",
    setup:
      "the shipped example server `dist/esm/examples/server/simpleStreamableHttp.js --oauth` with its own demo authorization server (tokens through its registration, `/authorize` and `/token` flow; its listeners held to 127.0.0.1)",
    start: startSdkV1ExampleSetup,
  },
  {
    id: "sdk-v2-require-bearer-auth",
    package: "@modelcontextprotocol/express",
    with: ["@modelcontextprotocol/server"],
    setup:
      "`createMcpExpressApp` + `mcpAuthMetadataRouter` + `requireBearerAuth` with `expectedResource` (`@modelcontextprotocol/server` 2.x), a verifier throwing `OAuthError(InvalidToken)`, the README's stateless `NodeStreamableHTTPServerTransport`",
    start: startSdkV2Setup,
  },
  {
    id: "mcp-auth",
    package: "mcp-auth",
    setup: '`protectedResourceMetadataRouter()` + `bearerAuth("jwt")` (Express), as its README shows',
    start: startMcpAuthSetup,
  },
  {
    id: "fastmcp-jwks",
    package: "fastmcp",
    setup: "`oauth.protectedResource` + an `authenticate` function throwing a `Response` (its README), `jose` JWKS",
    start: startFastMcpSetup,
  },
  {
    id: "fastmcp-github",
    package: "fastmcp",
    setup:
      "`auth: new GitHubProvider({ baseUrl, clientId, clientSecret })` (its TSDoc's example), placeholder client credentials",
    limits:
      "No network here: no token (GitHub issues them), so only what needs none is audited (challenges, metadata, CORS, refusals); the token and session checks are not run.",
    start: startFastMcpGitHubSetup,
  },
  {
    id: "cloudflare-workers-oauth-provider",
    package: "@cloudflare/workers-oauth-provider",
    setup:
      "`OAuthProvider` in its one-Worker shape (README) with dynamic registration, a `/authorize` calling `parseAuthRequest()` and `completeAuthorization()` at once, KV in memory, under Miniflare (workerd)",
    limits:
      "The MCP handler behind `apiHandler` is a minimal stateless JSON-RPC one written here (the library protects a handler, it brings none), so the session checks judge it, not the library. Its authorization server issues tokens for its own resource only (`/authorize` refuses another `resource`), so there is no foreign token: `token.foreign-audience` is not tested.",
    unavailable: () => {
      const dir = process.env.MINIFLARE_DIR || fileURLToPath(new URL("../../.tools/miniflare", import.meta.url));
      return existsSync(`${dir}/node_modules/miniflare/package.json`)
        ? undefined
        : `Miniflare is not installed in ${dir} (run .ci/install-tools miniflare, or set MINIFLARE_DIR)`;
    },
    start: startWorkersOAuthProviderSetup,
  },
];

/** The version `peer`'s verdicts are pinned to: its package's, then ` + name@version` for each of `with`. */
export function peerVersion(peer: PeerDefinition): string {
  return [installedVersion(peer.package), ...(peer.with ?? []).map((n) => `${n}@${installedVersion(n)}`)].join(" + ");
}

/** The installed version of `name` (this repository's own for `protected-mcp`), read from its package.json. */
export function installedVersion(name: string): string {
  const root = new URL("../../", import.meta.url);
  const file =
    name === "protected-mcp" ? new URL("package.json", root) : new URL(`node_modules/${name}/package.json`, root);
  return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
}

/** A setup issue 29 names that the CI run does not audit, with the reason (printed by the test, published). */
export interface NotRunPeer {
  id: string;
  package: string;
  /** Completes "not run here, because …". */
  reason: string;
}

/** The setups not audited here, each with why (none today: each of issue 29's setups runs). */
export const NOT_RUN_PEERS: readonly NotRunPeer[] = [];
