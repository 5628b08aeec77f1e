/**
 * A DPoP client for the `npm start` demo: oauth4webapi does discovery, dynamic registration, PKCE
 * and a DPoP-bound token request; the official SDK client then calls tools with a fresh DPoP proof
 * per request (`Authorization: DPoP …` + `DPoP: <proof>`). A stolen copy of this token is useless
 * without the private key, which never leaves this process.
 *
 *   npm start                                   # in another terminal
 *   npx tsx examples/dpop-client.ts http://127.0.0.1:8000/mcp alice
 */
import * as oauth from "oauth4webapi";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { approveConsent, REDIRECT_URL } from "./oauth-client.js";

/** Loopback http is fine for the demo; oauth4webapi refuses it unless told. */
const insecure = { [oauth.allowInsecureRequests]: true } as const;

export interface DpopSession {
  client: Client;
  token: string;
  jkt: string;
}

/**
 * Steps 1–4: discovery (RFC 9728, RFC 8414), registration (RFC 7591), PKCE consent, and a token
 * request with a DPoP proof of `keyPair`: the token comes back bound to that key (`cnf.jkt`).
 */
export async function getDpopBoundToken(
  mcpUrl: string,
  username: string,
  keyPair: CryptoKeyPair,
): Promise<{ token: string; resource: string }> {
  // 1. The resource tells us its authorization server (RFC 9728).
  const prm = (await (await fetch(new URL("/.well-known/oauth-protected-resource/mcp", mcpUrl))).json()) as {
    authorization_servers: string[];
    resource: string;
    scopes_supported?: string[];
  };
  const issuer = new URL(prm.authorization_servers[0]!);
  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...insecure }),
  );

  // 2. Register a public client (RFC 7591).
  const reg = await fetch(as.registration_endpoint!, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_name: "DPoP example",
      redirect_uris: [REDIRECT_URL],
      token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"],
    }),
  });
  const client = (await reg.json()) as oauth.Client;

  // 3. PKCE authorization (the consent form is filled over HTTP, as a browser would).
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const authorize = new URL(as.authorization_endpoint!);
  authorize.search = new URLSearchParams({
    response_type: "code",
    client_id: client.client_id,
    redirect_uri: REDIRECT_URL,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    resource: prm.resource,
    scope: (prm.scopes_supported ?? []).join(" "),
  }).toString();
  const callback = await approveConsent(authorize, username);
  const params = oauth.validateAuthResponse(as, client, callback, state);

  // 4. The token request carries a DPoP proof: the token comes back bound to our key (cnf.jkt).
  const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params, REDIRECT_URL, verifier, {
    DPoP: oauth.DPoP(client, keyPair),
    additionalParameters: { resource: prm.resource },
    ...insecure,
  });
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, response);
  if (tokens.token_type !== "dpop") throw new Error(`expected a DPoP-bound token, got ${tokens.token_type}`);
  return { token: tokens.access_token, resource: prm.resource };
}

/** Run the whole flow against a protected MCP endpoint and return a connected SDK client. */
export async function connectWithDpop(mcpUrl: string, username: string): Promise<DpopSession> {
  const keyPair = await oauth.generateKeyPair("ES256");
  const { token } = await getDpopBoundToken(mcpUrl, username, keyPair);
  const DPoP = oauth.DPoP({}, keyPair);

  // 5. Every MCP request gets a fresh proof for its method and URL, with ath = hash(token).
  const dpopFetch: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = new Headers(init?.headers);
    return oauth.protectedResourceRequest(token, init?.method ?? "GET", url, headers, (init?.body ?? null) as never, {
      DPoP,
      ...(init?.signal ? { signal: init.signal } : {}),
      ...insecure,
    });
  };
  const mcp = new Client({ name: "dpop-example", version: "1.0.0" });
  await mcp.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { fetch: dpopFetch }));
  return { client: mcp, token, jkt: await DPoP.calculateThumbprint() };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [url = "http://127.0.0.1:8000/mcp", username = "alice"] = process.argv.slice(2);
  const { client, jkt } = await connectWithDpop(url, username);
  console.log(`DPoP-bound token for "${username}", key thumbprint ${jkt}`);
  const who = await client.callTool({ name: "whoami", arguments: {} });
  console.log(`tools/call whoami → ${JSON.stringify(who.structuredContent)}`);
  await client.close();
}
