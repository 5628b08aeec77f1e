/**
 * HTTP probing for the audit: a bounded number of requests, a timeout per request, https or loopback
 * only, and a guard that keeps real tokens on the target's origin.
 *
 * @module
 */
import type { Fetch } from "../lib/fetch.js";

/** Why the audit could not run (exit code 2), as opposed to a finding about the server. */
export class AuditRunError extends Error {
  /** The family's generic code (`ERR_AUDIT_GENERIC`); an instance carries one of the codes below. */
  static readonly code: string = "ERR_AUDIT_GENERIC";
  /** Stable code: `ERR_AUDIT_USAGE`, `ERR_AUDIT_URL`, `ERR_AUDIT_UNREACHABLE`, `ERR_AUDIT_TOKEN`. */
  readonly code: "ERR_AUDIT_USAGE" | "ERR_AUDIT_URL" | "ERR_AUDIT_UNREACHABLE" | "ERR_AUDIT_TOKEN";
  /**
   * @param code - stable code.
   * @param message - what went wrong (never a token).
   */
  constructor(code: AuditRunError["code"], message: string) {
    super(message);
    this.name = "AuditRunError";
    this.code = code;
  }
}

/** A request the prober refused to send, or one that failed on the wire. */
export class ProbeFailed extends Error {
  /** `budget` (request limit reached), `policy` (URL not allowed), `timeout`, `network`. */
  readonly kind: "budget" | "policy" | "timeout" | "network";
  /**
   * @param kind - the failure kind.
   * @param message - one line, never a token.
   */
  constructor(kind: ProbeFailed["kind"], message: string) {
    super(message);
    this.name = "ProbeFailed";
    this.kind = kind;
  }
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/** Whether a URL's host is the loopback interface. */
export function isLoopback(url: URL): boolean {
  return (
    LOOPBACK_HOSTS.has(url.hostname) || /^127\.\d+\.\d+\.\d+$/.test(url.hostname) || url.hostname.endsWith(".localhost")
  );
}

/** Whether the audit may talk to this URL: https, or http on loopback, or any http with `allowHttp`. */
export function urlAllowed(url: URL, allowHttp: boolean): boolean {
  if (url.protocol === "https:") return true;
  if (url.protocol !== "http:") return false;
  return allowHttp || isLoopback(url);
}

/** A response as the checks see it: status, headers and up to {@link MAX_BODY} characters of body. */
export interface ProbeResponse {
  status: number;
  headers: Headers;
  /** The body read so far (an event stream is read until its first JSON-RPC response). */
  text: string;
  /** The URL that was requested. */
  url: string;
}

/** A request to send. `headers` are sent as given; `credentialed` marks a request carrying a real token. */
export interface ProbeRequest {
  method: string;
  url: string | URL;
  headers?: Record<string, string>;
  body?: string;
  /** Read the status and headers only, then close the body (an event stream that may stay open). */
  headersOnly?: boolean;
}

/** Options of {@link Prober}. */
export interface ProberOptions {
  /** The MCP endpoint under audit. */
  target: URL;
  /** Most requests in one audit. */
  maxRequests: number;
  /** Per-request timeout in milliseconds (connect, headers and body). */
  timeoutMs: number;
  /** Plain http beyond loopback. */
  allowHttp: boolean;
  /** Fetch to use (tests). Default: global fetch. */
  fetch?: Fetch;
}

/** Body bytes read per response, at most. */
export const MAX_BODY = 256 * 1024;

/**
 * Sends the audit's requests. Every request and response passes through here, so this is where the
 * request budget, the timeouts, the URL policy, the "real tokens stay on the target origin" rule and
 * the record used by the token-echo check live.
 */
export class Prober {
  readonly target: URL;
  readonly #o: ProberOptions;
  readonly #secrets = new Set<string>();
  readonly #sent = new Set<string>();
  readonly #responses: ProbeResponse[] = [];
  #count = 0;

  /** @param o - options. */
  constructor(o: ProberOptions) {
    this.#o = o;
    this.target = o.target;
  }

  /** Requests sent so far. */
  get requests(): number {
    return this.#count;
  }

  /** Every response received so far. */
  get responses(): readonly ProbeResponse[] {
    return this.#responses;
  }

  /** A real credential: sent only to the target's origin, redacted from all output. */
  addSecret(value: string): void {
    if (value) this.#secrets.add(value);
  }

  /** A credential the audit made up (garbage, forged): looked for in responses, redacted from output. */
  addSent(value: string): void {
    if (value) this.#sent.add(value);
  }

  /** Every credential sent, real or made up (for the echo check). */
  get sentCredentials(): string[] {
    return [...this.#secrets, ...this.#sent];
  }

  /** Replace every credential in `text` by `[redacted]`. */
  redact(text: string): string {
    let out = text;
    for (const s of this.sentCredentials.sort((a, b) => b.length - a.length))
      if (s.length >= 8) out = out.split(s).join("[redacted]");
    return out;
  }

  /** Send one request. Throws {@link ProbeFailed}; never throws for an HTTP status. */
  async send(r: ProbeRequest): Promise<ProbeResponse> {
    const url = new URL(r.url);
    if (!urlAllowed(url, this.#o.allowHttp))
      throw new ProbeFailed("policy", `not fetched: ${url.origin} is neither https nor loopback (--allow-http)`);
    const outgoing = `${url.href}\n${Object.values(r.headers ?? {}).join("\n")}\n${r.body ?? ""}`;
    if (url.origin !== this.target.origin && [...this.#secrets].some((s) => outgoing.includes(s))) {
      throw new ProbeFailed("policy", `not sent: a real token may only go to ${this.target.origin}`);
    }
    if (this.#count >= this.#o.maxRequests)
      throw new ProbeFailed("budget", `request limit (${this.#o.maxRequests}) reached`);
    this.#count++;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.#o.timeoutMs);
    try {
      const res = await (this.#o.fetch ?? fetch)(url.href, {
        method: r.method,
        headers: r.headers ?? {},
        ...(r.body !== undefined ? { body: r.body } : {}),
        redirect: "manual",
        signal: controller.signal,
      });
      let text = "";
      if (r.headersOnly) void res.body?.cancel().catch(() => {});
      else text = await readBody(res);
      const probe: ProbeResponse = { status: res.status, headers: res.headers, text, url: url.href };
      this.#responses.push(probe);
      return probe;
    } catch (e) {
      if (controller.signal.aborted)
        throw new ProbeFailed(
          "timeout",
          `${r.method} ${url.pathname}: no complete answer within ${this.#o.timeoutMs} ms`,
        );
      const cause =
        e instanceof Error && e.cause instanceof Error ? e.cause.message : e instanceof Error ? e.message : String(e);
      throw new ProbeFailed("network", `${r.method} ${url.origin}${url.pathname}: ${cause}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Read a body up to {@link MAX_BODY}; an event stream only until its first JSON-RPC response. */
async function readBody(res: Response): Promise<string> {
  if (!res.body) return "";
  const sse = (res.headers.get("content-type") ?? "").includes("text/event-stream");
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (text.length >= MAX_BODY) break;
      if (sse && sseHasResponse(text)) break;
    }
  } finally {
    void reader.cancel().catch(() => {});
  }
  return text.slice(0, MAX_BODY);
}

/** The JSON-RPC messages in an event-stream body. */
export function sseMessages(text: string): unknown[] {
  const out: unknown[] = [];
  for (const event of text.split(/\r?\n\r?\n/)) {
    const data = event
      .split(/\r?\n/)
      .filter((l) => l.startsWith("data:"))
      .map((l) => l.slice(5).trimStart())
      .join("\n");
    if (!data) continue;
    try {
      out.push(JSON.parse(data));
    } catch {
      // an incomplete event: not a message yet
    }
  }
  return out;
}

function sseHasResponse(text: string): boolean {
  return sseMessages(text).some((m) => typeof m === "object" && m !== null && ("result" in m || "error" in m));
}

/** The JSON-RPC message in a response (JSON body or event stream), if any. */
export function rpcMessage(res: ProbeResponse): Record<string, unknown> | undefined {
  const ct = res.headers.get("content-type") ?? "";
  const candidates = ct.includes("text/event-stream") ? sseMessages(res.text) : [safeJson(res.text)];
  for (const m of candidates) {
    if (typeof m === "object" && m !== null && ("result" in m || "error" in m)) return m;
  }
  return undefined;
}

/** Parse JSON, or `undefined`. */
export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
