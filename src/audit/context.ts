/**
 * What checks share during one audit: the prober, the target, and memoised probes (the
 * unauthenticated challenge, metadata documents, authorization server metadata, sessions), so that a
 * fact several checks need costs one request.
 *
 * @module
 */
import { answered, eraBody, REFERENCE_PROBE as REFERENCE, type EraProbe, type Outcome } from "./probes.js";
import { ProbeFailed, rpcMessage, safeJson, urlAllowed, type Prober, type ProbeResponse } from "./http.js";
import type { Fetch } from "../lib/fetch.js";
import { dpopProof, type DpopKey } from "./tokens.js";
import { parseWwwAuthenticate, findChallenge } from "./www-authenticate.js";

/** Inputs of an audit. */
export interface AuditOptions {
  /** The MCP endpoint, e.g. `https://mcp.example.com/mcp`. */
  url: string;
  /** An access token for the endpoint (never sent anywhere else, never printed). */
  token?: string | undefined;
  /** A second principal's token, for the session checks (joinable, GET stream, identity). */
  token2?: string | undefined;
  /**
   * A token from the same authorization server for another resource: the server must refuse it (RFC 8707,
   * MCP token audience binding). Sent like `token` (Bearer, or DPoP with `dpopKey`). Without it that check says
   * "not tested".
   */
  foreignToken?: string | undefined;
  /** The private key the tokens are DPoP-bound to. */
  dpopKey?: DpopKey | undefined;
  /** Plain http beyond loopback. Default false. */
  allowHttp?: boolean | undefined;
  /** Per-request timeout, milliseconds. Default 10000. */
  timeoutMs?: number | undefined;
  /** Most requests. Default 60. */
  maxRequests?: number | undefined;
  /** Fetch to use (tests). */
  fetch?: Fetch | undefined;
}

/** An MCP session (or a stateless exchange) opened with a token. */
export interface Session {
  /** Whether `initialize` was answered with a result. */
  ok: boolean;
  /** The `initialize` response. */
  response: ProbeResponse;
  /** `Mcp-Session-Id`, when the server keeps sessions. */
  sessionId?: string | undefined;
  /** Negotiated protocol version. */
  protocolVersion?: string | undefined;
  /** The DPoP proof that was accepted on `initialize` (for the replay check). */
  proof?: string | undefined;
}

/** Authorization server metadata, or why it could not be had. */
export type AsMetadataResult = { metadata: Record<string, unknown> } | { error: Outcome };

/** Shared state of one audit run. */
export class AuditContext {
  /** The endpoint URL, normalised (`href`). */
  readonly endpoint: string;
  /** The endpoint as a URL. */
  readonly target: URL;
  /**
   * The `Origin` the CORS probes send, as a browser client of this target would: a page on another
   * site for a public server; for a server on loopback, a page on loopback (the MCP Inspector's
   * `http://localhost:6274`), since a loopback server rightly refuses foreign origins (DNS rebinding).
   */
  readonly browserOrigin: string;
  readonly #memo = new Map<string, Promise<unknown>>();
  #dpopNonce: string | undefined;
  #rpcId = 10;

  /**
   * @param prober - sends every request.
   * @param options - the audit's inputs.
   */
  constructor(
    readonly prober: Prober,
    readonly options: AuditOptions,
  ) {
    this.target = prober.target;
    this.browserOrigin = browserOriginFor(prober.target);
    this.endpoint = prober.target.href;
  }

  /** Compute once per audit. Failures are memoised too, so a broken probe is not retried. */
  once<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let p = this.#memo.get(key) as Promise<T> | undefined;
    if (!p) {
      p = fn();
      this.#memo.set(key, p);
    }
    return p;
  }

  /** Headers of every JSON-RPC POST. */
  jsonHeaders(): Record<string, string> {
    return { "content-type": "application/json", accept: "application/json, text/event-stream" };
  }

  /** Register a credential the audit made up (echo check, redaction) and return it. */
  made(token: string): string {
    this.prober.addSent(token);
    return token;
  }

  /** The era's first request without a token (memoised). */
  unauthenticated(p: EraProbe): Promise<ProbeResponse> {
    return this.once(`unauth:${p.era}:${p.id}`, () =>
      this.prober.send({
        method: "POST",
        url: this.endpoint,
        headers: { ...this.jsonHeaders(), ...p.headers },
        body: eraBody(p),
      }),
    );
  }

  /** GET a document (memoised per URL). */
  get(url: URL | string): Promise<ProbeResponse> {
    const href = new URL(url).href;
    return this.once(`get:${href}`, () =>
      this.prober.send({
        method: "GET",
        url: href,
        headers: { accept: "application/json", origin: this.browserOrigin },
      }),
    );
  }

  /** The advertised `resource_metadata` URL, if the challenge has an absolute one. */
  async advertisedUrl(): Promise<URL | undefined> {
    const all = parseWwwAuthenticate((await this.unauthenticated(REFERENCE)).headers.get("www-authenticate"));
    const rm = (findChallenge(all, "bearer") ?? findChallenge(all, "dpop"))?.params.resource_metadata;
    try {
      return rm ? new URL(rm) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Candidate metadata URLs in the order a client tries them: advertised, path-inserted, root. */
  async metadataUrls(): Promise<URL[]> {
    const path = this.target.pathname.replace(/\/$/, "");
    const urls = [
      await this.advertisedUrl(),
      new URL(`/.well-known/oauth-protected-resource${path}`, this.target.origin),
      new URL("/.well-known/oauth-protected-resource", this.target.origin),
    ];
    return urls
      .filter((u): u is URL => u !== undefined)
      .filter((u, i, a) => a.findIndex((v) => v.href === u.href) === i);
  }

  /** Whether a usable document for this endpoint is at `url`. */
  async validDocAt(url: URL): Promise<boolean> {
    try {
      const res = await this.get(url);
      const doc = safeJson(res.text) as Record<string, unknown> | undefined;
      return (
        res.status === 200 &&
        !!doc &&
        doc.resource === this.endpoint &&
        Array.isArray(doc.authorization_servers) &&
        doc.authorization_servers.length > 0
      );
    } catch (e) {
      if (e instanceof ProbeFailed) return false;
      throw e;
    }
  }

  /** Whether the advertised (or, without one, the path-inserted) document is usable. */
  async advertisedMetadataOk(): Promise<boolean> {
    const urls = await this.metadataUrls();
    for (const u of urls.slice(0, 2)) if (await this.validDocAt(u)) return true;
    return false;
  }

  /** The first metadata response a client would use (200 with a JSON object). */
  metadataResponse(): Promise<ProbeResponse | undefined> {
    return this.once("metadata", async () => {
      for (const u of await this.metadataUrls()) {
        let res: ProbeResponse;
        try {
          res = await this.get(u);
        } catch (e) {
          if (e instanceof ProbeFailed) continue;
          throw e;
        }
        const doc = safeJson(res.text);
        if (res.status === 200 && doc && typeof doc === "object") return res;
      }
      return undefined;
    });
  }

  /** The metadata document a client would use. */
  async metadata(): Promise<Record<string, unknown> | undefined> {
    const res = await this.metadataResponse();
    return res ? (safeJson(res.text) as Record<string, unknown>) : undefined;
  }

  /** `authorization_servers` (at most three are looked at). */
  async authorizationServers(): Promise<string[]> {
    const as = (await this.metadata())?.authorization_servers;
    return Array.isArray(as) ? as.filter((a): a is string => typeof a === "string").slice(0, 3) : [];
  }

  /** RFC 8414 / OIDC discovery for one issuer, in the order MCP 2025-11-25 gives (memoised). */
  authorizationServerMetadata(issuer: string): Promise<AsMetadataResult> {
    return this.once(`as:${issuer}`, async (): Promise<AsMetadataResult> => {
      let url: URL;
      try {
        url = new URL(issuer);
      } catch {
        return { error: { status: "FAIL", evidence: `issuer ${JSON.stringify(issuer)} is not a URL` } };
      }
      if (!urlAllowed(url, this.options.allowHttp ?? false))
        return {
          error: {
            status: "FAIL",
            evidence: `${issuer}: plain http on a non-loopback host (OAuth 2.1 §1.5 requires TLS)`,
          },
        };
      const path = url.pathname.replace(/\/$/, "");
      const candidates = path
        ? [
            `/.well-known/oauth-authorization-server${path}`,
            `/.well-known/openid-configuration${path}`,
            `${path}/.well-known/openid-configuration`,
          ]
        : ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"];
      const tried: string[] = [];
      for (const c of candidates) {
        const res = await this.get(new URL(c, url.origin));
        tried.push(`${c} ${res.status}`);
        const doc = safeJson(res.text) as Record<string, unknown> | undefined;
        if (res.status !== 200 || !doc || typeof doc !== "object") continue;
        if (doc.issuer !== issuer)
          return {
            error: {
              status: "FAIL",
              evidence: `${issuer}: ${c} names issuer ${JSON.stringify(doc.issuer)} (RFC 8414 §3.3: must be identical)`,
            },
          };
        return { metadata: { ...doc, __found_at: c } };
      }
      return { error: { status: "FAIL", evidence: `${issuer}: no metadata (${tried.join(", ")})` } };
    });
  }

  /** Authorization headers for `token`: Bearer, or DPoP with a fresh proof when a key is given. */
  async authHeaders(token: string, method = "POST"): Promise<{ headers: Record<string, string>; proof?: string }> {
    const key = this.options.dpopKey;
    if (!key) return { headers: { authorization: `Bearer ${token}` } };
    const proof = await dpopProof(key, method, this.endpoint, token, this.#dpopNonce);
    return { headers: { authorization: `DPoP ${token}`, dpop: proof }, proof };
  }

  /** A JSON-RPC request with a token (and proof); retried once when the server asks for a DPoP nonce. */
  async authed(
    which: "token" | "token2",
    rpc: { method: string; params: Record<string, unknown>; notification?: boolean },
    session?: Session,
    override?: { token: string },
  ): Promise<ProbeResponse & { proof?: string }> {
    // Checks that send a token only run when the CLI was given one (`--token`, `--token2`).
    const token = override?.token ?? this.options[which] ?? "";
    const body = JSON.stringify({
      jsonrpc: "2.0",
      ...(rpc.notification ? {} : { id: this.#rpcId++ }),
      method: rpc.method,
      params: rpc.params,
    });
    for (let attempt = 0; ; attempt++) {
      const auth = await this.authHeaders(token);
      const headers = {
        ...this.jsonHeaders(),
        ...auth.headers,
        ...(session?.sessionId ? { "mcp-session-id": session.sessionId } : {}),
        ...(session?.protocolVersion ? { "mcp-protocol-version": session.protocolVersion } : {}),
      };
      const res = await this.prober.send({ method: "POST", url: this.endpoint, headers, body });
      const nonce = res.headers.get("dpop-nonce");
      const askedNonce =
        res.status === 401 && nonce && /use_dpop_nonce/.test(res.headers.get("www-authenticate") ?? "");
      if (nonce) this.#dpopNonce = nonce;
      if (askedNonce && attempt === 0 && this.options.dpopKey) continue;
      return auth.proof ? { ...res, proof: auth.proof } : res;
    }
  }

  /**
   * `GET` the endpoint's event stream with a token on a session: status and headers only, the stream
   * closed at once (so a stream that is served sends nothing the audit waits for).
   */
  async stream(which: "token" | "token2", session: Session): Promise<ProbeResponse> {
    const auth = await this.authHeaders(this.options[which] ?? "", "GET");
    return this.prober.send({
      method: "GET",
      url: this.endpoint,
      headers: {
        accept: "text/event-stream",
        ...auth.headers,
        ...(session.sessionId ? { "mcp-session-id": session.sessionId } : {}),
        ...(session.protocolVersion ? { "mcp-protocol-version": session.protocolVersion } : {}),
      },
      headersOnly: true,
    });
  }

  /** `tools/list` with a token on a session (memoised per token and session). */
  toolsList(which: "token" | "token2", session: Session): Promise<ProbeResponse> {
    return this.once(`tools/list:${which}:${session.sessionId ?? ""}`, () =>
      this.authed(which, { method: "tools/list", params: {} }, session),
    );
  }

  /** `initialize` (+ `notifications/initialized`) with a token (memoised per token). */
  session(which: "token" | "token2"): Promise<Session> {
    return this.once(`session:${which}`, async () => {
      const res = await this.authed(which, { method: REFERENCE.method, params: REFERENCE.params });
      if (!answered(res)) return { ok: false, response: res };
      const result = rpcMessage(res)?.result as { protocolVersion?: string } | undefined;
      const session: Session = {
        ok: true,
        response: res,
        sessionId: res.headers.get("mcp-session-id") ?? undefined,
        protocolVersion: result?.protocolVersion,
        proof: res.proof,
      };
      await this.authed(which, { method: "notifications/initialized", params: {}, notification: true }, session);
      return session;
    });
  }
}

/** See {@link AuditContext.browserOrigin}. */
function browserOriginFor(target: URL): string {
  const loopback =
    target.hostname === "localhost" || target.hostname === "[::1]" || /^127(?:\.\d{1,3}){3}$/.test(target.hostname);
  return loopback ? "http://localhost:6274" : "https://protected-mcp-audit.invalid";
}
