/**
 * The request pipeline behind `protect()`:
 *
 * guard `Host`/`Origin` → route (metadata, preflight, 404) → authorize → read the body → per-item
 * policy (step-up) → backend → list filtering → CORS.
 *
 * Each step is a small function; this module only puts them in order.
 *
 * @module
 */
import { authorize, type DpopCheck } from "./authenticate.js";
import { challengeResponse } from "./challenges.js";
import type { ResolvedAuthorizationConfig } from "../config.js";
import { createRequestContext } from "../context/request-context.js";
import { toAuthInfo } from "../context/sdk-bridge.js";
import { type AuthContext } from "../context/types.js";
import { createDpopCheck, type DpopOptions } from "../dpop/check.js";
import { AuthError, InsufficientScope, ProviderFailed } from "../errors.js";
import { emitSafely, type AuthEventListener } from "../events.js";
import { metadataPaths } from "./metadata.js";
import { asksForList, buildScopePolicy, filterListResponse, stepUpScopes, unmetRequirement, type ScopePolicy } from "../items/policy.js";
import { ambiguousForwardedHeader, notFound, providerFailed } from "./responses.js";
import { ANONYMOUS_PRINCIPAL } from "../serving/sessions.js";
import { markReadsBodyLazily, type HandlerExtras } from "../adapters/contract.js";
import { DEFAULT_MAX_BODY_BYTES, readJsonBody, type McpBackend } from "../serving/backend.js";
import { pathnameOf } from "../lib/url-path.js";
import { createTokenExchange } from "../token-exchange/exchanger.js";
import type { AuthorizationProvider } from "../validators/provider.js";
import { createCors, withHeaders, type Cors } from "./cors.js";
import { createHostGuard } from "./host-guard.js";
import { serveMetadata } from "./metadata-endpoint.js";
import type { ProtectOptions, ResolvedProtectOptions } from "./options.js";
import { forwardedViews, resourceView, type ResourceView } from "./resource-view.js";
import type { ProtectedHandler } from "./types.js";

function resolveDpop(o: ProtectOptions["dpop"]): DpopCheck | undefined {
  if (o === false) return undefined;
  if (o && typeof (o as DpopCheck).verify === "function") return o as DpopCheck;
  return createDpopCheck((o ?? {}) as DpopOptions);
}

/** Who may use a session: issuer, subject and client together. */
function principalOf(auth: AuthContext | null): string {
  if (!auth) return ANONYMOUS_PRINCIPAL;
  // A verified-token cache hit hands back the same AuthContext: compute its key once.
  let key = principalKeys.get(auth);
  if (key === undefined) principalKeys.set(auth, (key = JSON.stringify([auth.issuer ?? "", auth.subject, auth.client_id ?? ""])));
  return key;
}
const principalKeys = new WeakMap<AuthContext, string>();

/** What the authorize step needs, fixed per handler. */
interface Gate {
  config: Readonly<ResolvedAuthorizationConfig>;
  provider: AuthorizationProvider | undefined;
  dpop: DpopCheck | undefined;
  emit: AuthEventListener | undefined;
  cors: Cors;
  backend: McpBackend;
}

/** The outcome of the authorize step: the principal, or the answer to send instead. */
type Authorized = { auth: AuthContext | null } | { response: Response };

const ANONYMOUS: Authorized = Object.freeze({ auth: null });

/**
 * Authorize a request to the MCP endpoint. With authorization disabled everyone is anonymous. A
 * refusal becomes its challenge; anything else the provider throws becomes a 500 (never `fail_open`).
 * Synchronous when the provider answered from its cache (no promise, no microtask turn).
 */
function authorizeStep(req: Request, view: ResourceView, g: Gate): Authorized | Promise<Authorized> {
  if (!g.config.enabled) return ANONYMOUS;
  let decided: AuthContext | null | Promise<AuthContext | null>;
  try {
    decided = authorize(req, {
      config: g.config,
      provider: g.provider as AuthorizationProvider,
      resource: view.resource,
      dpop: g.dpop,
      on_auth_event: g.emit,
    });
  } catch (e) {
    return { response: failed(e, req, view, g) };
  }
  if (decided instanceof Promise) {
    return decided.then(
      (auth) => admit(auth, req, view, g),
      (e: unknown) => ({ response: failed(e, req, view, g) }),
    );
  }
  return admit(decided, req, view, g);
}

/** An authorized principal: checked against the session it names, reported as `accepted`. */
function admit(auth: AuthContext | null, req: Request, view: ResourceView, g: Gate): Authorized {
  try {
    g.backend.checkSession?.(req, principalOf(auth));
  } catch (e) {
    return { response: failed(e, req, view, g) };
  }
  if (auth && g.emit)
    emitSafely(g.emit, { type: "accepted", subject: auth.subject, client_id: auth.client_id, scopes: auth.scopes, jkt: auth.jkt });
  return { auth };
}

/** What the authorize step answers for something thrown: an {@link AuthError}'s challenge, else a 500. */
function failed(e: unknown, req: Request, view: ResourceView, g: Gate): Response {
  if (e instanceof AuthError) return refuse(e, req, view, g);
  const error_class = (e instanceof ProviderFailed ? e : new ProviderFailed(e)).error_class;
  emitSafely(g.emit, { type: "provider_error", error_class });
  return providerFailed(g.cors.pairs(req, false) as [string, string][]);
}

/** A refusal's challenge, with CORS, reported as a `refused` event. */
function refuse(err: AuthError, req: Request, view: ResourceView, g: Gate): Response {
  const res = challengeResponse(err, view.challenge, g.cors.headers(req, false));
  emitSafely(g.emit, { type: "refused", code: err.code, reason: err.reason, status: res.status });
  return res;
}

/** Step-up (before the handler runs): the scopes the body's operation needs and the caller lacks, as a 403 challenge. */
function stepUpRefusal(
  body: unknown,
  auth: AuthContext,
  policy: ScopePolicy,
  req: Request,
  view: ResourceView,
  g: Gate,
): Response | undefined {
  // The body decides, never Mcp-Name.
  const required = unmetRequirement(body, policy, auth.scopes);
  return required ? refuse(new InsufficientScope(stepUpScopes(auth.scopes, required, g.config.step_up_scope)), req, view, g) : undefined;
}

/** Build the protected handler around `backend`. */
export function createHandler(backend: McpBackend, o: ResolvedProtectOptions): ProtectedHandler {
  const { config } = o;
  const resource = config.resource ?? "http://localhost/mcp";
  const endpointPath = new URL(resource).pathname;
  const dpop = resolveDpop(o.dpop);
  // With authorization disabled there is nothing to advertise: no metadata is served.
  const wellKnown = new Set(config.enabled ? metadataPaths(config.metadata_path, resource) : []);
  const toolScopes = [...new Set([...(o.tool_scopes ?? []), ...(o.definitions ?? []).flatMap((d) => d.required_scopes)])];
  const viewOf = (uri: string): ResourceView => resourceView(config, uri, toolScopes, dpop);
  const configured = viewOf(resource);
  const viewFor = forwardedViews(o.trust_proxy, configured, endpointPath, viewOf, config.allow_insecure_http);
  const cors = createCors(o.cors_origins ?? "*");
  const guard = createHostGuard({
    resource,
    protection: o.dns_rebinding_protection,
    trust_proxy: o.trust_proxy,
    cors_origins: o.cors_origins ?? "*",
  });
  const maxBody = o.max_body_bytes ?? DEFAULT_MAX_BODY_BYTES;
  const policy = config.enabled && o.definitions?.length ? buildScopePolicy(o.definitions) : undefined;
  const exchange = createTokenExchange(o.token_exchange, config.enabled, o.on_auth_event, "protect()");
  const g: Gate = { config, provider: o.provider, dpop, emit: o.on_auth_event, cors, backend };

  const handler = async (req: Request, extras?: HandlerExtras): Promise<Response> => {
    const refused = guard?.(req, extras?.targetAuthority);
    if (refused) return refused;
    const view = viewFor(req);
    if (view === "ambiguous") return ambiguousForwardedHeader();
    const path = pathnameOf(req.url);
    if (wellKnown.has(path)) return serveMetadata(req, view, cors, config.cache_ttl);
    if (path !== endpointPath) return notFound();
    if (req.method === "OPTIONS") return cors.preflight(req);

    // Both steps answer without a promise when they can (a cached token, a body already parsed):
    // each await of a settled value is still a turn of the microtask queue.
    const step = authorizeStep(req, view, g);
    const authorized = step instanceof Promise ? await step : step;
    if ("response" in authorized) return authorized.response;
    const { auth } = authorized;
    // Only an authorized request gets this far: the body is read now, once, bounded.
    const reading = readJsonBody(req, extras, maxBody);
    const read = reading instanceof Promise ? await reading : reading;
    const corsPairs = cors.pairs(req, false);
    if ("response" in read) return withHeaders(read.response, corsPairs);
    if (policy && config.step_up && auth) {
      const stepUp = stepUpRefusal(read.body, auth, policy, req, view, g);
      if (stepUp) return stepUp;
    }
    let res = await backend.handle({
      req,
      auth,
      authInfo: auth ? toAuthInfo(auth, view.resource) : undefined,
      principal: principalOf(auth),
      parsedBody: read.body,
      context: createRequestContext(auth, config.enabled, exchange),
    });
    if (policy && config.hide_unauthorized_tools && asksForList(read.body)) res = await filterListResponse(res, policy, auth?.scopes ?? []);
    if (!extras?.addHeaders) return withHeaders(res, corsPairs);
    extras.addHeaders(corsPairs);
    return res;
  };

  return Object.assign(markReadsBodyLazily(handler), {
    resource,
    metadata: configured.metadata,
    handles: (path: string) => path === endpointPath || wellKnown.has(path),
    close: () => backend.close(),
  });
}
