/** The same protection through Express and Hono, with the official SDK client. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { createApp as createExpressApp } from "../../examples/express.js";
import { createApp as createHonoApp } from "../../examples/hono.js";
import { startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";

let issuer: LocalIssuer;
before(async () => {
  issuer = await startLocalIssuer();
});
after(() => issuer.close());

/** Listen first (port 0), then build the app for the now-known resource URL. */
async function listen(
  build: (resource: string) => (req: any, res: any) => void,
): Promise<{ server: Server; resource: string }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const resource = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  server.on("request", build(resource));
  return { server, resource };
}

const frameworks = {
  express: (resource: string) => createExpressApp({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, resource }),
  hono: (resource: string) =>
    getRequestListener(createHonoApp({ issuer: issuer.issuer, jwksUri: issuer.jwksUri, resource }).fetch),
};

for (const [name, build] of Object.entries(frameworks)) {
  describe(name, () => {
    let server: Server;
    let resource: string;
    before(async () => {
      ({ server, resource } = await listen(build));
    });
    after(() => {
      server.closeAllConnections();
      server.close();
    });

    test("401 with the challenge, metadata, and other routes untouched", async () => {
      const res = await fetch(resource, {
        method: "POST",
        body: "{}",
        headers: { "content-type": "application/json" },
      });
      assert.equal(res.status, 401);
      assert.equal(
        res.headers.get("www-authenticate"),
        `Bearer realm="MCP", resource_metadata="${new URL(resource).origin}/.well-known/oauth-protected-resource/mcp", scope="mcp", DPoP algs="ES256 EdDSA Ed25519 RS256 PS256"`,
      );
      const meta = await fetch(`${new URL(resource).origin}/.well-known/oauth-protected-resource/mcp`);
      assert.equal((await meta.json()).resource, resource);
      assert.deepEqual(await (await fetch(`${new URL(resource).origin}/health`)).json(), { ok: true });
    });

    test("the SDK client lists and calls tools with a token; per-tool scopes hold on a user-built McpServer", async () => {
      const token = await issuer.sign({ aud: resource, scope: "mcp", client_id: "app" });
      const client = new Client({ name: "t", version: "1" });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(resource), {
          requestInit: { headers: { authorization: `Bearer ${token}` } },
        }),
      );
      try {
        const { tools } = await client.listTools();
        assert.deepEqual(tools.map((t) => t.name).sort(), ["delete_file", "ping", "whoami"]);
        assert.deepEqual((await client.callTool({ name: "whoami", arguments: {} })).structuredContent, {
          subject: "alice",
        });
        assert.deepEqual((await client.callTool({ name: "ping", arguments: {} })).content, [
          { type: "text", text: "pong for app" },
        ]);
        const denied = await client.callTool({ name: "delete_file", arguments: { path: "/x" } });
        assert.equal(denied.isError, true);
        assert.deepEqual(denied.content, [
          { type: "text", text: "Tool \"delete_file\" requires scopes: ['files:delete']. Missing: ['files:delete']" },
        ]);
      } finally {
        await client.close();
      }
    });
  });
}
