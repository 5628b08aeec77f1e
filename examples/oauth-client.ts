/**
 * The whole MCP authorization flow, headless, with the official SDK client:
 * 401 → RFC 9728 resource metadata → RFC 8414 AS metadata → RFC 7591 registration → authorization
 * with PKCE (the consent form is driven over HTTP, as a browser would) → code exchange → tool calls.
 *
 *   npx tsx examples/oauth-client.ts [MCP_URL] [USERNAME]
 *
 * Works against the embedded development authorization server (`npm start`); with `STEP_UP=1 npm
 * start`, `delete_file`'s 403 `insufficient_scope` is answered by consenting to the wider scope and
 * retrying ({@link callToolWithStepUp}). A real IdP's login page is different: use a browser there.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  UnauthorizedError,
  type OAuthClientProvider,
  type OAuthDiscoveryState,
} from "@modelcontextprotocol/sdk/client/auth.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from "@modelcontextprotocol/sdk/shared/auth.js";

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
  /**
   * The whole redirect query (code, state, RFC 9207 `iss`), for clients that check `iss` (SDK v2:
   * `finishAuth(params)`).
   */
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
      grant_types:
        this.options.refresh_tokens === false ? ["authorization_code"] : ["authorization_code", "refresh_token"],
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
export async function approveConsent(
  authorizationUrl: URL,
  username: string,
  decision: "approve" | "deny" = "approve",
): Promise<URL> {
  const page = await fetch(authorizationUrl, { redirect: "manual" });
  if (page.status !== 200) {
    const location = page.headers.get("location");
    if (location) return new URL(location);
    throw new Error(`authorization page failed: HTTP ${page.status}`);
  }
  const html = await page.text();
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  if (!action) throw new Error("no consent form");
  const body = new URLSearchParams({
    pending: hidden(html, "pending"),
    csrf_token: hidden(html, "csrf_token"),
    username,
    decision,
  });
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

/**
 * `tools/call` with step-up: when the server answers 403 `insufficient_scope`, the SDK client asks for
 * the challenge's wider scope (the consent page, through {@link HeadlessOAuthProvider}) and throws
 * `UnauthorizedError`; this finishes that authorization and calls once more with the new token.
 *
 * The provider must hold no refresh token (`refresh_tokens: false`): SDK 1.x tries a refresh before
 * a new authorization, a refresh cannot widen the scope, and the client would give up with
 * "Server returned 403 after trying upscoping".
 */
export async function callToolWithStepUp(
  client: Client,
  provider: HeadlessOAuthProvider,
  params: { name: string; arguments?: Record<string, unknown> },
  log: (line: string) => void = console.log,
): ReturnType<Client["callTool"]> {
  provider.code = undefined;
  try {
    return await client.callTool(params);
  } catch (err) {
    if (!(err instanceof UnauthorizedError) || !provider.code) throw err;
  }
  await (client.transport as StreamableHTTPClientTransport).finishAuth(provider.code);
  log(`tools/call ${params.name} → 403 insufficient_scope; consented to "${provider.tokens()?.scope}", retrying`);
  return client.callTool(params);
}

/**
 * What `npx tsx examples/oauth-client.ts` does: sign in, list the tools, call `whoami`, `echo` and
 * `delete_file` (stepping up when the server asks for `files:delete`), one line each.
 */
export async function runExample(
  url: string,
  username: string,
  log: (line: string) => void = console.log,
): Promise<void> {
  // No refresh token: step-up then re-authorizes (see callToolWithStepUp).
  const provider = new HeadlessOAuthProvider(username, undefined, { refresh_tokens: false });
  const client = await connectWithOAuth(url, provider);
  try {
    log(`Signed in as "${username}"; token scopes: ${provider.tokens()?.scope}`);
    const { tools } = await client.listTools();
    log(`tools/list → ${tools.map((t) => t.name).join(", ")}`);
    for (const [name, args] of [
      ["whoami", {}],
      ["echo", { message: "hello" }],
      ["delete_file", { path: "/tmp/x" }],
    ] as const) {
      const result = await callToolWithStepUp(client, provider, { name, arguments: args }, log);
      const text = (result.content as { type: string; text?: string }[]).map((c) => c.text ?? "").join(" ");
      log(`tools/call ${name} → ${result.isError ? "isError: " : ""}${text}`);
    }
  } finally {
    await client.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runExample(process.argv[2] ?? "http://127.0.0.1:8000/mcp", process.argv[3] ?? "alice");
}
