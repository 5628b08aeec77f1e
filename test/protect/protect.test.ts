/**
 * The refusal matrix: every bad credential, with the exact status and challenge, no tool run,
 * and the token never echoed. Plus the positive control that the same request with a good token
 * does run the tool (so "no tool ran" means something).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { SignJWT, base64url } from "jose";
import { z } from "zod";
import { getContext, JWTValidator, MCPServer, tool } from "../../src/index.js";
import { makeKey, startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";
import { MCP_HEADERS, readRpc, toolCall } from "../helpers/mcp.js";

let issuer: LocalIssuer;
let server: MCPServer;
let url: string;
let runs = 0;

before(async () => {
  issuer = await startLocalIssuer();
  const touch = tool({ name: "touch", description: "Counts calls" }, () => {
    runs++;
    return { runs, subject: getContext().auth?.subject ?? null };
  });
  const deleteFile = tool(
    { name: "delete_file", description: "Delete file", input: { path: z.string() }, required_scopes: ["files:delete"] },
    ({ path }) => {
      runs++;
      return { deleted: path };
    },
  );
  server = new MCPServer("matrix", {
    session_mode: "stateless",
    authorization: { enabled: true, authorization_servers: [issuer.issuer], required_scopes: ["mcp"] },
  });
  server.setAuthorizationProvider(
    new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer, required_typ: "at+jwt" }),
  );
  server.collect(touch, deleteFile);
  ({ url } = await server.serve({ port: 0 }));
});

after(async () => {
  await server.close();
  await issuer.close();
});

const call = (headers: Record<string, string>, name = "touch", target = url) =>
  fetch(target, {
    method: "POST",
    headers: { ...MCP_HEADERS, ...headers },
    body: toolCall(name, name === "delete_file" ? { path: "/tmp/x" } : {}),
  });

const metadataUrl = () => `${new URL(url).origin}/.well-known/oauth-protected-resource/mcp`;
const DPOP = `DPoP algs="ES256 EdDSA Ed25519 RS256 PS256"`;
const plain = () => `Bearer realm="MCP", resource_metadata="${metadataUrl()}", scope="mcp", ${DPOP}`;
const invalid = (description: string, error = "invalid_token") =>
  `Bearer realm="MCP", resource_metadata="${metadataUrl()}", scope="mcp", error="${error}", error_description="${description}", ${DPOP}`;

const good = (claims: Record<string, unknown> = {}) =>
  issuer.sign({ aud: url, scope: "mcp files:read", client_id: "c1", ...claims });

test("positive control: a good token runs the tool and reaches getContext()", async () => {
  const before = runs;
  const res = await call({ authorization: `Bearer ${await good()}` });
  assert.equal(res.status, 200);
  const msg = await readRpc(res);
  assert.equal(msg.result.structuredContent.subject, "alice");
  assert.equal(runs, before + 1);
});

type Case = {
  name: string;
  headers: () => Promise<Record<string, string>>;
  status: number;
  challenge: () => string | null;
  target?: () => string;
};

const now = () => Math.floor(Date.now() / 1000);
const cases: Case[] = [
  { name: "no Authorization header", headers: async () => ({}), status: 401, challenge: plain },
  {
    name: "empty Authorization header",
    headers: async () => ({ authorization: "" }),
    status: 400,
    challenge: () => invalid("The Authorization header is malformed", "invalid_request"),
  },
  {
    name: "Bearer without token",
    headers: async () => ({ authorization: "Bearer " }),
    status: 400,
    challenge: () => invalid("The Authorization header has no token", "invalid_request"),
  },
  {
    name: "non-Bearer scheme",
    headers: async () => ({ authorization: "Basic dXNlcjpwYXNz" }),
    status: 401,
    challenge: plain,
  },
  {
    name: "garbage token",
    headers: async () => ({ authorization: "Bearer not-a-jwt" }),
    status: 401,
    challenge: () => invalid("The access token is not a signed JWT"),
  },
  {
    name: "alg none",
    headers: async () => {
      const h = base64url.encode(JSON.stringify({ alg: "none", typ: "at+jwt" }));
      const p = base64url.encode(
        JSON.stringify({ iss: issuer.issuer, sub: "alice", aud: url, scope: "mcp", exp: now() + 60 }),
      );
      return { authorization: `Bearer ${h}.${p}.` };
    },
    status: 401,
    challenge: () => invalid("The access token algorithm is not accepted"),
  },
  {
    name: "signed by another key under a known kid",
    headers: async () => ({
      authorization: `Bearer ${await issuer.sign({ aud: url, scope: "mcp" }, { key: await makeKey("k1") })}`,
    }),
    status: 401,
    challenge: () => invalid("The access token signature is invalid"),
  },
  {
    name: "unknown kid",
    headers: async () => ({
      authorization: `Bearer ${await issuer.sign({ aud: url, scope: "mcp" }, { key: await makeKey("nope") })}`,
    }),
    status: 401,
    challenge: () => invalid("The access token signing key is unknown"),
  },
  {
    name: "expired",
    headers: async () => ({ authorization: `Bearer ${await good({ iat: now() - 7200, exp: now() - 3600 })}` }),
    status: 401,
    challenge: () => invalid("The access token expired"),
  },
  {
    name: "not yet valid",
    headers: async () => ({ authorization: `Bearer ${await good({ nbf: now() + 3600 })}` }),
    status: 401,
    challenge: () => invalid("The access token is not yet valid"),
  },
  {
    name: "wrong issuer",
    headers: async () => ({ authorization: `Bearer ${await good({ iss: "http://127.0.0.1:1" })}` }),
    status: 401,
    challenge: () => invalid("The access token issuer is not trusted"),
  },
  {
    name: "wrong audience",
    headers: async () => ({ authorization: `Bearer ${await good({ aud: "https://other.example.com/mcp" })}` }),
    status: 401,
    challenge: () => invalid("The access token is not intended for this resource"),
  },
  {
    name: "missing audience",
    headers: async () => ({ authorization: `Bearer ${await good({ aud: undefined })}` }),
    status: 401,
    challenge: () => invalid("The access token is not intended for this resource"),
  },
  {
    name: "missing exp",
    headers: async () => ({
      authorization: `Bearer ${await issuer.sign({ aud: url, scope: "mcp" }, { noExp: true })}`,
    }),
    status: 401,
    challenge: () => invalid("The access token lacks the required exp claim"),
  },
  {
    name: "wrong typ (an ID token)",
    headers: async () => ({ authorization: `Bearer ${await issuer.sign({ aud: url, scope: "mcp" }, { typ: "JWT" })}` }),
    status: 401,
    challenge: () => invalid("The access token type is not accepted"),
  },
  {
    name: "HS256 signed with the public key",
    headers: async () => {
      const secret = new TextEncoder().encode(JSON.stringify(issuer.keys[0]!.publicJwk));
      const t = await new SignJWT({ iss: issuer.issuer, sub: "alice", aud: url, scope: "mcp", exp: now() + 60 })
        .setProtectedHeader({ alg: "HS256", typ: "at+jwt", kid: "k1" })
        .sign(secret);
      return { authorization: `Bearer ${t}` };
    },
    status: 401,
    challenge: () => invalid("The access token algorithm is not accepted"),
  },
  {
    name: "tampered payload",
    headers: async () => {
      const [h, , s] = (await good()).split(".");
      const p = base64url.encode(
        JSON.stringify({ iss: issuer.issuer, sub: "mallory", aud: url, scope: "mcp files:delete", exp: now() + 60 }),
      );
      return { authorization: `Bearer ${h}.${p}.${s}` };
    },
    status: 401,
    challenge: () => invalid("The access token signature is invalid"),
  },
  {
    name: "two tokens in one header",
    headers: async () => ({ authorization: `Bearer ${await good()}, Bearer ${await good()}` }),
    status: 400,
    challenge: () => invalid("The Authorization header is malformed", "invalid_request"),
  },
  {
    name: "token in the query string",
    headers: async () => ({}),
    target: () => `${url}?access_token=${"e".repeat(40)}`,
    status: 400,
    challenge: () => invalid("Access tokens are accepted only in the Authorization header", "invalid_request"),
  },
  {
    name: "valid token without the server-wide scope",
    headers: async () => ({ authorization: `Bearer ${await good({ scope: "files:read" })}` }),
    status: 403,
    challenge: () =>
      `Bearer realm="MCP", resource_metadata="${metadataUrl()}", scope="mcp", error="insufficient_scope", error_description="The access token lacks a required scope", ${DPOP}`,
  },
];

describe("refusal matrix", () => {
  for (const c of cases) {
    test(c.name, async () => {
      const headers = await c.headers();
      // Twice with the same credential: a token the validator verified (and cached) the first time
      // must be refused the second time with the same status and challenge.
      for (const attempt of [1, 2]) {
        const before = runs;
        const res = await call(headers, "touch", c.target?.() ?? url);
        const body = await res.text();
        assert.equal(res.status, c.status, `attempt ${attempt}`);
        assert.equal(res.headers.get("www-authenticate"), c.challenge(), `attempt ${attempt}`);
        assert.equal(res.headers.get("access-control-expose-headers")?.includes("WWW-Authenticate"), true);
        assert.equal(runs, before, "no tool ran");
        const token = headers.authorization?.split(" ")[1];
        if (token && token.length > 8) {
          assert.ok(!body.includes(token), "token not echoed in body");
          assert.ok(!(res.headers.get("www-authenticate") ?? "").includes(token), "token not echoed in header");
        }
      }
    });
  }

  test("two Authorization headers (Node drops the second one; we must not)", async () => {
    const a = await good();
    const b = await issuer.sign({ aud: url, scope: "mcp", sub: "bob" });
    const before = runs;
    // A raw socket: Node's own client cannot send the same header twice.
    const u = new URL(url);
    const body = toolCall("touch");
    const raw = await new Promise<string>((resolve, reject) => {
      const sock = connect(Number(u.port), u.hostname, () => {
        sock.end(
          `POST ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer ${a}\r\nAuthorization: Bearer ${b}\r\n` +
            `Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      });
      let out = "";
      sock.on("data", (d) => (out += d.toString()));
      sock.on("end", () => resolve(out));
      sock.on("error", reject);
    });
    const status = Number(raw.split(" ")[1]);
    const headers = { "www-authenticate": /\r\nwww-authenticate: ([^\r]*)/i.exec(raw)?.[1] };
    assert.equal(status, 400);
    assert.equal(headers["www-authenticate"], invalid("The Authorization header is malformed", "invalid_request"));
    assert.equal(runs, before);
  });

  test("a 60 KB Authorization header is refused before any tool runs", async () => {
    const before = runs;
    const res = await call({ authorization: `Bearer ${"a".repeat(60_000)}` }).catch((e: unknown) => e);
    // Node's HTTP parser refuses headers over 16 KB with 431 before the handler sees them.
    assert.ok(res instanceof Response, "an HTTP answer, not a connection error");
    assert.equal(res.status, 431);
    assert.equal(runs, before);
    // The Web handler, used without Node in front, refuses it itself.
    const handler = server.handler(url);
    const direct = await handler(
      new Request(url, {
        method: "POST",
        headers: { ...MCP_HEADERS, authorization: `Bearer ${"a".repeat(60_000)}` },
        body: toolCall("touch"),
      }),
    );
    assert.equal(direct.status, 400);
    assert.equal(
      direct.headers.get("www-authenticate"),
      invalid("The Authorization header is too large", "invalid_request"),
    );
    assert.equal(runs, before);
  });
});

describe("per-tool scopes", () => {
  test("a call without the tool's scopes returns the exact isError result and the handler does not run", async () => {
    const before = runs;
    const res = await call({ authorization: `Bearer ${await good()}` }, "delete_file");
    assert.equal(res.status, 200);
    const msg = await readRpc(res);
    assert.deepEqual(msg.result, {
      isError: true,
      content: [
        { type: "text", text: "Tool \"delete_file\" requires scopes: ['files:delete']. Missing: ['files:delete']" },
      ],
    });
    assert.equal(runs, before);
  });

  test("with the scope the handler runs", async () => {
    const before = runs;
    const res = await call({ authorization: `Bearer ${await good({ scope: "mcp files:delete" })}` }, "delete_file");
    const msg = await readRpc(res);
    assert.deepEqual(msg.result.structuredContent, { deleted: "/tmp/x" });
    assert.equal(runs, before + 1);
  });
});
