/**
 * DNS-rebinding protection: `Host` and `Origin` checked before anything else.
 *
 * A page on `evil.example` can make its name resolve to 127.0.0.1 and then send requests that a
 * browser considers same-origin to a server on loopback. Those requests still say
 * `Host: evil.example` (and `Origin: http://evil.example`), so a server that accepts only its own
 * names is out of reach. The MCP transport spec requires servers to validate `Origin` (403 when it
 * is invalid).
 *
 * @see https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#security-warning
 * @module
 */
import { isLoopbackHost } from "../config.js";
import { forbiddenHost } from "../responses.js";
import type { DnsRebindingOptions, TrustProxyOptions } from "./options.js";
import { normalizeHost } from "./resource-view.js";

/** Answers 403 for a request whose `Host` or `Origin` is not accepted; `undefined` lets it through. */
export type HostGuard = (req: Request) => Response | undefined;

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

/** The host name of a `Host` value (`name`, `name:port`, `[v6]`, `[v6]:port`), lower-cased. */
function hostnameOf(host: string): string {
  const h = host.toLowerCase();
  if (h.startsWith("[")) return h.slice(0, h.indexOf("]") + 1);
  const colon = h.indexOf(":");
  return colon === -1 ? h : h.slice(0, colon);
}

/** Whether an `Origin` value is `http(s)://` on a loopback host. */
function isLoopbackOrigin(origin: string): boolean {
  if (!URL.canParse(origin)) return false;
  const u = new URL(origin);
  return (u.protocol === "http:" || u.protocol === "https:") && isLoopbackHost(u.hostname);
}

/** Build the guard; `undefined` when the protection is off. */
export function createHostGuard(o: HostGuardOptions): HostGuard | undefined {
  if (o.protection === false) return undefined;
  const widen = typeof o.protection === "object" ? o.protection : {};
  const resource = new URL(o.resource);
  const scheme = resource.protocol === "https:" ? "https" : "http";
  const loopback = isLoopbackHost(resource.hostname);
  const hosts = new Set(
    [resource.host, ...(o.trust_proxy ? o.trust_proxy.allowed_hosts : []), ...(widen.allowed_hosts ?? [])].map((h) =>
      normalizeHost(h, scheme),
    ),
  );
  const origins = new Set([resource.origin, ...(widen.allowed_origins ?? []), ...(o.cors_origins === "*" ? [] : o.cors_origins)]);
  const anyOrigin = !loopback && o.cors_origins === "*";

  const hostAllowed = (host: string): boolean => {
    if (host.includes(",")) return false;
    const normalized = normalizeHost(host.trim(), scheme);
    return hosts.has(normalized) || (loopback && isLoopbackHost(hostnameOf(normalized)));
  };
  const originAllowed = (origin: string): boolean => anyOrigin || origins.has(origin) || (loopback && isLoopbackOrigin(origin));

  return (req) => {
    // A Request built by hand may have no Host header: its URL's host is what it was addressed to.
    const host = req.headers.get("host") ?? new URL(req.url).host;
    if (!hostAllowed(host)) return forbiddenHost("host");
    const origin = req.headers.get("origin");
    if (origin !== null && !originAllowed(origin)) return forbiddenHost("origin");
    return undefined;
  };
}
