/**
 * The token exchange client behind `getContext().exchangeToken()` and `.connection()`: one per
 * server, built from the `token_exchange` option.
 *
 * - **Cache**: exchanged tokens per (SHA-256 of the caller's token, audience, scope, resource), in a
 *   bounded LRU, until `expiry_skew_seconds` before their `exp`; a token whose expiry is unknown is
 *   not cached.
 * - **Single flight**: concurrent exchanges for the same key share one call.
 * - **Outages** (network error, timeout, 5xx, oversized answer) back off like the key set does, and
 *   calls fail fast with `ERR_TOKEN_EXCHANGE_UNAVAILABLE` meanwhile.
 * - Tokens are sent to `token_endpoint` only (redirects are not followed) and never appear in errors
 *   or events.
 *
 * @see RFC 8693 §2 (request, response, errors)
 * @internal
 * @module
 */
import { decodeJwt } from "jose";
import { LRUCache } from "lru-cache";
import { z } from "zod";
import type { AuthContext } from "../context/types.js";
import { emitSafely, type AuthEventListener } from "../events.js";
import { Backoff } from "../lib/backoff.js";
import type { Fetch } from "../lib/fetch.js";
import { ClientAuthentication } from "../lib/client-auth.js";
import { sha256 } from "../lib/hash.js";
import { fetchJson, isSecureOrLoopback } from "../validators/remote-json.js";
import { createConnection } from "./connection.js";
import { TokenExchangeError, type TokenExchangeErrorOptions, type TokenExchangeFailureReason } from "./errors.js";
import {
  ACCESS_TOKEN_TYPE,
  JWT_BEARER_GRANT,
  JWT_TOKEN_TYPE,
  parseTokenExchangeOptions,
  TOKEN_EXCHANGE_GRANT,
  type ResolvedTokenExchangeOptions,
} from "./options.js";
import { ConfigError } from "../errors.js";
import type { Connection, ConnectionRequest, ExchangedToken, ExchangeTokenRequest } from "./types.js";
import type { ContextExchange } from "../context/types.js";

/** Largest token endpoint answer accepted, in bytes. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/** RFC 8693 §2.2.1 / RFC 6749 §5.1 answer, as far as we read it. */
const ResponseSchema = z.looseObject({
  access_token: z.string().min(1).max(16_384),
  token_type: z.string().min(1),
  expires_in: z
    .union([
      z.number().nonnegative(),
      z
        .string()
        .regex(/^\d{1,10}$/)
        .transform(Number),
    ])
    .optional(),
  scope: z.string().optional(),
  issued_token_type: z.string().optional(),
});
const ErrorSchema = z.looseObject({ error: z.string().min(1), error_description: z.string().optional() });
const USABLE_TOKEN_TYPES = new Set([ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE]);

/** Space-separated, deduplicated, sorted: one spelling per scope set (the cache key and what is sent). */
function normalizeScope(scope: string | readonly string[] | undefined): string | undefined {
  if (scope === undefined) return undefined;
  const list = typeof scope === "string" ? scope.split(" ") : [...scope];
  if (list.some((s) => typeof s !== "string"))
    throw new TypeError("exchangeToken: scope must be a string or a list of strings");
  const set = [...new Set(list.filter(Boolean))].sort();
  return set.length ? set.join(" ") : undefined;
}

function checkRequest(
  r: unknown,
  what: string,
): asserts r is { audience: string; scope?: unknown; resource?: unknown } {
  if (
    typeof r !== "object" ||
    r === null ||
    typeof (r as { audience?: unknown }).audience !== "string" ||
    !(r as { audience: string }).audience
  ) {
    throw new TypeError(`${what}: "audience" must be a non-empty string`);
  }
}

/** The token exchange client of one server. */
export class TokenExchanger implements ContextExchange {
  readonly #o: ResolvedTokenExchangeOptions;
  readonly #emit: AuthEventListener | undefined;
  readonly #now: () => number;
  readonly #fetch: Fetch;
  readonly #backoff: Backoff;
  readonly #auth: ClientAuthentication;
  readonly #cache: LRUCache<string, ExchangedToken> | undefined;
  readonly #inflight = new Map<string, Promise<ExchangedToken>>();
  readonly #skewMs: number;

  /**
   * @param options - validated with `parseTokenExchangeOptions`.
   * @param on_auth_event - receives `token_exchanged` / `token_exchange_failed`.
   */
  constructor(options: ResolvedTokenExchangeOptions, on_auth_event?: AuthEventListener) {
    this.#o = options;
    this.#emit = on_auth_event;
    this.#now = options.clock ?? Date.now;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#backoff = new Backoff({ clock: this.#now, ...options.backoff });
    this.#auth = new ClientAuthentication(options, options.token_endpoint, this.#now);
    this.#skewMs = (options.expiry_skew_seconds ?? 30) * 1000;
    const max = options.cache_max ?? 1000;
    // Entries get their own ttl (up to exp − skew); the constructor ttl switches TTL tracking on.
    this.#cache =
      max > 0
        ? new LRUCache<string, ExchangedToken>({
            max,
            ttl: 86_400_000,
            ttlAutopurge: false,
            ttlResolution: 0,
            perf: { now: this.#now },
          })
        : undefined;
  }

  /** Exchange the caller's token for one for `request.audience` (from the cache when still fresh). */
  async exchangeToken(auth: AuthContext | null, request: ExchangeTokenRequest): Promise<ExchangedToken> {
    checkRequest(request, "exchangeToken");
    const { audience } = request;
    const resource = request.resource;
    if (resource !== undefined && (typeof resource !== "string" || !URL.canParse(resource)))
      throw new TypeError('exchangeToken: "resource" must be an absolute URL');
    this.#checkCaller(auth, audience);
    this.#checkAudience(audience);
    const scope = normalizeScope(request.scope ?? this.#o.audiences?.[audience]?.scope);
    if (!scope && this.#o.scope_required)
      throw new TypeError(
        `exchangeToken: this authorization server needs a "scope" (or token_exchange.audiences["${audience}"].scope)`,
      );
    const key = JSON.stringify([sha256(auth.token), audience, scope ?? "", resource ?? ""]);
    const cached = this.#cached(key);
    if (cached) return cached;
    const running = this.#inflight.get(key);
    if (running) return running;
    if (!this.#backoff.ready())
      throw this.#fail("backing_off", { audience, retry_after: this.#backoff.retryAfterSeconds() });
    const promise = this.#exchange(auth, audience, scope, resource, key).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, promise);
    return promise;
  }

  /** A connection handle for `request.audience`, as the caller. */
  connection(auth: AuthContext | null, request: ConnectionRequest): Connection {
    checkRequest(request, "connection");
    const { audience } = request;
    this.#checkCaller(auth, audience);
    this.#checkAudience(audience);
    const origin = this.#originOf(audience);
    const scope = request.scope;
    return createConnection({
      audience,
      origin,
      fetch: this.#fetch,
      token: async () => (await this.exchangeToken(auth, { audience, scope })).access_token,
      refuse: (reason) => this.#fail(reason, { audience }),
    });
  }

  #checkCaller(auth: AuthContext | null, audience: string): asserts auth is AuthContext {
    if (!auth) throw this.#fail("no_caller", { audience });
    if (auth.expires_at !== undefined && auth.expires_at * 1000 <= this.#now())
      throw this.#fail("caller_expired", { audience });
  }

  #checkAudience(audience: string): void {
    const allowed = this.#o.audiences;
    if (allowed && !Object.hasOwn(allowed, audience)) throw this.#fail("audience_not_allowed", { audience });
  }

  /** The configured origin, else the audience's own when it is a secure (or loopback) URL. */
  #originOf(audience: string): string {
    const configured = this.#o.audiences?.[audience]?.origin;
    if (configured) return new URL(configured).origin;
    if (URL.canParse(audience)) {
      const u = new URL(audience);
      if ((u.protocol === "https:" || u.protocol === "http:") && isSecureOrLoopback(u)) return u.origin;
    }
    throw this.#fail("origin_unknown", { audience });
  }

  #cached(key: string): ExchangedToken | undefined {
    const hit = this.#cache?.get(key);
    if (hit && hit.expires_at !== undefined && hit.expires_at * 1000 - this.#skewMs <= this.#now()) {
      this.#cache?.delete(key);
      return undefined;
    }
    return hit;
  }

  /** Build a {@link TokenExchangeError} and report it. */
  #fail(reason: TokenExchangeFailureReason, options: TokenExchangeErrorOptions): TokenExchangeError {
    const err = new TokenExchangeError(reason, options);
    emitSafely(this.#emit, {
      type: "token_exchange_failed",
      audience: err.audience,
      code: err.code,
      reason: err.reason,
      error: err.error,
    });
    return err;
  }

  /** The token request's form: RFC 8693 token exchange, or Entra's on-behalf-of `jwt-bearer` grant. */
  #requestBody(
    auth: AuthContext,
    audience: string,
    scope: string | undefined,
    resource: string | undefined,
  ): URLSearchParams {
    const o = this.#o;
    const body = new URLSearchParams();
    if (o.profile === "entra_obo") {
      body.set("grant_type", JWT_BEARER_GRANT);
      body.set("assertion", auth.token);
      body.set("requested_token_use", "on_behalf_of");
      body.set("scope", scope ?? `${audience.replace(/\/+$/, "")}/.default`);
      return body;
    }
    body.set("grant_type", TOKEN_EXCHANGE_GRANT);
    body.set("subject_token", auth.token);
    body.set("subject_token_type", o.subject_token_type ?? ACCESS_TOKEN_TYPE);
    if (o.requested_token_type) body.set("requested_token_type", o.requested_token_type);
    body.set("audience", audience);
    if (scope) body.set("scope", scope);
    if (resource) body.set("resource", resource);
    return body;
  }

  /** POST the request; an unreachable endpoint or a 5xx counts toward the back-off, any answer resets it. */
  async #post(body: URLSearchParams, audience: string): Promise<{ status: number; json?: unknown }> {
    const o = this.#o;
    const headers = new Headers({ "content-type": "application/x-www-form-urlencoded", accept: "application/json" });
    await this.#auth.apply(headers, body);
    let res;
    try {
      const init = { method: "POST" as const, headers, body: body.toString() };
      res = await fetchJson(this.#fetch, o.token_endpoint, init, {
        timeout_ms: o.timeout_ms ?? 5000,
        max_bytes: MAX_RESPONSE_BYTES,
        error_json: true,
      });
    } catch (e) {
      this.#backoff.failed();
      throw this.#fail("unreachable", { audience, cause: e });
    }
    if (res.status >= 500) {
      this.#backoff.failed();
      throw this.#fail("unreachable", { audience, status: res.status });
    }
    // The server answered: whatever it said, it is reachable.
    this.#backoff.succeeded();
    return res;
  }

  /** The answer as an {@link ExchangedToken}, or a typed failure (the server's `error`, or an unusable answer). */
  #readAnswer(res: { status: number; json?: unknown }, audience: string, scope: string | undefined): ExchangedToken {
    if (res.status !== 200) {
      const err = ErrorSchema.safeParse(res.json);
      if (res.status >= 400 && err.success) {
        throw this.#fail("refused", {
          audience,
          status: res.status,
          error: err.data.error,
          error_description: err.data.error_description,
        });
      }
      throw this.#fail("invalid_response", { audience, status: res.status });
    }
    const parsed = ResponseSchema.safeParse(res.json);
    if (!parsed.success) throw this.#fail("invalid_response", { audience, status: 200 });
    const r = parsed.data;
    if (r.token_type.toLowerCase() !== "bearer") {
      throw this.#fail("invalid_response", {
        audience,
        status: 200,
        cause: new Error(`token_type ${r.token_type.slice(0, 20)} is not Bearer`),
      });
    }
    const issued = r.issued_token_type ?? ACCESS_TOKEN_TYPE;
    if (!USABLE_TOKEN_TYPES.has(issued)) {
      throw this.#fail("invalid_response", {
        audience,
        status: 200,
        cause: new Error("issued_token_type is not an access token"),
      });
    }
    return Object.freeze({
      access_token: r.access_token,
      token_type: "Bearer" as const,
      expires_at: this.#expiresAt(r.expires_in, r.access_token),
      scope: r.scope ?? scope,
      issued_token_type: issued,
    });
  }

  async #exchange(
    auth: AuthContext,
    audience: string,
    scope: string | undefined,
    resource: string | undefined,
    key: string,
  ): Promise<ExchangedToken> {
    const res = await this.#post(this.#requestBody(auth, audience, scope, resource), audience);
    const exchanged = this.#readAnswer(res, audience, scope);
    const ttl = exchanged.expires_at === undefined ? 0 : exchanged.expires_at * 1000 - this.#skewMs - this.#now();
    if (ttl > 0) this.#cache?.set(key, exchanged, { ttl });
    emitSafely(this.#emit, {
      type: "token_exchanged",
      audience,
      subject: auth.subject,
      client_id: auth.client_id,
      scope: exchanged.scope,
      expires_at: exchanged.expires_at,
    });
    return exchanged;
  }

  /** From `expires_in`, else the token's own `exp` (when it is a JWT), else unknown. */
  #expiresAt(expiresIn: number | undefined, token: string): number | undefined {
    if (expiresIn !== undefined) return Math.floor(this.#now() / 1000) + Math.floor(expiresIn);
    try {
      const exp = decodeJwt(token).exp;
      return typeof exp === "number" ? exp : undefined;
    } catch {
      return undefined;
    }
  }
}

/**
 * The exchanger for a server's `token_exchange` option, or `undefined` without one. Token exchange
 * acts for an authorized caller: with authorization disabled it is a configuration error.
 *
 * @throws {@link ConfigError}
 * @internal
 */
export function createTokenExchange(
  input: unknown,
  authorizationEnabled: boolean,
  on_auth_event: AuthEventListener | undefined,
  where: string,
): TokenExchanger | undefined {
  if (input === undefined) return undefined;
  const options = parseTokenExchangeOptions(input, where);
  if (!authorizationEnabled)
    throw new ConfigError(where, [
      { key: "token_exchange", message: "needs authorization.enabled: an exchange acts for an authorized caller" },
    ]);
  return new TokenExchanger(options, on_auth_event);
}
