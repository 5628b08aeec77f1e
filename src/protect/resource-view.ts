/**
 * What depends on the canonical resource URI — the RFC 9728 document and the challenge parameters —
 * and which URI a request gets: the configured one, or with `trust_proxy` the forwarded one.
 *
 * @module
 */
import type { DpopCheck } from "../authenticate.js";
import type { ChallengeOptions } from "../challenges.js";
import { isLoopbackHost, type ResolvedAuthorizationConfig } from "../config.js";
import { buildProtectedResourceMetadata, resourceMetadataUrl, type ProtectedResourceMetadata } from "../metadata.js";
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
      resourceMetadataUrl: resourceMetadataUrl(config.metadata_path, uri),
      scopes: config.required_scopes,
      ...(dpop ? { dpopAlgorithms: dpop.algorithms, dpopRequired: config.dpop_required } : {}),
    },
  };
}

/** `host` lower-cased, without the port that is the default for `scheme` (`:443` for https, `:80` for http). */
export function normalizeHost(host: string, scheme: "http" | "https"): string {
  const h = host.toLowerCase();
  const defaultPort = scheme === "https" ? ":443" : ":80";
  return h.endsWith(defaultPort) ? h.slice(0, -defaultPort.length) : h;
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
  const views = new Map<string, ResourceView>();
  return (req) => {
    const forwardedHost = singleForwarded(req.headers.get("x-forwarded-host"));
    const forwardedProto = singleForwarded(req.headers.get("x-forwarded-proto"));
    if (forwardedHost === undefined || forwardedProto === undefined) return "ambiguous";
    if (forwardedHost === null) return configured;
    const proto = forwardedProto ?? fallbackProto;
    if (proto !== "https" && proto !== "http") return configured;
    const host = normalizeHost(forwardedHost, proto);
    if (!allowedFor[proto].has(host)) return configured;
    // The same rule as for the configured resource: plain http only on loopback, unless allowed.
    if (proto === "http" && !allowInsecureHttp && !isLoopbackHost(host.replace(/:\d+$/, ""))) return configured;
    const uri = `${proto}://${host}${endpointPath}`;
    let view = views.get(uri);
    if (!view) views.set(uri, (view = viewOf(uri)));
    return view;
  };
}
