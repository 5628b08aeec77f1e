/**
 * MCP servers protected by other people's code, set up as their documentation shows, on 127.0.0.1,
 * with the embedded development authorization server issuing real tokens for them:
 * - the SDK's `requireBearerAuth` + `mcpAuthMetadataRouter` (Express),
 * - `mcp-auth`'s Express setup (`protectedResourceMetadataRouter` + `bearerAuth("jwt")`),
 * - `fastmcp` with `oauth.protectedResource` and an `authenticate` function.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
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
  as: RunningDevAuthorizationServer;
  /** A token for `url` (aud = url), signed by the authorization server. */
  token(subject?: string): Promise<string>;
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

async function authorizationServer(url: string): Promise<RunningDevAuthorizationServer> {
  return startDevAuthorizationServer({ resources: [url], scopes_supported: ["mcp:read"], on_warning: () => {} });
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
    token: async (subject = "alice") =>
      (await as.server.issueAccessToken({ subject, scopes: ["mcp:read"] })).access_token,
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
    token: async (subject = "alice") =>
      (await as.server.issueAccessToken({ subject, scopes: ["mcp:read"] })).access_token,
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
    token: async (subject = "alice") =>
      (await as.server.issueAccessToken({ subject, scopes: ["mcp:read"] })).access_token,
    close: async () => (await server.stop(), await as.close()),
  };
}
