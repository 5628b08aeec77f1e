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
import { authenticateCachedFirst, type DpopCheck } from "./authenticate.js";
import { challengeResponse } from "./challenges.js";
import type { ResolvedAuthorizationConfig } from "../config.js";
import { createRequestContext } from "../context/request-context.js";
import { toAuthInfo } from "../context/sdk-bridge.js";
import { type AuthContext } from "../context/types.js";
import { createDpopCheck, type DpopOptions } from "../dpop/check.js";
import { AuthError, InsufficientScope, ProviderFailed } from "../errors.js";
import { emitSafely, type AuthEventListener } from "../events.js";
import { metadataPaths } from "./metadata.js";
import {
  asksForList,
  buildScopePolicy,
  filterListResponse,
  stepUpScopes,
  unmetRequirement,
  type ScopePolicy,
} from "../items/policy.js";
import { ambiguousForwardedHeader, notFound, providerFailed } from "./responses.js";
import { ANONYMOUS_PRINCIPAL } from "../serving/sessions.js";
import { markReadsBodyLazily, type HandlerExtras } from "../adapters/contract.js";
import { DEFAULT_MAX_BODY_BYTES, readJsonBody, type McpBackend, type SessionLookup } from "../serving/backend.js";
import { pathnameOf } from "../lib/url-path.js";
import { createTokenExchange } from "../token-exchange/exchanger.js";
import { connectedAccountsFor } from "../connected-accounts/accounts.js";
import type { AuthorizationProvider } from "../validators/provider.js";
import { createCors, withHeaders, type Cors } from "./cors.js";
import { createHostGuard } from "./host-guard.js";
import { serveMetadata } from "./metadata-endpoint.js";
import type { ProtectOptions, ResolvedProtectOptions } from "./options.js";
import { forwardedViews, resourceView, type ResourceView } from "./resource-view.js";
import type { ProtectedHandler } from "./types.js";

function resolveDpop(dpopOptions: ProtectOptions["dpop"]): DpopCheck | undefined {
  if (dpopOptions === false) return undefined;
  if (dpopOptions && typeof (dpopOptions as DpopCheck).verify === "function") return dpopOptions as DpopCheck;
  return createDpopCheck((dpopOptions ?? {}) as DpopOptions);
}

/** Who may use a session: issuer, subject and client together. */
function principalOf(auth: AuthContext | null): string {
  if (!auth) return ANONYMOUS_PRINCIPAL;
  // A verified-token cache hit hands back the same AuthContext: compute its key once.
  let key = principalKeys.get(auth);
  if (key === undefined)
    principalKeys.set(auth, (key = JSON.stringify([auth.issuer ?? "", auth.subject, auth.client_id ?? ""])));
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

/**
 * The outcome of the authorize step: the principal and the session the request names (see
 * {@link McpBackend.findSession}), or the answer to send instead.
 */
type Authorized = { auth: AuthContext | null; session: SessionLookup | undefined } | { response: Response };

/**
 * Authorize a request to the MCP endpoint. With authorization disabled everyone is anonymous. A
 * refusal becomes its challenge; anything else the provider throws becomes a 500 (never `fail_open`).
 * Synchronous when the provider answered from its cache (no promise, no microtask turn).
 */
function authorizeStep(req: Request, view: ResourceView, gate: Gate): Authorized | Promise<Authorized> {
  if (!gate.config.enabled) return checkSessionAndAccept(null, req, view, gate);
  let decided: AuthContext | null | Promise<AuthContext | null>;
  try {
    decided = authenticateCachedFirst(req, {
      config: gate.config,
      provider: gate.provider as AuthorizationProvider,
      resource: view.resource,
      dpop: gate.dpop,
      on_auth_event: gate.emit,
    });
  } catch (e) {
    return { response: failed(e, req, view, gate) };
  }
  if (decided instanceof Promise) {
    return decided.then(
      (auth) => checkSessionAndAccept(auth, req, view, gate),
      (e: unknown) => ({ response: failed(e, req, view, gate) }),
    );
  }
  return checkSessionAndAccept(decided, req, view, gate);
}

/** An authorized principal: checked against the session it names, reported as `accepted`. */
function checkSessionAndAccept(auth: AuthContext | null, req: Request, view: ResourceView, gate: Gate): Authorized {
  let session: SessionLookup | undefined;
  try {
    session = gate.backend.findSession?.(req, principalOf(auth));
  } catch (e) {
    return { response: failed(e, req, view, gate) };
  }
  if (auth && gate.emit)
    emitSafely(gate.emit, {
      type: "accepted",
      subject: auth.subject,
      client_id: auth.client_id,
      scopes: auth.scopes,
      jkt: auth.jkt,
    });
  return { auth, session };
}

/** What the authorize step answers for something thrown: an {@link AuthError}'s challenge, else a 500. */
function failed(e: unknown, req: Request, view: ResourceView, gate: Gate): Response {
  if (e instanceof AuthError) return refuse(e, req, view, gate);
  const error_class = (e instanceof ProviderFailed ? e : new ProviderFailed(e)).error_class;
  emitSafely(gate.emit, { type: "provider_error", error_class });
  return providerFailed(gate.cors.pairs(req, false) as [string, string][]);
}

/** A refusal's challenge, with CORS, reported as a `refused` event. */
function refuse(err: AuthError, req: Request, view: ResourceView, gate: Gate): Response {
  const res = challengeResponse(err, view.challenge, gate.cors.headers(req, false));
  emitSafely(gate.emit, { type: "refused", code: err.code, reason: err.reason, status: res.status });
  return res;
}

/**
 * Step-up (before the handler runs): the scopes the body's operation needs and the caller lacks, as a 403 challenge.
 */
function stepUpRefusal(
  body: unknown,
  auth: AuthContext,
  policy: ScopePolicy,
  req: Request,
  view: ResourceView,
  gate: Gate,
): Response | undefined {
  // The body decides, never Mcp-Name.
  const required = unmetRequirement(body, policy, auth.scopes);
  return required
    ? refuse(new InsufficientScope(stepUpScopes(auth.scopes, required, gate.config.step_up_scope)), req, view, gate)
    : undefined;
}

/**
 * A connect page's request, with its form where the pages read it: a body a framework already parsed
 * (`express.urlencoded()`) becomes the form again; a body the adapter hands over through
 * {@link HandlerExtras.readBody} is read by the pages themselves, bounded by their own limit.
 */
function connectRequest(req: Request, extras: HandlerExtras | undefined): Request {
  const parsed = extras?.parsedBody;
  if (req.method !== "POST" || parsed === undefined) return req;
  const body =
    typeof parsed === "object" && parsed !== null
      ? new URLSearchParams(parsed as Record<string, string>).toString()
      : "";
  return new Request(req.url, { method: "POST", headers: req.headers, body });
}

/** The server's connected accounts (`connected_accounts`), bound to its resource, validator and events. */
function accountsOf(options: ResolvedProtectOptions, resource: string) {
  const { config } = options;
  return connectedAccountsFor(options.connected_accounts, {
    resource,
    enabled: config.enabled,
    authorization_servers: config.authorization_servers,
    provider: options.provider,
    cache_ttl: config.cache_ttl,
    emit: options.on_auth_event,
    where: "protect()",
  });
}

/** Build the protected handler around `backend`. */
export function createHandler(backend: McpBackend, options: ResolvedProtectOptions): ProtectedHandler {
  const { config } = options;
  const resource = config.resource ?? "http://localhost/mcp";
  const endpointPath = new URL(resource).pathname;
  const dpop = resolveDpop(options.dpop);
  // With authorization disabled there is nothing to advertise: no metadata is served.
  const wellKnown = new Set(config.enabled ? metadataPaths(config.metadata_path, resource) : []);
  const toolScopes = [
    ...new Set([...(options.tool_scopes ?? []), ...(options.definitions ?? []).flatMap((d) => d.required_scopes)]),
  ];
  const viewOf = (uri: string): ResourceView => resourceView(config, uri, toolScopes, dpop);
  const configured = viewOf(resource);
  const viewFor = forwardedViews(options.trust_proxy, configured, endpointPath, viewOf, config.allow_insecure_http);
  const cors = createCors(options.cors_origins ?? "*");
  const guard = createHostGuard({
    resource,
    protection: options.dns_rebinding_protection,
    trust_proxy: options.trust_proxy,
    cors_origins: options.cors_origins ?? "*",
  });
  const maxBody = options.max_body_bytes ?? DEFAULT_MAX_BODY_BYTES;
  const policy = config.enabled && options.definitions?.length ? buildScopePolicy(options.definitions) : undefined;
  const tokenExchange = createTokenExchange(options.token_exchange, config.enabled, options.on_auth_event, "protect()");
  const accounts = accountsOf(options, resource);
  const gate: Gate = { config, provider: options.provider, dpop, emit: options.on_auth_event, cors, backend };

  const handler = async (req: Request, extras?: HandlerExtras): Promise<Response> => {
    const refused = guard?.(req, extras?.targetAuthority);
    if (refused) return refused;
    const view = viewFor(req);
    if (view === "ambiguous") return ambiguousForwardedHeader();
    const path = pathnameOf(req.url);
    if (wellKnown.has(path)) return serveMetadata(req, view, cors, config.cache_ttl);
    if (accounts?.handles(path)) return accounts.handle(connectRequest(req, extras), extras?.readBody);
    if (path !== endpointPath) return notFound();
    if (req.method === "OPTIONS") return cors.preflight(req);

    // Both steps answer without a promise when they can (a cached token, a body already parsed):
    // each await of a settled value is still a turn of the microtask queue.
    const step = authorizeStep(req, view, gate);
    const authorized = step instanceof Promise ? await step : step;
    if ("response" in authorized) return authorized.response;
    const { auth, session } = authorized;
    // Only an authorized request gets this far: the body is read now, once, bounded.
    const reading = readJsonBody(req, extras, maxBody);
    const read = reading instanceof Promise ? await reading : reading;
    const corsPairs = cors.pairs(req, false);
    if ("response" in read) return withHeaders(read.response, corsPairs);
    if (policy && config.step_up && auth) {
      const stepUp = stepUpRefusal(read.body, auth, policy, req, view, gate);
      if (stepUp) return stepUp;
    }
    let res = await backend.handle({
      req,
      auth,
      authInfo: auth ? toAuthInfo(auth, view.resource) : undefined,
      principal: principalOf(auth),
      parsedBody: read.body,
      context: createRequestContext(auth, config.enabled, tokenExchange, accounts),
      session,
    });
    if (policy && config.hide_unauthorized_tools && asksForList(read.body))
      res = await filterListResponse(res, policy, auth?.scopes ?? []);
    if (!extras?.addHeaders) return withHeaders(res, corsPairs);
    extras.addHeaders(corsPairs);
    return res;
  };

  return Object.assign(markReadsBodyLazily(handler), {
    resource,
    metadata: configured.metadata,
    handles: (path: string) => path === endpointPath || wellKnown.has(path) || (accounts?.handles(path) ?? false),
    close: () => {
      accounts?.close();
      return backend.close();
    },
  });
}
