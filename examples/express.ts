/**
 * Protect an existing SDK `McpServer` inside an Express app.
 *
 *   npx tsx examples/express.ts   (needs ISSUER, JWKS_URI and RESOURCE in the environment)
 */
import express from "express";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import { getContext, JWTValidator, protect, registerTools, toNodeHandler, tool } from "../src/index.js";

export interface ExampleOptions {
  issuer: string;
  jwksUri: string;
  /** Canonical URL of the MCP endpoint, e.g. http://127.0.0.1:3000/mcp */
  resource: string;
}

/** The server you already have: plain SDK code, plus tool() definitions registered onto it. */
export function buildMcpServer(): McpServer {
  const mcp = new McpServer({ name: "express-example", version: "1.0.0" });
  mcp.registerTool("ping", { description: "Plain SDK tool" }, async (extra) => ({
    content: [{ type: "text", text: `pong for ${extra.authInfo?.clientId ?? "anonymous"}` }],
  }));
  registerTools(
    mcp,
    tool({ name: "whoami", description: "Caller" }, () => ({ subject: getContext().auth?.subject ?? null })),
    tool(
      { name: "delete_file", description: "Delete", input: { path: z.string() }, required_scopes: ["files:delete"] },
      ({ path }) => ({
        deleted: path,
      }),
    ),
  );
  return mcp;
}

export function createApp(o: ExampleOptions): express.Express {
  const handler = protect(buildMcpServer, {
    authorization: { enabled: true, authorization_servers: [o.issuer], resource: o.resource, required_scopes: ["mcp"] },
    provider: new JWTValidator({ jwks_uri: o.jwksUri, issuer: o.issuer }),
  });
  const app = express();
  app.use(express.json()); // a body parser in front is fine: the parsed body is handed on
  app.get("/health", (_req, res) => void res.json({ ok: true }));
  app.use(toNodeHandler(handler)); // serves /mcp and the RFC 9728 metadata; other paths fall through
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { ISSUER, JWKS_URI, RESOURCE = "http://127.0.0.1:3000/mcp" } = process.env;
  if (!ISSUER || !JWKS_URI) throw new Error("set ISSUER and JWKS_URI");
  const url = new URL(RESOURCE);
  createApp({ issuer: ISSUER, jwksUri: JWKS_URI, resource: RESOURCE }).listen(Number(url.port), url.hostname, () =>
    console.log(`MCP endpoint: ${RESOURCE}`),
  );
}
