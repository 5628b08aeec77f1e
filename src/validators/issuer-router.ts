/**
 * `IssuerRouter`: one protected resource trusting several authorization servers.
 *
 * @module
 */
import { decodeJwt } from "jose";
import { z } from "zod";
import type { AuthContext } from "../context/types.js";
import { InvalidToken } from "../errors.js";
import { JWS_COMPACT } from "./jwt-checks.js";
import type { AuthorizationProvider, VerifyContext } from "./provider.js";
import { optionsSchema, parseOptions, urlOption } from "../lib/options.js";

/**
 * A provider that accepts tokens from a *family* of issuers described by a pattern rather than a
 * list, such as Entra ID's per-tenant issuers (see {@link EntraMultiTenantValidator}).
 */
export interface IssuerFamily extends AuthorizationProvider {
  /**
   * Whether a token whose **unverified** `iss` is `iss` belongs to this family. Called before any
   * verification: must be synchronous, cheap and free of I/O (no key fetch).
   */
  matchesIssuer(iss: string): boolean;
  /** Issuers to advertise as RFC 9728 `authorization_servers`. */
  readonly issuers: readonly string[];
}

/**
 * Options of {@link IssuerRouter}. At least one route is required.
 *
 * @example
 * ```ts
 * new IssuerRouter({
 *   issuers: {
 *     "https://tenant.eu.auth0.com/": new JWTValidator(JWTValidatorConfig.auth0({ domain: "tenant.eu.auth0.com", audience: "https://mcp.example.com/mcp" })),
 *     "https://kc.example.com/realms/mcp": new JWTValidator(JWTValidatorConfig.keycloak({ base_url: "https://kc.example.com", realm: "mcp", audience: "mcp" })),
 *   },
 *   families: [new EntraMultiTenantValidator({ tenants: ["<tenant GUID>"], audience: "api://mcp-server" })],
 *   opaque: new IntrospectionValidator({ introspection_endpoint: "https://as.example.com/introspect", client_id: "rs", client_secret: "…", issuer: "https://as.example.com" }),
 * });
 * ```
 */
export interface IssuerRouterOptions {
  /** Exact `iss` value → the provider that verifies its tokens. Matched exactly (no trailing-slash normalisation). */
  issuers?: Record<string, AuthorizationProvider>;
  /** Pattern-matched issuers, tried in order after the exact ones. */
  families?: IssuerFamily[];
  /**
   * Provider for tokens that are not signed JWTs (opaque, or encrypted), typically an
   * {@link IntrospectionValidator}. Without it such tokens are refused.
   */
  opaque?: AuthorizationProvider;
}

const isProvider = (v: unknown): v is AuthorizationProvider =>
  typeof v === "object" && v !== null && typeof (v as AuthorizationProvider).verify === "function";
const isFamily = (v: unknown): v is IssuerFamily =>
  isProvider(v) &&
  typeof (v as IssuerFamily).matchesIssuer === "function" &&
  Array.isArray((v as IssuerFamily).issuers);

const OptionsSchema = optionsSchema(
  "IssuerRouter",
  z
    .strictObject({
      issuers: z
        .record(urlOption(), z.custom<AuthorizationProvider>(isProvider, { error: "must be an AuthorizationProvider" }))
        .optional(),
      families: z
        .array(z.custom<IssuerFamily>(isFamily, { error: "must be an IssuerFamily (matchesIssuer, issuers, verify)" }))
        .optional(),
      opaque: z.custom<AuthorizationProvider>(isProvider, { error: "must be an AuthorizationProvider" }).optional(),
    })
    .refine((o) => Object.keys(o.issuers ?? {}).length > 0 || (o.families?.length ?? 0) > 0 || o.opaque !== undefined, {
      error: "at least one of issuers, families or opaque is required",
      path: ["issuers"],
    }),
);

/**
 * Routes each token to the provider of the authorization server that issued it, by the token's
 * **unverified** `iss` — a routing hint only: the chosen provider then verifies everything,
 * including `iss` again against its own configuration.
 *
 * - A JWT whose `iss` is neither an exact route nor matched by a family is refused (401
 *   `invalid_token`, "The access token issuer is not trusted") without trying any provider, so an
 *   unknown issuer never causes a key set fetch anywhere.
 * - Providers are never tried one after another: one token, one provider.
 * - Tokens that do not decode as a JWT (no three dotted parts, or parts that are not base64url
 *   JSON) go to `opaque` when configured (e.g. introspection), else are refused as malformed.
 *
 * {@link IssuerRouter.issuers} lists every configured authorization server, for the RFC 9728
 * `authorization_servers` of the protected resource metadata.
 *
 * @example
 * ```ts
 * const router = new IssuerRouter({ issuers: { [a.issuer]: validatorA, [b.issuer]: validatorB } });
 * const server = new MCPServer("files", { authorization: { enabled: true, authorization_servers: [...router.issuers] } });
 * server.setAuthorizationProvider(router);
 * ```
 */
export class IssuerRouter implements AuthorizationProvider {
  /** A `Map`, not an object: an `iss` of `__proto__` or `constructor` must not find anything. */
  readonly #exact: ReadonlyMap<string, AuthorizationProvider>;
  readonly #families: readonly IssuerFamily[];
  readonly #opaque: AuthorizationProvider | undefined;

  /**
   * @param options - see {@link IssuerRouterOptions}.
   * @throws {@link ConfigError} naming each bad option.
   */
  constructor(options: IssuerRouterOptions) {
    const parsed = parseOptions(OptionsSchema, options, "IssuerRouter");
    // The caller's objects are copied into our own structures; providers themselves are shared.
    this.#exact = new Map(Object.entries(parsed.issuers ?? {}));
    this.#families = Object.freeze([...(parsed.families ?? [])]);
    this.#opaque = parsed.opaque;
  }

  /**
   * Every configured authorization server, de-duplicated, in configuration order: the exact
   * issuers, each family's `issuers`, and the opaque provider's `issuers` when it has them (as
   * {@link IntrospectionValidator} does when its `issuer` option is set). Pass it as
   * `authorization_servers` so the RFC 9728 metadata names them all.
   */
  get issuers(): readonly string[] {
    const all = [...this.#exact.keys(), ...this.#families.flatMap((f) => f.issuers)];
    const opaqueIssuers = (this.#opaque as { issuers?: unknown } | undefined)?.issuers;
    if (Array.isArray(opaqueIssuers)) all.push(...opaqueIssuers.filter((i): i is string => typeof i === "string"));
    return Object.freeze([...new Set(all)]);
  }

  /**
   * The chosen provider's {@link AuthorizationProvider.verifyCached} answer for `token` (by its
   * unverified `iss`, as `verify` routes it); `undefined` when the token cannot be routed or that
   * provider has no cache probe.
   */
  verifyCached(token: string, context: VerifyContext): AuthContext | undefined {
    const iss = issuerOf(token);
    if (iss === NOT_A_JWT) return this.#opaque?.verifyCached?.(token, context);
    if (typeof iss !== "string" || iss.length === 0) return undefined;
    return this.#providerFor(iss)?.verifyCached?.(token, context);
  }

  /** The provider configured for `iss`: an exact issuer first, then the first family that claims it. */
  #providerFor(iss: string): AuthorizationProvider | undefined {
    return this.#exact.get(iss) ?? this.#families.find((f) => f.matchesIssuer(iss));
  }

  /**
   * Route `token` to its issuer's provider and return that provider's verdict.
   *
   * @throws {@link InvalidToken} for an untrusted or missing issuer (and whatever the chosen provider throws).
   */
  async verify(token: string, context: VerifyContext): Promise<AuthContext> {
    const iss = issuerOf(token);
    if (iss === NOT_A_JWT) {
      if (this.#opaque) return this.#opaque.verify(token, context);
      throw new InvalidToken("The access token is not a signed JWT", { reason: "malformed" });
    }
    if (typeof iss !== "string" || iss.length === 0) {
      throw new InvalidToken("The access token lacks the required iss claim", {
        reason: iss === undefined || iss === "" ? "claim_missing" : "claim_invalid",
      });
    }
    const provider = this.#providerFor(iss);
    if (!provider) throw new InvalidToken("The access token issuer is not trusted", { reason: "issuer_untrusted" });
    return provider.verify(token, context);
  }
}

/** What {@link issuerOf} answers for a token that is not a JWT at all. */
const NOT_A_JWT: unique symbol = Symbol("not a JWT");

/**
 * The unverified `iss` of a JWT, or {@link NOT_A_JWT} when the token does not decode as one: not
 * three dotted parts, or parts that are not base64url JSON (an opaque format that happens to use
 * dots is still an opaque token, for the `opaque` provider to judge).
 */
function issuerOf(token: string): unknown {
  if (!JWS_COMPACT.test(token)) return NOT_A_JWT;
  try {
    return decodeJwt(token).iss;
  } catch {
    return NOT_A_JWT;
  }
}
