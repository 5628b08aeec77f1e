/**
 * The demo behind `npm start`: a protected MCP server and the embedded development authorization
 * server, side by side on localhost, with a downstream API (token exchange) and a second development
 * authorization server playing a third-party service (connected accounts). Exported so the tests run
 * exactly what users run.
 */
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
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
  type AuthEventListener,
} from "../../src/index.js";
import {
  createDevAuthorizationServer,
  startDevAuthorizationServer,
  type DevAuthorizationServer,
  type RunningDevAuthorizationServer,
  type StartOptions,
} from "../../src/dev-authorization-server/index.js";

/** The downstream API's audience, set once the demo knows its URL (a URL: connections derive their origin from it). */
let downstreamAudience = "";

/**
 * Calls the demo's downstream API as the caller, through a connection handle: the handle exchanges
 * the MCP token (RFC 8693) for one whose audience is the API, and attaches it itself — the tool
 * never holds either token.
 */
export const downstreamWhoami = tool(
  { name: "downstream_whoami", description: "Call the downstream API as you (token exchange): what it saw" },
  async () => {
    const api = getContext().connection({ audience: downstreamAudience });
    const res = await api.fetch("/whoami");
    if (!res.ok)
      return { isError: true, content: [{ type: "text" as const, text: `Downstream API answered ${res.status}` }] };
    return JSON.stringify(await res.json());
  },
);

/** The connected-accounts provider of the demo: the stand-in third-party service. */
export const THIRD_PARTY = "example";

/**
 * Calls the third-party service's API as the caller, through a connected account: the library attaches
 * the caller's token *at the third party* (obtained through the connect page, kept in the vault), and
 * answers with a URL elicitation to connect when there is none — the tool never sees a token.
 */
export const upstreamWhoami = tool(
  {
    name: "upstream_whoami",
    description: "Call the third-party service's API as you (connected account): which account it saw",
  },
  async () => {
    const api = getContext().connection({ provider: THIRD_PARTY });
    const res = await api.fetch("/api/whoami");
    if (!res.ok)
      return { isError: true, content: [{ type: "text" as const, text: `Third-party API answered ${res.status}` }] };
    return JSON.stringify(await res.json());
  },
);

export const whoami = tool({ name: "whoami", description: "Who is calling, with which scopes" }, () => {
  const { auth } = getContext();
  return {
    subject: auth?.subject ?? null,
    client_id: auth?.client_id ?? null,
    scopes: auth?.scopes ?? [],
    dpop_jkt: auth?.jkt ?? null,
  };
});

export const echo = tool(
  {
    name: "echo",
    description: "Echo a message (needs mcp:read)",
    input: { message: z.string() },
    required_scopes: ["mcp:read"],
  },
  ({ message }) => message,
);

export const deleteFile = tool(
  {
    name: "delete_file",
    description: "Pretend to delete a file (needs files:delete)",
    input: { path: z.string() },
    required_scopes: ["files:delete"],
  },
  ({ path }) => ({ deleted: path }),
);

export interface DemoOptions {
  /** MCP port; the authorization server listens on port + 1. */
  port: number;
  /** Interface for both listeners. Default 127.0.0.1. */
  host?: string;
  on_auth_event?: AuthEventListener;
  log?: (message: string) => void;
  /**
   * Step-up authorization: calls without a tool's scopes get HTTP 403 `insufficient_scope` (the client
   * re-authorizes and retries) instead of the `isError` result; tokens start with `mcp:read` only.
   */
  step_up?: boolean;
  /** With `step_up`: which scopes the 403 names (AuthorizationConfig `step_up_scope`). Default "union". */
  step_up_scope?: "union" | "operation";
  /**
   * Advertised `scopes_supported` of the protected resource metadata. Default: required scopes plus every tool's
   * scopes.
   */
  scopes_supported?: string[];
  /**
   * Which SDK serves MCP: "v2" (default; 2026-07-28 through SDK v2 and 2025-era through SDK v1) or "v1" (2025 era
   * only).
   */
  engine?: "v1" | "v2";
  /** Client ID Metadata Document settings of the authorization server (e.g. an injected fetch in tests). */
  client_id_metadata_documents?: StartOptions["client_id_metadata_documents"];
  /** Port of the downstream API (`downstream_whoami`). Default 0: any free port. */
  api_port?: number;
  /** Port of the third-party service (`upstream_whoami`). Default 0: any free port. */
  third_party_port?: number;
}

export interface Demo {
  /** The MCP endpoint (the protected resource). */
  url: string;
  /** The authorization server. */
  as: RunningDevAuthorizationServer;
  /** The downstream API (its URL is also its audience): accepts only tokens exchanged for it. */
  api: { url: string };
  /** The third-party service: its own authorization server (users, consent page) and `GET /api/whoami`. */
  third_party: { url: string; server: DevAuthorizationServer };
  server: MCPServer;
  close(): Promise<void>;
}

export async function startDemo(o: DemoOptions): Promise<Demo> {
  const host = o.host ?? "127.0.0.1";
  // URLs name a loopback host even when listening on every interface.
  const urlHost = host === "0.0.0.0" || host === "::" ? "localhost" : host.includes(":") ? `[${host}]` : host;
  const resource = `http://${urlHost}:${o.port}/mcp`;

  // The downstream API listens first, so its URL (= its audience) is known to the authorization server.
  const apiHttp = createServer();
  await new Promise<void>((resolve, reject) => {
    apiHttp.once("error", reject);
    apiHttp.listen(o.api_port ?? 0, host, () => resolve());
  });
  const apiUrl = `http://${urlHost}:${(apiHttp.address() as AddressInfo).port}`;
  downstreamAudience = apiUrl;
  // The MCP server's own credentials at the authorization server, for token exchange only.
  const exchangeClient = { client_id: "protected-mcp-demo", client_secret: randomBytes(24).toString("base64url") };
  // The connect page's client at the same authorization server: it signs the browser user in (connected accounts).
  const signInClient = { client_id: "protected-mcp-connect", client_secret: randomBytes(24).toString("base64url") };

  const closeApi = () => new Promise<void>((r) => (apiHttp.closeAllConnections(), apiHttp.close(() => r())));
  let as: RunningDevAuthorizationServer;
  try {
    as = await startDevAuthorizationServer({
      port: o.port + 1,
      host,
      issuer: `http://${urlHost}:${o.port + 1}`,
      resources: [resource],
      scopes_supported: ["mcp:read", "files:delete"],
      scope_descriptions: { "mcp:read": "Use the demo's read-only tools", "files:delete": "Delete files (pretend)" },
      title: "protected-mcp demo",
      token_exchange: { clients: [exchangeClient], audiences: [apiUrl] },
      clients: [
        {
          ...signInClient,
          redirect_uris: [`http://${urlHost}:${o.port}/connect/signed-in`],
          client_name: "protected-mcp demo: connect page",
        },
      ],
      ...(o.log ? { on_warning: o.log } : {}),
      ...(o.client_id_metadata_documents !== undefined
        ? { client_id_metadata_documents: o.client_id_metadata_documents }
        : {}),
    });
  } catch (err) {
    await closeApi(); // e.g. PORT+1 in use: nothing stays listening
    throw err;
  }
  let thirdParty: ThirdParty;
  try {
    thirdParty = await startThirdParty(
      host,
      urlHost,
      o.third_party_port ?? 0,
      `http://${urlHost}:${o.port}/connect/callback`,
    );
  } catch (err) {
    await as.close();
    await closeApi();
    throw err;
  }

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
      ...(o.step_up && o.step_up_scope ? { step_up_scope: o.step_up_scope } : {}),
      // With step-up, files:delete is listed first. Scope order means nothing in OAuth, but mcp-remote
      // 0.15.1 discards a requested scope spelled exactly like scopes_supported joined by spaces (it
      // takes it for its own default) — and "mcp:read files:delete" is what it asks for after step-up.
      ...(o.scopes_supported
        ? { scopes_supported: o.scopes_supported }
        : o.step_up
          ? { scopes_supported: ["files:delete", "mcp:read"] }
          : {}),
    },
    ...(o.on_auth_event ? { on_auth_event: o.on_auth_event } : {}),
    // RFC 8693 at the demo's authorization server; with a real IdP, use a preset (TokenExchange.keycloak(…), …).
    token_exchange: {
      token_endpoint: as.server.metadata.token_endpoint,
      ...exchangeClient,
      audiences: { [apiUrl]: {} },
    },
    // The MCP server as the OAuth client of a third party (here a second development authorization server).
    connected_accounts: {
      providers: {
        [THIRD_PARTY]: {
          display_name: "Example third-party service",
          authorization_endpoint: thirdParty.server.metadata.authorization_endpoint,
          token_endpoint: thirdParty.server.metadata.token_endpoint,
          ...thirdParty.client,
          client_auth_method: "client_secret_basic",
          scopes: ["profile:read"],
          api_origins: [thirdParty.url],
        },
      },
      // The connect page signs the browser user in at the demo's authorization server with this client.
      sign_in: { ...signInClient, scopes: ["mcp:read"] },
    },
  });
  serveDownstreamApi(apiHttp, apiUrl, as);
  server.setAuthorizationProvider(
    new JWTValidator({ jwks_uri: as.server.metadata.jwks_uri, issuer: as.issuer, required_typ: "at+jwt" }),
  );
  server.collect(whoami, echo, deleteFile, downstreamWhoami, upstreamWhoami);
  try {
    await server.serve({ port: o.port, host });
  } catch (err) {
    await thirdParty.close();
    await as.close();
    await closeApi();
    throw err;
  }
  return {
    url: resource,
    as,
    api: { url: apiUrl },
    third_party: { url: thirdParty.url, server: thirdParty.server },
    server,
    async close() {
      await server.close();
      await thirdParty.close();
      await as.close();
      await closeApi();
    },
  };
}

/** The stand-in third-party service, listening: its URL (= issuer), handler, the MCP server's client there. */
interface ThirdParty {
  url: string;
  server: DevAuthorizationServer;
  client: { client_id: string; client_secret: string };
  close(): Promise<void>;
}

/**
 * A second development authorization server playing a third-party service (GitHub, Google, …): its own
 * users and consent page, the MCP server as its confidential client with `redirect_uri` = the MCP
 * server's connect callback, and `GET /api/whoami` accepting only its own tokens for its API. It
 * listens first, so its URL (its issuer, and its API's audience) is known before it is configured.
 */
async function startThirdParty(host: string, urlHost: string, port: number, callback: string): Promise<ThirdParty> {
  const http = createServer();
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(port, host, () => resolve());
  });
  const close = () => new Promise<void>((r) => (http.closeAllConnections(), http.close(() => r())));
  const url = `http://${urlHost}:${(http.address() as AddressInfo).port}`;
  const client = { client_id: "protected-mcp-demo", client_secret: randomBytes(24).toString("base64url") };
  let server: DevAuthorizationServer;
  try {
    server = await createDevAuthorizationServer({
      issuer: url,
      resources: [`${url}/api`],
      scopes_supported: ["profile:read"],
      scope_descriptions: { "profile:read": "See your username on the example service" },
      title: "Example third-party service (development)",
      clients: [{ ...client, redirect_uris: [callback], client_name: "protected-mcp demo (an MCP server)" }],
      whoami_api: {},
    });
  } catch (err) {
    await close();
    throw err;
  }
  http.on("request", toNodeHandler(server, { origin: url }));
  return { url, server, client, close };
}

/**
 * The MCP Inspector versions `npm start` names, pinned: a bare `npx @modelcontextprotocol/inspector`
 * on Node 20 skips every release whose `engines` excludes it and falls back to 0.15, whose CLI takes
 * no server URL. 1.0.3 is the last 1.x (its `engines` says Node >= 22.7.5, but its CLI runs on Node 20:
 * `npm install` only warns, and the devDependency `@modelcontextprotocol/inspector-cli` 1.0.3, the same
 * CLI, is what the tests run on Node 20); 2.x needs Node >= 22.19. Both take
 * `--cli <url> --transport http --method … --header …`.
 */
export const INSPECTOR = { node20: "1.0.3", current: "2.12.0", current_needs_node: "22.19.0" } as const;

/** Whether Node version `a` (e.g. "20.20.2") is at least `b`. */
function nodeAtLeast(a: string, b: string): boolean {
  const [x, y] = [a, b].map((v) => v.split(".").map(Number));
  for (let i = 0; i < 3; i++) if (x![i] !== y![i]) return (x![i] ?? 0) > (y![i] ?? 0);
  return true;
}

/** The Inspector CLI command that lists the demo's tools with `token`, for the Node that runs it. */
export function inspectorCommand(url: string, token: string, nodeVersion: string = process.versions.node): string {
  const version = nodeAtLeast(nodeVersion, INSPECTOR.current_needs_node) ? INSPECTOR.current : INSPECTOR.node20;
  return `npx @modelcontextprotocol/inspector@${version} --cli ${url} --transport http --method tools/list --header "Authorization: Bearer ${token}"`;
}

/** What `npm start` prints once the demo listens: its URLs and commands that work as printed. */
export function banner(demo: Demo, o: { step_up: boolean; access_token: string; node_version?: string }): string {
  const node = o.node_version ?? process.versions.node;
  return `
protected-mcp demo: a protected MCP server (Streamable HTTP) + a DEVELOPMENT authorization server.

MCP endpoint:
${demo.url}

Protocol revisions on that one endpoint: 2026-07-28 (stateless, server/discover; served by the SDK v2)
and 2025-03-26 … 2025-11-25 (initialize, Mcp-Session-Id sessions bound to their principal; SDK v1).
${
  o.step_up
    ? `Step-up is ON: tokens start with mcp:read; calling delete_file answers 403 insufficient_scope with
scope="mcp:read files:delete". The OAuth client command below then consents to files:delete and retries.`
    : `Step-up is off (delete_file without files:delete answers an isError result). To see step-up: STEP_UP=1 npm start`
}

Authorization server (any username signs in, no password):
${demo.as.issuer}

Downstream API (another resource; accepts only tokens exchanged for it, RFC 8693):
${demo.api.url}
The tool downstream_whoami calls it as you through getContext().connection(): the MCP token is exchanged
for one whose audience is the API, with act.sub = "protected-mcp-demo". The MCP token itself is refused there:
curl -i ${demo.api.url}/whoami -H "Authorization: Bearer ${o.access_token}"    (→ 401 invalid_token: wrong audience)

Third-party service (a second development authorization server: its own users, consent page, and an API at /api/whoami):
${demo.third_party.url}
The tool upstream_whoami calls that API as you through a connected account (getContext().connection({ provider: "${THIRD_PARTY}" })).
Its first call answers with a connect link (URL-mode elicitation): open it, sign in, press Connect, approve at the
third-party service; the client retries and gets the account the API saw. The MCP server is that service's OAuth
client; neither your MCP client nor the tool ever sees its token.

List the tools with the MCP Inspector CLI (version chosen for Node ${node}), using a freshly minted token (subject "demo-user", scope "mcp:read", 1 hour):
${inspectorCommand(demo.url, o.access_token, node)}

Run the whole OAuth flow (discovery, registration, PKCE, consent, token, tool calls${o.step_up ? ", step-up" : ""}, connect link) with the official SDK client:
npx tsx examples/oauth-client.ts ${demo.url}
(It asks before opening the connect link in your browser; add --open to open it without asking, or
--browser=headless to walk the connect pages over HTTP as "alice":)
npx tsx examples/oauth-client.ts ${demo.url} alice --browser=headless

Or add ${demo.url} to any MCP client (MCP Inspector UI, Claude, …): it opens the consent page in your browser.

Other ports: PORT=9000 npm start (the authorization server takes PORT+1, the downstream API PORT+2, the third-party service PORT+3).

Ctrl-C to stop.`;
}

/**
 * A small API protected by `JWTValidator` with its **own** audience: it accepts tokens exchanged for
 * it and refuses the MCP server's token (401). `GET /whoami` answers what it saw, including `act`
 * (who acts for the user).
 */
function serveDownstreamApi(http: Server, apiUrl: string, as: RunningDevAuthorizationServer): void {
  const validator = new JWTValidator({
    jwks_uri: as.server.metadata.jwks_uri,
    issuer: as.issuer,
    audience: apiUrl,
    required_typ: "at+jwt",
  });
  const config = parseAuthorizationConfig({ enabled: true, authorization_servers: [as.issuer], resource: apiUrl });
  const challenge = { resource_metadata_url: `${new URL(apiUrl).origin}/.well-known/oauth-protected-resource` };
  http.on(
    "request",
    toNodeHandler(
      async (req: Request): Promise<Response> => {
        if (new URL(req.url).pathname !== "/whoami") return Response.json({ error: "not_found" }, { status: 404 });
        try {
          const auth = (await authenticate(req, { config, provider: validator, resource: apiUrl }))!;
          const act = auth.claims.act as { sub?: unknown } | undefined;
          return Response.json({
            subject: auth.subject,
            actor: act?.sub ?? null,
            audience: auth.claims.aud,
            scope: auth.scopes.join(" "),
          });
        } catch (e) {
          if (e instanceof AuthError) return challengeResponse(e, challenge);
          throw e;
        }
      },
      { origin: new URL(apiUrl).origin },
    ),
  );
}
