/**
 * `npm start`: a protected MCP server and the embedded development authorization server on
 * localhost, with ready commands to connect. PORT (default 8000) and HOST (default 127.0.0.1) are
 * honoured; the authorization server listens on PORT+1, the downstream API (token exchange) on PORT+2.
 */
import { startDemo } from "./demo.js";

const host = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? 8000);
if (!Number.isInteger(port) || port < 1 || port > 65533)
  throw new Error("PORT must be 1-65533 (the authorization server uses PORT+1, the downstream API PORT+2)");

const stepUp = process.env.STEP_UP === "1";
const demo = await startDemo({
  port,
  host,
  step_up: stepUp,
  api_port: port + 2,
  on_auth_event: (e) => console.log(`[auth] ${e.type}${"code" in e ? ` ${e.code}` : ""}${"subject" in e ? ` ${e.subject}` : ""}`),
});
const { access_token } = await demo.as.server.issueAccessToken({ subject: "demo-user", scopes: ["mcp:read"], client_id: "inspector-cli" });

console.log(`
protected-mcp demo: a protected MCP server (Streamable HTTP) + a DEVELOPMENT authorization server.

MCP endpoint:
${demo.url}

Protocol revisions on that one endpoint: 2026-07-28 (stateless, server/discover; served by the SDK v2)
and 2025-03-26 … 2025-11-25 (initialize, Mcp-Session-Id sessions bound to their principal; SDK v1).
${
  stepUp
    ? `Step-up is ON: tokens start with mcp:read; calling delete_file answers 403 insufficient_scope with
scope="mcp:read files:delete", and the client asks you to consent to files:delete, then retries.`
    : `Step-up is off (delete_file without files:delete answers an isError result). To see step-up: STEP_UP=1 npm start`
}

Authorization server (any username signs in, no password):
${demo.as.issuer}

Downstream API (another resource; accepts only tokens exchanged for it, RFC 8693):
${demo.api.url}
The tool downstream_whoami calls it as you through getContext().connection(): the MCP token is exchanged
for one whose audience is the API, with act.sub = "protected-mcp-demo". The MCP token itself is refused there:
curl -i ${demo.api.url}/whoami -H "Authorization: Bearer ${access_token}"    (→ 401 invalid_token: wrong audience)

List the tools with the MCP Inspector 2.x CLI (needs Node >= 22.19), using a freshly minted token (subject "demo-user", scope "mcp:read", 1 hour):
npx @modelcontextprotocol/inspector --cli ${demo.url} --transport http --method tools/list --header "Authorization: Bearer ${access_token}"

Run the whole OAuth flow (discovery, registration, PKCE, consent, token, tool calls) with the official SDK client:
npx tsx examples/oauth-client.ts ${demo.url}

Or add ${demo.url} to any MCP client (MCP Inspector UI, Claude, …): it opens the consent page in your browser.

Ctrl-C to stop.`);

const stop = async () => {
  await demo.close();
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
