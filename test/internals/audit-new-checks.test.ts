/**
 * The checks of issue 29 item 2, each against a loopback fake server that shows the problem and one that
 * does not: challenge syntax (an unescaped quote, RFC 6750 §3 values), registered error codes, no error code
 * without credentials, a token for another resource, sessions joinable by another principal (POST and the
 * GET stream) or served as the session's principal, plain PKCE, an origin `resource`, a 404 root document
 * beside a good path-inserted one, tokens outside b64token. And protect() audits clean on all of them.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { CHECKS } from "../../src/audit/checks.js";
import { runAudit, type AuditReport } from "../../src/audit/run.js";
import { readWwwAuthenticate, parseWwwAuthenticate } from "../../src/audit/www-authenticate.js";
import { MCPServer, JWTValidator } from "../../src/index.js";
import { startLocalIssuer } from "../helpers/issuer.js";
import { freePortPair } from "../helpers/dev-as.js";

const CLI = fileURLToPath(new URL("../../src/audit/cli.ts", import.meta.url));

/** How the fake server behaves; each field's default is the correct behaviour. */
interface Fake {
  /** WWW-Authenticate to a request without credentials. */
  unauthenticated?: (origin: string) => string;
  /** WWW-Authenticate to an invalid token. */
  invalid?: (origin: string) => string;
  /** Accept the foreign token (another resource's). */
  acceptForeign?: boolean;
  /** "bound": a session id answers only its principal; "joinable": anyone's token, served as itself; "identity": served as the session's principal. */
  sessions?: "bound" | "joinable" | "identity";
  /** Whether another principal's token opens a session's GET stream. */
  getJoinable?: boolean;
  pkce?: string[];
  /** `resource` of the advertised document: the endpoint or the origin. */
  resource?: "endpoint" | "origin";
  /** The root well-known document answers 404. */
  root404?: boolean;
}

/** token → principal and what tools/list shows it. */
const PRINCIPALS: Record<string, { sub: string; tools: string[] }> = {
  "tok-alice": { sub: "alice", tools: ["a_one", "a_two"] },
  "tok-bob": { sub: "bob", tools: ["b_one"] },
  "user:grant:secret": { sub: "carol", tools: ["c_one"] },
};
const FOREIGN = "tok-for-another-resource";

async function startFake(f: Fake): Promise<{ url: string; close(): Promise<void> }> {
  const sessions = new Map<string, string>();
  let n = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const path = new URL(req.url ?? "/", origin).pathname;
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
      void res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
    if (path === "/.well-known/oauth-protected-resource" && f.root404) return void res.writeHead(404).end();
    if (path.startsWith("/.well-known/oauth-protected-resource"))
      return json(200, {
        resource: f.resource === "origin" ? origin : `${origin}/mcp`,
        authorization_servers: [origin],
        scopes_supported: ["read"],
      });
    if (path === "/.well-known/oauth-authorization-server")
      return json(200, {
        issuer: origin,
        authorization_endpoint: `${origin}/authorize`,
        token_endpoint: `${origin}/token`,
        code_challenge_methods_supported: f.pkce ?? ["S256"],
        registration_endpoint: `${origin}/register`,
      });
    if (path !== "/mcp") return void res.writeHead(404).end();
    const auth = req.headers.authorization;
    const token = auth?.startsWith("Bearer ") ? auth.slice(7) : undefined;
    const challenge = `Bearer resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"`;
    if (!token) return void res.writeHead(401, { "www-authenticate": f.unauthenticated?.(origin) ?? challenge }).end();
    const principal = PRINCIPALS[token] ?? (f.acceptForeign && token === FOREIGN ? PRINCIPALS["tok-bob"] : undefined);
    if (!principal)
      return void res
        .writeHead(401, { "www-authenticate": f.invalid?.(origin) ?? `${challenge}, error="invalid_token"` })
        .end();
    const sid = req.headers["mcp-session-id"] as string | undefined;
    const owner = sid ? sessions.get(sid) : undefined;
    if (sid && (!owner || ((f.sessions ?? "bound") === "bound" && owner !== principal.sub)))
      return void res.writeHead(404).end();
    if (req.method === "GET") {
      if (owner !== principal.sub && !f.getJoinable) return void res.writeHead(404).end();
      res.writeHead(200, { "content-type": "text/event-stream" });
      return void res.write(": open\n\n");
    }
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const msg = JSON.parse(body) as { id?: number; method: string };
      if (msg.id === undefined) return void res.writeHead(202).end();
      if (msg.method === "initialize") {
        const id = `s${++n}`;
        sessions.set(id, principal.sub);
        return json(
          200,
          {
            jsonrpc: "2.0",
            id: msg.id,
            result: { protocolVersion: "2025-11-25", capabilities: {}, serverInfo: { name: "fake", version: "1" } },
          },
          { "mcp-session-id": id },
        );
      }
      const as =
        f.sessions === "identity" && owner ? Object.values(PRINCIPALS).find((p) => p.sub === owner) : principal;
      return json(200, { jsonrpc: "2.0", id: msg.id, result: { tools: (as?.tools ?? []).map((name) => ({ name })) } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

/** Run only `ids` against a fake. */
async function audit(
  f: Fake,
  ids: string[],
  tokens: { token?: string; token2?: string; foreignToken?: string } = {},
): Promise<AuditReport> {
  const fake = await startFake(f);
  try {
    return await runAudit(
      { url: fake.url, ...tokens },
      CHECKS.filter((c) => ids.includes(c.id)),
    );
  } finally {
    await fake.close();
  }
}
const finding = (r: AuditReport, id: string) => {
  const f = r.findings.find((x) => x.id === id);
  assert.ok(f, `no finding ${id}`);
  return f;
};

describe("the WWW-Authenticate reader", () => {
  test("an unescaped quote in error_description is a syntax problem, and no phantom challenge appears", () => {
    const h = 'Bearer error="invalid_token", error_description="the "aud" claim is wrong"';
    const r = readWwwAuthenticate(h);
    assert.deepEqual(r.challenges, [
      { scheme: "bearer", params: { error: "invalid_token", error_description: 'the "aud" claim is wrong' } },
    ]);
    assert.equal(r.problems.length, 1);
    assert.match(r.problems[0]?.message ?? "", /unescaped '"' inside the quoted-string/);
    assert.equal(r.problems[0]?.offset, h.indexOf('"aud'));
    assert.deepEqual(parseWwwAuthenticate(h), r.challenges);
  });
  test("well-formed values have no problem; a missing comma, a duplicate, an unterminated string have one each", () => {
    assert.deepEqual(readWwwAuthenticate('Bearer realm="a \\"b\\"", scope="x y", DPoP algs="ES256"').problems, []);
    assert.match(readWwwAuthenticate('Bearer realm="x" scope="y"').problems[0]?.message ?? "", /missing ","/);
    assert.match(readWwwAuthenticate('Bearer realm="x", realm="y"').problems[0]?.message ?? "", /appears twice/);
    assert.match(readWwwAuthenticate('Bearer realm="x').problems[0]?.message ?? "", /not terminated/);
  });
});

describe("challenge checks", () => {
  const ids = ["challenge.syntax", "challenge.error-codes", "challenge.no-error-unauthenticated"];

  test("a correct server: all three PASS", async () => {
    const r = await audit({}, ids);
    assert.deepEqual(
      r.findings.map((f) => [f.id, f.status, f.level]),
      [
        ["challenge.no-error-unauthenticated", "PASS", "SHOULD"],
        ["challenge.syntax", "PASS", "MUST"],
        ["challenge.error-codes", "PASS", "SHOULD"],
      ],
    );
  });

  test("an unescaped quote in error_description: challenge.syntax FAIL", async () => {
    const r = await audit({ invalid: () => 'Bearer error="invalid_token", error_description="token "aud" mismatch"' }, [
      "challenge.syntax",
    ]);
    const f = finding(r, "challenge.syntax");
    assert.equal(f.status, "FAIL", f.evidence);
    assert.match(f.evidence, /^401 from \/mcp: unescaped '"' inside the quoted-string/);
  });

  test("an escaped quote is well-formed HTTP but outside RFC 6750 §3's error_description set: FAIL", async () => {
    const r = await audit({ invalid: () => 'Bearer error="invalid_token", error_description="bad \\"aud\\""' }, [
      "challenge.syntax",
    ]);
    assert.equal(finding(r, "challenge.syntax").status, "FAIL");
    assert.match(finding(r, "challenge.syntax").evidence, /error_description has a character outside/);
  });

  test("non-registered error codes (missing_auth_header, invalid_audience): challenge.error-codes FAIL", async () => {
    for (const code of ["missing_auth_header", "invalid_audience"]) {
      const r = await audit({ invalid: () => `Bearer error="${code}"` }, ["challenge.error-codes"]);
      const f = finding(r, "challenge.error-codes");
      assert.equal(f.status, "FAIL", code);
      assert.match(f.evidence, new RegExp(`Bearer error="${code}" is not a registered code`));
    }
    // DPoP's own codes are registered for the DPoP scheme only.
    const dpop = await audit({ invalid: () => 'Bearer, DPoP error="use_dpop_nonce"' }, ["challenge.error-codes"]);
    assert.equal(finding(dpop, "challenge.error-codes").status, "PASS");
    const misplaced = await audit({ invalid: () => 'Bearer error="invalid_dpop_proof"' }, ["challenge.error-codes"]);
    assert.equal(finding(misplaced, "challenge.error-codes").status, "FAIL");
  });

  test("an error code on the challenge to a request without credentials: FAIL (RFC 6750 §3.1)", async () => {
    const r = await audit({ unauthenticated: () => 'Bearer error="invalid_token"' }, [
      "challenge.no-error-unauthenticated",
    ]);
    const f = finding(r, "challenge.no-error-unauthenticated");
    assert.equal(f.status, "FAIL");
    assert.match(f.evidence, /^401 Bearer error="invalid_token" to initialize without credentials/);
  });
});

describe("token checks", () => {
  test("token.foreign-audience: SKIP 'not tested' without the flag, FAIL when accepted, PASS when refused", async () => {
    const none = await audit({}, ["token.foreign-audience"], { token: "tok-alice" });
    assert.equal(finding(none, "token.foreign-audience").status, "SKIP");
    assert.match(finding(none, "token.foreign-audience").evidence, /^not tested: give --foreign-token/);
    const accepted = await audit({ acceptForeign: true }, ["token.foreign-audience"], {
      token: "tok-alice",
      foreignToken: FOREIGN,
    });
    assert.equal(finding(accepted, "token.foreign-audience").status, "FAIL");
    assert.equal(finding(accepted, "token.foreign-audience").level, "MUST");
    const refused = await audit({}, ["token.foreign-audience"], { token: "tok-alice", foreignToken: FOREIGN });
    assert.equal(finding(refused, "token.foreign-audience").status, "PASS");
  });

  test("a token outside b64token (user:grant:secret) is audited: token.syntax WARN, the token works", async () => {
    const r = await audit({}, ["token.tools-list", "token.syntax"], { token: "user:grant:secret" });
    assert.equal(finding(r, "token.tools-list").status, "PASS");
    assert.equal(finding(r, "token.syntax").status, "WARN");
    assert.match(finding(r, "token.syntax").evidence, /^--token: characters outside the b64token set/);
    const ok = await audit({}, ["token.syntax"], { token: "tok-alice" });
    assert.equal(finding(ok, "token.syntax").status, "PASS");
  });

  test("the CLI takes user:grant:secret (exit 0), wires --foreign-token through, refuses a space or a newline (exit 2)", async () => {
    const fake = await startFake({});
    try {
      const run = (args: string[]) =>
        new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
          execFile(
            process.execPath,
            ["--import", "tsx", CLI, "audit", fake.url, "--json", ...args],
            { timeout: 60_000 },
            (err, stdout, stderr) =>
              resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
          );
        });
      const odd = await run(["--token", "user:grant:secret", "--foreign-token", FOREIGN]);
      assert.notEqual(odd.code, 2, odd.stderr);
      const report = JSON.parse(odd.stdout) as AuditReport;
      assert.equal(finding(report, "token.syntax").status, "WARN");
      assert.equal(finding(report, "token.tools-list").status, "PASS");
      assert.equal(finding(report, "token.foreign-audience").status, "PASS");
      for (const [flag, bad] of [
        ["--token", "has space"],
        ["--token", "line\nbreak"],
        ["--foreign-token", "tab\there"],
      ] as const) {
        const r = await run(flag === "--token" ? [flag, bad] : ["--token", "tok-alice", flag, bad]);
        assert.equal(r.code, 2, `${flag} ${JSON.stringify(bad)}`);
        assert.match(r.stderr, new RegExp(`${flag}: not a token`));
      }
    } finally {
      await fake.close();
    }
  });
});

describe("session checks", () => {
  const ids = ["session.joinable", "session.joinable-get", "session.identity"];
  const tokens = { token: "tok-alice", token2: "tok-bob" };
  const statuses = (r: AuditReport) => r.findings.map((f) => [f.id, f.status]);

  test("bound sessions: all PASS", async () => {
    assert.deepEqual(statuses(await audit({}, ids, tokens)), [
      ["session.joinable", "PASS"],
      ["session.joinable-get", "PASS"],
      ["session.identity", "PASS"],
    ]);
  });
  test("joinable on POST (served as the joining principal): joinable FAIL, identity PASS", async () => {
    assert.deepEqual(statuses(await audit({ sessions: "joinable" }, ids, tokens)), [
      ["session.joinable", "FAIL"],
      ["session.joinable-get", "PASS"],
      ["session.identity", "PASS"],
    ]);
  });
  test("the GET stream joinable: joinable-get FAIL", async () => {
    const r = await audit({ sessions: "joinable", getJoinable: true }, ["session.joinable-get"], tokens);
    assert.equal(finding(r, "session.joinable-get").status, "FAIL");
    assert.match(finding(r, "session.joinable-get").evidence, /: 200 text\/event-stream, the first principal's/);
  });
  test("identity taken from the session: identity FAIL", async () => {
    const r = await audit({ sessions: "identity" }, ids, tokens);
    assert.equal(finding(r, "session.joinable").status, "FAIL");
    assert.equal(finding(r, "session.identity").status, "FAIL");
    assert.match(finding(r, "session.identity").evidence, /listed the first principal's tools/);
  });
});

describe("metadata and authorization server checks", () => {
  test("plain PKCE advertised: as.pkce-plain WARN; S256 only: PASS", async () => {
    const plain = await audit({ pkce: ["S256", "plain"] }, ["as.pkce-plain"]);
    assert.equal(finding(plain, "as.pkce-plain").status, "WARN");
    assert.equal(finding(plain, "as.pkce-plain").level, "SHOULD");
    assert.equal(finding(await audit({}, ["as.pkce-plain"]), "as.pkce-plain").status, "PASS");
  });
  test("an origin resource at the advertised URL: prm.advertised WARN with the reason; the endpoint: PASS", async () => {
    const r = await audit({ resource: "origin" }, ["prm.advertised"]);
    assert.equal(finding(r, "prm.advertised").status, "WARN");
    assert.match(finding(r, "prm.advertised").evidence, /resource is the origin .* MCP 2025-11-25 counts the origin/);
    assert.equal(finding(await audit({}, ["prm.advertised"]), "prm.advertised").status, "PASS");
  });
  test("a 404 root document beside a good path-inserted one: prm.root PASS", async () => {
    const r = await audit({ root404: true }, ["prm.root"]);
    assert.equal(finding(r, "prm.root").status, "PASS");
    assert.match(finding(r, "prm.root").evidence, /404; clients try the path-inserted/);
  });
});

describe("protect() audits clean on every new check", () => {
  let close: () => Promise<void>;
  let url: string;
  let tokens: { token: string; token2: string; foreignToken: string };
  before(async () => {
    const issuer = await startLocalIssuer();
    const port = await freePortPair();
    url = `http://127.0.0.1:${port}/mcp`;
    const server = new MCPServer("audit-clean", {
      version: "1.0.0",
      authorization: { enabled: true, authorization_servers: [issuer.issuer], resource: url },
    });
    server.setAuthorizationProvider(new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }));
    await server.serve({ port, host: "127.0.0.1" });
    const sign = (sub: string, aud: string) => issuer.sign({ iss: issuer.issuer, sub, aud, scope: "read" });
    tokens = {
      token: await sign("alice", url),
      token2: await sign("bob", url),
      foreignToken: await sign("alice", "http://127.0.0.1:1/another-resource"),
    };
    close = async () => {
      await server.close();
      await issuer.close();
    };
  });
  after(() => close());

  test("PASS on each of them, the foreign token refused", async () => {
    const ids = [
      "challenge.no-error-unauthenticated",
      "challenge.syntax",
      "challenge.error-codes",
      "token.syntax",
      "token.foreign-audience",
      "session.joinable",
      "session.joinable-get",
      "session.identity",
    ];
    const r = await runAudit(
      { url, ...tokens },
      CHECKS.filter((c) => ids.includes(c.id)),
    );
    for (const f of r.findings) assert.equal(f.status, "PASS", `${f.id}: ${f.evidence}`);
    assert.equal(r.findings.length, ids.length);
    assert.match(finding(r, "token.foreign-audience").evidence, /^401 Bearer error="invalid_token"/);
    // Sessions were opened and refused to the other principal (not the stateless PASS).
    assert.match(finding(r, "session.joinable").evidence, /^the second principal on the first session: 4\d\d$/);
    assert.match(
      finding(r, "session.joinable-get").evidence,
      /^GET with the first session's id and another token: 4\d\d$/,
    );
  });
});
