/**
 * fast-check generators for the abuse suite: malformed `Authorization` and `DPoP` headers, tokens
 * that are signed by the real issuer but must still be refused, proofs an attacker holding a stolen
 * DPoP-bound token can make without its key, and JSON-RPC bodies.
 *
 * Every generated request is one a correct server refuses (`expect: "refused"`), except the body
 * cases sent with the attacker's own valid token (`expect: "any"`: they may be served, but a tool
 * may run only for a request that was answered with success).
 */
import fc from "fast-check";
import type { JWK } from "jose";
import type { ClientKey } from "../helpers/dpop.js";
import { makeProof } from "../helpers/dpop.js";
import type { LocalIssuer } from "../helpers/issuer.js";

/** One request to send. */
export interface FuzzCase {
  /** Which generator made it (for the counts per family and for failure messages). */
  family: string;
  method: "POST" | "DELETE";
  authorization?: string;
  dpop?: string;
  sessionId?: string;
  contentType: string;
  body: string;
  /** Credentials sent, which must never come back. */
  secrets: string[];
  /** `refused`: must be answered ≥ 400. `any`: may succeed. Either way no tool runs for a refusal. */
  expect: "refused" | "any";
}

/** What the generators need to know about the server and its legitimate users. */
export interface FuzzContext {
  issuer: LocalIssuer;
  /** Canonical resource (token audience, proof `htu`). */
  resource: string;
  /** Alice's DPoP-bound token (the stolen one) and her key (which the attacker does not have). */
  aliceToken: string;
  /** Alice's public key (public: it is in every proof she sends). */
  aliceJwk: JWK;
  /** Proofs Alice already sent (captured by the attacker). */
  aliceProofs: string[];
  /** The attacker's own key pair. */
  attackerKey: ClientKey;
  /** The attacker's own valid bearer token (an authenticated caller), and his open session. */
  daveToken: string;
  daveSession: () => string;
  /** Carol's session id (another principal's: the attacker may have seen it). */
  carolSession: string;
}

const b64url = (b: Uint8Array | string) => Buffer.from(b).toString("base64url");

/** Characters a header value may carry through the Fetch API: HTAB, SP, visible ASCII, DEL, obs-text. */
const headerChar = fc
  .integer({ min: 0x09, max: 0xff })
  .filter((c) => c === 0x09 || c >= 0x20)
  .map((c) => String.fromCharCode(c));
const headerText = (maxLength: number) => fc.string({ unit: headerChar, maxLength });
const token68ish = (maxLength: number) =>
  fc.string({ unit: fc.constantFrom(..."ABCXYZabcxyz0189-._~+/=".split("")), minLength: 1, maxLength });
const scheme = fc.constantFrom(
  "Bearer",
  "bearer",
  "BEARER",
  "DPoP",
  "dpop",
  "DPOP",
  "Basic",
  "Digest",
  "Negotiate",
  "Token",
  "MAC",
  "Bearer,",
  "DPoP,",
);
const sep = fc.constantFrom(" ", "  ", "\t", "", ", ", " , ", " \t ");

/**
 * A JWT-looking string whose parts are random: JSON headers with hostile members, random claims, random or borrowed
 * signatures.
 */
function jwtShaped(ctx: FuzzContext) {
  const realSig = ctx.aliceToken.split(".")[2]!;
  const header = fc.oneof(
    fc.record(
      {
        alg: fc.constantFrom(
          "none",
          "None",
          "HS256",
          "HS512",
          "ES256",
          "ES384",
          "RS256",
          "PS256",
          "EdDSA",
          "RSA-OAEP",
          "",
          "ES256K",
        ),
        typ: fc.constantFrom("at+jwt", "JWT", "dpop+jwt", "application/at+jwt"),
        kid: fc.oneof(
          fc.constant("k1"),
          fc.string({ maxLength: 40 }),
          fc.constant("../../etc/passwd"),
          fc.constant("k1' OR '1'='1"),
        ),
        jku: fc.constant("http://127.0.0.1:1/evil-jwks"),
        x5u: fc.constant("http://127.0.0.1:1/evil.pem"),
        jwk: fc.constant({ kty: "oct", k: "c2VjcmV0" }),
        crit: fc.constantFrom(["b64"], ["exp"], []),
        b64: fc.boolean(),
        zip: fc.constant("DEF"),
      },
      { requiredKeys: ["alg"] },
    ),
    fc.jsonValue({ maxDepth: 2 }),
  );
  const now = Math.floor(Date.now() / 1000);
  const claims = fc.oneof(
    fc.record(
      {
        iss: fc.oneof(fc.constant(ctx.issuer.issuer), fc.string({ maxLength: 30 }), fc.constant(null)),
        aud: fc.oneof(
          fc.constant(ctx.resource),
          fc.string({ maxLength: 30 }),
          fc.array(fc.string({ maxLength: 30 }), { maxLength: 3 }),
        ),
        sub: fc.string({ maxLength: 30 }).map((s) => `fuzz-${s}`),
        exp: fc.oneof(
          fc.constant(now + 3600),
          fc.constant(now - 3600),
          fc.string({ maxLength: 10 }),
          fc.double(),
          fc.constant(1e308),
        ),
        nbf: fc.oneof(fc.constant(now + 3600), fc.integer()),
        scope: fc.oneof(fc.constant("mcp"), fc.string({ maxLength: 30 }), fc.array(fc.string())),
        cnf: fc.record({ jkt: fc.oneof(fc.constant(ctx.attackerKey.jkt), fc.string({ maxLength: 43 })) }),
        client_id: fc.string({ maxLength: 30 }),
      },
      { requiredKeys: [] },
    ),
    fc.jsonValue({ maxDepth: 2 }),
  );
  const segment = (json: fc.Arbitrary<unknown>) =>
    fc.oneof(
      { weight: 4, arbitrary: json.map((v) => b64url(JSON.stringify(v) ?? "null")) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map(b64url) },
    );
  const signature = fc.oneof(
    fc.constant(""),
    fc.constant(realSig),
    fc.uint8Array({ minLength: 1, maxLength: 96 }).map(b64url),
  );
  const parts = fc.oneof(
    { weight: 8, arbitrary: fc.tuple(segment(header), segment(claims), signature).map((p) => p.join(".")) },
    // Wrong number of parts: JWE-like (5), too few, too many.
    {
      weight: 1,
      arbitrary: fc
        .array(fc.uint8Array({ maxLength: 24 }).map(b64url), { minLength: 1, maxLength: 7 })
        .map((p) => p.join(".")),
    },
  );
  return parts;
}

/** Garbage and near-miss `Authorization` headers, and JWT-shaped tokens that no key signed. */
export function authorizationCases(ctx: FuzzContext): fc.Arbitrary<FuzzCase> {
  const header = fc.oneof(
    { weight: 2, arbitrary: headerText(400) },
    { weight: 2, arbitrary: fc.tuple(scheme, sep, headerText(300)).map((p) => p.join("")) },
    { weight: 2, arbitrary: fc.tuple(scheme, sep, token68ish(200)).map((p) => p.join("")) },
    // Two credentials folded into one header.
    {
      weight: 1,
      arbitrary: fc
        .tuple(scheme, token68ish(60), fc.constantFrom(", Bearer ", ",", " ", ", DPoP "), token68ish(60))
        .map(([s, a, j, b]) => `${s} ${a}${j}${b}`),
    },
    // Around the size limit.
    {
      weight: 1,
      arbitrary: fc.tuple(scheme, fc.integer({ min: 16_300, max: 17_000 })).map(([s, n]) => `${s} ${"A".repeat(n)}`),
    },
    {
      weight: 4,
      arbitrary: fc.tuple(fc.constantFrom("Bearer ", "DPoP ", "bearer "), jwtShaped(ctx)).map((p) => p.join("")),
    },
  );
  return fc
    .tuple(header, fc.option(jwtShaped(ctx), { nil: undefined }), bodyText(ctx))
    .map(([authorization, dpop, body]) => ({
      family: "authorization",
      method: "POST" as const,
      authorization,
      ...(dpop ? { dpop } : {}),
      contentType: "application/json",
      body,
      secrets: [authorization, ...(dpop ? [dpop] : [])],
      expect: "refused" as const,
    }));
}

/** Tokens signed by the real issuer key that must nevertheless be refused (at least one defect each). */
export function signedDefectCases(ctx: FuzzContext): fc.Arbitrary<Promise<FuzzCase>> {
  const defects = [
    "expired",
    "not_yet_valid",
    "other_audience",
    "other_issuer",
    "no_exp",
    "bound_as_bearer",
    "missing_scope",
    "no_subject",
    "alg_mismatch",
    // Shapes from the security review (issue 18): a binding this resource cannot check, a malformed
    // cnf, an empty or non-string subject, and an iat in the future.
    "cnf_mtls",
    "cnf_malformed",
    "subject_not_string",
    "iat_future",
  ] as const;
  const badCnf = fc.constantFrom<unknown>({ jkt: 123 }, { jkt: "" }, "x", 7, [], { "x5t#S256": "abc", jkt: null });
  const extra = fc.dictionary(
    fc.string({ maxLength: 12 }).map((k) => `x_${k}`),
    fc.jsonValue({ maxDepth: 2 }),
    { maxKeys: 3 },
  );
  return fc
    .tuple(
      fc.subarray([...defects], { minLength: 1, maxLength: 3 }),
      extra,
      fc.string({ maxLength: 20 }),
      fc.constantFrom("Bearer", "DPoP"),
      badCnf,
      fc.integer({ min: 120, max: 315_360_000 }),
      fc.constantFrom<unknown>("", 42, ["a"], { id: "a" }, null),
    )
    .map(async ([chosen, extraClaims, sub, schemeName, cnf, ahead, badSubject]) => {
      const now = Math.floor(Date.now() / 1000);
      const has = (d: (typeof defects)[number]) => chosen.includes(d);
      const claims: Record<string, unknown> = { ...extraClaims, aud: ctx.resource, sub: `fuzz-${sub}`, scope: "mcp" };
      if (has("expired")) claims.exp = now - 600;
      if (has("not_yet_valid")) claims.nbf = now + 600;
      if (has("other_audience")) claims.aud = "https://other.example.com/mcp";
      if (has("other_issuer")) claims.iss = "https://evil.example.com";
      if (has("bound_as_bearer")) claims.cnf = { jkt: ctx.attackerKey.jkt };
      if (has("missing_scope")) claims.scope = "read";
      if (has("no_subject")) claims.sub = undefined;
      if (has("cnf_mtls")) claims.cnf = { "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" };
      if (has("cnf_malformed")) claims.cnf = cnf;
      if (has("subject_not_string")) claims.sub = badSubject;
      if (has("iat_future")) claims.iat = now + ahead;
      const token = await ctx.issuer
        .sign(claims, { noExp: has("no_exp"), ...(has("alg_mismatch") ? { alg: "ES384" } : {}) })
        .catch(() => undefined);
      // jose refuses to sign ES384 with a P-256 key: then forge the header by hand over a real signature.
      const final =
        token ??
        (await ctx.issuer.sign(claims)).replace(
          /^[^.]+/,
          b64url(JSON.stringify({ alg: "ES384", typ: "at+jwt", kid: "k1" })),
        );
      // A bound token sent as Bearer is refused whatever the proof; sent as DPoP, the attacker has no proof for it.
      const scheme = has("bound_as_bearer") ? "Bearer" : schemeName;
      return {
        family: "signed-defect",
        method: "POST" as const,
        authorization: `${scheme} ${final}`,
        contentType: "application/json",
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "tools/call",
          params: { name: "secret", arguments: {} },
        }),
        secrets: [final],
        expect: "refused" as const,
      };
    });
}

/**
 * The holder of Alice's stolen DPoP-bound token, without her private key: garbage proofs, proofs
 * signed with his own key (right shape, wrong key), proofs carrying her public key but his
 * signature, proofs with wrong `htm`/`htu`/`ath`/`iat`/`typ`/`alg`, two proofs at once, her own
 * proofs replayed, and the token downgraded to Bearer.
 */
export function stolenDpopCases(ctx: FuzzContext): fc.Arbitrary<Promise<FuzzCase>> {
  const now = Math.floor(Date.now() / 1000);
  const variant = fc.constantFrom(
    "garbage",
    "jwt-shaped",
    "own-key",
    "her-jwk-his-signature",
    "wrong-htm",
    "wrong-htu",
    "wrong-ath",
    "no-ath",
    "old-iat",
    "future-iat",
    "wrong-typ",
    "hmac",
    "private-jwk",
    "two-proofs",
    "replayed",
    "as-bearer",
    "no-proof",
  );
  return fc
    .tuple(variant, headerText(300), jwtShaped(ctx), fc.nat(), fc.constantFrom<"POST" | "DELETE">("POST", "DELETE"))
    .map(async ([v, garbage, shaped, n, method]) => {
      const key = ctx.attackerKey;
      const htu = ctx.resource;
      const token = ctx.aliceToken;
      let dpop: string | undefined;
      let scheme = "DPoP";
      switch (v) {
        case "garbage":
          dpop = garbage;
          break;
        case "jwt-shaped":
          dpop = shaped;
          break;
        case "own-key":
          dpop = await makeProof({ key, htm: method, htu, token });
          break;
        case "her-jwk-his-signature":
          dpop = await makeProof({ key, htm: method, htu, token, jwk: ctx.aliceJwk });
          break;
        case "wrong-htm":
          dpop = await makeProof({ key, htm: method === "POST" ? "GET" : "POST", htu, token });
          break;
        case "wrong-htu":
          dpop = await makeProof({ key, htm: method, htu: "https://evil.example.com/mcp", token });
          break;
        case "wrong-ath":
          dpop = await makeProof({ key, htm: method, htu, token: ctx.daveToken });
          break;
        case "no-ath":
          dpop = await makeProof({ key, htm: method, htu });
          break;
        case "old-iat":
          dpop = await makeProof({ key, htm: method, htu, token, iat: now - 3600 });
          break;
        case "future-iat":
          dpop = await makeProof({ key, htm: method, htu, token, iat: now + 3600 });
          break;
        case "wrong-typ":
          dpop = await makeProof({ key, htm: method, htu, token, typ: "JWT" });
          break;
        case "hmac":
          dpop = await makeProof({ key, htm: method, htu, token, alg: "HS256", signWith: new Uint8Array(32).fill(7) });
          break;
        case "private-jwk":
          dpop = await makeProof({ key, htm: method, htu, token, jwk: { ...key.jwk, d: "AAAA" } });
          break;
        case "two-proofs":
          dpop = `${ctx.aliceProofs[n % ctx.aliceProofs.length]}, ${await makeProof({ key, htm: method, htu, token })}`;
          break;
        case "replayed":
          dpop = ctx.aliceProofs[n % ctx.aliceProofs.length];
          break;
        case "as-bearer":
          scheme = "Bearer";
          dpop = n % 2 ? ctx.aliceProofs[n % ctx.aliceProofs.length] : undefined;
          break;
        case "no-proof":
          break;
      }
      return {
        family: `stolen-dpop:${v}`,
        method,
        authorization: `${scheme} ${token}`,
        ...(dpop !== undefined ? { dpop } : {}),
        sessionId: ctx.carolSession,
        contentType: "application/json",
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: n,
          method: "tools/call",
          params: { name: "secret", arguments: {} },
        }),
        secrets: [token, ...(dpop ? [dpop] : [])],
        expect: "refused" as const,
      };
    });
}

/** Random JSON-RPC-ish bodies: valid JSON of any shape, broken JSON, hostile nesting, batches. */
export function bodyText(ctx: Pick<FuzzContext, "resource">): fc.Arbitrary<string> {
  void ctx;
  const method = fc.oneof(
    fc.constantFrom(
      "initialize",
      "tools/call",
      "tools/list",
      "ping",
      "notifications/initialized",
      "resources/read",
      "prompts/get",
      "logging/setLevel",
      "completion/complete",
      "__proto__",
      "constructor",
    ),
    fc.string({ maxLength: 30 }),
  );
  const params = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.record({ name: fc.constantFrom("secret", "__proto__", ""), arguments: fc.jsonValue({ maxDepth: 3 }) }),
    fc.record({
      protocolVersion: fc.constantFrom("2025-06-18", "2025-11-25", "1900-01-01", ""),
      capabilities: fc.jsonValue({ maxDepth: 2 }),
      clientInfo: fc.jsonValue({ maxDepth: 2 }),
    }),
  );
  const message = fc.record(
    {
      jsonrpc: fc.constantFrom("2.0", "1.0", 2),
      id: fc.oneof(fc.nat(), fc.string({ maxLength: 10 }), fc.constant(null), fc.jsonValue({ maxDepth: 1 })),
      method,
      params,
    },
    { requiredKeys: [] },
  );
  return fc.oneof(
    { weight: 4, arbitrary: message.map((m) => JSON.stringify(m)) },
    { weight: 1, arbitrary: fc.array(message, { maxLength: 5 }).map((m) => JSON.stringify(m)) },
    { weight: 2, arbitrary: fc.json({ maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 20_000 }).map((n) => "[".repeat(n) + "]".repeat(n)) },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 1, max: 5_000 })
        .map(
          (n) =>
            `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"secret","arguments":${'{"a":'.repeat(n)}1${"}".repeat(n)}}}`,
        ),
    },
  );
}

/**
 * An authenticated attacker (his own valid token) sending arbitrary bodies, on his own session, on
 * Carol's session (whose id he learned), on a made-up session, or on none.
 */
export function bodyCases(ctx: FuzzContext): fc.Arbitrary<FuzzCase> {
  const session = fc.oneof(
    fc.constant("dave"),
    fc.constant("carol"),
    fc.uuid(),
    fc.constant(undefined),
    headerText(40),
  );
  const contentType = fc.constantFrom(
    "application/json",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    "text/plain",
    "application/x-www-form-urlencoded",
    "",
  );
  return fc
    .tuple(bodyText(ctx), session, contentType, fc.constantFrom<"POST" | "DELETE">("POST", "POST", "POST", "DELETE"))
    .map(([body, s, ct, method]) => {
      const sessionId = s === "dave" ? ctx.daveSession() : s === "carol" ? ctx.carolSession : s;
      return {
        family: s === "carol" ? "body:other-principal-session" : "body",
        method,
        authorization: `Bearer ${ctx.daveToken}`,
        ...(sessionId !== undefined ? { sessionId } : {}),
        contentType: ct,
        body,
        secrets: [ctx.daveToken],
        // Carol's session is never usable with Dave's token.
        expect: s === "carol" ? ("refused" as const) : ("any" as const),
      };
    });
}

/** Bodies without any credential: all refused 401, and never read. */
export function anonymousBodyCases(ctx: FuzzContext): fc.Arbitrary<FuzzCase> {
  return fc.tuple(bodyText(ctx), fc.option(fc.uuid(), { nil: undefined })).map(([body, sessionId]) => ({
    family: "anonymous-body",
    method: "POST" as const,
    ...(sessionId ? { sessionId } : {}),
    contentType: "application/json",
    body,
    secrets: [],
    expect: "refused" as const,
  }));
}
