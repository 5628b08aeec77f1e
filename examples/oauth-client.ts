/**
 * The whole MCP authorization flow, headless, with the official SDK client:
 * 401 → RFC 9728 resource metadata → RFC 8414 AS metadata → RFC 7591 registration → authorization
 * with PKCE (the consent form is driven over HTTP, as a browser would) → code exchange → tool calls.
 *
 *   npx tsx examples/oauth-client.ts [MCP_URL] [USERNAME] [--open | --browser=headless]
 *
 * Works against the embedded development authorization server (`npm start`); with `STEP_UP=1 npm
 * start`, `delete_file`'s 403 `insufficient_scope` is answered by consenting to the wider scope and
 * retrying ({@link callToolWithStepUp}). A real IdP's login page is different: use a browser there.
 *
 * URL-mode elicitation (MCP 2025-11-25): the client declares `elicitation: { url: {} }`. When a tool
 * needs the user to do something in a browser — connect a third-party account — the server answers
 * `-32042` (`UrlElicitationRequiredError`); {@link callToolWithConnect} prints the message and the URL
 * with its domain, opens it only when the user agrees (or `--open` was given), waits for
 * `notifications/elicitation/complete` (or Enter, or a timeout) and calls the tool again.
 * `--browser=headless` walks the development servers' connect pages over HTTP instead ({@link headlessBrowser}).
 */
import { spawn } from "node:child_process";
import { createInterface, type Interface } from "node:readline/promises";
import { domainToUnicode } from "node:url";
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
import {
  ElicitationCompleteNotificationSchema,
  ElicitRequestSchema,
  UrlElicitationRequiredError,
  type ElicitRequestURLParams,
} from "@modelcontextprotocol/sdk/types.js";

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

/**
 * A "browser" for connect links on development servers (`--browser=headless`): it does over HTTP what
 * a person does in a browser — open the link, sign in as `username` at the MCP server's authorization
 * server, press Connect on the confirmation page, approve at the third party — keeping the connect
 * page's cookie. Only for the development authorization server's pages; use a real browser elsewhere.
 */
export function headlessBrowser(username: string): (url: URL) => Promise<void> {
  return async (start) => {
    const jar = new Map<string, string>();
    const get = async (url: URL, init: RequestInit = {}) => {
      const res = await fetch(url, {
        ...init,
        redirect: "manual",
        headers: {
          ...(init.headers as Record<string, string>),
          cookie: [...jar].map(([k, v]) => `${k}=${v}`).join("; "),
        },
      });
      for (const c of res.headers.getSetCookie()) {
        const [pair = ""] = c.split(";");
        const eq = pair.indexOf("=");
        if (eq > 0) jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
      }
      return res;
    };
    const next = (res: Response, from: URL) => {
      const location = res.headers.get("location");
      if (!location) throw new Error(`connect page: HTTP ${res.status} without a redirect`);
      return new URL(location, from);
    };
    const opened = await get(start); // → sign-in at the MCP server's authorization server
    const signedIn = await approveConsent(next(opened, start), username); // → {base}/signed-in
    const confirmation = await get(signedIn);
    const html = await confirmation.text();
    const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
    if (confirmation.status !== 200 || !action) throw new Error(`confirmation page: HTTP ${confirmation.status}`);
    const confirmUrl = new URL(action, signedIn);
    const confirmed = await get(confirmUrl, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: confirmUrl.origin },
      body: new URLSearchParams({ csrf_token: hidden(html, "csrf_token") }),
    }); // → the third party's authorization page
    const callback = await approveConsent(next(confirmed, confirmUrl), username); // → {base}/callback
    const done = await get(callback);
    if (done.status !== 200) throw new Error(`connect callback: HTTP ${done.status}`);
  };
}

/** Connect with OAuth: the first attempt gets a 401 and runs the flow, the second one is authorized. */
export async function connectWithOAuth(
  url: string,
  provider: HeadlessOAuthProvider,
  elicitation: UrlElicitationOptions = {},
): Promise<Client> {
  const client = createClient(elicitation);
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

/** How {@link callToolWithConnect} and the client's `elicitation/create` handler treat a URL elicitation. */
export interface UrlElicitationOptions {
  /**
   * Open URLs without asking (`--open`). Default: ask on a terminal, never open otherwise. Opening means
   * {@link UrlElicitationOptions.browser}; nothing is ever fetched by the client itself.
   */
  open?: boolean;
  /** Asks the user whether to open `url`. Default: a yes/no question on a terminal, `false` elsewhere. */
  confirm?: (url: URL) => Promise<boolean>;
  /** Opens a URL the user agreed to. Default: the system browser (`open`, `xdg-open`, `start`). */
  browser?: (url: URL) => Promise<void>;
  /**
   * Resolves when the user asks to retry by hand. Default: Enter on a terminal; never elsewhere (then
   * only the completion notification or the timeout ends the wait).
   */
  manual_retry?: (signal: AbortSignal) => Promise<void>;
  /** How long to wait for `notifications/elicitation/complete`, in milliseconds. Default 600 000 (the link's lifetime). */
  timeout_ms?: number;
  /** Where the messages go. Default `console.log`. */
  log?: (line: string) => void;
}

/**
 * An SDK v1 client that declares URL-mode elicitation (2025-11-25) and keeps track of
 * `notifications/elicitation/complete`. It also answers a server-sent URL-mode `elicitation/create`
 * the same way (show, ask, open; `accept` or `decline`); form mode is not declared.
 */
export function createClient(o: UrlElicitationOptions = {}): Client {
  const client = new Client(
    { name: "protected-mcp-example", version: "1.0.0" },
    { capabilities: { elicitation: { url: {} } } },
  );
  const completions = completionsOf(client);
  client.setNotificationHandler(ElicitationCompleteNotificationSchema, (n) =>
    completions.complete(n.params.elicitationId),
  );
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    const p = request.params;
    if (p.mode !== "url") return { action: "decline" as const };
    return { action: (await presentAndOpen(p, o)) ? ("accept" as const) : ("decline" as const) };
  });
  return client;
}

/** Completion notifications per client: those already received, and the waits for the others. */
interface Completions {
  complete(id: string): void;
  wait(id: string): Promise<void>;
}

const COMPLETIONS = new WeakMap<Client, Completions>();

function completionsOf(client: Client): Completions {
  let c = COMPLETIONS.get(client);
  if (!c) {
    // A notification may arrive before anyone waits for it (the user was quick): remember it.
    const done = new Set<string>();
    const waiting = new Map<string, () => void>();
    c = {
      complete(id) {
        const resolve = waiting.get(id);
        if (resolve) {
          waiting.delete(id);
          resolve();
        } else if (done.size < 100) done.add(id); // unknown ids are ignored by the spec; bounded anyway
      },
      wait(id) {
        if (done.delete(id)) return Promise.resolve();
        return new Promise((resolve) => waiting.set(id, resolve));
      },
    };
    COMPLETIONS.set(client, c);
  }
  return c;
}

/** The host as a person should read it: Unicode for an IDN, with a warning when it is one (homograph risk). */
function describeHost(url: URL): string {
  const unicode = domainToUnicode(url.hostname);
  const idn = url.hostname.split(".").some((label) => label.startsWith("xn--"));
  return idn ? `${url.host}  (WARNING: internationalized domain, shown as "${unicode}"; check it carefully)` : url.host;
}

/**
 * Show a URL elicitation (the server's message, the full URL and its domain), then open the URL if the
 * user agrees (or `open` says so). `false` when it was not opened: declined, no terminal to ask on, or
 * not an http(s) URL (never opened).
 */
export async function presentAndOpen(e: ElicitRequestURLParams, o: UrlElicitationOptions = {}): Promise<boolean> {
  const log = o.log ?? console.log;
  let url: URL;
  try {
    url = new URL(e.url);
  } catch {
    log(`The server asked to open something that is not a URL; ignored.`);
    return false;
  }
  log(`\nThe server asks you to open a page in your browser:`);
  log(`  ${e.message}`);
  log(`  URL:    ${url.href}`);
  log(`  Domain: ${describeHost(url)}`);
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    log(`Not an http(s) URL: it will not be opened.`);
    return false;
  }
  const agreed = o.open === true || (await (o.confirm ?? askOnTerminal)(url));
  if (!agreed) {
    log(`Not opened. Open it yourself if you trust ${url.host}.`);
    return false;
  }
  await (o.browser ?? systemBrowser)(url);
  return true;
}

/** One readline interface for the terminal, created when first needed (so the process can exit without one). */
let terminal: Interface | undefined;
function readlineOnTerminal(): Interface | undefined {
  if (!process.stdin.isTTY) return undefined;
  terminal ??= createInterface({ input: process.stdin, output: process.stdout });
  return terminal;
}

/** Close the terminal prompt, if one was opened. */
export function closeTerminal(): void {
  terminal?.close();
  terminal = undefined;
}

async function askOnTerminal(url: URL): Promise<boolean> {
  const rl = readlineOnTerminal();
  if (!rl) return false;
  const answer = await rl.question(`Open ${url.host} in your browser? [y/N] `);
  return /^y(es)?$/i.test(answer.trim());
}

function enterOnTerminal(signal: AbortSignal): Promise<void> {
  const rl = readlineOnTerminal();
  if (!rl) return new Promise(() => {}); // no terminal: only the notification or the timeout ends the wait
  // Aborted once the wait is over, so the question does not swallow the next answer.
  return rl.question("(Press Enter to retry now.)\n", { signal }).then(
    () => undefined,
    () => new Promise<void>(() => {}),
  );
}

/** Open `url` in the system browser, detached; the URL is one argument, never parsed by a shell. */
function systemBrowser(url: URL): Promise<void> {
  const [command, args] =
    process.platform === "darwin"
      ? ["open", [url.href]]
      : process.platform === "win32"
        ? ["rundll32", ["url.dll,FileProtocolHandler", url.href]]
        : ["xdg-open", [url.href]];
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: "ignore", detached: true });
    child.once("error", () => {
      console.log(`Could not start a browser (${command}); open the URL yourself.`);
      resolve();
    });
    child.once("spawn", () => {
      child.unref();
      resolve();
    });
  });
}

/**
 * `tools/call` that handles URL-mode elicitation (`-32042`, MCP 2025-11-25): show each elicitation's
 * URL, open it with the user's consent, wait until the server sends
 * `notifications/elicitation/complete` for it (or the user presses Enter, or `timeout_ms` passes), then
 * call again — at most `attempts` times in all. A declined or unopenable URL ends it with the
 * server's `UrlElicitationRequiredError`.
 */
export async function callToolWithConnect(
  client: Client,
  params: { name: string; arguments?: Record<string, unknown> },
  o: UrlElicitationOptions & { attempts?: number } = {},
): ReturnType<Client["callTool"]> {
  const log = o.log ?? console.log;
  const completions = completionsOf(client);
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.callTool(params);
    } catch (err) {
      if (!(err instanceof UrlElicitationRequiredError) || attempt >= (o.attempts ?? 3)) throw err;
      for (const e of err.elicitations) {
        const completed = completions.wait(e.elicitationId);
        if (!(await presentAndOpen(e, o))) throw err;
        log(`Waiting for the server to say it is done…`);
        const outcome = await waitFor(completed, o);
        log(
          outcome === "completed"
            ? `Done (notifications/elicitation/complete); calling ${params.name} again`
            : `${outcome === "timeout" ? "No completion notification in time" : "Retrying"}; calling ${params.name} again`,
        );
      }
    }
  }
}

/** The first of: the completion notification, a manual retry, the timeout. */
function waitFor(completed: Promise<void>, o: UrlElicitationOptions): Promise<"completed" | "manual" | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const over = new AbortController();
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), o.timeout_ms ?? 600_000);
  });
  return Promise.race([
    completed.then(() => "completed" as const),
    (o.manual_retry ?? enterOnTerminal)(over.signal).then(() => "manual" as const),
    timeout,
  ]).finally(() => {
    clearTimeout(timer);
    over.abort();
  });
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

/** The tool of `npm start` that calls a third-party API through a connected account. */
export const CONNECTED_TOOL = "upstream_whoami";

/**
 * What `npx tsx examples/oauth-client.ts` does: sign in, list the tools, call `whoami`, `echo` and
 * `delete_file` (stepping up when the server asks for `files:delete`), then `upstream_whoami` when the
 * server has it (connecting the account through a URL elicitation first), one line each.
 */
export async function runExample(
  url: string,
  username: string,
  log: (line: string) => void = console.log,
  elicitation: UrlElicitationOptions = {},
): Promise<void> {
  // No refresh token: step-up then re-authorizes (see callToolWithStepUp).
  const provider = new HeadlessOAuthProvider(username, undefined, { refresh_tokens: false });
  const client = await connectWithOAuth(url, provider, { log, ...elicitation });
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
      log(`tools/call ${name} → ${resultText(result)}`);
    }
    if (tools.some((t) => t.name === CONNECTED_TOOL)) {
      try {
        const result = await callToolWithConnect(client, { name: CONNECTED_TOOL }, { log, ...elicitation });
        log(`tools/call ${CONNECTED_TOOL} → ${resultText(result)}`);
      } catch (err) {
        if (!(err instanceof UrlElicitationRequiredError)) throw err;
        log(`tools/call ${CONNECTED_TOOL} → not connected (open the URL above, or run again with --open)`);
      }
    }
  } finally {
    closeTerminal();
    await client.close();
  }
}

function resultText(result: Awaited<ReturnType<Client["callTool"]>>): string {
  const text = (result.content as { type: string; text?: string }[]).map((c) => c.text ?? "").join(" ");
  return `${result.isError ? "isError: " : ""}${text}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const [url = "http://127.0.0.1:8000/mcp", username = "alice"] = args.filter((a) => !a.startsWith("--"));
  // --browser=headless: connect links are walked over HTTP as `username` (development servers only).
  const headless = args.includes("--browser=headless");
  await runExample(url, username, console.log, {
    open: args.includes("--open") || headless,
    ...(headless ? { browser: headlessBrowser(username) } : {}),
  });
}
