import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { z } from "zod";
import { MCPServer, tool } from "../../src/index.js";
import { connectClient, createTestIssuer, type TestIssuer } from "../../src/testing/index.js";

const deleteFile = tool(
  { name: "delete_file", description: "Delete a file", input: { path: z.string() }, required_scopes: ["files:delete"] },
  async ({ path }) => ({ deleted: path }),
);

let issuer: TestIssuer;
let server: MCPServer;
let url: string;

before(async () => {
  issuer = await createTestIssuer();
  server = new MCPServer("files", { authorization: { enabled: true, authorization_servers: [issuer.issuer] } });
  server.setAuthorizationProvider(issuer.validator()); // trusts the test issuer, no network
  server.collect(deleteFile);
  ({ url } = await server.serve({ port: 0 }));
});
after(() => server.close());

test("a token with files:delete deletes", async () => {
  const client = await connectClient(url, {
    token: await issuer.token({ sub: "alice", scopes: ["files:delete"], aud: url }),
  });
  const result = await client.callTool({ name: "delete_file", arguments: { path: "/tmp/x" } });
  assert.deepEqual(result.structuredContent, { deleted: "/tmp/x" });
  await client.close();
});

test("a token without it gets the isError result", async () => {
  const client = await connectClient(url, { token: await issuer.token({ sub: "bob", scopes: [], aud: url }) });
  const result = await client.callTool({ name: "delete_file", arguments: { path: "/tmp/x" } });
  assert.equal(result.isError, true);
  assert.deepEqual(result.content, [
    { type: "text", text: "Tool \"delete_file\" requires scopes: ['files:delete']. Missing: ['files:delete']" },
  ]);
  await client.close();
});
