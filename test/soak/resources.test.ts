/**
 * Resource abuse all at once against one `MCPServer.serve`: one principal opening 2,000 sessions,
 * twenty 50 MB bodies in parallel (half authorized, half anonymous), and 60 slowloris connections
 * (slow headers and slow bodies) — while Bob, with an open session, keeps calling. Then the same
 * slow-body defence on a plain `node:http` server configured by hand (for users who bring their own).
 *
 * Single abuses are proven by test/session-fairness.test.ts (1,100 sessions through protect()),
 * test/protect/body-limit.test.ts (10 × 50 MB, exact limit, Express) and test/serve-timeouts.test.ts (one
 * slow header, one slow body); this file adds the combination and the bystander.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { getContext, JWTValidator, MCPServer, protect, toNodeHandler, tool } from "../../src/index.js";
import { startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";
import { initialize, MCP_HEADERS, toolCall } from "../helpers/mcp.js";
import { assertMemory, measureMemory, memoryFigures, pool, sleep, summary } from "./lib.js";
import { trickle } from "../helpers/slow-client.js";

const MB = 1024 * 1024;
let issuer: LocalIssuer;
before(async () => {
  issuer = await startLocalIssuer();
});
after(() => issuer.close());

/**
 * POST `size` bytes in 1 MB chunks; resolves with the status, or the socket error a client still writing sees when the
 * server closes.
 */
function bigPost(url: string, size: number, token?: string): Promise<{ status?: number; error?: string }> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const req = httpRequest(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: "POST",
        headers: {
          ...MCP_HEADERS,
          "content-length": String(size),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode! }));
        res.on("error", (e: NodeJS.ErrnoException) => resolve({ status: res.statusCode!, error: e.code }));
      },
    );
    req.on("error", (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    const chunk = Buffer.alloc(MB, 0x20);
    let sent = 0;
    const write = () => {
      while (sent < size) {
        sent += MB;
        if (!req.write(chunk)) return void req.once("drain", write);
      }
      req.end();
    };
    write();
  });
}

const slowHeaders = (path: string) => `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: `;
const slowBody = (path: string, token: string) =>
  `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nAccept: ${MCP_HEADERS.accept}\r\nContent-Length: 100000\r\n\r\n{`;

describe("resource abuse, combined", () => {
  test("2,000 sessions by one principal + 20 × 50 MB bodies + 60 slowloris connections, while Bob keeps calling in his session", async () => {
    const runs: string[] = [];
    let open = 0;
    const server = new MCPServer("resources", {
      authorization: { enabled: true, authorization_servers: [issuer.issuer] },
    });
    server.setAuthorizationProvider(new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }));
    server.collect(
      tool({ name: "secret", description: "" }, () => (runs.push(getContext().auth?.subject ?? "(anonymous)"), "ran")),
    );
    server.configure((mcp) => {
      open++;
      mcp.server.onclose = () => void open--;
    });
    const { url } = await server.serve({ port: 0, headers_timeout_ms: 1000, request_timeout_ms: 2000 });
    const path = new URL(url).pathname;
    try {
      const alice = await issuer.sign({ aud: url, sub: "alice" });
      const bobToken = await issuer.sign({ aud: url, sub: "bob" });
      const bobOpen = await fetch(url, {
        method: "POST",
        headers: { ...MCP_HEADERS, authorization: `Bearer ${bobToken}` },
        body: initialize(),
      });
      assert.equal(bobOpen.status, 200);
      await bobOpen.arrayBuffer();
      const bobSession = bobOpen.headers.get("mcp-session-id")!;
      const bob: { status: number; ms: number }[] = [];
      const bobCall = async () => {
        const t0 = performance.now();
        const r = await fetch(url, {
          method: "POST",
          headers: {
            ...MCP_HEADERS,
            authorization: `Bearer ${bobToken}`,
            "mcp-session-id": bobSession,
            "mcp-protocol-version": "2025-06-18",
          },
          body: toolCall("secret"),
        });
        await r.arrayBuffer();
        bob.push({ status: r.status, ms: performance.now() - t0 });
      };

      const sessionStatuses = new Map<number, number>();
      let bodies: { status?: number; error?: string; who: string }[] = [];
      let slow: { statusLine: string; closedAfterMs: number; kind: string }[] = [];
      const { memory } = await measureMemory(
        async () => {
          for (let i = 0; i < 5; i++) await bobCall();
        },
        async () => {
          let done = false;
          const bobLoop = (async () => {
            while (!done) {
              await bobCall();
              await sleep(10);
            }
          })();
          const slowOnes = Promise.all([
            ...Array.from({ length: 30 }, () =>
              trickle(url, slowHeaders(path), 100).then((r) => ({ ...r, kind: "headers" })),
            ),
            ...Array.from({ length: 30 }, () =>
              trickle(url, slowBody(path, alice), 100).then((r) => ({ ...r, kind: "body" })),
            ),
          ]);
          const big = Promise.all([
            ...Array.from({ length: 10 }, () => bigPost(url, 50 * MB, alice).then((r) => ({ ...r, who: "alice" }))),
            ...Array.from({ length: 10 }, () => bigPost(url, 50 * MB).then((r) => ({ ...r, who: "anonymous" }))),
          ]);
          await pool(2000, 16, async () => {
            const r = await fetch(url, {
              method: "POST",
              headers: { ...MCP_HEADERS, authorization: `Bearer ${alice}` },
              body: initialize(),
            });
            await r.arrayBuffer();
            sessionStatuses.set(r.status, (sessionStatuses.get(r.status) ?? 0) + 1);
          });
          bodies = await big;
          slow = await slowOnes;
          done = true;
          await bobLoop;
        },
      );
      for (let i = 0; i < 3; i++) await bobCall();

      const bobMax = Math.max(...bob.map((b) => b.ms));
      const slowMax = Math.max(...slow.map((s) => s.closedAfterMs));
      summary("resources/sessions+50MB-bodies+slowloris", {
        session_opens: 2000,
        session_statuses: [...sessionStatuses].map(([s, n]) => `${s}:${n}`).join(","),
        open_servers_after: open,
        bodies: [
          ...bodies.reduce(
            (m, b) => m.set(`${b.who}:${b.status ?? b.error}`, (m.get(`${b.who}:${b.status ?? b.error}`) ?? 0) + 1),
            new Map<string, number>(),
          ),
        ]
          .map(([k, n]) => `${k}×${n}`)
          .join(","),
        slow_cut: `${slow.filter((s) => s.statusLine.startsWith("HTTP/1.1 408")).length}/${slow.length}`,
        slow_cut_max_ms: slowMax,
        bob_calls: bob.length,
        bob_latency_max_ms: bobMax,
        ...memoryFigures(memory),
      });
      assert.deepEqual(
        [...sessionStatuses.keys()],
        [200],
        "every initialize is served (the principal's own oldest sessions make room)",
      );
      assert.equal(open, 33, "Alice holds her 32 newest sessions, Bob his one: every evicted server was closed");
      assert.ok(
        bob.every((b) => b.status === 200),
        `Bob: ${[...new Set(bob.map((b) => b.status))].join(",")}`,
      );
      assert.equal(runs.filter((s) => s === "bob").length, bob.length, "Bob's every call ran his tool");
      assert.equal(runs.length, bob.length, "no other tool ran");
      for (const b of bodies) {
        const expected = b.who === "alice" ? 413 : 401;
        assert.ok(
          b.status === expected || b.error === "ECONNRESET" || b.error === "EPIPE",
          `${b.who}: ${b.status ?? b.error}`,
        );
      }
      assert.ok(
        slow.every((s) => s.statusLine.startsWith("HTTP/1.1 408")),
        `slow clients: ${[...new Set(slow.map((s) => s.statusLine))].join(" | ")}`,
      );
      // request_timeout 2 s, checked every second.
      assert.ok(slowMax < 4500, `the last slow client was cut after ${slowMax.toFixed(0)} ms`);
      // 1,000 MB were sent: the server buffered at most its 4 MiB limit per authorized request.
      assertMemory(memory, { peakMb: 300, heapMb: 48 });
    } finally {
      await server.close();
    }
  });

  test("bring your own http.Server: requestTimeout / headersTimeout / connectionsCheckingInterval cut slow clients; protect() keeps serving others", async () => {
    const handler = protect(
      () => {
        const s = new McpServer({ name: "byo", version: "1" });
        s.registerTool("ping", { description: "" }, async () => ({ content: [{ type: "text", text: "pong" }] }));
        return s;
      },
      { authorization: { enabled: false }, session_mode: "stateless" },
    );
    // The settings SECURITY.md recommends for a server you create yourself.
    const http = createServer(
      { requestTimeout: 2000, headersTimeout: 1000, connectionsCheckingInterval: 500 },
      toNodeHandler(handler),
    );
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
    try {
      const slow = Promise.all([
        ...Array.from({ length: 10 }, () => trickle(url, slowHeaders("/mcp"), 100)),
        ...Array.from({ length: 10 }, () => trickle(url, slowBody("/mcp", "none"), 100)),
      ]);
      const served: number[] = [];
      for (let i = 0; i < 20; i++) {
        const r = await fetch(url, { method: "POST", headers: MCP_HEADERS, body: toolCall("ping") });
        await r.arrayBuffer();
        served.push(r.status);
        await sleep(50);
      }
      const cut = await slow;
      const max = Math.max(...cut.map((c) => c.closedAfterMs));
      summary("resources/byo-http-server-slowloris", {
        slow: cut.length,
        cut_408: cut.filter((c) => c.statusLine.startsWith("HTTP/1.1 408")).length,
        cut_max_ms: max,
        others_ok: served.filter((s) => s === 200).length,
      });
      assert.ok(
        served.every((s) => s === 200),
        "every legitimate request served 200",
      );
      assert.ok(
        cut.every((c) => c.statusLine.startsWith("HTTP/1.1 408")),
        [...new Set(cut.map((c) => c.statusLine))].join(" | "),
      );
      assert.ok(max < 3500, `cut after ${max.toFixed(0)} ms`);
    } finally {
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
      await handler.close();
    }
  });
});
