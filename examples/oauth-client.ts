/**
 * The whole MCP authorization flow, headless, with the official SDK client:
 * 401 → RFC 9728 resource metadata → RFC 8414 AS metadata → RFC 7591 registration → authorization
 * with PKCE (the consent form is driven over HTTP, as a browser would) → code exchange → tool calls.
 *
 *   npx tsx examples/oauth-client.ts [MCP_URL] [USERNAME]
 *
 * Works against the embedded development authorization server (`npm start`). A real IdP's login
 * page is different: use a browser there.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { UnauthorizedError, type OAuthClientProvider, type OAuthDiscoveryState } from "@modelcontextprotocol/sdk/client/auth.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from "@modelcontextprotocol/sdk/shared/auth.js";

/** Where the authorization server sends the browser back. Nothing listens there: we read the redirect. */
export const REDIRECT_URL = "http://127.0.0.1:33418/callback";

/** An in-memory `OAuthClientProvider` whose "browser" is {@link approveConsent}. */
export class HeadlessOAuthProvider implements OAuthClientProvider {
  #client: OAuthClientInformationMixed | undefined;
  #tokens: OAuthTokens | undefined;
  #verifier = "";
  #state = "";
  /** The code from the last authorization, for `transport.finishAuth()`. */
  code: string | undefined;
  /** The whole redirect query (code, state, RFC 9207 `iss`), for clients that check `iss` (SDK v2: `finishAuth(params)`). */
  callbackParams: URLSearchParams | undefined;
  #discovery: OAuthDiscoveryState | undefined;

  /**
   * @param username - who signs in on the consent page.
   * @param clientMetadataUrl - an https URL serving this client's metadata document: used as the
   *   `client_id` when the authorization server supports Client ID Metadata Documents (no registration).
   */
  constructor(
    readonly username: string,
    readonly clientMetadataUrl?: string,
    /** `refresh_tokens: false` registers for `authorization_code` only: the AS then issues no refresh token. */
    readonly options: { refresh_tokens?: boolean } = {},
  ) {}

  get redirectUrl(): string {
    return REDIRECT_URL;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: "protected-mcp example client",
      redirect_uris: [REDIRECT_URL],
      grant_types: this.options.refresh_tokens === false ? ["authorization_code"] : ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }
  state(): string {
    this.#state = crypto.randomUUID();
    return this.#state;
  }
  clientInformation() {
    return this.#client;
  }
  saveClientInformation(info: OAuthClientInformationMixed): void {
    this.#client = info;
  }
  tokens() {
    return this.#tokens;
  }
  saveTokens(tokens: OAuthTokens): void {
    this.#tokens = tokens;
  }
  saveCodeVerifier(verifier: string): void {
    this.#verifier = verifier;
  }
  codeVerifier(): string {
    return this.#verifier;
  }
  async redirectToAuthorization(url: URL): Promise<void> {
    const redirect = await approveConsent(url, this.username);
    if (redirect.searchParams.get("state") !== this.#state) throw new Error("state mismatch");
    const code = redirect.searchParams.get("code");
    if (!code) throw new Error(`authorization failed: ${redirect.searchParams.get("error")}`);
    this.code = code;
    this.callbackParams = redirect.searchParams;
  }
  /** SDK v2 (SEP-2352): remember which authorization server the flow started with, to bind the callback to it. */
  saveDiscoveryState(state: OAuthDiscoveryState): void {
    this.#discovery = state;
  }
  discoveryState(): OAuthDiscoveryState | undefined {
    return this.#discovery;
  }
}

/** Cookie header value from a response's `Set-Cookie` headers. */
function cookiesOf(res: Response): string {
  return res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
}

function hidden(html: string, name: string): string {
  const m = new RegExp(`<input type="hidden" name="${name}" value="([^"]*)">`).exec(html);
  if (!m) throw new Error(`consent page has no ${name} field`);
  return m[1]!;
}

/**
 * Do what a user does in the browser: open the authorization URL, type a username, press Approve.
 * Resolves to the redirect back to the client (with `code` and `state`, or `error`).
 */
export async function approveConsent(authorizationUrl: URL, username: string, decision: "approve" | "deny" = "approve"): Promise<URL> {
  const page = await fetch(authorizationUrl, { redirect: "manual" });
  if (page.status !== 200) {
    const location = page.headers.get("location");
    if (location) return new URL(location);
    throw new Error(`authorization page failed: HTTP ${page.status}`);
  }
  const html = await page.text();
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  if (!action) throw new Error("no consent form");
  const body = new URLSearchParams({ pending: hidden(html, "pending"), csrf_token: hidden(html, "csrf_token"), username, decision });
  const res = await fetch(new URL(action, authorizationUrl), {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: cookiesOf(page) },
    body,
  });
  const location = res.headers.get("location");
  if (res.status !== 303 || !location) throw new Error(`consent failed: HTTP ${res.status}`);
  return new URL(location);
}

/** Connect with OAuth: the first attempt gets a 401 and runs the flow, the second one is authorized. */
export async function connectWithOAuth(url: string, provider: HeadlessOAuthProvider): Promise<Client> {
  const client = new Client({ name: "protected-mcp-example", version: "1.0.0" });
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider: provider }));
    return client;
  } catch (err) {
    if (!(err instanceof UnauthorizedError) || !provider.code) throw err;
  }
  const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  await transport.finishAuth(provider.code);
  await client.connect(transport);
  return client;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const url = process.argv[2] ?? "http://127.0.0.1:8000/mcp";
  const username = process.argv[3] ?? "alice";
  const provider = new HeadlessOAuthProvider(username);
  const client = await connectWithOAuth(url, provider);
  console.log(`Signed in as "${username}"; token scopes: ${provider.tokens()?.scope}`);
  const { tools } = await client.listTools();
  console.log(`tools/list → ${tools.map((t) => t.name).join(", ")}`);
  for (const [name, args] of [
    ["whoami", {}],
    ["echo", { message: "hello" }],
    ["delete_file", { path: "/tmp/x" }],
  ] as const) {
    const result = await client.callTool({ name, arguments: args });
    const text = (result.content as { type: string; text?: string }[]).map((c) => c.text ?? "").join(" ");
    console.log(`tools/call ${name} → ${result.isError ? "isError: " : ""}${text}`);
  }
  await client.close();
}
