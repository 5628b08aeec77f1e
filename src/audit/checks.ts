/**
 * The audit's checks, as data: each has an id, a title, a spec reference, what it needs (nothing, a
 * token, a DPoP key, a second token) and a `run` returning PASS / WARN / FAIL / SKIP with one line of
 * evidence. Protocol-era probes (`ERA_PROBES`, in `probes.ts`) generate their own checks, so a new revision's
 * discovery call is one more entry in a list.
 *
 * @module
 */
import type { AuditContext, Session } from "./context.js";
import { rpcMessage, safeJson, type ProbeResponse } from "./http.js";
import { answered, ERA_PROBES, eraBody, REFERENCE_PROBE as REFERENCE, type Outcome, type Status } from "./probes.js";
import { judgeChallengeSyntax, judgeErrorCodes, judgeNoErrorWithoutCredentials } from "./checks-challenge.js";
import { algNoneToken, expiredToken, garbageToken, isB64Token, peekClaims, tamperSignature } from "./tokens.js";
import { findChallenge, parseWwwAuthenticate, type ParsedChallenge } from "./www-authenticate.js";

/** What a check needs beyond the URL. */
export type Needs = "token" | "dpop" | "token2";

/** One check. */
export interface CheckDefinition {
  /** Stable identifier, e.g. `challenge.initialize`. */
  id: string;
  /** What it checks, in a few words. */
  title: string;
  /** Where the requirement comes from. */
  spec: string;
  /** The requirement level (RFC 2119) of the spec sentence the check tests: a FAIL breaks a requirement of this level. */
  level: "MUST" | "SHOULD" | "MAY";
  /** The MCP protocol revision the probe speaks, when it is era-specific. */
  era?: string;
  /** Inputs it needs; without them it is not run (and listed as such). */
  needs?: Needs;
  /** Run it. May throw a `ProbeFailed`; the runner turns that into a finding. */
  run(ctx: AuditContext): Promise<Outcome>;
}

const pass = (evidence: string): Outcome => ({ status: "PASS", evidence });
const warn = (evidence: string): Outcome => ({ status: "WARN", evidence });
const fail = (evidence: string): Outcome => ({ status: "FAIL", evidence });
const skip = (evidence: string): Outcome => ({ status: "SKIP", evidence });

/** Keep evidence on one line and short. */
export function oneLine(s: string, max = 160): string {
  const t = s.replace(/\s+/g, " ").trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

const SHOWN_PARAMS = ["error", "resource_metadata", "scope", "algs"];

/** Status and the challenges in short: `401 Bearer error="invalid_token"; DPoP algs="ES256"`. */
const challengeLine = (res: ProbeResponse, params = SHOWN_PARAMS): string => {
  const all = parseWwwAuthenticate(res.headers.get("www-authenticate"));
  if (!all.length) return `${res.status}, no WWW-Authenticate`;
  const name = (s: string) => (s === "dpop" ? "DPoP" : s.charAt(0).toUpperCase() + s.slice(1));
  return `${res.status} ${all.map((c) => [name(c.scheme), ...params.filter((k) => c.params[k] !== undefined).map((k) => `${k}="${c.params[k]}"`)].join(" ")).join("; ")}`;
};
const refusalLine = (res: ProbeResponse) => challengeLine(res, ["error"]);

/** The challenge a client would act on: Bearer, else DPoP (when only DPoP-bound tokens are accepted). */
export function mainChallenge(res: ProbeResponse): ParsedChallenge | undefined {
  const all = parseWwwAuthenticate(res.headers.get("www-authenticate"));
  return findChallenge(all, "bearer") ?? findChallenge(all, "dpop");
}

/** Judge a refusal: 401 or 400 with a challenge, nothing served. */
function judgeRefusal(res: ProbeResponse, what: string): Outcome {
  const line = refusalLine(res);
  if (answered(res) || (res.status >= 200 && res.status < 300))
    return fail(`${what} was accepted: ${res.status}, the request was served`);
  const ch = parseWwwAuthenticate(res.headers.get("www-authenticate"));
  if (res.status === 401 && ch.length) return pass(line);
  if (res.status === 400 && ch.length) return pass(line);
  if (res.status === 400) return warn(`${line}: refused, but without a challenge (RFC 6750 §3 asks for one)`);
  if (res.status === 401) return fail(`${line}: a 401 without a challenge leaves clients stuck`);
  return fail(`${line}: expected 401 (or 400) with a challenge`);
}

/**
 * Check that an RFC 9728 document is usable for this endpoint. With `originAllowed`, a `resource` that is
 * the endpoint's origin is a WARN rather than a FAIL (see `prm.advertised`).
 */
function judgeMetadata(ctx: AuditContext, res: ProbeResponse, where: string, originAllowed = false): Outcome {
  if (res.status !== 200) return fail(`${where}: ${res.status}`);
  const doc = safeJson(res.text) as Record<string, unknown> | undefined;
  if (!doc || typeof doc !== "object") return fail(`${where}: 200 but not JSON`);
  const resource = doc.resource;
  const as = doc.authorization_servers;
  if (!Array.isArray(as) || as.length === 0 || !as.every((a) => typeof a === "string"))
    return fail(`${where}: authorization_servers missing or empty`);
  if (resource !== ctx.endpoint) {
    if (typeof resource === "string" && resource.replace(/\/$/, "") === ctx.endpoint.replace(/\/$/, "")) {
      return warn(
        `${where}: resource "${resource}" differs from the endpoint only by a trailing slash (RFC 9728 §3.3 wants them identical)`,
      );
    }
    if (originAllowed && typeof resource === "string" && resource.replace(/\/$/, "") === ctx.target.origin) {
      return warn(
        `${where}: resource is the origin ${resource}, not the endpoint: MCP 2025-11-25 counts the origin as a valid canonical URI (a path only "when necessary to identify individual MCP server"), but RFC 9728 §3.3 wants the URL the client requested, and strict clients refuse the document`,
      );
    }
    return fail(`${where}: resource ${JSON.stringify(resource)} is not the endpoint ${ctx.endpoint} (RFC 9728 §3.3)`);
  }
  return pass(`${where}: 200, resource = endpoint, authorization_servers = ${as.join(" ")}`);
}

const WELL_KNOWN = "/.well-known/oauth-protected-resource";

const challengeChecks: CheckDefinition[] = ERA_PROBES.map((p, index) => ({
  id: `challenge.${p.id}`,
  title:
    index === 0
      ? `401 + Bearer challenge on unauthenticated ${p.method}`
      : `${p.era}: unauthenticated ${p.method} gets the same challenge`,
  spec: p.spec,
  // RFC 6750 §3: a request without credentials MUST get a WWW-Authenticate challenge; MCP authz: a 401. (A missing
  // resource_metadata is only a WARN: MCP 2025-11-25 lets the well-known URI be the discovery mechanism instead.)
  level: "MUST",
  ...(index === 0 ? {} : { era: p.era }),
  async run(ctx) {
    const res = await ctx.unauthenticated(p);
    if (answered(res) || (res.status >= 200 && res.status < 300)) return fail(`${res.status}: served without a token`);
    const ch = mainChallenge(res);
    if (index > 0) {
      const ref = await ctx.unauthenticated(REFERENCE);
      if (res.status !== 401 || !ch) return fail(`${challengeLine(res)} (initialize got ${ref.status})`);
      const same = (res.headers.get("www-authenticate") ?? "") === (ref.headers.get("www-authenticate") ?? "");
      if (same) return pass(`${challengeLine(res, ["resource_metadata"])}, identical to initialize's`);
      const refCh = mainChallenge(ref);
      if (refCh?.params.resource_metadata === ch.params.resource_metadata)
        return pass(`401, same resource_metadata; ${oneLine(res.headers.get("www-authenticate") ?? "", 100)}`);
      return warn(`${challengeLine(res)}: differs from initialize's challenge`);
    }
    if (res.status !== 401) return fail(`${challengeLine(res)}: expected 401`);
    if (!ch) return fail(`${challengeLine(res)}: no Bearer challenge`);
    const rm = ch.params.resource_metadata;
    if (rm === undefined)
      return warn(`${challengeLine(res)}: no resource_metadata, clients must guess the well-known URL`);
    let url: URL;
    try {
      url = new URL(rm);
    } catch {
      return fail(`resource_metadata "${rm}" is not an absolute URL`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:")
      return fail(`resource_metadata "${rm}" is not an http(s) URL`);
    return pass(challengeLine(res));
  },
}));

const metadataChecks: CheckDefinition[] = [
  {
    id: "prm.advertised",
    title: "RFC 9728 document at the advertised resource_metadata",
    spec: "RFC 9728 §3, §5.1",
    // RFC 9728 §3.3: the resource value MUST be identical to the resource identifier; MCP: authorization_servers MUST.
    level: "MUST",
    async run(ctx) {
      const rm = mainChallenge(await ctx.unauthenticated(REFERENCE))?.params.resource_metadata;
      if (!rm) return skip("the challenge names no resource_metadata");
      let url: URL;
      try {
        url = new URL(rm);
      } catch {
        return skip("resource_metadata is not an absolute URL");
      }
      return judgeMetadata(ctx, await ctx.get(url), url.origin === ctx.target.origin ? url.pathname : url.href, true);
    },
  },
  {
    id: "prm.path-inserted",
    title: "RFC 9728 document at the path-inserted well-known URL",
    spec: "RFC 9728 §3.1; MCP authz §2.3.2",
    // MCP authz: servers MUST offer one discovery mechanism (challenge or well-known URI); a 404 here is a FAIL only
    // when the challenge's document is not usable either.
    level: "MUST",
    async run(ctx) {
      const path = ctx.target.pathname.replace(/\/$/, "");
      const url = new URL(`${WELL_KNOWN}${path}`, ctx.target.origin);
      const res = await ctx.get(url);
      const out = judgeMetadata(ctx, res, url.pathname);
      if (res.status === 404 && (await ctx.advertisedMetadataOk()))
        return warn(`${url.pathname}: 404; clients reading the challenge still find the document`);
      return out;
    },
  },
  {
    id: "prm.root",
    title: "RFC 9728 document at the root well-known URL",
    spec: "MCP authz §2.3.2 (fallback)",
    // No sentence requires the root document; the check FAILs only when no document is found anywhere, which breaks
    // MCP's MUST of one discovery mechanism. Its other outcomes are WARNs.
    level: "MUST",
    async run(ctx) {
      const url = new URL(WELL_KNOWN, ctx.target.origin);
      const res = await ctx.get(url);
      if (res.status === 404) {
        const pathInserted = new URL(`${WELL_KNOWN}${ctx.target.pathname.replace(/\/$/, "")}`, ctx.target.origin);
        if (pathInserted.href !== url.href && (await ctx.validDocAt(pathInserted)))
          return pass(
            `${url.pathname}: 404; clients try the path-inserted ${pathInserted.pathname} first and find the document there`,
          );
        return (await ctx.advertisedMetadataOk())
          ? warn(`${url.pathname}: 404; clients that skip the challenge and the path-inserted URL find nothing`)
          : fail(`${url.pathname}: 404, and no other document was found`);
      }
      const doc = safeJson(res.text) as Record<string, unknown> | undefined;
      if (res.status === 200 && doc && doc.resource === ctx.target.origin) {
        return warn(
          `${url.pathname}: resource is the origin ${ctx.target.origin}, not the endpoint; strict clients refuse it for ${ctx.endpoint}`,
        );
      }
      return judgeMetadata(ctx, res, url.pathname);
    },
  },
  {
    id: "resource.indicator",
    title: "resource usable as an RFC 8707 resource indicator",
    spec: "RFC 8707 §2",
    // RFC 8707 §2: the indicator MUST be an absolute URI and MUST NOT have a fragment (FAIL); SHOULD NOT have a query
    // (WARN).
    level: "MUST",
    async run(ctx) {
      const doc = await ctx.metadata();
      if (!doc) return skip("no protected resource metadata found");
      const r = doc.resource;
      if (typeof r !== "string") return fail("resource is missing");
      let url: URL;
      try {
        url = new URL(r);
      } catch {
        return fail(`resource ${JSON.stringify(r)} is not an absolute URI`);
      }
      if (r.includes("#")) return fail(`resource ${r} has a fragment (RFC 8707 §2: MUST NOT)`);
      if (url.search) return warn(`resource ${r} has a query (RFC 8707 §2: SHOULD NOT)`);
      if (url.origin !== ctx.target.origin) return warn(`resource ${r} is on another origin than the endpoint`);
      return pass(`resource ${r}: absolute, no fragment, no query, same origin`);
    },
  },
  {
    id: "scope.advice",
    title: "scopes to request: challenge scope or scopes_supported",
    spec: "MCP authz §2.4; RFC 6750 §3",
    // MCP authz 2025-11-25: servers SHOULD include a scope parameter in the challenge (scopes_supported otherwise).
    level: "SHOULD",
    async run(ctx) {
      const ch = mainChallenge(await ctx.unauthenticated(REFERENCE));
      if (ch?.params.scope) return pass(`challenge scope="${ch.params.scope}"`);
      const doc = await ctx.metadata();
      const s = doc?.scopes_supported;
      if (Array.isArray(s) && s.length)
        return pass(`no scope in the challenge; clients use scopes_supported: ${s.join(" ")}`);
      return warn("neither a challenge scope nor scopes_supported: clients cannot tell which scopes to request");
    },
  },
  {
    id: "dpop.advertised",
    title: "DPoP advertised consistently (metadata vs challenge)",
    spec: "RFC 9449 §5.1, §7.1",
    // Best practice, no normative sentence: the challenge's algs and the metadata's lists are each OPTIONAL, but a
    // client reading either should learn the same thing. SHOULD (it only WARNs).
    level: "SHOULD",
    async run(ctx) {
      const res = await ctx.unauthenticated(REFERENCE);
      const dpop = findChallenge(parseWwwAuthenticate(res.headers.get("www-authenticate")), "dpop");
      const doc = await ctx.metadata();
      const meta = Array.isArray(doc?.dpop_signing_alg_values_supported)
        ? (doc.dpop_signing_alg_values_supported as string[])
        : undefined;
      const algs = dpop?.params.algs?.split(" ").filter(Boolean);
      if (!dpop && !meta) return pass("DPoP not offered (no DPoP challenge, no dpop_signing_alg_values_supported)");
      if (dpop && !meta)
        return warn(
          `challenge offers DPoP algs="${dpop.params.algs ?? ""}" but the metadata has no dpop_signing_alg_values_supported`,
        );
      if (!dpop && meta) return warn(`metadata lists DPoP algs ${meta.join(" ")} but the 401 has no DPoP challenge`);
      if (!algs) return warn("DPoP challenge without algs");
      const a = [...new Set(algs)].sort().join(" ");
      const m = [...new Set(meta)].sort().join(" ");
      if (a !== m) return warn(`challenge algs "${algs.join(" ")}" ≠ metadata ${meta?.join(" ")}`);
      if (
        doc?.dpop_bound_access_tokens_required === true &&
        findChallenge(parseWwwAuthenticate(res.headers.get("www-authenticate")), "bearer")
      ) {
        return warn("dpop_bound_access_tokens_required, yet the 401 still offers Bearer");
      }
      return pass(`challenge algs = dpop_signing_alg_values_supported = ${algs.join(" ")}`);
    },
  },
];

const corsChecks: CheckDefinition[] = [
  ...[...new Map(ERA_PROBES.map((p) => [p.corsHeaders.join(","), p])).values()].map((p, index): CheckDefinition => ({
    id: index === 0 ? "cors.preflight" : `cors.preflight.${p.era}`,
    title:
      index === 0
        ? "CORS preflight on the endpoint"
        : `${p.era}: CORS preflight with ${p.corsHeaders.filter((h) => !REFERENCE.corsHeaders.includes(h)).join(", ")}`,
    spec: "Fetch: CORS protocol",
    // Best practice, no normative sentence (MCP does not mention CORS): browser-based clients need it. SHOULD.
    level: "SHOULD",
    ...(index === 0 ? {} : { era: p.era }),
    async run(ctx) {
      const res = await ctx.prober.send({
        method: "OPTIONS",
        url: ctx.endpoint,
        headers: {
          origin: ctx.browserOrigin,
          "access-control-request-method": "POST",
          "access-control-request-headers": p.corsHeaders.join(", "),
        },
      });
      const allowOrigin = res.headers.get("access-control-allow-origin");
      if (res.status < 200 || res.status >= 300)
        return warn(`OPTIONS ${res.status}: browser clients cannot call the endpoint`);
      if (allowOrigin !== "*" && allowOrigin !== ctx.browserOrigin)
        return warn(`OPTIONS ${res.status} without Access-Control-Allow-Origin`);
      const allowed = (res.headers.get("access-control-allow-headers") ?? "")
        .toLowerCase()
        .split(",")
        .map((h) => h.trim());
      const missing = p.corsHeaders.filter(
        (h) => !allowed.includes(h) && !(allowed.includes("*") && h !== "authorization"),
      );
      if (missing.length) return warn(`Access-Control-Allow-Headers lacks ${missing.join(", ")}`);
      const methods = (res.headers.get("access-control-allow-methods") ?? "").toUpperCase();
      if (methods && !methods.includes("POST") && !methods.includes("*"))
        return warn(`Access-Control-Allow-Methods lacks POST: ${methods}`);
      return pass(`OPTIONS ${res.status}, allows ${p.corsHeaders.join(", ")}`);
    },
  })),
  {
    id: "cors.expose",
    title: "401 readable by browser clients (WWW-Authenticate exposed)",
    spec: "Fetch: CORS expose",
    // Best practice, no normative sentence: a browser client cannot read the challenge otherwise. SHOULD.
    level: "SHOULD",
    async run(ctx) {
      const res = await ctx.prober.send({
        method: "POST",
        url: ctx.endpoint,
        headers: { ...ctx.jsonHeaders(), origin: ctx.browserOrigin },
        body: eraBody(REFERENCE),
      });
      const allowOrigin = res.headers.get("access-control-allow-origin");
      if (allowOrigin !== "*" && allowOrigin !== ctx.browserOrigin)
        return warn(`${res.status} without Access-Control-Allow-Origin: browser clients see a network error`);
      const exposed = (res.headers.get("access-control-expose-headers") ?? "")
        .toLowerCase()
        .split(",")
        .map((h) => h.trim());
      if (!exposed.includes("www-authenticate") && !exposed.includes("*")) {
        return warn(
          `${res.status}: Access-Control-Expose-Headers ${exposed.filter(Boolean).length ? `is "${exposed.join(", ")}"` : "missing"}, so browser clients cannot read WWW-Authenticate`,
        );
      }
      return pass(`${res.status}, Access-Control-Expose-Headers includes WWW-Authenticate`);
    },
  },
  {
    id: "cors.metadata",
    title: "metadata document readable cross-origin",
    spec: "RFC 9728 §3; Fetch: CORS",
    // Best practice, no normative sentence: browser clients cannot discover the authorization server otherwise.
    level: "SHOULD",
    async run(ctx) {
      const found = await ctx.metadataResponse();
      if (!found) return skip("no protected resource metadata found");
      const allowOrigin = found.headers.get("access-control-allow-origin");
      if (allowOrigin === "*" || allowOrigin === ctx.browserOrigin)
        return pass(`${new URL(found.url).pathname}: Access-Control-Allow-Origin ${allowOrigin}`);
      return warn(
        `${new URL(found.url).pathname}: no Access-Control-Allow-Origin, browser clients cannot discover the authorization server`,
      );
    },
  },
];

/** Run `judge` on each authorization server and keep the worst verdict. */
async function perAuthorizationServer(
  ctx: AuditContext,
  judge: (issuer: string, meta: Record<string, unknown>) => Outcome,
): Promise<Outcome> {
  const issuers = await ctx.authorizationServers();
  if (!issuers.length) return skip("no authorization_servers to look at");
  const rank: Record<Status, number> = { FAIL: 3, WARN: 2, SKIP: 1, PASS: 0 };
  let worst: Outcome | undefined;
  const passes: string[] = [];
  for (const issuer of issuers) {
    const found = await ctx.authorizationServerMetadata(issuer);
    const o = "error" in found ? found.error : judge(issuer, found.metadata);
    if (o.status === "PASS") passes.push(o.evidence);
    if (!worst || rank[o.status] > rank[worst.status]) worst = o;
  }
  if (worst?.status === "PASS") return pass(passes.join("; "));
  return worst as Outcome;
}

const asChecks: CheckDefinition[] = [
  {
    id: "as.metadata",
    title: "authorization server metadata reachable (RFC 8414 / OIDC)",
    spec: "RFC 8414 §3; OIDC Discovery §4",
    // MCP authz: authorization servers MUST provide RFC 8414 metadata or OpenID Connect Discovery.
    level: "MUST",
    run: (ctx) => perAuthorizationServer(ctx, (issuer, meta) => pass(`${issuer}: ${String(meta.__found_at)}`)),
  },
  {
    id: "as.pkce-s256",
    title: "S256 in code_challenge_methods_supported",
    spec: "MCP authz §2.6; RFC 7636",
    // MCP authz: without code_challenge_methods_supported clients MUST refuse to proceed; OAuth 2.1 makes PKCE a MUST.
    level: "MUST",
    run: (ctx) =>
      perAuthorizationServer(ctx, (issuer, meta) => {
        const m = meta.code_challenge_methods_supported;
        if (Array.isArray(m) && m.includes("S256")) return pass(`${issuer}: ${m.join(" ")}`);
        return fail(
          `${issuer}: code_challenge_methods_supported ${m === undefined ? "missing" : JSON.stringify(m)}; MCP clients must refuse to proceed`,
        );
      }),
  },
  {
    id: "as.registration",
    title: "a way to register: CIMD or dynamic registration",
    spec: "MCP authz §2.4; RFC 7591",
    // MCP authz 2025-11-25: authorization servers SHOULD support Client ID Metadata Documents, MAY support dynamic
    // registration; pre-registration stays allowed, so this only WARNs.
    level: "SHOULD",
    run: (ctx) =>
      perAuthorizationServer(ctx, (issuer, meta) => {
        if (meta.client_id_metadata_document_supported === true)
          return pass(`${issuer}: client_id_metadata_document_supported`);
        if (typeof meta.registration_endpoint === "string")
          return pass(`${issuer}: registration_endpoint ${meta.registration_endpoint}`);
        return warn(
          `${issuer}: no registration_endpoint and no client_id_metadata_document_supported: clients need a pre-registered client_id`,
        );
      }),
  },
  {
    id: "as.pkce-plain",
    title: "the plain PKCE method is not advertised",
    spec: "OAuth 2.1 §4.1.1; MCP authz (PKCE: S256)",
    // OAuth 2.1 / MCP: clients MUST use S256 when they can; an authorization server still offering plain invites a
    // downgrade. No sentence forbids listing it: a SHOULD-level smell, so a WARN.
    level: "SHOULD",
    run: (ctx) =>
      perAuthorizationServer(ctx, (issuer, meta) => {
        const m = meta.code_challenge_methods_supported;
        if (Array.isArray(m) && m.includes("plain"))
          return warn(
            `${issuer}: code_challenge_methods_supported includes plain (${m.join(" ")}); S256 is the method MCP clients must use`,
          );
        return pass(`${issuer}: plain not advertised`);
      }),
  },
];

/** A forged-credential refusal check. */
function refusal(
  id: string,
  title: string,
  spec: string,
  build: (ctx: AuditContext) => Promise<{ url?: string; headers: Record<string, string>; what: string }>,
): CheckDefinition {
  return {
    id,
    title,
    spec,
    // A forged or unknown credential that is served means the server does not validate tokens (MCP authz and OAuth 2.1
    // §5.2: MUST; RFC 9068 §4: MUST reject alg none and a bad signature), and a refusal without a challenge breaks RFC
    // 6750 §3's MUST. (RFC 6750 §3.1's status codes, 401 vs 400, are SHOULDs: either passes.)
    level: "MUST",
    async run(ctx) {
      const { url, headers, what } = await build(ctx);
      const res = await ctx.prober.send({
        method: "POST",
        url: url ?? ctx.endpoint,
        headers: { ...ctx.jsonHeaders(), ...headers },
        body: eraBody(REFERENCE),
      });
      return judgeRefusal(res, what);
    },
  };
}

const forgeClaims = async (ctx: AuditContext) => {
  const doc = await ctx.metadata();
  const issuers = await ctx.authorizationServers();
  const scopes = Array.isArray(doc?.scopes_supported) ? (doc.scopes_supported as string[]).join(" ") : undefined;
  return {
    issuer: issuers[0],
    audience: typeof doc?.resource === "string" ? doc.resource : ctx.endpoint,
    scope: scopes,
  };
};

const withQuery = (endpoint: string, token: string): string => {
  const u = new URL(endpoint);
  u.searchParams.set("access_token", token);
  return u.href;
};

const refusalChecks: CheckDefinition[] = [
  refusal("refuse.garbage", "a garbage bearer token is refused", "RFC 6750 §3.1 (invalid_token)", async (ctx) => {
    const t = ctx.made(garbageToken());
    return { headers: { authorization: `Bearer ${t}` }, what: "a garbage token" };
  }),
  refusal("refuse.alg-none", "an unsigned alg:none token is refused", "RFC 8725 §3.1; RFC 9068 §4", async (ctx) => {
    const t = ctx.made(algNoneToken(await forgeClaims(ctx)));
    return { headers: { authorization: `Bearer ${t}` }, what: "an alg:none token" };
  }),
  refusal(
    "refuse.expired",
    "an expired token from an unknown key is refused",
    "RFC 9068 §4; RFC 7519 §4.1.4",
    async (ctx) => {
      const t = ctx.made(await expiredToken(await forgeClaims(ctx)));
      return { headers: { authorization: `Bearer ${t}` }, what: "an expired, foreign-signed token" };
    },
  ),
  refusal(
    "refuse.two-credentials",
    "a request with two credentials is refused",
    "RFC 6750 §2 (one method per request)",
    async (ctx) => {
      const a = ctx.made(garbageToken());
      const b = ctx.made(garbageToken());
      return {
        url: withQuery(ctx.endpoint, b),
        headers: { authorization: `Bearer ${a}` },
        what: "a header and a query token together",
      };
    },
  ),
  refusal("refuse.query-token", "a token in the query string is refused", "RFC 6750 §2.3", async (ctx) => {
    const t = ctx.made(garbageToken());
    return { url: withQuery(ctx.endpoint, t), headers: {}, what: "a query-string token" };
  }),
];

/** The two principals' sessions, or why the session checks cannot judge. */
async function sessionPair(
  ctx: AuditContext,
): Promise<{ s1: Session; s2: Session; sameSubject: boolean } | { outcome: Outcome }> {
  const s1 = await ctx.session("token");
  if (!s1.ok) return { outcome: skip("the first token is refused") };
  if (!s1.sessionId) return { outcome: pass("stateless: the server issues no Mcp-Session-Id") };
  const s2 = await ctx.session("token2");
  if (!s2.ok) return { outcome: skip(`--token2 is refused on its own (${s2.response.status})`) };
  const c1 = peekClaims(ctx.options.token as string);
  const c2 = peekClaims(ctx.options.token2 as string);
  return { s1, s2, sameSubject: c1?.sub !== undefined && c1.sub === c2?.sub && c1.iss === c2?.iss };
}

/** The sorted tool names of a tools/list answer, space-joined; `undefined` when there is no list. */
function toolNames(res: ProbeResponse): string | undefined {
  if (!answered(res)) return undefined;
  const tools = (rpcMessage(res)?.result as { tools?: { name?: unknown }[] } | undefined)?.tools;
  if (!Array.isArray(tools)) return undefined;
  return tools
    .map((t) => String(t.name))
    .sort()
    .join(" ");
}

const tokenChecks: CheckDefinition[] = [
  {
    id: "token.tools-list",
    title: "the token works: initialize + tools/list",
    spec: "MCP authz §2.5.2",
    // RFC 6750 §2.1: resource servers MUST support the Authorization request header field.
    level: "MUST",
    needs: "token",
    async run(ctx) {
      const s = await ctx.session("token");
      if (!s.ok) return fail(`initialize with the token: ${challengeLine(s.response)}`);
      const res = await ctx.authed("token", { method: "tools/list", params: {} }, s);
      const m = rpcMessage(res);
      const tools = (m?.result as { tools?: { name?: string }[] } | undefined)?.tools;
      if (!Array.isArray(tools))
        return fail(`tools/list: ${challengeLine(res)}${m?.error ? ` ${oneLine(JSON.stringify(m.error), 80)}` : ""}`);
      return pass(
        `tools/list → ${tools.length} tool${tools.length === 1 ? "" : "s"}${s.sessionId ? " (in a session)" : " (stateless)"}`,
      );
    },
  },
  {
    id: "token.audience",
    title: "the token is for this resource (aud)",
    spec: "RFC 8707 §2; RFC 9068 §4",
    // MCP authz: servers MUST validate that tokens were issued for them as the audience (RFC 8707); RFC 9068 §4 MUST.
    level: "MUST",
    needs: "token",
    async run(ctx) {
      const claims = peekClaims(ctx.options.token as string);
      if (!claims) return skip("opaque token: its audience is only known to the authorization server");
      const aud = claims.aud === undefined ? [] : Array.isArray(claims.aud) ? claims.aud : [claims.aud];
      const doc = await ctx.metadata();
      const names = new Set([ctx.endpoint, ...(typeof doc?.resource === "string" ? [doc.resource] : [])]);
      if (aud.some((a) => names.has(a))) return pass(`aud names ${[...names].find((n) => aud.includes(n))}`);
      const s = await ctx.session("token");
      if (s.ok)
        return fail(`the server accepted a token whose aud (${aud.join(" ") || "none"}) does not name ${ctx.endpoint}`);
      return warn(
        `aud (${aud.join(" ") || "none"}) does not name ${ctx.endpoint}; request a token with resource=${ctx.endpoint}`,
      );
    },
  },
  {
    id: "token.tampered",
    title: "the token with a changed signature is refused",
    spec: "RFC 9068 §4; RFC 7515 §5.2",
    // RFC 9068 §4: the resource server MUST validate the signature.
    level: "MUST",
    needs: "token",
    async run(ctx) {
      const s = await ctx.session("token");
      if (!s.ok) return skip("the token itself is refused");
      const forged = ctx.made(tamperSignature(ctx.options.token as string));
      const res = await ctx.authed("token", REFERENCE_INIT, undefined, { token: forged });
      return judgeRefusal(res, "the tampered token");
    },
  },
  {
    id: "token.scheme-swap",
    title: "the token under the other scheme (Bearer ⇄ DPoP) is refused",
    spec: "RFC 9449 §7.1, §7.2",
    // RFC 9449 §7.1: a DPoP-bound token MUST come with a valid proof; §7.2: it MUST NOT be accepted as a bearer token.
    level: "MUST",
    needs: "token",
    async run(ctx) {
      const s = await ctx.session("token");
      if (!s.ok) return skip("the token itself is refused");
      const token = ctx.options.token as string;
      const headers = ctx.options.dpopKey ? { authorization: `Bearer ${token}` } : { authorization: `DPoP ${token}` };
      const res = await ctx.prober.send({
        method: "POST",
        url: ctx.endpoint,
        headers: { ...ctx.jsonHeaders(), ...headers },
        body: eraBody(REFERENCE),
      });
      return judgeRefusal(
        res,
        ctx.options.dpopKey
          ? "a DPoP-bound token sent as Bearer"
          : "a bearer token sent with the DPoP scheme and no proof",
      );
    },
  },
  {
    id: "dpop.replay",
    title: "a replayed DPoP proof is refused",
    spec: "RFC 9449 §11.1 (jti)",
    // RFC 9449 §11.1: servers SHOULD store each proof's jti for the time window it would be accepted, to detect replay.
    level: "SHOULD",
    needs: "dpop",
    async run(ctx) {
      const s = await ctx.session("token");
      if (!s.ok || !s.proof) return skip("the token with a fresh proof is refused itself");
      const res = await ctx.prober.send({
        method: "POST",
        url: ctx.endpoint,
        headers: { ...ctx.jsonHeaders(), authorization: `DPoP ${ctx.options.token as string}`, dpop: s.proof },
        body: eraBody(REFERENCE, 2),
      });
      return judgeRefusal(res, "the replayed proof");
    },
  },
  {
    id: "session.joinable",
    title: "another principal cannot use a session id (POST)",
    spec: "MCP security: session hijacking",
    // MCP security best practices: servers SHOULD bind session IDs to user-specific information. (The second principal
    // is authenticated by its own token here; being served as the first is session.identity, the MUST NOT.)
    level: "SHOULD",
    needs: "token2",
    async run(ctx) {
      const pair = await sessionPair(ctx);
      if ("outcome" in pair) return pair.outcome;
      const res = await ctx.toolsList("token2", pair.s1);
      if (answered(res)) {
        return pair.sameSubject
          ? warn("the second token (same sub) could use the first one's session; give a token of another principal")
          : fail(`another principal's token used the first token's session: tools/list answered ${res.status}`);
      }
      return pass(`the second principal on the first session: ${res.status}`);
    },
  },
  {
    id: "session.joinable-get",
    title: "another principal cannot open a session's GET event stream",
    spec: "MCP security: session hijacking; MCP transports (GET stream)",
    // The stream carries the first principal's server-to-client messages: served on the session id alone, that is
    // the session used for authentication (MCP security best practices: MUST NOT).
    level: "MUST",
    needs: "token2",
    async run(ctx) {
      const pair = await sessionPair(ctx);
      if ("outcome" in pair) return pair.outcome;
      const res = await ctx.stream("token2", pair.s1);
      const type = res.headers.get("content-type") ?? "";
      if (res.status >= 200 && res.status < 300) {
        const what = `GET with the first session's id and another token: ${res.status}${type ? ` ${type.split(";")[0]}` : ""}`;
        return pair.sameSubject
          ? warn(`${what}; the second token has the same sub: give a token of another principal`)
          : fail(`${what}, the first principal's event stream was opened`);
      }
      if (res.status === 405) return pass("405: the server offers no GET stream");
      if (res.status >= 500) return warn(`${res.status}: not served, but a server error rather than a refusal`);
      return pass(`GET with the first session's id and another token: ${res.status}`);
    },
  },
  {
    id: "session.identity",
    title: "a request is served as its own token's principal, not the session's",
    spec: "MCP security: session hijacking (MUST NOT use sessions for authentication)",
    // MCP security best practices: MCP servers MUST NOT use sessions for authentication.
    level: "MUST",
    needs: "token2",
    async run(ctx) {
      const pair = await sessionPair(ctx);
      if ("outcome" in pair) return pair.outcome;
      const crossed = await ctx.toolsList("token2", pair.s1);
      if (!answered(crossed))
        return pass(`the second principal's request on the first session was not served: ${crossed.status}`);
      const first = toolNames(await ctx.toolsList("token", pair.s1));
      const second = toolNames(await ctx.toolsList("token2", pair.s2));
      const got = toolNames(crossed);
      if (first === undefined || second === undefined || got === undefined)
        return skip("tools/list gave no tool list to compare");
      if (first === second)
        return skip(
          `both principals see the same ${first ? first.split(" ").length : 0} tools: whose identity served the request cannot be told from outside`,
        );
      if (got === first)
        return fail(
          "the second token's tools/list on the first session listed the first principal's tools: the session's identity was used, not the token's",
        );
      if (got === second)
        return pass("the second token's request on the first session was served as the second principal");
      return skip("the tool list on the first session matches neither principal's");
    },
  },
];

const REFERENCE_INIT = { method: REFERENCE.method, params: REFERENCE.params };

/** The challenges themselves (see `checks-challenge.ts`); run late, so that they see every challenge received. */
const challengeSyntaxChecks: CheckDefinition[] = [
  {
    id: "challenge.syntax",
    title: "every WWW-Authenticate is well-formed (quoting, escaping, attribute values)",
    spec: "RFC 9110 §11.6.1; RFC 6750 §3",
    // The header grammar (RFC 9110 §11.6.1, §5.6.4) and RFC 6750 §3: error and error_description values MUST NOT
    // include characters outside %x20-21 / %x23-5B / %x5D-7E.
    level: "MUST",
    run: judgeChallengeSyntax,
  },
  {
    id: "challenge.error-codes",
    title: "only registered error codes in challenges",
    spec: "RFC 6750 §3.1, §6.2; RFC 9449 §7.1",
    // RFC 6750 §3: the server SHOULD include the error attribute, whose values are the registered codes of §3.1.
    level: "SHOULD",
    run: judgeErrorCodes,
  },
];

const foreignTokenChecks: CheckDefinition[] = [
  {
    id: "token.syntax",
    title: "the tokens are RFC 6750 b64token",
    spec: "RFC 6750 §2.1",
    // RFC 6750 §2.1's credentials grammar; the token is the authorization server's, sent as is, so only a WARN.
    level: "MUST",
    needs: "token",
    async run(ctx) {
      const given = [
        ["--token", ctx.options.token],
        ["--token2", ctx.options.token2],
        ["--foreign-token", ctx.options.foreignToken],
      ] as const;
      const odd = given.filter(([, t]) => t !== undefined && !isB64Token(t)).map(([flag]) => flag);
      if (odd.length)
        return warn(
          `${odd.join(", ")}: characters outside the b64token set (e.g. ":"); sent as is, but clients and proxies that check the syntax refuse it`,
        );
      return pass(`${given.filter(([, t]) => t !== undefined).length} token(s), all b64token`);
    },
  },
  {
    id: "token.foreign-audience",
    title: "a token for another resource is refused",
    spec: "RFC 8707 §2; MCP authz: token audience binding and validation",
    // MCP 2025-11-25: servers MUST validate that access tokens were issued specifically for them (audience).
    level: "MUST",
    async run(ctx) {
      const foreign = ctx.options.foreignToken;
      if (!foreign)
        return skip(
          "not tested: give --foreign-token, a token from the same authorization server for another resource",
        );
      const claims = peekClaims(foreign);
      const aud = claims?.aud === undefined ? [] : Array.isArray(claims.aud) ? claims.aud : [claims.aud];
      const doc = await ctx.metadata();
      const names = [ctx.endpoint, ...(typeof doc?.resource === "string" ? [doc.resource] : [])];
      if (aud.some((a) => names.includes(a)))
        return skip(
          `not tested: the --foreign-token's aud names this server (${aud.join(" ")}); give one for another resource`,
        );
      const res = await ctx.authed("token", REFERENCE_INIT, undefined, { token: foreign });
      return judgeRefusal(res, `a token for another resource${aud.length ? ` (aud ${aud.join(" ")})` : ""}`);
    },
  },
];

const finalChecks: CheckDefinition[] = [
  {
    id: "tokens.not-echoed",
    title: "no token echoed in any response",
    spec: "RFC 6750 §5.3",
    // RFC 6750 §5.3's "MUST ensure bearer tokens are not leaked" binds clients; for a server echoing a token back it is
    // best practice without a normative sentence. SHOULD.
    level: "SHOULD",
    async run(ctx) {
      const sent = ctx.prober.sentCredentials.filter((t) => t.length >= 16);
      const leaks = ctx.prober.responses.filter((r) => {
        let all = r.text;
        r.headers.forEach((v, k) => (all += `\n${k}: ${v}`));
        return sent.some(
          (t) => all.includes(t) || ((t.split(".")[2]?.length ?? 0) >= 20 && all.includes(t.split(".")[2] as string)),
        );
      });
      if (leaks.length)
        return fail(
          `${leaks.length} response(s) contained a token the audit sent, e.g. ${new URL(leaks[0]?.url as string).pathname}`,
        );
      return pass(`${sent.length} credentials sent, none in ${ctx.prober.responses.length} responses`);
    },
  },
];

/** Every check, in the order they run (the echo check last, so it sees every response). */
export const CHECKS: readonly CheckDefinition[] = [
  ...challengeChecks,
  {
    id: "challenge.no-error-unauthenticated",
    title: "no error code in the challenge to a request without credentials",
    spec: "RFC 6750 §3.1",
    // RFC 6750 §3.1: if the request lacks any authentication information, the server SHOULD NOT include an error code.
    level: "SHOULD",
    run: judgeNoErrorWithoutCredentials,
  },
  ...metadataChecks,
  ...corsChecks,
  ...asChecks,
  ...refusalChecks,
  ...tokenChecks,
  ...foreignTokenChecks,
  ...challengeSyntaxChecks,
  ...finalChecks,
];
