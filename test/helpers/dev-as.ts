/** Helpers for the development authorization server tests: PKCE pairs, free ports, a handler-level flow. */
import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:net";
import type { DevAuthorizationServer } from "../../src/dev-authorization-server/index.js";

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

/** A port that was free a moment ago (and the one after it, for the demo's authorization server). */
export async function freePortPair(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once("error", reject);
      s.listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    if (port >= 65535) continue;
    const nextFree = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once("error", () => resolve(false));
      s.listen(port + 1, "127.0.0.1", () => s.close(() => resolve(true)));
    });
    if (nextFree) return port;
  }
}

/** Call the handler directly: no sockets. */
export function call(as: DevAuthorizationServer, path: string, init: RequestInit = {}): Promise<Response> {
  return as(new Request(new URL(path, as.issuer + "/"), init));
}

export function form(fields: Record<string, string>): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields),
  };
}

export async function registerClient(
  as: DevAuthorizationServer,
  metadata: Record<string, unknown> = {},
): Promise<Response> {
  return call(as, "/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      client_name: "test client",
      redirect_uris: ["http://127.0.0.1:9999/callback"],
      ...metadata,
    }),
  });
}

export function authorizeUrl(as: DevAuthorizationServer, params: Record<string, string | undefined>): string {
  const url = new URL(as.metadata.authorization_endpoint);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return url.pathname + url.search;
}

/** Parse the consent page: form action, hidden fields and the CSRF cookie. */
export async function consentForm(
  res: Response,
): Promise<{ action: string; pending: string; csrf: string; cookie: string; html: string }> {
  const html = await res.text();
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? "";
  return {
    action: /<form method="post" action="([^"]+)"/.exec(html)?.[1] ?? "",
    pending: field("pending"),
    csrf: field("csrf_token"),
    cookie: res.headers
      .getSetCookie()
      .map((c) => c.split(";")[0])
      .join("; "),
    html,
  };
}

export interface FlowResult {
  code: string;
  clientId: string;
  redirectUri: string;
  verifier: string;
}

/** Register, authorize with PKCE, approve as `username`: returns the code (handler-level, no sockets). */
export async function obtainCode(
  as: DevAuthorizationServer,
  o: { username?: string; scope?: string; resource?: string } = {},
): Promise<FlowResult> {
  const reg = await (await registerClient(as)).json();
  const { verifier, challenge } = pkce();
  const redirectUri = reg.redirect_uris[0] as string;
  const page = await call(
    as,
    authorizeUrl(as, {
      response_type: "code",
      client_id: reg.client_id,
      redirect_uri: redirectUri,
      code_challenge: challenge,
      code_challenge_method: "S256",
      state: "st-1",
      scope: o.scope,
      resource: o.resource,
    }),
  );
  if (page.status !== 200) throw new Error(`authorize: ${page.status} ${page.headers.get("location")}`);
  const f = await consentForm(page);
  const res = await call(as, f.action, {
    ...form({ pending: f.pending, csrf_token: f.csrf, username: o.username ?? "alice", decision: "approve" }),
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: f.cookie },
  });
  const location = new URL(res.headers.get("location") ?? "http://invalid/");
  const code = location.searchParams.get("code");
  if (res.status !== 303 || !code) throw new Error(`consent: ${res.status}`);
  return { code, clientId: reg.client_id, redirectUri, verifier };
}

export function exchange(
  as: DevAuthorizationServer,
  r: FlowResult,
  extra: Record<string, string> = {},
): Promise<Response> {
  return call(
    as,
    "/token",
    form({
      grant_type: "authorization_code",
      code: r.code,
      client_id: r.clientId,
      redirect_uri: r.redirectUri,
      code_verifier: r.verifier,
      ...extra,
    }),
  );
}
