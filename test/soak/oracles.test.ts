/**
 * The suite's own checks must be able to fail: each oracle in lib.ts is shown a bad response.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkResponse, parseChallenges } from "./lib.js";

const expect = {
  resource_metadata_url: "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
  scope: "mcp",
};
const good =
  'Bearer realm="MCP", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="mcp", error="invalid_token", error_description="x", DPoP algs="ES256"';
const h = (o: Record<string, string>) => new Headers(o);

test("checkResponse accepts a correct 401 and refuses every kind of bad response", () => {
  const token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlc2lnbmF0dXJl";
  checkResponse(401, h({ "www-authenticate": good }), "{}", [token], expect);
  assert.throws(
    () => checkResponse(401, h({ "www-authenticate": good }), `{"t":"${token}"}`, [token], expect),
    /echoes/,
  );
  assert.throws(
    () => checkResponse(401, h({ "www-authenticate": good, "x-debug": token.split(".")[2]! }), "{}", [token], expect),
    /echoes/,
  );
  assert.throws(() => checkResponse(500, h({}), "", [], expect), /unexpected 500/);
  assert.throws(() => checkResponse(503, h({}), "", [], expect), /retry/);
  assert.throws(() => checkResponse(401, h({}), "", [], expect), /WWW-Authenticate/);
  assert.throws(() =>
    checkResponse(401, h({ "www-authenticate": good.replace('realm="MCP"', 'realm="MCP') }), "", [], expect),
  );
  assert.throws(() =>
    checkResponse(
      401,
      h({ "www-authenticate": good.replace("mcp.example.com/.well", "evil.example.com/.well") }),
      "",
      [],
      expect,
    ),
  );
  assert.throws(
    () => checkResponse(401, h({ "www-authenticate": good.replace("invalid_token", "server_error") }), "", [], expect),
    /error code/,
  );
  assert.throws(() => checkResponse(400, h({}), "Error: x\n    at f (/src/a.ts:1:2)", [], expect), /stack trace/);
});

test("parseChallenges refuses malformed challenges", () => {
  for (const bad of ['Bearer realm="MCP', "Bearer realm=", 'Bearer realm="a", realm="b"', 'Bearer realm="a" x', ""]) {
    assert.throws(() => parseChallenges(bad), Error, bad);
  }
  assert.deepEqual(parseChallenges('Bearer realm="a\\"b", DPoP algs="ES256"'), [
    { scheme: "bearer", params: { realm: 'a"b' } },
    { scheme: "dpop", params: { algs: "ES256" } },
  ]);
});
