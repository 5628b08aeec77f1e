/**
 * OAuth client authentication at an authorization server endpoint, shared by everything that calls
 * one as a confidential client (introspection, token exchange): `client_secret_basic`,
 * `client_secret_post` and `private_key_jwt` (RFC 7523 client assertions signed with jose).
 *
 * @see RFC 6749 §2.3.1, RFC 7521 §4.2, RFC 7523 §2.2
 * @internal
 * @module
 */
import { KeyObject, randomUUID } from "node:crypto";
import { importJWK, SignJWT, type CryptoKey, type JWK } from "jose";
import { z } from "zod";

/** How a client authenticates at the endpoint. */
export type ClientAuthMethod = "client_secret_basic" | "client_secret_post" | "private_key_jwt";

/** The credential options a confidential client takes (the same keys wherever they appear). */
export interface ClientCredentialOptions {
  /** The client id at the authorization server. */
  client_id: string;
  /** How to authenticate. Default `private_key_jwt` when `private_key` is given, else `client_secret_basic`. */
  client_auth_method?: ClientAuthMethod | undefined;
  /** Secret for `client_secret_basic` / `client_secret_post`. */
  client_secret?: string | undefined;
  /** Private key for `private_key_jwt`: a private JWK, a `CryptoKey` or a Node `KeyObject`. */
  private_key?: JWK | CryptoKey | KeyObject | undefined;
  /** JWS algorithm of the client assertion (e.g. `ES256`, `RS256`). Default: the JWK's `alg`. */
  private_key_alg?: string | undefined;
  /** `kid` header of the client assertion. Default: the JWK's `kid`, if any. */
  private_key_kid?: string | undefined;
  /** `aud` of the client assertion. Default: chosen by the caller (issuer or endpoint). */
  client_assertion_audience?: string | undefined;
}

export const isPrivateJwk = (v: unknown): v is JWK =>
  typeof v === "object" && v !== null && typeof (v as JWK).kty === "string" && typeof (v as JWK).d === "string";
const isCryptoKey = (v: unknown): v is CryptoKey =>
  typeof globalThis.CryptoKey === "function" && v instanceof globalThis.CryptoKey;

/** The zod shape of {@link ClientCredentialOptions}, to spread into a strict options schema. */
export const clientCredentialShape = {
  client_id: z.string().min(1),
  client_auth_method: z.enum(["client_secret_basic", "client_secret_post", "private_key_jwt"]).optional(),
  client_secret: z.string().min(1).optional(),
  private_key: z
    .custom<JWK | CryptoKey | KeyObject>((v) => isPrivateJwk(v) || isCryptoKey(v) || v instanceof KeyObject, {
      error: "must be a private JWK, a CryptoKey or a KeyObject",
    })
    .optional(),
  private_key_alg: z.string().min(1).optional(),
  private_key_kid: z.string().min(1).optional(),
  client_assertion_audience: z.string().min(1).optional(),
};

/** The method in effect for these options. */
export function clientAuthMethodOf(
  o: Pick<ClientCredentialOptions, "client_auth_method" | "private_key">,
): ClientAuthMethod {
  return o.client_auth_method ?? (o.private_key !== undefined ? "private_key_jwt" : "client_secret_basic");
}

/** `superRefine` body: the credential each method needs, and nothing it does not use. */
export function refineClientCredentials(o: Omit<ClientCredentialOptions, "client_id">, ctx: z.RefinementCtx): void {
  const add = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
  const method = clientAuthMethodOf(o);
  if (method === "private_key_jwt") {
    if (o.private_key === undefined) add("private_key", "private_key is required for private_key_jwt");
    if (o.client_secret !== undefined) add("client_secret", "use either client_secret or private_key, not both");
    const alg = o.private_key_alg ?? (isPrivateJwk(o.private_key) ? o.private_key.alg : undefined);
    if (!alg) add("private_key_alg", "private_key_alg is required (the JWK has no alg)");
    else if (alg === "none" || alg.startsWith("HS")) add("private_key_alg", "must be an asymmetric algorithm");
  } else {
    if (o.client_secret === undefined) add("client_secret", `client_secret is required for ${method}`);
    if (o.private_key !== undefined) add("private_key", `private_key is not used with ${method}`);
  }
}

/** RFC 6749 §2.3.1: client id and secret are form-encoded before Basic encoding. */
const formEncode = (s: string): string => new URLSearchParams({ v: s }).toString().slice(2);

/**
 * Authenticates requests of one client (options already validated with {@link refineClientCredentials}).
 * The signing key is imported once, on first use.
 */
export class ClientAuthentication {
  /** The method in use. */
  readonly method: ClientAuthMethod;
  readonly #o: Readonly<ClientCredentialOptions>;
  readonly #audience: string;
  readonly #now: () => number;
  #signingKey: Promise<CryptoKey | KeyObject> | undefined;

  /**
   * @param o - validated credential options.
   * @param defaultAudience - the assertion's `aud` when `client_assertion_audience` is not set.
   * @param now - clock in epoch milliseconds.
   */
  constructor(o: Readonly<ClientCredentialOptions>, defaultAudience: string, now: () => number = Date.now) {
    this.#o = o;
    this.method = clientAuthMethodOf(o);
    this.#audience = o.client_assertion_audience ?? defaultAudience;
    this.#now = now;
  }

  /** Add the client's credentials to a form POST (header or body, as the method says). */
  async apply(headers: Headers, body: URLSearchParams): Promise<void> {
    const o = this.#o;
    if (this.method === "client_secret_basic") {
      headers.set(
        "authorization",
        `Basic ${Buffer.from(`${formEncode(o.client_id)}:${formEncode(o.client_secret as string)}`).toString("base64")}`,
      );
    } else if (this.method === "client_secret_post") {
      body.set("client_id", o.client_id);
      body.set("client_secret", o.client_secret as string);
    } else {
      body.set("client_id", o.client_id);
      body.set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
      body.set("client_assertion", await this.#clientAssertion());
    }
  }

  /** RFC 7523 client assertion: iss = sub = client_id, aud, jti, 60 s lifetime. */
  async #clientAssertion(): Promise<string> {
    const o = this.#o;
    const alg = o.private_key_alg ?? (o.private_key as JWK).alg!;
    this.#signingKey ??= isPrivateJwk(o.private_key)
      ? (importJWK(o.private_key, alg) as Promise<CryptoKey>)
      : Promise.resolve(o.private_key as CryptoKey | KeyObject);
    // A key that cannot be imported is a configuration error: try again next time rather than caching it.
    this.#signingKey.catch(() => (this.#signingKey = undefined));
    const kid = o.private_key_kid ?? (isPrivateJwk(o.private_key) ? o.private_key.kid : undefined);
    const now = Math.floor(this.#now() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg, ...(kid ? { kid } : {}) })
      .setIssuer(o.client_id)
      .setSubject(o.client_id)
      .setAudience(this.#audience)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(await this.#signingKey);
  }
}
