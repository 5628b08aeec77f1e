/**
 * `npm start`: a protected MCP server and the embedded development authorization server on
 * localhost, with ready commands to connect. PORT (default 8000) and HOST (default 127.0.0.1) are
 * honoured; the authorization server listens on PORT+1.
 */
import { startDemo } from "./demo.js";

const host = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? 8000);
if (!Number.isInteger(port) || port < 1 || port > 65534) throw new Error("PORT must be 1-65534 (the authorization server uses PORT+1)");

const stepUp = process.env.STEP_UP === "1";
const demo = await startDemo({
  port,
  host,
  step_up: stepUp,
  onAuthEvent: (e) => console.log(`[auth] ${e.type}${"code" in e ? ` ${e.code}` : ""}${"subject" in e ? ` ${e.subject}` : ""}`),
});
const { access_token } = await demo.as.server.issueAccessToken({ subject: "demo-user", scopes: ["mcp:read"], client_id: "inspector-cli" });

console.log(`
protected-mcp demo: a protected MCP server (Streamable HTTP) + a DEVELOPMENT authorization server.

MCP endpoint:
${demo.url}

Protocol revisions on that one endpoint: 2026-07-28 (stateless, server/discover; served by the SDK v2)
and 2025-03-26 … 2025-11-25 (initialize, Mcp-Session-Id sessions bound to their principal; SDK v1).
${stepUp ? `Step-up is ON: tokens start with mcp:read; calling delete_file answers 403 insufficient_scope with
scope="mcp:read files:delete", and the client asks you to consent to files:delete, then retries.` : `Step-up is off (delete_file without files:delete answers an isError result). To see step-up: STEP_UP=1 npm start`}

Authorization server (any username signs in, no password):
${demo.as.issuer}

List the tools with the MCP Inspector CLI, using a freshly minted token (subject "demo-user", scope "mcp:read", 1 hour):
npx @modelcontextprotocol/inspector-cli --cli ${demo.url} --transport http --method tools/list --header "Authorization: Bearer ${access_token}"
(inspector-cli 1.0.3 looks for its package.json relative to the current directory: if it fails with
"Cannot find module …/@modelcontextprotocol/package.json", run it from a subdirectory such as examples/.)

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
