import { test } from "node:test";
import assert from "node:assert/strict";
import {
  AuthorizationUnavailable,
  challengeResponse,
  InsufficientScope,
  InvalidDpopProof,
  InvalidRequest,
  InvalidToken,
  MissingToken,
  SessionMismatch,
  TokenExpired,
  UseDpopNonce,
} from "../../src/index.js";
import { challengeFor } from "../../src/protect/challenges.js";

const o = { resource_metadata_url: "https://mcp.example.com/.well-known/oauth-protected-resource/mcp" };
const base = `realm="MCP", resource_metadata="${o.resource_metadata_url}"`;

test("status and error per code", () => {
  const rows: [Error & { code: string }, number, string | undefined][] = [
    [new MissingToken(), 401, undefined],
    [new InvalidRequest("x"), 400, "invalid_request"],
    [new InvalidToken("x"), 401, "invalid_token"],
    [new TokenExpired(), 401, "invalid_token"],
    [new InsufficientScope(["a"]), 403, "insufficient_scope"],
    [new InvalidDpopProof("x"), 401, "invalid_dpop_proof"],
    [new UseDpopNonce("n"), 401, "use_dpop_nonce"],
    [new AuthorizationUnavailable(), 503, undefined],
    [new SessionMismatch(), 404, undefined],
  ];
  for (const [err, status, error] of rows) {
    const c = challengeFor(err as never, o);
    assert.equal(c.status, status, err.code);
    assert.equal(c.error, error, err.code);
    assert.equal(c.headers["Cache-Control"], "no-store");
  }
});

test("missing token: no error attribute, scope when required", () => {
  assert.equal(challengeFor(new MissingToken(), o).headers["WWW-Authenticate"], `Bearer ${base}`);
  assert.equal(
    challengeFor(new MissingToken(), { ...o, scopes: ["a", "b"] }).headers["WWW-Authenticate"],
    `Bearer ${base}, scope="a b"`,
  );
});

test("insufficient scope names the required scopes", () => {
  assert.equal(
    challengeFor(new InsufficientScope(["files:delete", "mcp"]), o).headers["WWW-Authenticate"],
    `Bearer ${base}, scope="files:delete mcp", error="insufficient_scope", error_description="The access token lacks a required scope"`,
  );
});

test("quoted values are escaped: no parameter can be injected", () => {
  const c = challengeFor(new InvalidToken('bad" error="x\\'), { resource_metadata_url: 'https://a.example/"x' });
  assert.equal(
    c.headers["WWW-Authenticate"],
    `Bearer realm="MCP", resource_metadata="https://a.example/\\"x", error="invalid_token", error_description="bad\\" error=\\"x\\\\"`,
  );
});

test("DPoP: both challenges when Bearer is still accepted; the error goes where it belongs", () => {
  const d = { ...o, dpop_algorithms: ["ES256", "EdDSA"] };
  assert.equal(
    challengeFor(new MissingToken(), d).headers["WWW-Authenticate"],
    `Bearer ${base}, DPoP algs="ES256 EdDSA"`,
  );
  assert.equal(
    challengeFor(new InvalidDpopProof("The DPoP proof is invalid"), d).headers["WWW-Authenticate"],
    `Bearer ${base}, DPoP algs="ES256 EdDSA", error="invalid_dpop_proof", error_description="The DPoP proof is invalid"`,
  );
  const required = { ...d, dpop_required: true };
  assert.equal(
    challengeFor(new InvalidToken("x"), required).headers["WWW-Authenticate"],
    `DPoP ${base}, algs="ES256 EdDSA", error="invalid_token", error_description="x"`,
  );
  const nonce = challengeFor(new UseDpopNonce("abc"), d);
  assert.equal(nonce.headers["DPoP-Nonce"], "abc");
});

test("responses: JSON body without token material, Retry-After on 503, JSON-RPC body on 404", async () => {
  const r401 = challengeResponse(new TokenExpired(), o);
  assert.deepEqual(await r401.json(), { error: "invalid_token", error_description: "The access token expired" });
  const r503 = challengeResponse(new AuthorizationUnavailable({ cause: new Error("secret internal detail") }), o);
  assert.equal(r503.headers.get("retry-after"), "5");
  const text = await r503.text();
  assert.ok(!text.includes("secret internal detail"), "the internal detail is not sent");
  const r404 = challengeResponse(new SessionMismatch(), o);
  assert.deepEqual(await r404.json(), {
    jsonrpc: "2.0",
    error: { code: -32001, message: "Session not found" },
    id: null,
  });
});

test("a challenge can always be built: arbitrary provider texts become printable ASCII, never a 500 or a second header", async () => {
  const { default: fc } = await import("fast-check");
  const { McpServer } = await import("@modelcontextprotocol/sdk/server/mcp.js");
  const { protect } = await import("../../src/index.js");
  const { toHeaderSafe } = await import("../../src/protect/challenges.js");
  const printableQuoted = /^[\x20-\x7e]*$/;
  const hostile = fc.oneof(
    fc.string({ unit: "binary" }),
    fc.string({ unit: "grapheme" }),
    fc.constantFrom(
      "\n",
      "\r\nX-Injected: 1",
      "\0",
      "😀",
      "a\u202eb",
      '\\"',
      '"',
      "\u0085",
      "\ud800",
      "x".repeat(10_000),
    ),
  );
  const errors = (text: string) => [
    new InvalidToken(text),
    new InvalidRequest(text),
    new InvalidDpopProof(text),
    new UseDpopNonce(text),
    new InsufficientScope([text]),
  ];
  fc.assert(
    fc.property(hostile, (text) => {
      for (const err of errors(text)) {
        const c = challengeFor(err, { ...o, scopes: [text], dpop_algorithms: ["ES256"] });
        const header = c.headers["WWW-Authenticate"]!;
        assert.match(header, printableQuoted);
        assert.ok(header.length < 4_000, "the challenge stays under 4,000 characters");
        // The Headers constructor accepts it: what used to throw (and became a bare 500).
        const res = challengeResponse(err, o);
        assert.ok(res.status === 400 || res.status === 401 || res.status === 403, "status 400, 401 or 403");
        assert.equal(res.headers.get("www-authenticate")?.includes("\n"), false);
      }
      assert.match(toHeaderSafe(text), printableQuoted);
    }),
    { numRuns: 300, seed: 18 },
  );

  // Through a protected handler: a provider whose refusal text is hostile still gets its 401 challenge.
  const texts = ["line\nbreak", "crlf\r\nSet-Cookie: x=1", "nul\0", "emoji 😀", "rtl \u202e", "\u0000\u001b[2J"];
  for (const text of texts) {
    const h = protect(() => new McpServer({ name: "p", version: "1" }), {
      session_mode: "stateless",
      authorization: {
        enabled: true,
        authorization_servers: ["http://127.0.0.1:1"],
        resource: "http://127.0.0.1:9/mcp",
      },
      provider: {
        verify: async () => {
          throw new InvalidToken(text);
        },
      },
    });
    const res = await h(
      new Request("http://127.0.0.1:9/mcp", {
        method: "POST",
        headers: { authorization: "Bearer abc", "content-type": "application/json" },
        body: "{}",
      }),
    );
    assert.equal(res.status, 401, JSON.stringify(text));
    const header = res.headers.get("www-authenticate")!;
    assert.match(
      header,
      /^Bearer realm="MCP", resource_metadata="[^"]+", error="invalid_token", error_description="[\x20-\x7e]*", DPoP algs="[^"]+"$/,
    );
    assert.equal(res.headers.get("set-cookie"), null);
  }
});

test("the 512-character cut, at its edge: counted in code points before escaping, never splitting an escape or a surrogate pair", async () => {
  const { toHeaderSafe, quote } = await import("../../src/protect/challenges.js");
  for (const n of [0, 1, 511, 512, 513, 10_000]) {
    assert.equal(toHeaderSafe("a".repeat(n)), "a".repeat(Math.min(n, 512)), `length ${n}`);
  }
  // An astral character is one code point: at position 511 it is the 512th and last (one "?").
  assert.equal(toHeaderSafe(`${"a".repeat(511)}😀b`), `${"a".repeat(511)}?`);
  assert.equal(toHeaderSafe(`${"a".repeat(512)}😀`), "a".repeat(512));
  // The cut comes before escaping: 512 quotes become 512 escaped quotes, none cut in half.
  const quoted = quote('"'.repeat(600));
  assert.equal(quoted, `"${'\\"'.repeat(512)}"`);
  assert.equal(quote(`${"a".repeat(511)}\\x`), `"${"a".repeat(511)}\\\\"`);
  // In a challenge the cut value stays inside its quoted parameter.
  const header = challengeFor(new InvalidToken(`${"x".repeat(600)}", scope="admin`), o).headers["WWW-Authenticate"]!;
  assert.ok(header.includes(`error_description="${"x".repeat(512)}"`), header.slice(0, 120));
  assert.equal(header.includes('scope="admin'), false);
});
