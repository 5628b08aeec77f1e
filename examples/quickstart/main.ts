/**
 * `npm start`: a protected MCP server on localhost with a local token issuer, printing a ready
 * command to connect. (The embedded development authorization server will replace the issuer.)
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { z } from "zod";
import { getContext, JWTValidator, MCPServer, tool } from "../../src/index.js";

const host = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? 8000);

// A local issuer: one ES256 key, its JWKS and RFC 8414 metadata on an ephemeral loopback port.
const { privateKey, publicKey } = await generateKeyPair("ES256");
const jwk = { ...(await exportJWK(publicKey)), kid: "demo", alg: "ES256", use: "sig" };
const issuerServer = createServer((req, res) => {
  if (req.url === "/jwks") return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
  res.writeHead(404).end();
});
await new Promise<void>((r) => issuerServer.listen(0, "127.0.0.1", r));
const issuer = `http://127.0.0.1:${(issuerServer.address() as AddressInfo).port}`;

const whoami = tool({ name: "whoami", description: "Who is calling, with which scopes" }, () => {
  const { auth } = getContext();
  return { subject: auth?.subject ?? null, client_id: auth?.client_id ?? null, scopes: auth?.scopes ?? [] };
});
const echo = tool({ name: "echo", description: "Echo a message", input: { message: z.string() }, required_scopes: ["mcp:read"] }, ({ message }) => message);
const deleteFile = tool(
  { name: "delete_file", description: "Pretend to delete a file", input: { path: z.string() }, required_scopes: ["files:delete"] },
  ({ path }) => ({ deleted: path }),
);

const server = new MCPServer("protected-mcp-demo", {
  version: "0.1.0",
  authorization: { enabled: true, authorization_servers: [issuer], resource_name: "protected-mcp demo" },
  onAuthEvent: (e) => console.log(`[auth] ${e.type}${"code" in e ? ` ${e.code}` : ""}${"subject" in e ? ` ${e.subject}` : ""}`),
});
server.setAuthorizationProvider(new JWTValidator({ jwks_uri: `${issuer}/jwks`, issuer, required_typ: "at+jwt" }));
server.collect(whoami, echo, deleteFile);
const { url } = await server.serve({ port, host });

const token = await new SignJWT({ scope: "mcp:read", client_id: "demo-client" })
  .setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid: "demo" })
  .setIssuer(issuer)
  .setSubject("demo-user")
  .setAudience(url)
  .setIssuedAt()
  .setExpirationTime("1h")
  .sign(privateKey);

console.log(`
protected-mcp demo — a protected MCP server (Streamable HTTP) and a local token issuer.

MCP endpoint:
${url}

A token for subject "demo-user" with scope "mcp:read" (valid 1 hour):
TOKEN=${token}

Try it:
  curl -i -X POST ${url} -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \\
    -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'
  (401 with WWW-Authenticate; add -H "Authorization: Bearer $TOKEN" to get in)

  npx @modelcontextprotocol/inspector-cli --cli ${url} --transport http --method tools/list --header "Authorization: Bearer $TOKEN"
  npx @modelcontextprotocol/inspector-cli --cli ${url} --transport http --method tools/call --tool-name whoami --header "Authorization: Bearer $TOKEN"

Ctrl-C to stop.`);

const stop = async () => {
  await server.close();
  issuerServer.close();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
