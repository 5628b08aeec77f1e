/**
 * The runtime smoke suite: the Web-standard handler (`protect()` + `JWTValidator` + DPoP, stateless)
 * driven with Web `Request`s, inside whichever runtime runs it (Bun, Deno, workerd; Node too). No
 * network: the key set is served from memory by the test issuer.
 *
 * Checks: the 401 challenge (exact status and `WWW-Authenticate`, the tool not run), a valid token →
 * the tool's result with `getContext()`, the same with a tampered signature refused, a DPoP-bound call (and the same
 * token sent as Bearer refused),
 * the body limit (413, the tool not run).
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { getContext, protect } from "../../src/index.js";
import { createTestIssuer } from "../../src/testing/index.js";

const RESOURCE = "https://smoke.example/mcp";
const METADATA = "https://smoke.example/.well-known/oauth-protected-resource/mcp";

/** One check's outcome. */
export interface SmokeCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/** What {@link runSmoke} returns. */
export interface SmokeResult {
  ok: boolean;
  runtime: string;
  checks: SmokeCheck[];
}

const runtimeName = (): string => {
  const g = globalThis as {
    Bun?: { version: string };
    Deno?: { version: { deno: string } };
    navigator?: { userAgent?: string };
    process?: { versions?: { node?: string } };
  };
  if (g.Bun) return `bun ${g.Bun.version}`;
  if (g.Deno) return `deno ${g.Deno.version.deno}`;
  if (g.navigator?.userAgent === "Cloudflare-Workers") return "workerd";
  return `node ${g.process?.versions?.node ?? "?"}`;
};

export async function runSmoke(): Promise<SmokeResult> {
  const issuer = await createTestIssuer({ audience: RESOURCE });
  let toolRuns = 0;
  const handler = protect(
    () => {
      const server = new McpServer({ name: "smoke", version: "0.0.0" });
      server.registerTool("whoami", { description: "who is calling" }, async () => {
        toolRuns++;
        const auth = getContext().auth;
        return {
          content: [
            { type: "text" as const, text: `${auth?.subject ?? "anonymous"} ${auth?.jkt ? "dpop" : "bearer"}` },
          ],
        };
      });
      return server;
    },
    {
      authorization: { enabled: true, authorization_servers: [issuer.issuer], resource: RESOURCE },
      provider: issuer.validator(),
      session_mode: "stateless",
      dpop: {},
      max_body_bytes: 2048,
    },
  );
  const call = JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "tools/call",
    params: { name: "whoami", arguments: {} },
  });
  const base = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": "2025-06-18",
  };
  const post = (headers: Record<string, string>, body = call) =>
    handler(new Request(RESOURCE, { method: "POST", headers: { ...base, ...headers }, body }));
  const text = async (res: Response): Promise<string> => {
    const raw = await res.text();
    const json =
      raw.startsWith("event:") || raw.startsWith("data:")
        ? (raw
            .split("\n")
            .find((l) => l.startsWith("data:"))
            ?.slice(5) ?? "")
        : raw;
    return (JSON.parse(json) as { result?: { content?: { text?: string }[] } }).result?.content?.[0]?.text ?? raw;
  };
  const checks: SmokeCheck[] = [];
  const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });

  // 1. No token: the challenge, and the tool never runs.
  {
    const res = await post({});
    const www = res.headers.get("www-authenticate");
    const want = `Bearer realm="MCP", resource_metadata="${METADATA}", DPoP algs="ES256 EdDSA Ed25519 RS256 PS256"`;
    await res.arrayBuffer();
    check("401 challenge", res.status === 401 && www === want && toolRuns === 0, `${res.status} ${www}`);
  }
  // 2. A valid token: the tool's result, through getContext().
  {
    const token = await issuer.token({ sub: "alice" });
    const res = await post({ authorization: `Bearer ${token}` });
    const got = res.status === 200 ? await text(res) : `${res.status} ${await res.text()}`;
    check("valid token → tool result with getContext()", got === "alice bearer" && toolRuns === 1, got);
  }
  // 2b. The same kind of token with a tampered signature (the JWTValidator fast path where the
  // runtime's node:crypto allows it, else jose): refused, and the tool never runs.
  {
    const token = await issuer.token({ sub: "mallory" });
    const at = token.lastIndexOf(".") + 10;
    const forged = token.slice(0, at) + (token[at] === "A" ? "B" : "A") + token.slice(at + 1);
    const res = await post({ authorization: `Bearer ${forged}` });
    const www = res.headers.get("www-authenticate");
    const want = `Bearer realm="MCP", resource_metadata="${METADATA}", error="invalid_token", error_description="The access token signature is invalid", DPoP algs="ES256 EdDSA Ed25519 RS256 PS256"`;
    await res.arrayBuffer();
    check("tampered signature refused", res.status === 401 && www === want && toolRuns === 1, `${res.status} ${www}`);
  }
  // 3. A DPoP-bound token with a fresh proof; the same token as Bearer is refused.
  {
    const key = await issuer.dpopKey();
    const token = await issuer.token({ sub: "bob", dpop: key });
    const proof = await issuer.dpopProof({ key, htu: RESOURCE, htm: "POST", token });
    const res = await post({ authorization: `DPoP ${token}`, dpop: proof });
    const got = res.status === 200 ? await text(res) : `${res.status} ${await res.text()}`;
    check("DPoP-bound call", got === "bob dpop" && toolRuns === 2, got);
    const asBearer = await post({ authorization: `Bearer ${token}` });
    const www = asBearer.headers.get("www-authenticate");
    const want = `Bearer realm="MCP", resource_metadata="${METADATA}", error="invalid_token", error_description="A DPoP-bound access token must use the DPoP authorization scheme", DPoP algs="ES256 EdDSA Ed25519 RS256 PS256"`;
    await asBearer.arrayBuffer();
    check(
      "DPoP-bound token as Bearer refused",
      asBearer.status === 401 && www === want && toolRuns === 2,
      `${asBearer.status} ${www}`,
    );
  }
  // 4. The body limit: 413 after authorization, the tool never runs.
  {
    const token = await issuer.token({ sub: "carol" });
    const big = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "whoami", arguments: { pad: "x".repeat(4096) } },
    });
    const res = await post({ authorization: `Bearer ${token}` }, big);
    await res.arrayBuffer();
    check("body limit → 413", res.status === 413 && toolRuns === 2, String(res.status));
  }
  return { ok: checks.every((c) => c.ok), runtime: runtimeName(), checks };
}
