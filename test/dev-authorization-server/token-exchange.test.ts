/**
 * Token exchange end to end with the development authorization server: its RFC 8693 grant (every
 * refusal with the RFC's error), `npm start`'s `downstream_whoami` in both protocol eras (MCPServer
 * engine v2), and `protect()` on a v1 `McpServer` with `exchangeToken()` and `connection()`.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { decodeJwt } from "jose";
import { startDemo, type Demo } from "../../examples/quickstart/demo.js";
import { createDevAuthorizationServer, type DevAuthorizationServer } from "../../src/dev-authorization-server/index.js";
import {
  getContext,
  JWTValidator,
  protect,
  registerTools,
  toNodeHandler,
  tool,
  type AuthEvent,
} from "../../src/index.js";
import { call, form, freePortPair, registerClient } from "../helpers/dev-as.js";

const TE = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT = "urn:ietf:params:oauth:token-type:access_token";
const RESOURCE = "http://127.0.0.1:8000/mcp";
const API = "https://api.example.test";
const SECRET = "mcp-server-secret-0123456789";
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;
const text = (r: unknown) => ((r as { content?: { text?: string }[] }).content ?? []).map((c) => c.text ?? "").join("");

describe("dev authorization server: RFC 8693 grant", () => {
  let now = Date.now();
  let as: DevAuthorizationServer;
  let subject: string;
  before(async () => {
    as = await createDevAuthorizationServer({
      issuer: "http://127.0.0.1:8001",
      resources: [RESOURCE],
      scopes_supported: ["mcp:read", "files:delete", "reports:read"],
      token_exchange: { clients: [{ client_id: "mcp-server", client_secret: SECRET }], audiences: [API] },
      clock: () => now,
    });
    subject = (
      await as.issueAccessToken({ subject: "alice", scopes: ["mcp:read", "reports:read"], client_id: "inspector" })
    ).access_token;
  });
  const exchange = (fields: Record<string, string>, auth: string | null = basic("mcp-server", SECRET)) =>
    call(as, "/token", {
      ...form({ grant_type: TE, subject_token: subject, subject_token_type: AT, audience: API, ...fields }),
      headers: { "content-type": "application/x-www-form-urlencoded", ...(auth ? { authorization: auth } : {}) },
    });
  const refusal = async (res: Response) => ({
    status: res.status,
    error: ((await res.json()) as { error: string }).error,
  });

  test("metadata lists the grant and the confidential client methods", () => {
    assert.ok(as.metadata.grant_types_supported.includes(TE), "the metadata lists the token-exchange grant");
    assert.deepEqual(as.metadata.token_endpoint_auth_methods_supported, [
      "none",
      "client_secret_basic",
      "client_secret_post",
    ]);
  });

  test("a confidential client exchanges a token: sub kept, aud = target, act.sub = client, scopes narrowed, never outlives the subject", async () => {
    const res = await exchange({ scope: "reports:read" });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.issued_token_type, AT);
    assert.equal(body.token_type, "Bearer");
    assert.equal(body.scope, "reports:read");
    const claims = decodeJwt(body.access_token as string);
    const before = decodeJwt(subject);
    assert.equal(claims.sub, "alice");
    assert.equal(claims.aud, API);
    assert.deepEqual(claims.act, { sub: "mcp-server" });
    assert.equal(claims.client_id, "mcp-server");
    assert.ok(claims.exp! <= before.exp!, "the exchanged token expires no later than the subject token");
    // client_secret_post works too; without scope, the subject's scopes; `resource` names the target as well.
    const post = await exchange({ client_id: "mcp-server", client_secret: SECRET, resource: API }, null);
    assert.equal(post.status, 200);
    assert.equal(((await post.json()) as { scope: string }).scope, "mcp:read reports:read");
    // An exchanged token exchanged again nests the earlier actor… but only tokens for a protected resource are subject
    // tokens here.
  });

  test("refusals carry the RFC's errors", async () => {
    const { client_id: publicId } = (await (await registerClient(as)).json()) as { client_id: string };
    assert.deepEqual(await refusal(await exchange({ client_id: publicId }, null)), {
      status: 400,
      error: "unauthorized_client",
    });
    assert.deepEqual(await refusal(await exchange({}, basic("mcp-server", "wrong-secret-0123456789"))), {
      status: 401,
      error: "invalid_client",
    });
    assert.deepEqual(await refusal(await exchange({}, basic("nobody", SECRET))), {
      status: 401,
      error: "invalid_client",
    });
    assert.deepEqual(await refusal(await exchange({ client_id: "mcp-server" }, null)), {
      status: 401,
      error: "invalid_client",
    });
    assert.deepEqual(await refusal(await exchange({ audience: "https://elsewhere.example" })), {
      status: 400,
      error: "invalid_target",
    });
    assert.deepEqual(await refusal(await exchange({ resource: "https://elsewhere.example" })), {
      status: 400,
      error: "invalid_target",
    });
    assert.deepEqual(await refusal(await exchange({ scope: "reports:read files:delete" })), {
      status: 400,
      error: "invalid_scope",
    });
    assert.deepEqual(
      await refusal(await exchange({ subject_token_type: "urn:ietf:params:oauth:token-type:id_token" })),
      {
        status: 400,
        error: "invalid_request",
      },
    );
    assert.deepEqual(await refusal(await exchange({ actor_token: "x", actor_token_type: AT })), {
      status: 400,
      error: "invalid_request",
    });
    assert.deepEqual(await refusal(await exchange({ subject_token: `${subject.slice(0, -4)}AAAA` })), {
      status: 400,
      error: "invalid_grant",
    });
    // A token from another issuer (another dev AS, same claims) is foreign.
    const other = await createDevAuthorizationServer({
      issuer: "http://127.0.0.1:8009",
      resources: [RESOURCE],
      scopes_supported: ["mcp:read"],
    });
    const foreign = (await other.issueAccessToken({ subject: "alice", scopes: ["mcp:read"] })).access_token;
    assert.deepEqual(await refusal(await exchange({ subject_token: foreign })), {
      status: 400,
      error: "invalid_grant",
    });
    // An exchanged token (aud = the API) is not a subject token here.
    const exchanged = ((await (await exchange({})).json()) as { access_token: string }).access_token;
    assert.deepEqual(await refusal(await exchange({ subject_token: exchanged })), {
      status: 400,
      error: "invalid_grant",
    });
    // Expired subject token.
    const saved = now;
    now += 2 * 3600 * 1000;
    try {
      assert.deepEqual(await refusal(await exchange({})), { status: 400, error: "invalid_grant" });
    } finally {
      now = saved;
    }
  });

  test("without the token_exchange option the grant is unsupported", async () => {
    const plain = await createDevAuthorizationServer({ issuer: "http://127.0.0.1:8001", resources: [RESOURCE] });
    assert.ok(!plain.metadata.grant_types_supported.includes(TE), "without token_exchange the grant is not listed");
    const res = await call(plain, "/token", {
      ...form({ grant_type: TE, subject_token: subject, subject_token_type: AT, audience: API }),
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic("mcp-server", SECRET) },
    });
    assert.deepEqual(await refusal(res), { status: 400, error: "unsupported_grant_type" });
  });
});

const MODERN = "2026-07-28";
const META = {
  "io.modelcontextprotocol/protocolVersion": MODERN,
  "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
  "io.modelcontextprotocol/clientCapabilities": {},
};

describe("npm start: downstream_whoami through a connection handle, both protocol eras", () => {
  let demo: Demo;
  const events: AuthEvent[] = [];
  before(async () => {
    demo = await startDemo({ port: await freePortPair(), log: () => {}, on_auth_event: (e) => events.push(e) });
  });
  after(() => demo.close());

  test("2025 era (SDK v1 client): the API saw the user, the MCP server as actor, its own audience", async () => {
    const { access_token } = await demo.as.server.issueAccessToken({
      subject: "alice",
      scopes: ["mcp:read"],
      client_id: "inspector-cli",
    });
    const client = new Client({ name: "te", version: "1" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(demo.url), {
        requestInit: { headers: { authorization: `Bearer ${access_token}` } },
      }),
    );
    try {
      const first = await client.callTool({ name: "downstream_whoami", arguments: {} });
      assert.deepEqual(JSON.parse(text(first)), {
        subject: "alice",
        actor: "protected-mcp-demo",
        audience: demo.api.url,
        scope: "mcp:read",
      });
      const second = await client.callTool({ name: "downstream_whoami", arguments: {} });
      assert.equal(text(second), text(first));
      // The second call used the cached exchanged token.
      assert.equal(events.filter((e) => e.type === "token_exchanged").length, 1);
      assert.ok(!text(first).includes(access_token), "the caller's access token is not in the answer");
    } finally {
      await client.close();
    }
  });

  test("2026-07-28 (SDK v2 path): the same answer", async () => {
    const { access_token } = await demo.as.server.issueAccessToken({
      subject: "bob",
      scopes: ["mcp:read", "files:delete"],
      client_id: "inspector-cli",
    });
    const res = await fetch(demo.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": MODERN,
        "mcp-method": "tools/call",
        "mcp-name": "downstream_whoami",
        authorization: `Bearer ${access_token}`,
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "downstream_whoami", arguments: {}, _meta: META },
      }),
    });
    assert.equal(res.status, 200);
    const raw = await res.text();
    const json = raw.trimStart().startsWith("{")
      ? JSON.parse(raw)
      : JSON.parse(
          raw
            .split("\n")
            .filter((l) => l.startsWith("data: "))
            .pop()!
            .slice(6),
        );
    assert.deepEqual(JSON.parse(text(json.result)), {
      subject: "bob",
      actor: "protected-mcp-demo",
      audience: demo.api.url,
      scope: "mcp:read files:delete",
    });
  });

  test("the MCP token sent to the API directly is refused (401): no passthrough", async () => {
    const { access_token } = await demo.as.server.issueAccessToken({
      subject: "alice",
      scopes: ["mcp:read"],
      client_id: "inspector-cli",
    });
    const res = await fetch(`${demo.api.url}/whoami`, { headers: { authorization: `Bearer ${access_token}` } });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: string }).error, "invalid_token");
  });
});

describe("protect() on a v1 McpServer: exchangeToken() and connection() in tools", () => {
  let as: DevAuthorizationServer;
  let asHttp: Server;
  let mcpHttp: Server;
  let url: string;
  const apiSeen: { url: string; authorization: string | null }[] = [];

  before(async () => {
    asHttp = createServer();
    await new Promise<void>((r) => asHttp.listen(0, "127.0.0.1", r));
    const issuer = `http://127.0.0.1:${(asHttp.address() as AddressInfo).port}`;
    mcpHttp = createServer();
    await new Promise<void>((r) => mcpHttp.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(mcpHttp.address() as AddressInfo).port}/mcp`;
    as = await createDevAuthorizationServer({
      issuer,
      resources: [url],
      scopes_supported: ["mcp:read", "reports:read"],
      token_exchange: { clients: [{ client_id: "mcp-server", client_secret: SECRET }], audiences: [API, "reports"] },
    });
    asHttp.on("request", toNodeHandler(as, { origin: issuer }));
    // The API at https://api.example.test is a stub behind the injected fetch; the token endpoint is real.
    const routed = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const target = new URL(input instanceof Request ? input.url : String(input));
      if (target.origin !== API) return fetch(input, init);
      apiSeen.push({ url: target.href, authorization: new Headers(init?.headers).get("authorization") });
      if (target.pathname === "/hop") return new Response(null, { status: 302, headers: { location: "/me" } });
      if (target.pathname === "/away")
        return new Response(null, { status: 302, headers: { location: "https://evil.example/steal" } });
      return Response.json({ ok: true, path: target.pathname });
    };
    const handler = protect(
      () => {
        const mcp = new McpServer({ name: "v1", version: "1" });
        registerTools(
          mcp,
          tool({ name: "exchange", description: "" }, async () => {
            const t = await getContext().exchangeToken({ audience: "reports", scope: "reports:read" });
            const c = decodeJwt(t.access_token);
            return {
              aud: c.aud,
              sub: c.sub,
              act: c.act,
              scope: t.scope,
              issued_token_type: t.issued_token_type,
              expires_at_ok: t.expires_at === c.exp,
            };
          }),
          tool({ name: "call_api", description: "" }, async () => {
            const api = getContext().connection({ audience: API });
            const body = (await (await api.fetch("/hop")).json()) as unknown;
            return { body, keys: Object.keys(api).sort() };
          }),
          tool({ name: "call_elsewhere", description: "" }, async () =>
            getContext().connection({ audience: API }).fetch("https://evil.example/x"),
          ),
          tool({ name: "call_redirect_away", description: "" }, async () =>
            getContext().connection({ audience: API }).fetch("/away"),
          ),
          tool({ name: "connect_opaque", description: "" }, () => getContext().connection({ audience: "reports" })),
          tool({ name: "wider", description: "" }, async () =>
            getContext().exchangeToken({ audience: API, scope: "files:delete" }),
          ),
        );
        return mcp;
      },
      {
        authorization: { enabled: true, authorization_servers: [issuer], resource: url },
        provider: new JWTValidator({ jwks_uri: as.metadata.jwks_uri, issuer, required_typ: "at+jwt" }),
        session_mode: "stateless",
        token_exchange: {
          token_endpoint: as.metadata.token_endpoint,
          client_id: "mcp-server",
          client_secret: SECRET,
          fetch: routed,
        },
      },
    );
    mcpHttp.on("request", toNodeHandler(handler));
  });
  after(async () => {
    await new Promise<void>((r) => (mcpHttp.closeAllConnections(), mcpHttp.close(() => r())));
    await new Promise<void>((r) => (asHttp.closeAllConnections(), asHttp.close(() => r())));
  });

  test("tools exchange, call through the handle, and every refusal is an isError result naming the audience", async () => {
    const { access_token } = await as.issueAccessToken({
      subject: "carol",
      scopes: ["mcp:read", "reports:read"],
      client_id: "inspector",
    });
    const client = new Client({ name: "te", version: "1" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { authorization: `Bearer ${access_token}` } },
      }),
    );
    try {
      const ex = await client.callTool({ name: "exchange", arguments: {} });
      assert.deepEqual(ex.structuredContent, {
        aud: "reports",
        sub: "carol",
        act: { sub: "mcp-server" },
        scope: "reports:read",
        issued_token_type: AT,
        expires_at_ok: true,
      });

      const called = await client.callTool({ name: "call_api", arguments: {} });
      assert.deepEqual(called.structuredContent, {
        body: { ok: true, path: "/me" },
        keys: ["audience", "fetch", "origin"],
      });
      // The same-origin redirect was followed with the token re-attached; it went nowhere else.
      assert.deepEqual(
        apiSeen.map((s) => s.url),
        [`${API}/hop`, `${API}/me`],
      );
      assert.ok(
        apiSeen.every((s) => s.authorization?.startsWith("Bearer ey")),
        "the API saw only bearer JWTs",
      );
      assert.equal(decodeJwt(apiSeen[0]!.authorization!.slice(7)).aud, API);

      const elsewhere = await client.callTool({ name: "call_elsewhere", arguments: {} });
      assert.equal(elsewhere.isError, true);
      assert.match(text(elsewhere), /audience "https:\/\/api\.example\.test".*outside the audience's origin/);
      const away = await client.callTool({ name: "call_redirect_away", arguments: {} });
      assert.equal(away.isError, true);
      assert.match(text(away), /redirect outside the audience's origin/);
      assert.ok(!apiSeen.some((s) => s.url.startsWith("https://evil")), "nothing was sent to https://evil");

      const opaque = await client.callTool({ name: "connect_opaque", arguments: {} });
      assert.equal(opaque.isError, true);
      assert.match(text(opaque), /needs an origin for this audience/);

      const wider = await client.callTool({ name: "wider", arguments: {} });
      assert.equal(wider.isError, true);
      assert.match(text(wider), /refused by the authorization server \(invalid_scope\)/);
      assert.ok(
        ![ex, called, elsewhere, away, opaque, wider].some((r) => JSON.stringify(r).includes(access_token)),
        "the caller's access token appears in no answer",
      );
    } finally {
      await client.close();
    }
  });
});
