/**
 * Property-based abuse: more than 10,000 generated malformed `Authorization` / `DPoP` headers,
 * refusable signed tokens, stolen-token proofs and JSON-RPC bodies (fast-check, fixed seed), sent
 * through the Web-standard handler directly, through `MCPServer.serve` over HTTP, and as raw bytes
 * on a socket. Properties, for every request:
 *
 * - no crash, no 5xx (there is no outage here, so not even 503);
 * - no credential sent comes back, in the body or any header; no stack trace;
 * - every 401 (and every challenge sent) has a well-formed `WWW-Authenticate` naming realm, metadata
 *   URL and a known OAuth error; 400/403 carry the matching error;
 * - a refused request runs no tool, and its body is not read at all;
 * - legitimate users (Alice with a DPoP-bound token, Carol with a bearer token) keep their sessions
 *   and their calls keep working during and after the run;
 * - memory stays bounded.
 *
 * `SOAK_SEED` changes the seed; a failure prints the counterexample and the seed to replay it.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import fc from "fast-check";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { getContext, JWTValidator, MCPServer, protect, tool, type ProtectedHandler } from "../../src/index.js";
import { clientKey, makeProof, type ClientKey } from "../helpers/dpop.js";
import { startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";
import { initialize, MCP_HEADERS, toolCall } from "../helpers/mcp.js";
import {
  anonymousBodyCases,
  authorizationCases,
  bodyCases,
  signedDefectCases,
  stolenDpopCases,
  type FuzzCase,
  type FuzzContext,
} from "./arbitraries.js";
import {
  assertMemory,
  checkResponse,
  measureMemory,
  memoryFigures,
  pool,
  summary,
  type ChallengeExpectation,
} from "./lib.js";

const SEED = Number(process.env.SOAK_SEED ?? 20_261_125);
const LEGIT = new Set(["alice", "carol", "dave"]);

let issuer: LocalIssuer;
before(async () => {
  issuer = await startLocalIssuer();
});
after(() => issuer.close());

/** Tool runs, by subject. Dave is an authenticated attacker: his own calls may run, nobody else's. */
const runs: string[] = [];
const secretTool = tool({ name: "secret", description: "records who ran it" }, () => {
  runs.push(getContext().auth?.subject ?? "(anonymous)");
  return "ran";
});

function sdkFactory(): McpServer {
  const s = new McpServer({ name: "fuzz", version: "1" });
  secretTool.register(s);
  return s;
}

interface Sent {
  status: number;
  headers: Headers;
  body: string;
  /** Bytes of the request body the server read (Web handler only). */
  pulled: number;
}

/** A request body that counts what the server pulls (nothing is pulled unless the server reads). */
function countingBody(text: string) {
  const bytes = new TextEncoder().encode(text);
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (pulled >= bytes.byteLength) return controller.close();
        const chunk = bytes.subarray(pulled, pulled + 64 * 1024);
        pulled += chunk.byteLength;
        controller.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, pulled: () => pulled };
}

function requestHeaders(c: FuzzCase): Headers {
  const h = new Headers({ accept: MCP_HEADERS.accept });
  if (c.contentType) h.set("content-type", c.contentType);
  if (c.authorization !== undefined) h.set("authorization", c.authorization);
  if (c.dpop !== undefined) h.set("dpop", c.dpop);
  if (c.sessionId !== undefined) {
    h.set("mcp-session-id", c.sessionId);
    h.set("mcp-protocol-version", "2025-06-18");
  }
  return h;
}

/** Read a response body, failing (not hanging) if it never ends. */
async function text(res: Response, label: string): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      res.text(),
      new Promise<never>(
        (_, reject) => (timer = setTimeout(() => reject(new Error(`response body of ${label} never ended`)), 10_000)),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function sendWeb(handler: ProtectedHandler, resource: string, c: FuzzCase): Promise<Sent> {
  const body = countingBody(c.body);
  const res = await handler(
    new Request(resource, {
      method: c.method,
      headers: requestHeaders(c),
      body: body.stream,
      duplex: "half",
    } as RequestInit),
  );
  return { status: res.status, headers: res.headers, body: await text(res, c.family), pulled: body.pulled() };
}

/** Tallies per scenario. */
class Tally {
  cases = 0;
  byStatus = new Map<number, number>();
  families = new Set<string>();
  add(c: FuzzCase, status: number) {
    this.cases++;
    this.families.add(c.family.split(":")[0]!);
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
  }
  statuses = () =>
    [...this.byStatus]
      .sort((a, b) => a[0] - b[0])
      .map(([s, n]) => `${s}:${n}`)
      .join(",");
}

/**
 * The per-request properties. `ranDuring`: subjects whose tool ran while this request was handled (exact when
 * sequential).
 */
function checkCase(c: FuzzCase, r: Sent, expect: ChallengeExpectation, ranDuring: string[] | undefined): void {
  const where = `[${c.family}] ${JSON.stringify({ ...c, body: c.body.slice(0, 120), authorization: c.authorization?.slice(0, 120), dpop: c.dpop?.slice(0, 120) })}`;
  try {
    checkResponse(r.status, r.headers, r.body, c.secrets, expect);
    if (c.expect === "refused") assert.ok(r.status >= 400, `a refusable request was answered ${r.status}`);
    if (ranDuring) {
      if (r.status >= 400) assert.deepEqual(ranDuring, [], `a tool ran for a request refused with ${r.status}`);
      for (const s of ranDuring) assert.ok(LEGIT.has(s), `a tool ran as ${s}`);
    }
    // A refusal by the authorization layer (a challenge, or 503, or a session of another principal) never reads the
    // body.
    if (r.headers.has("www-authenticate") || r.status === 503 || c.family === "body:other-principal-session") {
      assert.equal(r.pulled, 0, `the body of a refused request was read (${r.pulled} bytes)`);
    }
  } catch (e) {
    (e as Error).message += `\n  case: ${where}\n  status ${r.status}, body ${r.body.slice(0, 300)}`;
    throw e;
  }
}

interface Fixture {
  ctx: FuzzContext;
  legitRound: () => Promise<void>;
}

/** Open sessions for Alice (DPoP), Carol (bearer) and Dave (bearer, the attacker) on `send`. */
async function fixture(
  resource: string,
  post: (headers: Record<string, string>, body: string) => Promise<Response>,
): Promise<Fixture> {
  const aliceKey: ClientKey = await clientKey();
  const attackerKey = await clientKey();
  const aliceToken = await issuer.sign({ aud: resource, sub: "alice", scope: "mcp", cnf: { jkt: aliceKey.jkt } });
  const carolToken = await issuer.sign({ aud: resource, sub: "carol", scope: "mcp" });
  const daveToken = await issuer.sign({ aud: resource, sub: "dave", scope: "mcp" });
  const aliceProofs: string[] = [];
  const aliceHeaders = async () => {
    const proof = await makeProof({ key: aliceKey, htu: resource, token: aliceToken });
    aliceProofs.push(proof);
    return { ...MCP_HEADERS, authorization: `DPoP ${aliceToken}`, dpop: proof };
  };
  const open = async (headers: Record<string, string>) => {
    const res = await post(headers, initialize());
    assert.equal(res.status, 200, `initialize: ${res.status}`);
    await res.arrayBuffer();
    return res.headers.get("mcp-session-id")!;
  };
  const aliceSession = await open(await aliceHeaders());
  const carolSession = await open({ ...MCP_HEADERS, authorization: `Bearer ${carolToken}` });
  let daveSession = await open({ ...MCP_HEADERS, authorization: `Bearer ${daveToken}` });
  const session = (id: string) => ({ "mcp-session-id": id, "mcp-protocol-version": "2025-06-18" });

  const legitRound = async () => {
    for (const [who, headers] of [
      ["alice", { ...(await aliceHeaders()), ...session(aliceSession) }],
      ["carol", { ...MCP_HEADERS, authorization: `Bearer ${carolToken}`, ...session(carolSession) }],
    ] as const) {
      const before = runs.filter((s) => s === who).length;
      const res = await post(headers, toolCall("secret"));
      const body = await res.text();
      assert.equal(res.status, 200, `${who}'s call in her session: ${res.status} ${body.slice(0, 200)}`);
      assert.match(body, /"ran"|ran/);
      assert.equal(runs.filter((s) => s === who).length, before + 1, `${who}'s tool ran once`);
    }
    // Dave's own session may have been closed by his own fuzzed DELETEs or pushed out by his initializes: reopen it.
    const probe = await post(
      { ...MCP_HEADERS, authorization: `Bearer ${daveToken}`, ...session(daveSession) },
      toolCall("secret"),
    );
    await probe.arrayBuffer();
    if (probe.status !== 200) daveSession = await open({ ...MCP_HEADERS, authorization: `Bearer ${daveToken}` });
  };

  return {
    ctx: {
      issuer,
      resource,
      aliceToken,
      aliceJwk: aliceKey.jwk,
      aliceProofs,
      attackerKey,
      daveToken,
      daveSession: () => daveSession,
      carolSession,
    },
    legitRound,
  };
}

const FAMILIES = (ctx: FuzzContext) =>
  [
    ["authorization", authorizationCases(ctx).map(async (c) => c), 3500],
    ["signed-defect", signedDefectCases(ctx), 1000],
    ["stolen-dpop", stolenDpopCases(ctx), 2000],
    ["body", bodyCases(ctx).map(async (c) => c), 2500],
    ["anonymous-body", anonymousBodyCases(ctx).map(async (c) => c), 1000],
  ] as const;

describe("property-based abuse", () => {
  test("Web-standard handler: 10,000 generated requests, sequential (exact attribution of tool runs and body reads)", async () => {
    const resource = "https://mcp.example.com/mcp";
    const handler = protect(sdkFactory, {
      authorization: { enabled: true, authorization_servers: [issuer.issuer], resource, required_scopes: ["mcp"] },
      provider: new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }),
    });
    const expect: ChallengeExpectation = {
      resource_metadata_url: "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
      scope: "mcp",
    };
    const post = (headers: Record<string, string>, body: string) =>
      handler(new Request(resource, { method: "POST", headers, body }));
    try {
      const { ctx, legitRound } = await fixture(resource, post);
      const fetches0 = issuer.jwksFetches();
      const tally = new Tally();
      let maxMs = 0;
      const runFamily = async (arb: fc.Arbitrary<Promise<FuzzCase>>, numRuns: number, seed: number) =>
        fc.assert(
          fc.asyncProperty(arb, async (pending) => {
            const c = await pending;
            const before = runs.length;
            const t0 = performance.now();
            const r = await sendWeb(handler, resource, c);
            maxMs = Math.max(maxMs, performance.now() - t0);
            checkCase(c, r, expect, runs.slice(before));
            tally.add(c, r.status);
            if (tally.cases % 500 === 0) await legitRound();
          }),
          { numRuns, seed, endOnFailure: true },
        );
      const families = FAMILIES(ctx);
      const { memory } = await measureMemory(
        async () => {
          for (const [, arb] of families) await runFamily(arb, 60, SEED + 1);
        },
        async () => {
          for (const [i, [, arb, n]] of families.entries()) await runFamily(arb, n, SEED + 10 + i);
        },
      );
      await legitRound();
      const total = tally.cases;
      summary("fuzz/web-handler", {
        cases: total,
        seed: SEED,
        statuses: tally.statuses(),
        jwks_fetches: issuer.jwksFetches() - fetches0,
        latency_max_ms: maxMs,
        ...memoryFigures(memory),
      });
      assert.ok(total >= 10_000, `${total} cases`);
      assert.ok(!tally.byStatus.has(200) || [...runs].every((s) => LEGIT.has(s)), "a 200 only for legitimate requests");
      assertMemory(memory, { peakMb: 256, heapMb: 48 });
    } finally {
      await handler.close();
    }
  });

  test("dpop_required: generated headers get only the DPoP challenge, well-formed", async () => {
    const resource = "https://mcp.example.com/mcp";
    const handler = protect(sdkFactory, {
      authorization: { enabled: true, authorization_servers: [issuer.issuer], resource, dpop_required: true },
      provider: new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }),
    });
    const expect: ChallengeExpectation = {
      resource_metadata_url: "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
      dpopOnly: true,
    };
    try {
      const attackerKey = await clientKey();
      const carol = await issuer.sign({ aud: resource, sub: "carol", scope: "mcp" });
      const ctx: FuzzContext = {
        issuer,
        resource,
        aliceToken: carol,
        aliceJwk: attackerKey.jwk,
        aliceProofs: [],
        attackerKey,
        daveToken: carol,
        daveSession: () => "none",
        carolSession: "none",
      };
      const tally = new Tally();
      // Plus: a valid but unbound bearer token is refused when DPoP is required.
      const arb = fc.oneof(
        authorizationCases(ctx),
        fc.constant<FuzzCase>({
          family: "unbound-bearer",
          method: "POST",
          authorization: `Bearer ${carol}`,
          contentType: "application/json",
          body: toolCall("secret"),
          secrets: [carol],
          expect: "refused",
        }),
      );
      const before = runs.length;
      await fc.assert(
        fc.asyncProperty(arb, async (c) => {
          const r = await sendWeb(handler, resource, c);
          checkCase(c, r, expect, runs.slice(before));
          tally.add(c, r.status);
        }),
        { numRuns: 1000, seed: SEED + 20, endOnFailure: true },
      );
      assert.equal(runs.length, before);
      summary("fuzz/dpop-required", { cases: tally.cases, statuses: tally.statuses() });
    } finally {
      await handler.close();
    }
  });

  test("real HTTP server (MCPServer.serve): 2,500 generated requests, 16 in flight, plus 600 raw-socket header byte strings", async () => {
    const server = new MCPServer("fuzz", {
      authorization: { enabled: true, authorization_servers: [issuer.issuer], required_scopes: ["mcp"] },
    });
    server.setAuthorizationProvider(new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }));
    server.collect(secretTool);
    const { url, address } = await server.serve({ port: 0 });
    const expect: ChallengeExpectation = {
      resource_metadata_url: `${address}/.well-known/oauth-protected-resource/mcp`,
      scope: "mcp",
    };
    const post = (headers: Record<string, string>, body: string) => fetch(url, { method: "POST", headers, body });
    try {
      const { ctx, legitRound } = await fixture(url, post);
      const families = FAMILIES(ctx);
      const pending = fc.sample(fc.oneof(...families.map(([, arb]) => arb)), { numRuns: 2500, seed: SEED + 30 });
      // undici's fetch refuses to send DEL (0x7F) in a header value; the raw-socket run below sends every byte.
      const noDel = (v: string | undefined) => v?.replace(/\x7f/g, "~");
      const cases = (await Promise.all(pending)).map((c) => ({
        ...c,
        authorization: noDel(c.authorization),
        dpop: noDel(c.dpop),
        sessionId: noDel(c.sessionId),
      }));
      const tally = new Tally();
      const runs0 = runs.length;
      let daveOk = 0;
      let maxMs = 0;
      const { memory } = await measureMemory(
        () =>
          pool(200, 16, (i) =>
            fetch(url, { method: cases[i]!.method, headers: requestHeaders(cases[i]!), body: cases[i]!.body }).then(
              (r) => r.arrayBuffer(),
            ),
          ),
        () =>
          pool(cases.length, 16, async (i) => {
            const c = cases[i]!;
            const t0 = performance.now();
            const res = await fetch(url, { method: c.method, headers: requestHeaders(c), body: c.body });
            const r = { status: res.status, headers: res.headers, body: await text(res, c.family), pulled: 0 };
            maxMs = Math.max(maxMs, performance.now() - t0);
            checkCase(c, r, expect, undefined);
            if (c.authorization?.includes(ctx.daveToken) && r.status < 400) daveOk++;
            tally.add(c, r.status);
            if (i % 500 === 0) await legitRound();
          }),
      );
      await legitRound();
      const during = runs.slice(runs0);
      assert.ok(
        during.every((s) => LEGIT.has(s)),
        `tools ran as: ${[...new Set(during)].join(",")}`,
      );
      // Warm-up requests are Dave's too: they may add runs, bounded by his successful requests.
      assert.ok(
        during.filter((s) => s === "dave").length <= daveOk + 200 + 20,
        "Dave's tool ran only for his successful requests",
      );

      const raw = await rawHeaderFuzz(address, expect, [ctx.aliceToken, ctx.daveToken]);
      summary("fuzz/http-server", {
        cases: tally.cases,
        raw_cases: raw.cases,
        statuses: tally.statuses(),
        raw_statuses: raw.statuses,
        latency_max_ms: maxMs,
        ...memoryFigures(memory),
      });
      assertMemory(memory, { peakMb: 256, heapMb: 48 });
    } finally {
      await server.close();
    }
  });
});

/**
 * Header values as raw bytes (any of 0x00–0xFF, CR/LF included), duplicated credentials and
 * oversized headers, straight onto a socket: Node's parser or the handler answers; nothing else.
 */
async function rawHeaderFuzz(address: string, expect: ChallengeExpectation, realTokens: string[]) {
  const { port } = new URL(address);
  const byteString = (maxLength: number) => fc.uint8Array({ maxLength }).map((b) => Buffer.from(b).toString("latin1"));
  const arb = fc.record({
    authorization: fc.oneof(
      byteString(200),
      fc.constantFrom(...realTokens).map((t) => `DPoP ${t}`),
      fc.integer({ min: 8_000, max: 20_000 }).map((n) => `Bearer ${"A".repeat(n)}`),
    ),
    second: fc.option(byteString(100), { nil: undefined }),
    dpop: fc.option(byteString(200), { nil: undefined }),
    body: fc.string({ maxLength: 100 }),
  });
  const cases = fc.sample(arb, { numRuns: 600, seed: SEED + 40 });
  const byStatus = new Map<string, number>();
  await pool(cases.length, 8, async (i) => {
    const c = cases[i]!;
    const body = Buffer.from(c.body);
    const head =
      `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nAccept: ${MCP_HEADERS.accept}\r\n` +
      `Authorization: ${c.authorization}\r\n` +
      (c.second !== undefined ? `Authorization: Bearer ${c.second}\r\n` : "") +
      (c.dpop !== undefined ? `DPoP: ${c.dpop}\r\n` : "") +
      `Content-Length: ${body.byteLength}\r\nConnection: close\r\n\r\n`;
    const response = await new Promise<string>((resolve) => {
      const socket = connect(Number(port), "127.0.0.1", () =>
        socket.end(Buffer.concat([Buffer.from(head, "latin1"), body])),
      );
      const chunks: Buffer[] = [];
      socket.on("data", (d) => chunks.push(d));
      socket.on("error", () => {});
      socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
    });
    const [headBlock = "", ...rest] = response.split("\r\n\r\n");
    const [statusLine = "", ...headerLines] = headBlock.split("\r\n");
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1]);
    const where = `raw case ${JSON.stringify(head.slice(0, 300))}: ${JSON.stringify(response.slice(0, 300))}`;
    assert.ok([400, 401, 431].includes(status), `status ${status} — ${where}`);
    const headers = new Headers();
    for (const line of headerLines) {
      const at = line.indexOf(":");
      headers.append(line.slice(0, at), line.slice(at + 1).trim());
    }
    const secrets = [c.authorization, c.second, c.dpop]
      .filter((s): s is string => !!s)
      .flatMap((s) => s.split(/[\r\n]/));
    try {
      checkResponse(status, headers, rest.join("\r\n\r\n"), secrets, expect);
    } catch (e) {
      (e as Error).message += `\n  ${where}`;
      throw e;
    }
    byStatus.set(String(status), (byStatus.get(String(status)) ?? 0) + 1);
  });
  return {
    cases: cases.length,
    statuses: [...byStatus]
      .sort()
      .map(([s, n]) => `${s}:${n}`)
      .join(","),
  };
}
