/**
 * What depends on the canonical resource URI — the RFC 9728 document and the challenge parameters —
 * and which URI a request gets: the configured one, or with `trust_proxy` the forwarded one.
 *
 * @module
 */
import type { DpopCheck } from "./authenticate.js";
import type { ChallengeOptions } from "./challenges.js";
import { isLoopbackHost, type ResolvedAuthorizationConfig } from "../config.js";
import { buildProtectedResourceMetadata, resourceMetadataUrl, type ProtectedResourceMetadata } from "./metadata.js";
import type { TrustProxyOptions } from "./options.js";

/** Everything that depends on the canonical resource URI, built once per URI. */
export interface ResourceView {
  /** The canonical resource URI. */
  resource: string;
  /** The RFC 9728 document. */
  metadata: ProtectedResourceMetadata;
  /** The document, serialised once. */
  metadataBody: string;
  /** What challenges name. */
  challenge: ChallengeOptions;
}

/** Build the view for one resource URI. */
export function resourceView(
  config: Readonly<ResolvedAuthorizationConfig>,
  uri: string,
  toolScopes: readonly string[],
  dpop: DpopCheck | undefined,
): ResourceView {
  const metadata = buildProtectedResourceMetadata(config, {
    resource: uri,
    toolScopes,
    ...(dpop ? { dpopAlgorithms: dpop.algorithms } : {}),
  });
  return {
    resource: uri,
    metadata,
    metadataBody: JSON.stringify(metadata),
    challenge: {
      resource_metadata_url: resourceMetadataUrl(config.metadata_path, uri),
      scopes: config.required_scopes,
      ...(dpop ? { dpop_algorithms: dpop.algorithms, dpop_required: config.dpop_required } : {}),
    },
  };
}

/**
 * A `uri-host [":" port]` value taken apart: the host lower-cased (IPv6 in brackets, canonical), the port as a number.
 */
export interface ParsedHost {
  /** `reg-name` or IPv4 address lower-cased, or `[IPv6]` in its canonical form. */
  hostname: string;
  /** The port, when one was given: 0–65535. */
  port: number | undefined;
}

/** RFC 3986 `reg-name` (which includes `IPv4address`): unreserved, percent-encoded and sub-delims characters. */
const REG_NAME = /^(?:[a-z0-9\-._~!$&'()*+,;=]|%[0-9a-f]{2})*$/i;
/** RFC 3986 `IPvFuture`, inside the brackets. */
const IPV_FUTURE = /^v[0-9a-f]+\.[a-z0-9\-._~!$&'()*+,;=:]+$/i;
/** What an IPv6 address is written with. */
const IPV6_CHARS = /^[0-9a-f:.]+$/i;
/** A port: one to five digits (a value over 65535 is refused below). */
const PORT = /^[0-9]{1,5}$/;

/**
 * Parse a `Host` value, or the authority of an absolute-form request target, strictly as
 * `uri-host [":" port]` (RFC 9112 §3.2, RFC 3986 §3.2.2–3.2.3): a `reg-name` or IPv4 address, or an
 * IP literal in brackets (`[IPv6]` without a zone, or `[vX.…]`), then optionally `:` and a port.
 * `undefined` for anything else: userinfo (`localhost:1@evil.example`), a port that is not digits
 * (`localhost:not-a-port`), a port over 65535 (it names no TCP port; WHATWG URL refuses it too), an
 * empty port (`localhost:`, which no client sends), spaces, commas joining several values, a second
 * `:` outside brackets. An empty host is valid syntax (RFC 9112 §3.2, a URI without authority): it
 * parses, and names no host anyone allowed.
 */
export function parseHost(value: string): ParsedHost | undefined {
  let hostname: string;
  let rest: string;
  if (value.startsWith("[")) {
    const close = value.indexOf("]");
    if (close === -1) return undefined;
    const literal = value.slice(1, close);
    rest = value.slice(close + 1);
    // An IPv6 address: hex digits, colons, and dots for a trailing IPv4 part; no zone (RFC 3986 has
    // none). The URL parser decides whether it is a well-formed address and gives its canonical form.
    if (IPV6_CHARS.test(literal)) {
      if (!URL.canParse(`http://[${literal}]/`)) return undefined;
      hostname = new URL(`http://[${literal}]/`).hostname;
    } else if (IPV_FUTURE.test(literal)) hostname = `[${literal.toLowerCase()}]`;
    else return undefined;
  } else {
    const colon = value.indexOf(":");
    const name = colon === -1 ? value : value.slice(0, colon);
    rest = colon === -1 ? "" : value.slice(colon);
    if (!REG_NAME.test(name)) return undefined;
    hostname = name.toLowerCase();
  }
  if (rest === "") return { hostname, port: undefined };
  const port = rest.slice(1);
  if (!rest.startsWith(":") || !PORT.test(port) || Number(port) > 65_535) return undefined;
  return { hostname, port: Number(port) };
}

/**
 * `host` in one canonical spelling: lower-cased, the port as a plain number, without the port that
 * is the default for `scheme` (`:443` for https, `:80` for http). `undefined` when `host` is not a
 * valid `uri-host [":" port]` (see {@link parseHost}).
 */
export function normalizeHost(host: string, scheme: "http" | "https"): string | undefined {
  const parsed = parseHost(host);
  return parsed && canonicalHost(parsed, scheme);
}

/** A parsed host in the spelling {@link normalizeHost} gives: `hostname[:port]`, without `scheme`'s default port. */
export function canonicalHost(parsed: ParsedHost, scheme: "http" | "https"): string {
  const defaultPort = scheme === "https" ? 443 : 80;
  return parsed.port === undefined || parsed.port === defaultPort
    ? parsed.hostname
    : `${parsed.hostname}:${parsed.port}`;
}

/** The one value of a forwarded header; `null` when absent, `undefined` when it carries more than one. */
function singleForwarded(v: string | null): string | null | undefined {
  if (v === null) return null;
  if (v.includes(",")) return undefined;
  return v.trim().toLowerCase() || null;
}

/** A request's view, or `"ambiguous"` when a forwarded header carries several values. */
export type ViewLookup = (req: Request) => ResourceView | "ambiguous";

/**
 * The view for a request: the configured one, or — with `trust_proxy` — the one for the forwarded
 * origin when its host is allowed. A comma-joined `X-Forwarded-Host` or `X-Forwarded-Proto` is
 * `"ambiguous"` (answered 400): an appending proxy puts the client's own value first, so no value of
 * the list can be trusted. Views are cached per allowed origin (a bounded set: hosts × 2 schemes).
 */
export function forwardedViews(
  trust: TrustProxyOptions | false | undefined,
  configured: ResourceView,
  endpointPath: string,
  viewOf: (uri: string) => ResourceView,
  allowInsecureHttp: boolean,
): ViewLookup {
  if (!trust) return () => configured;
  const fallbackProto = new URL(configured.resource).protocol.slice(0, -1) as "http" | "https";
  const allowedFor = {
    http: new Set(trust.allowed_hosts.map((h) => normalizeHost(h, "http"))),
    https: new Set(trust.allowed_hosts.map((h) => normalizeHost(h, "https"))),
  };
  // A configured host that does not parse matches nothing.
  allowedFor.http.delete(undefined);
  allowedFor.https.delete(undefined);
  const views = new Map<string, ResourceView>();
  return (req) => {
    const forwardedHost = singleForwarded(req.headers.get("x-forwarded-host"));
    const forwardedProto = singleForwarded(req.headers.get("x-forwarded-proto"));
    if (forwardedHost === undefined || forwardedProto === undefined) return "ambiguous";
    if (forwardedHost === null) return configured;
    const proto = forwardedProto ?? fallbackProto;
    if (proto !== "https" && proto !== "http") return configured;
    const host = normalizeHost(forwardedHost, proto);
    if (host === undefined || !allowedFor[proto].has(host)) return configured;
    // The same rule as for the configured resource: plain http only on loopback, unless allowed.
    if (proto === "http" && !allowInsecureHttp && !isLoopbackHost(host.replace(/:\d+$/, ""))) return configured;
    const uri = `${proto}://${host}${endpointPath}`;
    let view = views.get(uri);
    if (!view) views.set(uri, (view = viewOf(uri)));
    return view;
  };
}
