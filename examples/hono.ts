/**
 * Protect an SDK `McpServer` in a Hono app: the protected handler is Web-standard, so it mounts as is.
 *
 *   npx tsx examples/hono.ts   (needs ISSUER, JWKS_URI and RESOURCE in the environment)
 */
import { Hono } from "hono";
import { serve } from "@hono/node-server";
import { JWTValidator, protect } from "../src/index.js";
import { buildMcpServer, type ExampleOptions } from "./express.js";

export function createApp(o: ExampleOptions): Hono {
  const handler = protect(buildMcpServer, {
    authorization: { enabled: true, authorization_servers: [o.issuer], resource: o.resource, required_scopes: ["mcp"] },
    provider: new JWTValidator({ jwks_uri: o.jwksUri, issuer: o.issuer }),
  });
  const app = new Hono();
  app.get("/health", (c) => c.json({ ok: true }));
  // The handler builds its URLs from the configured resource, never from the Host header.
  app.all("/mcp", (c) => handler(c.req.raw));
  app.all("/.well-known/oauth-protected-resource/*", (c) => handler(c.req.raw));
  app.all("/.well-known/oauth-protected-resource", (c) => handler(c.req.raw));
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { ISSUER, JWKS_URI, RESOURCE = "http://127.0.0.1:3001/mcp" } = process.env;
  if (!ISSUER || !JWKS_URI) throw new Error("set ISSUER and JWKS_URI");
  const url = new URL(RESOURCE);
  serve({
    fetch: createApp({ issuer: ISSUER, jwksUri: JWKS_URI, resource: RESOURCE }).fetch,
    port: Number(url.port),
    hostname: url.hostname,
  });
  console.log(`MCP endpoint: ${RESOURCE}`);
}
