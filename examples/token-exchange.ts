/**
 * The two tools of docs/token-exchange.md, runnable against the development authorization server:
 *
 *   npx tsx examples/token-exchange.ts
 *
 * Three listeners on loopback: the development authorization server with its `token_exchange` option
 * (this MCP server as the one confidential client, `reports-api` as the one audience), a reports API
 * that accepts only tokens whose audience is `reports-api`, and the MCP server, configured with plain
 * `token_exchange` options where the guide uses `TokenExchange.keycloak(…)`: the same audience name,
 * mapped to the reports API's origin. The tools are the guide's, unchanged.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  authenticate,
  AuthError,
  challengeResponse,
  getContext,
  JWTValidator,
  MCPServer,
  parseAuthorizationConfig,
  toNodeHandler,
  tool,
} from "../src/index.js";
import {
  startDevAuthorizationServer,
  type RunningDevAuthorizationServer,
} from "../src/dev-authorization-server/index.js";
import { connectClient } from "../src/testing/index.js";

/** The reports API's audience, as the authorization server names it (with Keycloak: the target client id). */
export const REPORTS_AUDIENCE = "reports-api";

// The guide's first tool: a connection handle; the token never reaches this code.
export const latestReport = tool({ name: "latest_report", description: "Your latest report" }, async () => {
  const reports = getContext().connection({ audience: "reports-api" });
  const res = await reports.fetch("/v1/reports/latest");
  return res.json();
});

// The guide's second tool: the exchanged token itself (here only its details are returned, never the token).
export const reportsToken = tool(
  { name: "reports_token", description: "What an exchanged token for the reports API grants" },
  async () => {
    const { expires_at, scope, issued_token_type } = await getContext().exchangeToken({
      audience: "reports-api",
      scope: "reports:read",
    });
    return { scope, issued_token_type, expires_at: expires_at ?? null };
  },
);

/** The running example. */
export interface TokenExchangeExample {
  /** The MCP endpoint. */
  url: string;
  /** The reports API's origin (`GET /v1/reports/latest`). */
  reports: string;
  as: RunningDevAuthorizationServer;
  close(): Promise<void>;
}

/** Start the authorization server, the reports API and the MCP server on loopback (port 0: any free ports). */
export async function startTokenExchangeExample(
  o: { log?: (message: string) => void } = {},
): Promise<TokenExchangeExample> {
  const host = "127.0.0.1";
  // The MCP server's listener comes first, so its URL (the resource) is known to the authorization server.
  const mcpHttp = createServer();
  await new Promise<void>((r) => mcpHttp.listen(0, host, r));
  const resource = `http://${host}:${(mcpHttp.address() as AddressInfo).port}/mcp`;
  const reportsHttp = createServer();
  await new Promise<void>((r) => reportsHttp.listen(0, host, r));
  const reports = `http://${host}:${(reportsHttp.address() as AddressInfo).port}`;

  // The MCP server's own credentials at the authorization server, for token exchange only.
  const client = { client_id: "mcp-server", client_secret: randomBytes(24).toString("base64url") };
  const as = await startDevAuthorizationServer({
    resources: [resource],
    scopes_supported: ["mcp:read", "reports:read"],
    token_exchange: { clients: [client], audiences: [REPORTS_AUDIENCE] },
    ...(o.log ? { on_warning: o.log } : {}),
  });

  // The reports API checks its own audience: the MCP token (aud = the MCP resource) is refused.
  const validator = new JWTValidator({
    issuer: as.issuer,
    jwks_uri: as.server.metadata.jwks_uri,
    audience: REPORTS_AUDIENCE,
    required_typ: "at+jwt",
  });
  const config = parseAuthorizationConfig({
    enabled: true,
    authorization_servers: [as.issuer],
    resource: `${reports}/v1`,
  });
  reportsHttp.on(
    "request",
    toNodeHandler(
      async (req: Request): Promise<Response> => {
        if (new URL(req.url).pathname !== "/v1/reports/latest")
          return Response.json({ error: "not_found" }, { status: 404 });
        try {
          const auth = (await authenticate(req, { config, provider: validator, resource: `${reports}/v1` }))!;
          const act = auth.claims.act as { sub?: unknown } | undefined;
          return Response.json({
            report: "Q3 revenue",
            subject: auth.subject,
            actor: act?.sub ?? null,
            audience: auth.claims.aud,
            scope: auth.scopes.join(" "),
          });
        } catch (e) {
          if (e instanceof AuthError)
            return challengeResponse(e, {
              resource_metadata_url: `${reports}/.well-known/oauth-protected-resource/v1`,
            });
          throw e;
        }
      },
      { origin: reports },
    ),
  );

  const server = new MCPServer("reports", {
    authorization: { enabled: true, authorization_servers: [as.issuer], resource },
    // Where the guide has TokenExchange.keycloak({ issuer, client_id, client_secret, audiences }).
    token_exchange: {
      token_endpoint: as.server.metadata.token_endpoint,
      ...client,
      audiences: { [REPORTS_AUDIENCE]: { origin: reports, scope: "reports:read" } },
    },
  });
  server.setAuthorizationProvider(
    new JWTValidator({ issuer: as.issuer, jwks_uri: as.server.metadata.jwks_uri, required_typ: "at+jwt" }),
  );
  server.collect(latestReport, reportsToken);
  const mcpPort = (mcpHttp.address() as AddressInfo).port;
  await new Promise<void>((r) => mcpHttp.close(() => r()));
  await server.serve({ port: mcpPort, host });

  return {
    url: resource,
    reports,
    as,
    async close() {
      await server.close();
      await as.close();
      reportsHttp.closeAllConnections();
      await new Promise<void>((r) => reportsHttp.close(() => r()));
    },
  };
}

/** What the command does: a token for alice, both tools called, the MCP token sent to the reports API directly. */
export async function runTokenExchangeExample(log: (line: string) => void = console.log): Promise<void> {
  const example = await startTokenExchangeExample({ log: () => {} });
  try {
    const { access_token } = await example.as.server.issueAccessToken({
      subject: "alice",
      scopes: ["mcp:read", "reports:read"],
    });
    const client = await connectClient(example.url, { token: access_token });
    try {
      for (const name of ["latest_report", "reports_token"]) {
        const result = await client.callTool({ name, arguments: {} });
        log(
          `tools/call ${name} → ${result.isError ? "isError: " : ""}${JSON.stringify(result.structuredContent ?? result.content)}`,
        );
      }
    } finally {
      await client.close();
    }
    const direct = await fetch(`${example.reports}/v1/reports/latest`, {
      headers: { authorization: `Bearer ${access_token}` },
    });
    log(
      `the MCP token sent to the reports API directly → ${direct.status} ${direct.headers.get("www-authenticate") ?? ""}`,
    );
  } finally {
    await example.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runTokenExchangeExample();
