/**
 * The demo behind `npm start`: a protected MCP server and the embedded development authorization
 * server, side by side on localhost. Exported so the tests run exactly what users run.
 */
import { z } from "zod";
import { getContext, JWTValidator, MCPServer, tool, type AuthEventListener } from "../../src/index.js";
import { startDevAuthorizationServer, type RunningDevAuthorizationServer, type StartOptions } from "../../src/dev-authorization-server/index.js";

export const whoami = tool({ name: "whoami", description: "Who is calling, with which scopes" }, () => {
  const { auth } = getContext();
  return { subject: auth?.subject ?? null, client_id: auth?.client_id ?? null, scopes: auth?.scopes ?? [], dpop_jkt: auth?.jkt ?? null };
});

export const echo = tool(
  { name: "echo", description: "Echo a message (needs mcp:read)", input: { message: z.string() }, required_scopes: ["mcp:read"] },
  ({ message }) => message,
);

export const deleteFile = tool(
  { name: "delete_file", description: "Pretend to delete a file (needs files:delete)", input: { path: z.string() }, required_scopes: ["files:delete"] },
  ({ path }) => ({ deleted: path }),
);

export interface DemoOptions {
  /** MCP port; the authorization server listens on port + 1. */
  port: number;
  /** Interface for both listeners. Default 127.0.0.1. */
  host?: string;
  onAuthEvent?: AuthEventListener;
  log?: (message: string) => void;
  /**
   * Step-up authorization: calls without a tool's scopes get HTTP 403 `insufficient_scope` (the client
   * re-authorizes and retries) instead of the `isError` result; tokens start with `mcp:read` only.
   */
  step_up?: boolean;
  /** Which SDK serves MCP: "v2" (default; 2026-07-28 through SDK v2 and 2025-era through SDK v1) or "v1" (2025 era only). */
  engine?: "v1" | "v2";
  /** Client ID Metadata Document settings of the authorization server (e.g. an injected fetch in tests). */
  client_id_metadata_documents?: StartOptions["client_id_metadata_documents"];
}

export interface Demo {
  /** The MCP endpoint (the protected resource). */
  url: string;
  /** The authorization server. */
  as: RunningDevAuthorizationServer;
  server: MCPServer;
  close(): Promise<void>;
}

export async function startDemo(o: DemoOptions): Promise<Demo> {
  const host = o.host ?? "127.0.0.1";
  // URLs name a loopback host even when listening on every interface.
  const urlHost = host === "0.0.0.0" || host === "::" ? "localhost" : host.includes(":") ? `[${host}]` : host;
  const resource = `http://${urlHost}:${o.port}/mcp`;

  const as = await startDevAuthorizationServer({
    port: o.port + 1,
    host,
    issuer: `http://${urlHost}:${o.port + 1}`,
    resources: [resource],
    scopes_supported: ["mcp:read", "files:delete"],
    scope_descriptions: { "mcp:read": "Use the demo's read-only tools", "files:delete": "Delete files (pretend)" },
    title: "protected-mcp demo",
    ...(o.log ? { log: o.log } : {}),
    ...(o.client_id_metadata_documents !== undefined ? { client_id_metadata_documents: o.client_id_metadata_documents } : {}),
  });

  const server = new MCPServer("protected-mcp-demo", {
    version: "0.1.0",
    engine: o.engine ?? "v2",
    authorization: {
      enabled: true,
      authorization_servers: [as.issuer],
      resource,
      resource_name: "protected-mcp demo",
      // With step-up, the 401 asks for mcp:read only; files:delete is asked for when delete_file needs it.
      ...(o.step_up ? { step_up: true, required_scopes: ["mcp:read"] } : {}),
    },
    ...(o.onAuthEvent ? { onAuthEvent: o.onAuthEvent } : {}),
  });
  server.setAuthorizationProvider(new JWTValidator({ jwks_uri: as.server.metadata.jwks_uri, issuer: as.issuer, required_typ: "at+jwt" }));
  server.collect(whoami, echo, deleteFile);
  try {
    await server.serve({ port: o.port, host });
  } catch (err) {
    await as.close();
    throw err;
  }
  return {
    url: resource,
    as,
    server,
    async close() {
      await server.close();
      await as.close();
    },
  };
}
