/**
 * DNS-rebinding protection: `Host` and `Origin` checked before anything else.
 *
 * A page on `evil.example` can make its name resolve to 127.0.0.1 and then send requests that a
 * browser considers same-origin to a server on loopback. Those requests still say
 * `Host: evil.example` (and `Origin: http://evil.example`), so a server that accepts only its own
 * names is out of reach. The MCP transport spec requires servers to validate `Origin` (403 when it
 * is invalid).
 *
 * The `Host` value is parsed strictly as `uri-host [":" port]` (RFC 9112 §3.2, RFC 3986 §3.2.2):
 * anything else — userinfo (`localhost:1@evil.example`), a port that is not digits or over 65535,
 * several values — is a malformed request, answered 400 before the host is even compared. For an
 * absolute-form request target (`POST http://evil.example/mcp HTTP/1.1`) the target's authority is
 * what names the host (RFC 9112 §3.2.2: the server MUST ignore `Host` then), so that is what must be
 * allowed; `Host` must still be well-formed. A Web `Request` does not say which form its target had:
 * the adapter passes an absolute-form target's authority as `HandlerExtras.targetAuthority`; without
 * it, a request is checked by its `Host` header, or by its URL's host when it has no `Host` header.
 *
 * @see https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#security-warning
 * @module
 */
import { isLoopbackHost } from "../config.js";
import { forbiddenHost, malformedHost } from "./responses.js";
import type { DnsRebindingOptions, TrustProxyOptions } from "./options.js";
import { canonicalHost, normalizeHost, parseHost } from "./resource-view.js";

/** What the guard decided about one `Host` value or target authority. */
type Verdict = "allowed" | "forbidden" | "malformed";

/**
 * Answers 400 for a malformed `Host` (or target authority), 403 for one not accepted or a refused
 * `Origin`; `undefined` lets it through. `targetAuthority`: an absolute-form target's authority, as
 * the adapter read it (`HandlerExtras.targetAuthority`).
 */
export type HostGuard = (req: Request, targetAuthority?: string) => Response | undefined;

/** What the guard is built from. */
export interface HostGuardOptions {
  /** The configured canonical resource URI. */
  resource: string;
  /** `true`/`undefined` (default: on), `false` (off), or widening options. */
  protection: boolean | DnsRebindingOptions | undefined;
  /** Hosts a proxy may forward: accepted in `Host` too. */
  trust_proxy: TrustProxyOptions | false | undefined;
  /** CORS origins: with a list, only those (and `allowed_origins`) may send `Origin` to a non-loopback resource. */
  cors_origins: "*" | readonly string[];
}

/**
 * Whether a parsed host name is loopback: `localhost`, `[::1]`, or an IPv4 address in 127.0.0.0/8
 * written as four decimal octets of at most 255 (`127.999.0.1` is a DNS name, not an address).
 */
function isLoopbackName(hostname: string): boolean {
  if (!isLoopbackHost(hostname)) return false;
  return !/^\d/.test(hostname) || hostname.split(".").every((octet) => Number(octet) <= 255);
}

/** Whether an `Origin` value is `http(s)://` on a loopback host. */
function isLoopbackOrigin(origin: string): boolean {
  if (!URL.canParse(origin)) return false;
  const u = new URL(origin);
  return (u.protocol === "http:" || u.protocol === "https:") && isLoopbackName(u.hostname);
}

/** Build the guard; `undefined` when the protection is off. */
export function createHostGuard(options: HostGuardOptions): HostGuard | undefined {
  if (options.protection === false) return undefined;
  const widen = typeof options.protection === "object" ? options.protection : {};
  const resource = new URL(options.resource);
  const scheme = resource.protocol === "https:" ? "https" : "http";
  const loopback = isLoopbackHost(resource.hostname);
  const hosts = new Set<string>();
  for (const h of [
    resource.host,
    ...(options.trust_proxy ? options.trust_proxy.allowed_hosts : []),
    ...(widen.allowed_hosts ?? []),
  ]) {
    // A configured host that does not parse (a port over 65535) matches nothing.
    const normalized = normalizeHost(h, scheme);
    if (normalized !== undefined) hosts.add(normalized);
  }
  const origins = new Set([
    resource.origin,
    ...(widen.allowed_origins ?? []),
    ...(options.cors_origins === "*" ? [] : options.cors_origins),
  ]);
  const anyOrigin = !loopback && options.cors_origins === "*";

  /**
   * The verdict on one authority. The few values a server sees again and again (its own names) are
   * remembered, up to 64: anything a client invents past that is just parsed each time.
   */
  const verdicts = new Map<string, Verdict>();
  const verdictOf = (authority: string): Verdict => {
    const known = verdicts.get(authority);
    if (known !== undefined) return known;
    const parsed = parseHost(authority);
    const verdict: Verdict = !parsed
      ? "malformed"
      : hosts.has(canonicalHost(parsed, scheme)) || (loopback && isLoopbackName(parsed.hostname))
        ? "allowed"
        : "forbidden";
    if (verdicts.size < 64) verdicts.set(authority, verdict);
    return verdict;
  };
  /** The answer for one authority: 400 when malformed, 403 when not allowed, `undefined` when allowed. */
  const checkAuthority = (authority: string, what: "host" | "target"): Response | undefined => {
    const verdict = verdictOf(authority);
    return verdict === "allowed" ? undefined : verdict === "malformed" ? malformedHost(what) : forbiddenHost("host");
  };
  const originAllowed = (origin: string): boolean =>
    anyOrigin || origins.has(origin) || (loopback && isLoopbackOrigin(origin));

  return (req, target) => {
    // Several Host lines reach here joined with ", " (a Headers, or the Node view reading rawHeaders): malformed.
    const host = req.headers.get("host");
    if (target !== undefined) {
      if (host !== null && verdictOf(host) === "malformed") return malformedHost("host");
      const refused = checkAuthority(target, "target");
      if (refused) return refused;
    } else {
      // A Request built by hand may have no Host header: its URL's host is what it was addressed to.
      const refused = checkAuthority(host ?? new URL(req.url).host, "host");
      if (refused) return refused;
    }
    const origin = req.headers.get("origin");
    if (origin !== null && !originAllowed(origin)) return forbiddenHost("origin");
    return undefined;
  };
}
