/**
 * `protected-mcp/testing`: test your protected MCP server without an identity provider or network.
 *
 * A {@link createTestIssuer | test issuer} mints RFC 9068 access tokens with the claims you choose,
 * hands you a {@link JWTValidator} that trusts it (its key set is served from memory through the
 * validator's `fetch` option), and signs DPoP proofs; {@link connectClient} connects the official SDK
 * client to your server with a token.
 *
 * @example
 * ```ts
 * const issuer = await createTestIssuer();
 * server.setAuthorizationProvider(issuer.validator());
 * const token = await issuer.token({ sub: "alice", scopes: ["files:delete"], aud: url });
 * const client = await connectClient(url, { token });
 * ```
 *
 * @packageDocumentation
 */
import { createHash, randomUUID } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from "jose";
import { z } from "zod";
import { optionsSchema, parseOptions } from "../lib/options.js";
import { JWTValidator, type JWTValidatorOptions } from "../validators/jwt.js";

/** Options of {@link createTestIssuer}. */
export interface TestIssuerOptions {
  /** Issuer identifier (`iss`). Default `https://issuer.test`. Nothing is ever fetched from it. */
  issuer?: string;
  /** Default `aud` of tokens, usually your server's resource URL. */
  audience?: string | string[];
  /** Signing algorithm. Default `ES256`. */
  alg?: "ES256" | "RS256" | "PS256" | "EdDSA";
}

/** Claims of a test token. Anything not listed goes in `claims`. */
export interface TestTokenOptions {
  /** Subject. Default `"test-user"`. */
  sub?: string;
  /** Scopes, written as the space-separated `scope` claim. Default none. */
  scopes?: string[];
  /** Audience. Default the issuer's `audience`. */
  aud?: string | string[];
  /** Expiry as a NumericDate (seconds since the epoch). Default one hour from now. */
  exp?: number;
  /** Bind the token to a DPoP key (`cnf.jkt`): a key from {@link TestIssuer.dpopKey} or a thumbprint. */
  dpop?: TestDpopKey | string;
  /** `client_id` claim. Default `"test-client"`. */
  client_id?: string;
  /** Extra or overriding claims. */
  claims?: JWTPayload;
  /** JWT header `typ`. Default `at+jwt` (RFC 9068). */
  typ?: string;
}

/** A DPoP key pair for tests. */
export interface TestDpopKey {
  /** Private key (signs proofs). */
  privateKey: CryptoKey;
  /** Public JWK (goes into each proof's header). */
  publicJwk: JWK;
  /** RFC 7638 thumbprint (the `cnf.jkt` of bound tokens). */
  jkt: string;
}

/** What a DPoP proof is for. */
export interface TestDpopProofOptions {
  /** Key to sign with. */
  key: TestDpopKey;
  /** Target URL (`htu`); query and fragment are dropped. */
  htu: string;
  /** HTTP method (`htm`). Default `POST`. */
  htm?: string;
  /** Access token to bind with `ath`. */
  token?: string;
  /** Server-provided nonce. */
  nonce?: string;
  /** Issued-at, seconds since the epoch. Default now. */
  iat?: number;
}

/** A JSON Web Key Set. */
export interface TestJwks {
  /** The public keys (one). */
  keys: JWK[];
}

/** A DPoP key together with something that signs proofs with it. */
export interface ConnectClientDpop {
  /** The key the token is bound to. */
  key: TestDpopKey;
  /** Signs the proofs (the test issuer). */
  issuer: Pick<TestIssuer, "dpopProof">;
}

/** A token issuer living in memory. */
export interface TestIssuer {
  /** Issuer identifier. */
  readonly issuer: string;
  /** The key set URI the validator is configured with (served from memory, never fetched). */
  readonly jwks_uri: string;
  /** The public key set. */
  readonly jwks: TestJwks;
  /** Mint an access token. Rejects with `ConfigError` on an unknown option name. */
  token(o?: TestTokenOptions): Promise<string>;
  /** A {@link JWTValidator} trusting this issuer, with `overrides` applied (e.g. `audience`). */
  validator(overrides?: Partial<JWTValidatorOptions>): JWTValidator;
  /** A fresh ES256 DPoP key pair. */
  dpopKey(): Promise<TestDpopKey>;
  /** Sign a DPoP proof (RFC 9449 §4.2). */
  dpopProof(o: TestDpopProofOptions): Promise<string>;
}

const httpsOrHttpUrl = z.url({ protocol: /^https?$/, error: "must be an absolute http(s) URL" });

const TestIssuerOptionsSchema = optionsSchema(
  "createTestIssuer()",
  z.strictObject({
    issuer: httpsOrHttpUrl.optional(),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    alg: z.enum(["ES256", "RS256", "PS256", "EdDSA"]).optional(),
  }),
);

// Loose on values (a test may want an odd `exp` or `typ`), strict on names: `scope` for `scopes`
// would otherwise mint a token without scopes and the test would pass for the wrong reason.
const TestTokenOptionsSchema = optionsSchema(
  "TestIssuer.token()",
  z.strictObject({
    sub: z.string().optional(),
    scopes: z.array(z.string()).optional(),
    aud: z.union([z.string(), z.array(z.string())]).optional(),
    exp: z.number().optional(),
    dpop: z
      .union([
        z.string(),
        z.custom<TestDpopKey>((v) => typeof v === "object" && v !== null && "jkt" in v, {
          error: "must be a key from dpopKey() or a thumbprint",
        }),
      ])
      .optional(),
    client_id: z.string().optional(),
    claims: z.record(z.string(), z.unknown()).optional(),
    typ: z.string().optional(),
  }),
);

/**
 * Create an issuer for tests: a signing key, tokens with any claims, and a validator that trusts it
 * without any network access.
 *
 * @throws `ConfigError` (`ERR_INVALID_CONFIG`) naming every invalid option (unknown keys with the
 * closest valid name), before any key is generated.
 *
 * @example
 * ```ts
 * const issuer = await createTestIssuer({ audience: "http://127.0.0.1:8000/mcp" });
 * const token = await issuer.token({ sub: "alice", scopes: ["files:delete"] });
 * ```
 */
export async function createTestIssuer(options: TestIssuerOptions = {}): Promise<TestIssuer> {
  const o: TestIssuerOptions = parseOptions(TestIssuerOptionsSchema, options, "createTestIssuer()");
  const issuer = o.issuer ?? "https://issuer.test";
  const alg = o.alg ?? "ES256";
  const kid = randomUUID();
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg, use: "sig" }] };
  const jwks_uri = new URL("/.well-known/jwks.json", issuer).href;
  const body = JSON.stringify(jwks);

  return {
    issuer,
    jwks_uri,
    jwks,
    async token(input = {}) {
      const t: TestTokenOptions = parseOptions(TestTokenOptionsSchema, input, "TestIssuer.token()");
      const now = Math.floor(Date.now() / 1000);
      const aud = t.aud ?? o.audience;
      const jkt = typeof t.dpop === "string" ? t.dpop : t.dpop?.jkt;
      const payload: JWTPayload = {
        iss: issuer,
        sub: t.sub ?? "test-user",
        iat: now,
        exp: t.exp ?? now + 3600,
        jti: randomUUID(),
        client_id: t.client_id ?? "test-client",
        ...(aud !== undefined ? { aud } : {}),
        ...(t.scopes?.length ? { scope: t.scopes.join(" ") } : {}),
        ...(jkt ? { cnf: { jkt } } : {}),
        ...t.claims,
      };
      return new SignJWT(payload).setProtectedHeader({ alg, kid, typ: t.typ ?? "at+jwt" }).sign(privateKey);
    },
    validator(overrides = {}) {
      return new JWTValidator({
        jwks_uri,
        issuer,
        ...(o.audience !== undefined ? { audience: o.audience } : {}),
        // The key set is answered from memory: the validator never touches the network.
        fetch: async () => new Response(body, { status: 200, headers: { "content-type": "application/json" } }),
        ...overrides,
      });
    },
    async dpopKey() {
      const pair = await generateKeyPair("ES256", { extractable: true });
      const publicJwk = await exportJWK(pair.publicKey);
      return { privateKey: pair.privateKey, publicJwk, jkt: await calculateJwkThumbprint(publicJwk) };
    },
    dpopProof(p) {
      const htu = new URL(p.htu);
      htu.search = "";
      htu.hash = "";
      return new SignJWT({
        htm: p.htm ?? "POST",
        htu: htu.href,
        iat: p.iat ?? Math.floor(Date.now() / 1000),
        jti: randomUUID(),
        ...(p.token ? { ath: createHash("sha256").update(p.token).digest("base64url") } : {}),
        ...(p.nonce ? { nonce: p.nonce } : {}),
      })
        .setProtectedHeader({ alg: "ES256", typ: "dpop+jwt", jwk: p.key.publicJwk })
        .sign(p.key.privateKey);
    },
  };
}

/** Options of {@link connectClient}. */
export interface ConnectClientOptions {
  /** Access token; sent as `Authorization: Bearer`, or `DPoP` with a fresh proof when `dpop` is set. */
  token?: string;
  /** With a DPoP-bound token: the key and the issuer that signs proofs. */
  dpop?: ConnectClientDpop;
  /** Client name. Default `"protected-mcp-test"`. */
  name?: string;
}

/**
 * Connect the official SDK client (Streamable HTTP) to `url` with a token. Close it with
 * `await client.close()`.
 *
 * @example
 * ```ts
 * const client = await connectClient("http://127.0.0.1:8000/mcp", { token });
 * const result = await client.callTool({ name: "delete_file", arguments: { path: "/tmp/x" } });
 * ```
 */
export async function connectClient(url: string, o: ConnectClientOptions = {}): Promise<Client> {
  const { token, dpop } = o;
  const fetchWithAuth: typeof fetch = async (input, init) => {
    const headers = new Headers(init?.headers);
    if (token && dpop) {
      const target = input instanceof Request ? input.url : String(input);
      headers.set("authorization", `DPoP ${token}`);
      headers.set(
        "dpop",
        await dpop.issuer.dpopProof({ key: dpop.key, htu: target, htm: init?.method ?? "GET", token }),
      );
    } else if (token) {
      headers.set("authorization", `Bearer ${token}`);
    }
    return fetch(input, { ...init, headers });
  };
  const client = new Client({ name: o.name ?? "protected-mcp-test", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: fetchWithAuth }));
  return client;
}
