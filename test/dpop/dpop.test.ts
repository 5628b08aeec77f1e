/**
 * DPoP (RFC 9449) at the resource: a real client (oauth4webapi proofs through the official SDK
 * client), then every bad proof with its exact status and challenge, and no tool run.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPair } from "jose";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { getContext, JWTValidator, MCPServer, tool } from "../../src/index.js";
import { startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";
import { MCP_HEADERS, readRpc, toolCall } from "../helpers/mcp.js";
import { clientKey, dpopFetch, makeProof, type ClientKey } from "../helpers/dpop.js";

let issuer: LocalIssuer;
let server: MCPServer;
let url: string;
let key: ClientKey;
let runs = 0;
const ALGS = `algs="ES256 EdDSA Ed25519 RS256 PS256"`;

before(async () => {
  issuer = await startLocalIssuer();
  key = await clientKey();
  server = new MCPServer("dpop", {
    session_mode: "stateless",
    authorization: { enabled: true, authorization_servers: [issuer.issuer] },
  });
  server.setAuthorizationProvider(new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }));
  server.collect(
    tool({ name: "whoami", description: "caller" }, () => {
      runs++;
      const auth = getContext().auth;
      return { subject: auth?.subject ?? null, jkt: auth?.jkt ?? null };
    }),
  );
  ({ url } = await server.serve({ port: 0 }));
});
after(async () => {
  await server.close();
  await issuer.close();
});

const boundToken = (k: ClientKey = key, claims: Record<string, unknown> = {}) =>
  issuer.sign({ aud: url, scope: "mcp", cnf: { jkt: k.jkt }, ...claims });

test("a real DPoP client (oauth4webapi proofs, official SDK client) calls a tool; the tool sees the key thumbprint", async () => {
  const token = await boundToken();
  const client = new Client({ name: "dpop-client", version: "1" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: dpopFetch(token, key) }));
  try {
    const before = runs;
    const r = await client.callTool({ name: "whoami", arguments: {} });
    assert.deepEqual(r.structuredContent, { subject: "alice", jkt: key.jkt });
    await client.callTool({ name: "whoami", arguments: {} });
    assert.equal(runs, before + 2, "a fresh proof per request is accepted every time");
  } finally {
    await client.close();
  }
});

test("metadata advertises DPoP", async () => {
  const meta = await (await fetch(`${new URL(url).origin}/.well-known/oauth-protected-resource/mcp`)).json();
  assert.deepEqual(meta.dpop_signing_alg_values_supported, ["ES256", "EdDSA", "Ed25519", "RS256", "PS256"]);
  assert.equal(meta.dpop_bound_access_tokens_required, false);
});

type Case = {
  name: string;
  request: () => Promise<{ headers: Record<string, string>; target?: string }>;
  status: number;
  challenge: () => string;
};

const meta = () => `realm="MCP", resource_metadata="${new URL(url).origin}/.well-known/oauth-protected-resource/mcp"`;
const proofError = (d: string) =>
  `Bearer ${meta()}, DPoP ${ALGS}, error="invalid_dpop_proof", error_description="${d}"`;
const tokenError = (d: string) => `Bearer ${meta()}, error="invalid_token", error_description="${d}", DPoP ${ALGS}`;

async function bound(
  proofParts: Partial<Parameters<typeof makeProof>[0]> = {},
  opts: { scheme?: string; extraProof?: boolean } = {},
) {
  const token = await boundToken();
  const proof = await makeProof({ key, htu: url, token, ...proofParts });
  const headers: Record<string, string> = { authorization: `${opts.scheme ?? "DPoP"} ${token}`, dpop: proof };
  if (opts.extraProof) headers.dpop = `${proof}, ${await makeProof({ key, htu: url, token })}`;
  return { headers };
}

const now = () => Math.floor(Date.now() / 1000);
const cases: Case[] = [
  {
    name: "missing proof",
    request: async () => ({ headers: { authorization: `DPoP ${await boundToken()}` } }),
    status: 401,
    challenge: () => proofError("A DPoP proof is required"),
  },
  {
    name: "two proofs",
    request: () => bound({}, { extraProof: true }),
    status: 401,
    challenge: () => proofError("Exactly one DPoP proof is allowed"),
  },
  {
    name: "wrong typ",
    request: () => bound({ typ: "jwt" }),
    status: 401,
    challenge: () => proofError("The DPoP proof type must be dpop+jwt"),
  },
  {
    name: "alg none",
    request: async () => {
      const token = await boundToken();
      const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
      const proof = `${enc({ alg: "none", typ: "dpop+jwt", jwk: key.jwk })}.${enc({ htm: "POST", htu: url, iat: now(), jti: "n" })}.AAAA`;
      return { headers: { authorization: `DPoP ${token}`, dpop: proof } };
    },
    status: 401,
    challenge: () => proofError("The DPoP proof algorithm is not accepted"),
  },
  {
    name: "HS256 proof",
    request: () => bound({ alg: "HS256", signWith: new Uint8Array(32).fill(7) }),
    status: 401,
    challenge: () => proofError("The DPoP proof algorithm is not accepted"),
  },
  {
    name: "private key in jwk",
    request: async () => {
      const { exportJWK } = await import("jose");
      return bound({ jwk: await exportJWK(key.privateKey) });
    },
    status: 401,
    challenge: () => proofError("The DPoP proof key must be a public key"),
  },
  {
    name: "bad signature (signed by another key)",
    request: async () => bound({ signWith: (await generateKeyPair("ES256")).privateKey }),
    status: 401,
    challenge: () => proofError("The DPoP proof signature is invalid"),
  },
  {
    name: "wrong htm",
    request: () => bound({ htm: "GET" }),
    status: 401,
    challenge: () => proofError("The DPoP proof htm does not match the request method"),
  },
  {
    name: "wrong htu (other host)",
    request: () => bound({ htu: url.replace("127.0.0.1", "evil.example") }),
    status: 401,
    challenge: () => proofError("The DPoP proof htu does not match the request URL"),
  },
  {
    name: "wrong htu (other path)",
    request: () => bound({ htu: url.replace("/mcp", "/other") }),
    status: 401,
    challenge: () => proofError("The DPoP proof htu does not match the request URL"),
  },
  {
    name: "iat too old",
    request: () => bound({ iat: now() - 600 }),
    status: 401,
    challenge: () => proofError("The DPoP proof iat is outside the acceptable window"),
  },
  {
    name: "iat in the future",
    request: () => bound({ iat: now() + 600 }),
    status: 401,
    challenge: () => proofError("The DPoP proof iat is outside the acceptable window"),
  },
  {
    name: "missing ath",
    request: () => bound({ omit: ["ath"] }),
    status: 401,
    challenge: () => proofError("The DPoP proof ath is missing"),
  },
  {
    name: "wrong ath",
    request: () => bound({ token: "another-token" }),
    status: 401,
    challenge: () => proofError("The DPoP proof ath does not match the access token"),
  },
  {
    name: "thumbprint differs from cnf.jkt",
    request: async () => {
      const other = await clientKey();
      const token = await boundToken();
      return { headers: { authorization: `DPoP ${token}`, dpop: await makeProof({ key: other, htu: url, token }) } };
    },
    status: 401,
    challenge: () => proofError("The DPoP proof key does not match the access token binding"),
  },
  {
    name: "bound token sent as Bearer",
    request: () => bound({}, { scheme: "Bearer" }),
    status: 401,
    challenge: () => tokenError("A DPoP-bound access token must use the DPoP authorization scheme"),
  },
  {
    name: "unbound token with the DPoP scheme",
    request: async () => {
      const token = await issuer.sign({ aud: url, scope: "mcp" });
      return { headers: { authorization: `DPoP ${token}`, dpop: await makeProof({ key, htu: url, token }) } };
    },
    status: 401,
    challenge: () => tokenError("The access token is not DPoP-bound"),
  },
];

describe("DPoP refusal matrix", () => {
  for (const c of cases) {
    test(c.name, async () => {
      const { headers } = await c.request();
      const before = runs;
      const res = await fetch(url, {
        method: "POST",
        headers: { ...MCP_HEADERS, ...headers },
        body: toolCall("whoami"),
      });
      const body = await res.text();
      assert.equal(res.status, c.status);
      assert.equal(res.headers.get("www-authenticate"), c.challenge());
      assert.equal(runs, before, "no tool ran");
      const token = headers.authorization?.split(" ")[1] ?? "";
      assert.ok(
        !body.includes(token) && !(res.headers.get("www-authenticate") ?? "").includes(token),
        "the token is never echoed",
      );
    });
  }

  test("replayed jti: the same proof twice is refused the second time", async () => {
    const { headers } = await bound();
    const first = await fetch(url, {
      method: "POST",
      headers: { ...MCP_HEADERS, ...headers },
      body: toolCall("whoami"),
    });
    assert.equal(first.status, 200);
    const before = runs;
    const again = await fetch(url, {
      method: "POST",
      headers: { ...MCP_HEADERS, ...headers },
      body: toolCall("whoami"),
    });
    assert.equal(again.status, 401);
    assert.equal(again.headers.get("www-authenticate"), proofError("The DPoP proof was already used"));
    assert.equal(runs, before);
  });
});

describe("dpop_required and nonces", () => {
  test("dpop_required: an unbound bearer token is refused even with a proof; the challenge is DPoP only", async () => {
    const strict = new MCPServer("strict", {
      session_mode: "stateless",
      authorization: { enabled: true, authorization_servers: [issuer.issuer], dpop_required: true },
    });
    strict.setAuthorizationProvider(new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }));
    strict.collect(tool({ name: "whoami", description: "" }, () => (runs++, "ran")));
    const { url: u } = await strict.serve({ port: 0 });
    try {
      const m = `realm="MCP", resource_metadata="${new URL(u).origin}/.well-known/oauth-protected-resource/mcp"`;
      const unbound = await issuer.sign({ aud: u });
      const before = runs;
      const r1 = await fetch(u, {
        method: "POST",
        headers: {
          ...MCP_HEADERS,
          authorization: `Bearer ${unbound}`,
          dpop: await makeProof({ key, htu: u, token: unbound }),
        },
        body: toolCall("whoami"),
      });
      assert.equal(r1.status, 401);
      assert.equal(
        r1.headers.get("www-authenticate"),
        `DPoP ${m}, ${ALGS}, error="invalid_token", error_description="The access token is not DPoP-bound"`,
      );
      const r2 = await fetch(u, { method: "POST", headers: MCP_HEADERS, body: toolCall("whoami") });
      assert.equal(r2.headers.get("www-authenticate"), `DPoP ${m}, ${ALGS}`);
      assert.equal(runs, before);
      const meta = await (await fetch(`${new URL(u).origin}/.well-known/oauth-protected-resource`)).json();
      assert.equal(meta.dpop_bound_access_tokens_required, true);
      const token = await issuer.sign({ aud: u, cnf: { jkt: key.jkt } });
      const ok = await fetch(u, {
        method: "POST",
        headers: { ...MCP_HEADERS, authorization: `DPoP ${token}`, dpop: await makeProof({ key, htu: u, token }) },
        body: toolCall("whoami"),
      });
      assert.equal(ok.status, 200);
    } finally {
      await strict.close();
    }
  });

  test("server nonces: 401 use_dpop_nonce with DPoP-Nonce, the retry succeeds, and another instance with the same secret accepts it", async () => {
    const secret = "n".repeat(32);
    const start = async () => {
      const s = new MCPServer("nonce", {
        session_mode: "stateless",
        authorization: { enabled: true, authorization_servers: [issuer.issuer] },
        dpop: { nonce: { secret } },
      });
      s.setAuthorizationProvider(new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }));
      s.collect(tool({ name: "whoami", description: "" }, () => "ran"));
      return { s, ...(await s.serve({ port: 0 })) };
    };
    const a = await start();
    const b = await start();
    try {
      const tokenA = await issuer.sign({ aud: a.url, cnf: { jkt: key.jkt } });
      const r1 = await fetch(a.url, {
        method: "POST",
        headers: {
          ...MCP_HEADERS,
          authorization: `DPoP ${tokenA}`,
          dpop: await makeProof({ key, htu: a.url, token: tokenA }),
        },
        body: toolCall("whoami"),
      });
      assert.equal(r1.status, 401);
      const nonce = r1.headers.get("dpop-nonce");
      assert.ok(nonce, "a DPoP-Nonce header with the 401");
      assert.match(r1.headers.get("www-authenticate") ?? "", /DPoP algs="[^"]+", error="use_dpop_nonce"/);
      assert.match(r1.headers.get("access-control-expose-headers") ?? "", /DPoP-Nonce/);
      const r2 = await fetch(a.url, {
        method: "POST",
        headers: {
          ...MCP_HEADERS,
          authorization: `DPoP ${tokenA}`,
          dpop: await makeProof({ key, htu: a.url, token: tokenA, nonce }),
        },
        body: toolCall("whoami"),
      });
      assert.equal(r2.status, 200);
      assert.equal((await readRpc(r2)).result.content[0].text, "ran");
      const tokenB = await issuer.sign({ aud: b.url, cnf: { jkt: key.jkt } });
      const r3 = await fetch(b.url, {
        method: "POST",
        headers: {
          ...MCP_HEADERS,
          authorization: `DPoP ${tokenB}`,
          dpop: await makeProof({ key, htu: b.url, token: tokenB, nonce }),
        },
        body: toolCall("whoami"),
      });
      assert.equal(r3.status, 200);
      const r4 = await fetch(b.url, {
        method: "POST",
        headers: {
          ...MCP_HEADERS,
          authorization: `DPoP ${tokenB}`,
          dpop: await makeProof({ key, htu: b.url, token: tokenB, nonce: "forged-nonce" }),
        },
        body: toolCall("whoami"),
      });
      assert.equal(r4.status, 401);
    } finally {
      await a.s.close();
      await b.s.close();
    }
  });

  test("dpop: false accepts bearer only: a bound token is refused and nothing about DPoP is advertised", async () => {
    const plain = new MCPServer("plain", {
      session_mode: "stateless",
      authorization: { enabled: true, authorization_servers: [issuer.issuer] },
      dpop: false,
    });
    plain.setAuthorizationProvider(new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }));
    plain.collect(tool({ name: "whoami", description: "" }, () => "ran"));
    const { url: u } = await plain.serve({ port: 0 });
    try {
      const token = await issuer.sign({ aud: u, cnf: { jkt: key.jkt } });
      const r = await fetch(u, {
        method: "POST",
        headers: { ...MCP_HEADERS, authorization: `DPoP ${token}`, dpop: await makeProof({ key, htu: u, token }) },
        body: toolCall("whoami"),
      });
      assert.equal(r.status, 401);
      assert.equal(
        r.headers.get("www-authenticate"),
        `Bearer realm="MCP", resource_metadata="${new URL(u).origin}/.well-known/oauth-protected-resource/mcp", error="invalid_token", error_description="DPoP-bound access tokens are not accepted by this resource"`,
      );
      const meta = await (await fetch(`${new URL(u).origin}/.well-known/oauth-protected-resource`)).json();
      assert.equal(meta.dpop_signing_alg_values_supported, undefined);
    } finally {
      await plain.close();
    }
  });
});
