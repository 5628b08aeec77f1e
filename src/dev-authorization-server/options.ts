/**
 * Options of the development authorization server, validated once with zod.
 *
 * @module
 */
import type { CryptoKey, KeyObject } from "jose";
import { z } from "zod";
import { isLoopbackHost } from "../config.js";
import type { Clock } from "../lib/clock.js";
import { optionsSchema, parseOptions, urlOption } from "../lib/options.js";
import { SCOPE_TOKEN } from "../lib/scope.js";
import { lookup as dnsLookup } from "node:dns/promises";
import { pinnedFetch } from "./lib/pinned-fetch.js";
import type {
  ClientIdMetadataDocumentOptions,
  FetchDocument,
  LookupAddresses,
  ResolvedClientIdMetadataDocumentOptions,
} from "./types.js";
import { MemoryStorage, type DevAuthorizationServerStorage } from "./storage.js";
import { devClientsSchema, type DevClientOptions } from "./clients.js";

/** The `token_exchange` option of the development authorization server. */
export interface DevTokenExchangeOptions {
  /**
   * Confidential clients allowed to exchange tokens (e.g. your MCP server), authenticated with `client_secret_basic` or
   * `client_secret_post`.
   */
  clients: {
    /** The client's id (`client_id` at the token endpoint). */
    client_id: string;
    /** Its secret, at least 16 characters. */
    client_secret: string;
  }[];
  /** Audiences an exchanged token may be issued for (the downstream APIs), compared exactly. */
  audiences: string[];
}

/** Schema of {@link DevTokenExchangeOptions} (strict). */
export const devTokenExchangeSchema = z.strictObject({
  clients: z
    .array(
      z.strictObject({
        client_id: z.string().min(1).max(200),
        client_secret: z.string().min(16, "at least 16 characters").max(500),
      }),
    )
    .min(1)
    .refine((c) => new Set(c.map((x) => x.client_id)).size === c.length, { error: "client ids must be unique" }),
  audiences: z.array(z.string().min(1).max(2000)).min(1),
});

/** The `whoami_api` option of the development authorization server. */
export interface DevWhoamiApiOptions {
  /** The audience its tokens must have: one of `resources`. Default: the only configured resource. */
  resource?: string | undefined;
}

/**
 * Decides who is logging in, from the consent form post. Return the subject (`sub`) or `null` to
 * refuse (the page is shown again with a generic "sign-in failed" message).
 *
 * @param request - the consent `POST` (headers, cookies of your own session, …). Its body is already read.
 * @param form - the submitted form fields (e.g. `username`).
 */
export type AuthenticateUser = (request: Request, form: URLSearchParams) => string | null | Promise<string | null>;

/**
 * Seam for DPoP (RFC 9449): verify the `DPoP` proof of a token request and return the RFC 7638
 * thumbprint (`jkt`) of its key, `undefined` when the request has no proof, or throw when a proof is
 * present but invalid (the token request is refused with `invalid_dpop_proof`).
 */
export type VerifyDpopProof = (request: Request) => Promise<string | undefined>;

/** An ES256 key pair, e.g. from jose's `generateKeyPair("ES256")`. */
export interface SigningKeyPair {
  /** Signs access tokens. */
  privateKey: CryptoKey | KeyObject;
  /** Published in the JWKS (must be exportable). */
  publicKey: CryptoKey | KeyObject;
}

/** Options of {@link createDevAuthorizationServer}. Seconds for every TTL. */
export interface DevAuthorizationServerOptions {
  /**
   * Issuer identifier, e.g. `http://127.0.0.1:8001`. Endpoints live under its path. https, or http on
   * loopback; neither userinfo, query nor fragment (RFC 8414 §2).
   */
  issuer: string;
  /**
   * The protected resources tokens may be issued for (RFC 8707), e.g. `["http://127.0.0.1:8000/mcp"]`:
   * neither userinfo, query nor fragment (RFC 8707 §2), like `protect()`'s `resource`.
   * With exactly one, the `resource` parameter may be omitted and defaults to it.
   */
  resources: string[];
  /** Scopes clients may request. Default `["mcp"]`. */
  scopes_supported?: string[];
  /** Human-readable text per scope, shown on the consent page. */
  scope_descriptions?: Record<string, string>;
  /** Scopes granted when a request names none. Default: the client's registered `scope`, else every supported scope. */
  default_scopes?: string[];
  /** Access-token lifetime, in seconds. Default 3600. */
  access_token_ttl_seconds?: number;
  /** @deprecated Use `access_token_ttl_seconds`. Removed in 0.3. */
  access_token_ttl?: number;
  /** Authorization-code lifetime, in seconds. Default 120. */
  code_ttl_seconds?: number;
  /** @deprecated Use `code_ttl_seconds`. Removed in 0.3. */
  code_ttl?: number;
  /** Absolute lifetime of a refresh-token family (rotation does not extend it), in seconds. Default 86 400. */
  refresh_token_ttl_seconds?: number;
  /** @deprecated Use `refresh_token_ttl_seconds`. Removed in 0.3. */
  refresh_token_ttl?: number;
  /** How long the login/consent page stays valid, in seconds. Default 600. */
  consent_ttl_seconds?: number;
  /** @deprecated Use `consent_ttl_seconds`. Removed in 0.3. */
  consent_ttl?: number;
  /**
   * Who is logging in. Default: **development only** — whatever username is typed, no password.
   * Replace it (or the whole server) before anyone else can reach the port.
   */
  authenticate_user?: AuthenticateUser;
  /** @deprecated Use `authenticate_user`. Removed in 0.3. */
  authenticateUser?: AuthenticateUser;
  /** Show the username field on the consent page. Default `true`. */
  username_field?: boolean;
  /**
   * DPoP at the token endpoint. Default: RFC 9449 proof checks (the resource server's own) with an in-memory replay
   * store. See {@link VerifyDpopProof}.
   */
  verify_dpop_proof?: VerifyDpopProof;
  /** @deprecated Use `verify_dpop_proof`. Removed in 0.3. */
  verifyDpopProof?: VerifyDpopProof;
  /** Proof algorithms accepted and advertised as `dpop_signing_alg_values_supported`. Default `["ES256", "EdDSA"]`. */
  dpop_signing_alg_values_supported?: string[];
  /** Where state lives. Default: a new bounded {@link MemoryStorage}. */
  storage?: DevAuthorizationServerStorage;
  /** Signing key. Default: a fresh ES256 pair per process (tokens die with the process). */
  signing_key?: SigningKeyPair;
  /** Title on the pages. Default `"Development authorization server"`. */
  title?: string;
  /** Accept a plain-http non-loopback issuer or resource. Default `false`. */
  allow_insecure_http?: boolean;
  /**
   * Client ID Metadata Documents: clients may use an https URL as `client_id`, and the server fetches
   * their metadata from it (advertised as `client_id_metadata_document_supported`). Default `true`
   * (with the defaults of {@link ClientIdMetadataDocumentOptions}); `false` turns it off. Dynamic
   * client registration is available either way.
   */
  client_id_metadata_documents?: boolean | ClientIdMetadataDocumentOptions;
  /**
   * RFC 8693 token exchange: confidential clients (id + secret, e.g. your MCP server) that may
   * exchange an access token this server issued for one for an allowed audience. Default: off.
   */
  token_exchange?: DevTokenExchangeOptions;
  /**
   * Pre-registered clients with fixed redirect URIs: confidential (with a `client_secret`, authenticated
   * at the token endpoint with `client_secret_basic` or `client_secret_post`) or public. For web
   * applications that are this server's OAuth clients (an MCP server's connect page, or an MCP server
   * calling the API this server stands in for). Default: none (dynamic registration and metadata
   * documents only).
   */
  clients?: DevClientOptions[];
  /**
   * Serve `GET {issuer path}/api/whoami`, a small API that accepts this server's own access tokens for
   * `resource` (default: the only configured resource) and answers whom the token belongs to, so that
   * this server can play a third-party service (its users, its consent page, its API). Default: off.
   */
  whoami_api?: DevWhoamiApiOptions;
  /** Clock in epoch milliseconds, for tests. Default `Date.now`. */
  clock?: Clock;
}

const scope = z.string().regex(SCOPE_TOKEN, "a scope is printable ASCII without space, '\"' or '\\'");
/**
 * The keys renamed in 0.2 (old → new), accepted with a deprecation warning; `startDevAuthorizationServer` takes them
 * too.
 */
export const DEV_RENAMED: Readonly<Record<string, string>> = {
  access_token_ttl: "access_token_ttl_seconds",
  code_ttl: "code_ttl_seconds",
  refresh_token_ttl: "refresh_token_ttl_seconds",
  consent_ttl: "consent_ttl_seconds",
  authenticateUser: "authenticate_user",
  verifyDpopProof: "verify_dpop_proof",
};

const ttl = (d: number) => z.number().int().positive().max(31_536_000).default(d);
const fn = <T>(name: string) => z.custom<T>((v) => typeof v === "function", { error: `${name} must be a function` });

const OptionsSchema = optionsSchema(
  "createDevAuthorizationServer()",
  z
    .strictObject({
      issuer: urlOption({ no_query: "an issuer identifier has none, RFC 8414 §2" }),
      resources: z.array(urlOption({ no_query: "RFC 8707 §2" })).min(1, "at least one protected resource is required"),
      scopes_supported: z.array(scope).min(1).default(["mcp"]),
      scope_descriptions: z.record(z.string(), z.string().max(500)).default({}),
      default_scopes: z.array(scope).optional(),
      access_token_ttl_seconds: ttl(3600),
      code_ttl_seconds: ttl(120),
      refresh_token_ttl_seconds: ttl(86_400),
      consent_ttl_seconds: ttl(600),
      authenticate_user: fn<AuthenticateUser>("authenticate_user").optional(),
      username_field: z.boolean().default(true),
      verify_dpop_proof: fn<VerifyDpopProof>("verify_dpop_proof").optional(),
      dpop_signing_alg_values_supported: z.array(z.string().min(1)).min(1).default(["ES256", "EdDSA"]),
      storage: z
        .custom<DevAuthorizationServerStorage>((v) => typeof v === "object" && v !== null, {
          error: "storage must be an object",
        })
        .optional(),
      signing_key: z
        .custom<SigningKeyPair>((v) => typeof v === "object" && v !== null && "privateKey" in v && "publicKey" in v, {
          error: "signing_key must be { privateKey, publicKey }",
        })
        .optional(),
      title: z.string().min(1).max(100).default("Development authorization server"),
      allow_insecure_http: z.boolean().default(false),
      client_id_metadata_documents: z
        .union([
          z.boolean(),
          optionsSchema(
            "createDevAuthorizationServer() client_id_metadata_documents",
            z.strictObject({
              fetch: fn<FetchDocument>("client_id_metadata_documents.fetch").optional(),
              lookup: fn<LookupAddresses>("client_id_metadata_documents.lookup").optional(),
              timeout_ms: z.number().int().positive().max(60_000).optional(),
              max_bytes: z.number().int().positive().max(1_048_576).optional(),
              default_cache_ttl_seconds: z.number().int().nonnegative().max(86_400).optional(),
              max_cache_ttl_seconds: z.number().int().nonnegative().max(86_400).optional(),
              max_cached: z.number().int().positive().max(100_000).optional(),
              allow_loopback: z.boolean().optional(),
              allow_http_loopback: z.boolean().optional(),
            }),
            { default_cache_ttl: "default_cache_ttl_seconds", max_cache_ttl: "max_cache_ttl_seconds" },
          ),
        ])
        .default(true)
        .transform((v) => {
          if (v === false) return false as const;
          const d = defaultClientIdMetadataDocumentOptions();
          if (v === true) return d;
          const defined = Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined));
          return { ...d, ...defined };
        }),
      token_exchange: devTokenExchangeSchema.optional(),
      clients: devClientsSchema.optional(),
      whoami_api: optionsSchema(
        "createDevAuthorizationServer() whoami_api",
        z.strictObject({ resource: z.string().optional() }),
      ).optional(),
      clock: fn<Clock>("clock").default(() => Date.now),
    })
    .superRefine((o, ctx) => {
      if (!o.allow_insecure_http) {
        const check = (value: string, path: (string | number)[]) => {
          if (!URL.canParse(value)) return;
          const u = new URL(value);
          if (u.protocol === "http:" && !isLoopbackHost(u.hostname)) {
            ctx.addIssue({
              code: "custom",
              path,
              message: "must use https (http is allowed only on loopback; set allow_insecure_http to override)",
            });
          }
        };
        check(o.issuer, ["issuer"]);
        o.resources.forEach((r, i) => check(r, ["resources", i]));
      }
      checkClientsAndApi(o, ctx);
      for (const s of o.default_scopes ?? []) {
        if (!o.scopes_supported.includes(s))
          ctx.addIssue({ code: "custom", path: ["default_scopes"], message: `"${s}" is not in scopes_supported` });
      }
    }),
  DEV_RENAMED,
);

/** The cross-field checks of `clients` and `whoami_api`. */
function checkClientsAndApi(
  o: {
    resources: string[];
    clients?: DevClientOptions[] | undefined;
    token_exchange?: DevTokenExchangeOptions | undefined;
    whoami_api?: DevWhoamiApiOptions | undefined;
  },
  ctx: z.RefinementCtx,
): void {
  const exchangeIds = new Set((o.token_exchange?.clients ?? []).map((c) => c.client_id));
  (o.clients ?? []).forEach((c, i) => {
    // One id, one secret: a client in both lists would authenticate differently per grant.
    if (exchangeIds.has(c.client_id))
      ctx.addIssue({ code: "custom", path: ["clients", i, "client_id"], message: "is also a token_exchange client" });
  });
  const api = o.whoami_api;
  if (api?.resource === undefined && api !== undefined && o.resources.length !== 1)
    ctx.addIssue({ code: "custom", path: ["whoami_api", "resource"], message: "required with several resources" });
  if (api?.resource !== undefined && !o.resources.includes(api.resource))
    ctx.addIssue({ code: "custom", path: ["whoami_api", "resource"], message: "must be one of resources" });
}

/** Options after validation, defaults filled in. */
export type ResolvedOptions = Omit<z.output<typeof OptionsSchema>, "storage"> & {
  storage: DevAuthorizationServerStorage;
};

/**
 * Validate options once, with one strict schema. The caller's object is copied, not kept.
 *
 * @throws `ConfigError` (`ERR_INVALID_CONFIG`) naming every problem (unknown keys with the closest valid name).
 */
export function resolveOptions(input: DevAuthorizationServerOptions): ResolvedOptions {
  const o = parseOptions(OptionsSchema, input, "createDevAuthorizationServer()");
  const issuer = o.issuer.replace(/\/+$/, "");
  return {
    ...o,
    issuer,
    storage:
      o.storage ??
      new MemoryStorage({
        clock: o.clock,
        client_idle_ttl_seconds: Math.max(o.access_token_ttl_seconds, o.consent_ttl_seconds),
      }),
  };
}

/**
 * The option names {@link DevAuthorizationServerOptions} has, for checks that wrap them
 * (`startDevAuthorizationServer`).
 */
export const DEV_OPTION_KEYS: readonly string[] = Object.keys(OptionsSchema.shape);

/** The defaults of {@link ClientIdMetadataDocumentOptions}. */
export function defaultClientIdMetadataDocumentOptions(): ResolvedClientIdMetadataDocumentOptions {
  return {
    fetch: pinnedFetch,
    lookup: (hostname) => dnsLookup(hostname, { all: true, verbatim: true }),
    timeout_ms: 3000,
    max_bytes: 5120,
    default_cache_ttl_seconds: 300,
    max_cache_ttl_seconds: 3600,
    max_cached: 100,
    allow_loopback: false,
    allow_http_loopback: true,
  };
}
