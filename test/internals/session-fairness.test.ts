/**
 * Session fairness: one principal cannot push out another principal's sessions; anonymous sessions
 * have their own bucket; the global cap is the last line. Through the real handler (JWT tokens from
 * a local issuer) and on the registry itself.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { JWTValidator, protect } from "../../src/index.js";
import { ANONYMOUS_PRINCIPAL, SessionRegistry } from "../../src/serving/sessions.js";
import { startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";
import { initialize, MCP_HEADERS, toolCall } from "../helpers/mcp.js";

const RESOURCE = "http://127.0.0.1:1/mcp";
let issuer: LocalIssuer;
before(async () => {
  issuer = await startLocalIssuer();
});
after(() => issuer.close());

function post(handler: (r: Request) => Promise<Response>, body: string, token: string, sessionId?: string) {
  return handler(
    new Request(RESOURCE, {
      method: "POST",
      headers: {
        ...MCP_HEADERS,
        authorization: `Bearer ${token}`,
        ...(sessionId ? { "mcp-session-id": sessionId, "mcp-protocol-version": "2025-06-18" } : {}),
      },
      body,
    }),
  );
}

describe("through protect()", () => {
  test("one principal opening 1,100 sessions keeps only its own 32 newest; another principal's session survives", async () => {
    let open = 0;
    const handler = protect(
      () => {
        open++;
        const s = new McpServer({ name: "s", version: "1" });
        s.server.onclose = () => void open--;
        s.registerTool("ping", { description: "pong" }, async () => ({ content: [{ type: "text", text: "pong" }] }));
        return s;
      },
      {
        authorization: { enabled: true, authorization_servers: [issuer.issuer], resource: RESOURCE },
        provider: new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }),
      },
    );
    const alice = await issuer.sign({ aud: RESOURCE, sub: "alice" });
    const bob = await issuer.sign({ aud: RESOURCE, sub: "bob" });
    const openSession = async (token: string) => {
      const res = await post(handler, initialize(), token);
      assert.equal(res.status, 200);
      return res.headers.get("mcp-session-id")!;
    };
    try {
      const bobs = await openSession(bob);
      const alices: string[] = [];
      for (let i = 0; i < 1100; i++) alices.push(await openSession(alice));

      assert.equal(
        (await post(handler, toolCall("ping"), bob, bobs)).status,
        200,
        "bob's session survived alice's flood",
      );
      const alive = [];
      for (const id of alices) if ((await post(handler, toolCall("ping"), alice, id)).status === 200) alive.push(id);
      assert.deepEqual(alive, alices.slice(-32), "alice keeps exactly her 32 most recent sessions");
      assert.equal(open, 33, "evicted sessions' servers were closed");
    } finally {
      await handler.close();
    }
  });

  test("max_sessions_per_principal is configurable and validated", async () => {
    assert.throws(
      () =>
        protect(() => new McpServer({ name: "s", version: "1" }), { authorization: {}, max_sessions_per_principal: 0 }),
      /max_sessions_per_principal/,
    );
    const handler = protect(() => new McpServer({ name: "s", version: "1" }), {
      authorization: { enabled: true, authorization_servers: [issuer.issuer], resource: RESOURCE },
      provider: new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }),
      max_sessions_per_principal: 2,
    });
    const carol = await issuer.sign({ aud: RESOURCE, sub: "carol" });
    const ids = [];
    for (let i = 0; i < 2; i++) ids.push((await post(handler, initialize(), carol)).headers.get("mcp-session-id")!);
    // Using the first session makes the second the least recently used one.
    assert.equal((await post(handler, toolCall("x"), carol, ids[0])).status, 200);
    const third = (await post(handler, initialize(), carol)).headers.get("mcp-session-id")!;
    assert.equal((await post(handler, toolCall("x"), carol, ids[1])).status, 404);
    assert.equal((await post(handler, toolCall("x"), carol, ids[0])).status, 200);
    assert.equal((await post(handler, toolCall("x"), carol, third)).status, 200);
    await handler.close();
  });
});

describe("SessionRegistry", () => {
  test("anonymous sessions share one bucket and never push out authenticated ones", () => {
    const closed: string[] = [];
    const r = new SessionRegistry<string>(
      { max_sessions: 1000, max_sessions_per_principal: 4, max_anonymous_sessions: 10 },
      (s) => closed.push(s),
    );
    r.add("u1", "user", "u1");
    for (let i = 0; i < 500; i++) r.add(`a${i}`, ANONYMOUS_PRINCIPAL, `a${i}`);
    assert.equal(r.countFor(ANONYMOUS_PRINCIPAL), 10);
    assert.ok(r.peek("u1"), "u1's session survived the anonymous flood");
    assert.equal(r.size, 11);
    assert.equal(closed.length, 490);
    assert.deepEqual(
      new Set(closed),
      new Set(Array.from({ length: 490 }, (_, i) => `a${i}`)),
      "each evicted session closed exactly once",
    );
  });

  test("the global cap is the last line: least recently used across principals", () => {
    const closed: string[] = [];
    const r = new SessionRegistry<string>({ max_sessions: 6, max_sessions_per_principal: 4 }, (s) => closed.push(s));
    for (const p of ["p1", "p2", "p3"]) for (let i = 0; i < 2; i++) r.add(`${p}-${i}`, p, `${p}-${i}`);
    r.get("p1-0");
    r.add("p4-0", "p4", "p4-0");
    assert.deepEqual(closed, ["p1-1"], "the globally least recently used session went");
    assert.equal(r.countFor("p1"), 1);
    assert.equal(r.size, 6);
  });

  test("delete, clear and idle expiry close sessions and forget empty principals", async () => {
    const closed: string[] = [];
    let now = 0;
    const r = new SessionRegistry<string>(
      { idle_timeout_ms: 100 },
      (s) => closed.push(s),
      () => now,
    );
    r.add("x", "p", "x");
    r.add("y", "p", "y");
    r.delete("x");
    assert.deepEqual(closed, ["x"]);
    assert.equal(r.countFor("p"), 1);
    now += 99;
    assert.notEqual(r.get("y"), undefined, "not idle yet (the lookup restarts its idle time)");
    now += 101;
    assert.equal(r.get("y"), undefined);
    assert.deepEqual(closed, ["x", "y"]);
    assert.equal(r.countFor("p"), 0);
    r.add("z", "q", "z");
    r.clear();
    assert.deepEqual(closed, ["x", "y", "z"]);
    assert.equal(r.size, 0);
  });
});
