/**
 * A protected MCP server with connected accounts on loopback, for the end-to-end tests: the development
 * authorization server twice (the MCP server's own, where the connect page signs users in; and a
 * third-party provider with a pre-registered confidential client and its `whoami` API), `protect()` with
 * `connected_accounts`, and a tool `acme_whoami` that calls the third party's API as the user.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { McpServer as McpServerV1 } from "@modelcontextprotocol/sdk/server/mcp.js";
import { getContext, JWTValidator, protect, tool, toNodeHandler, type ProtectedHandler } from "../../src/index.js";
import type { AuthEvent } from "../../src/events.js";
import type { TokenVault } from "../../src/connected-accounts/types.js";
import { MemoryTokenVault } from "../../src/connected-accounts/vault.js";
import type { ProtectOptions } from "../../src/protect/options.js";
import {
  startDevAuthorizationServer,
  type RunningDevAuthorizationServer,
} from "../../src/dev-authorization-server/index.js";
import { Browser, consent } from "./connect.js";

const PROVIDER_SECRET = "a-development-secret-0123456789";

/** The tool every test calls: the third party's view of the caller, through `connection({ provider })`. */
export const acmeWhoami = tool({ name: "acme_whoami", description: "Who the third party sees" }, async () => {
  const api = getContext().connection({ provider: "acme" });
  const res = await api.fetch("/api/whoami");
  return (await res.json()) as Record<string, unknown>;
});

/** The running setup. */
export interface ConnectedServer {
  /** The MCP endpoint (also the resource). */
  url: string;
  origin: string;
  handler: ProtectedHandler;
  mcpAs: RunningDevAuthorizationServer;
  providerAs: RunningDevAuthorizationServer;
  events: AuthEvent[];
  /** An MCP access token for `subject`. */
  token(subject: string): Promise<string>;
  /**
   * Walk a connect link as a person would: sign in at the MCP AS as `mcpUser`, confirm, consent at the
   * provider as `providerUser`. Returns the last response (the done page, or a refusal).
   */
  connect(link: string, mcpUser: string, providerUser: string, browser?: Browser): Promise<Response>;
  close(): Promise<void>;
}

/** Start it all; `factory` builds the per-session SDK server (default: SDK v1 with {@link acmeWhoami}). */
export async function startConnectedServer(
  o: {
    factory?: () => unknown;
    engine?: "v1" | "v2";
    vault?: TokenVault;
    clock?: () => number;
    /** Serve the connect pages from a second `protect()` instance sharing the vault (a fleet of two). */
    connect_on_second_instance?: boolean;
    /** The connect page's sign-in client is confidential with this secret at the MCP AS. */
    sign_in_secret?: string;
    /** The secret the connect page sends (default: `sign_in_secret`). */
    sign_in_secret_sent?: string;
  } = {},
): Promise<ConnectedServer> {
  // eslint-disable-next-line prefer-const -- assigned once the ports are known, read by the server before
  let handler: ProtectedHandler | undefined;
  let second: ProtectedHandler | undefined;
  const http: Server = createServer((req, res) => {
    const target = second && req.url?.startsWith("/connect/") ? second : handler!;
    void toNodeHandler(target)(req, res);
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const url = `${origin}/mcp`;
  const quiet = { on_warning: () => {} };
  const mcpAs = await startDevAuthorizationServer({
    resources: [url],
    scopes_supported: ["mcp:read"],
    clients: [
      {
        client_id: "connect-page",
        redirect_uris: [`${origin}/connect/signed-in`],
        client_name: "Connect",
        ...(o.sign_in_secret ? { client_secret: o.sign_in_secret } : {}),
      },
    ],
    ...quiet,
  });
  const providerAs = await startDevAuthorizationServer({
    resources: ["http://127.0.0.1/acme-api"],
    scopes_supported: ["read:user"],
    title: "Acme (third party)",
    clients: [
      {
        client_id: "mcp-server",
        client_secret: PROVIDER_SECRET,
        redirect_uris: [`${origin}/connect/callback`],
        client_name: "The MCP server",
      },
    ],
    whoami_api: {},
    ...quiet,
  });
  const events: AuthEvent[] = [];
  const factory =
    o.factory ??
    (() => {
      const s = new McpServerV1({ name: "connected", version: "1.0.0" });
      acmeWhoami.register(s);
      return s;
    });
  const options = {
    authorization: { enabled: true, authorization_servers: [mcpAs.issuer], resource: url },
    provider: new JWTValidator({ issuer: mcpAs.issuer, jwks_uri: mcpAs.server.metadata.jwks_uri, audience: url }),
    ...(o.engine ? { engine: o.engine } : {}),
    on_auth_event: (e) => void events.push(e),
    connected_accounts: {
      providers: {
        acme: {
          display_name: "Acme",
          issuer: providerAs.issuer,
          client_id: "mcp-server",
          client_secret: PROVIDER_SECRET,
          scopes: ["read:user"],
          api_origins: [new URL(providerAs.issuer).origin],
        },
      },
      sign_in: {
        client_id: "connect-page",
        ...(o.sign_in_secret ? { client_secret: o.sign_in_secret_sent ?? o.sign_in_secret } : {}),
      },
      vault: o.vault ?? new MemoryTokenVault(),
      ...(o.clock ? { clock: o.clock } : {}),
    },
  } satisfies ProtectOptions;
  handler = protect(factory, options);
  if (o.connect_on_second_instance) second = protect(factory, options);
  return {
    url,
    origin,
    handler,
    mcpAs,
    providerAs,
    events,
    async token(subject) {
      return (await mcpAs.server.issueAccessToken({ subject, scopes: ["mcp:read"], client_id: "test-client" }))
        .access_token;
    },
    async connect(link, mcpUser, providerUser, browser = new Browser()) {
      const start = await browser.request(link);
      if (start.status !== 303) return start;
      const signedIn = await browser.request(await consent(browser, start.headers.get("location")!, mcpUser));
      if (signedIn.status !== 200) return signedIn;
      const csrf = /name="csrf_token" value="([^"]*)"/.exec(await signedIn.text())?.[1] ?? "";
      const confirmed = await browser.post(`${origin}/connect/confirm`, { csrf_token: csrf }, { origin });
      if (confirmed.status !== 303) return confirmed;
      const back = await consent(browser, confirmed.headers.get("location")!, providerUser);
      return browser.request(back);
    },
    async close() {
      await handler?.close();
      await second?.close();
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
      await mcpAs.close();
      await providerAs.close();
    },
  };
}
