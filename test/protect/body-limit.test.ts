/**
 * Request body limit: enforced while reading (never buffered past the limit), on the Web-standard
 * handler, the Node adapter and Express with a pre-parsed body; bodies of unauthenticated requests
 * are never read at all.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { JWTValidator, MCPServer, protect, toNodeHandler, tool } from "../../src/index.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";
import { initialize, MCP_HEADERS, readRpc, toolCall } from "../helpers/mcp.js";

const MB = 1024 * 1024;
let issuer: LocalIssuer;
before(async () => {
  issuer = await startLocalIssuer();
});
after(() => issuer.close());

const RESOURCE = "http://127.0.0.1:1/mcp";
let runs = 0;
function makeHandler(resource = RESOURCE, max_body_bytes?: number) {
  return protect(
    () => {
      const s = new McpServer({ name: "b", version: "1" });
      s.registerTool("echo", { description: "echo" }, async () => {
        runs++;
        return { content: [{ type: "text", text: "ok" }] };
      });
      return s;
    },
    {
      session_mode: "stateless",
      authorization: { enabled: true, authorization_servers: [issuer.issuer], resource },
      provider: new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }),
      ...(max_body_bytes ? { max_body_bytes } : {}),
    },
  );
}

/** A stream of `total` bytes of a JSON-looking body, counting what the consumer pulled. */
function countingBody(total: number, chunk = 64 * 1024) {
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (pulled >= total) return controller.close();
        const n = Math.min(chunk, total - pulled);
        pulled += n;
        controller.enqueue(new Uint8Array(n).fill(0x20));
      },
    },
    { highWaterMark: 0 },
  ); // pull only when the consumer reads
  return { stream, pulled: () => pulled };
}

const post = (body: BodyInit, token?: string, extra: Record<string, string> = {}) =>
  new Request(RESOURCE, {
    method: "POST",
    headers: { ...MCP_HEADERS, ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra },
    body,
    duplex: "half",
  } as RequestInit);

describe("Web-standard handler", () => {
  test("a 50 MB body from an authorized caller: 413 with a JSON-RPC error, reading stopped at the limit", async () => {
    const handler = makeHandler();
    const token = await issuer.sign({ aud: RESOURCE });
    const body = countingBody(50 * MB);
    runs = 0;
    const res = await handler(post(body.stream, token));
    assert.equal(res.status, 413);
    assert.equal(res.headers.get("connection"), "close");
    assert.deepEqual(await res.json(), {
      jsonrpc: "2.0",
      error: { code: -32000, message: `Request body too large: the limit is ${4 * MB} bytes` },
      id: null,
    });
    // The limit plus what the Request's own stream machinery buffers ahead (a few chunks at most).
    assert.ok(body.pulled() <= 4 * MB + 4 * 64 * 1024, `pulled ${body.pulled()} bytes`);
    assert.equal(runs, 0);
  });

  test("a declared Content-Length over the limit is refused without reading a byte", async () => {
    const handler = makeHandler();
    const token = await issuer.sign({ aud: RESOURCE });
    const body = countingBody(5 * MB);
    const res = await handler(post(body.stream, token, { "content-length": String(5 * MB) }));
    assert.equal(res.status, 413);
    assert.equal(body.pulled(), 0);
  });

  test("an unauthenticated 50 MB body is not read at all: 401 first", async () => {
    const handler = makeHandler();
    const body = countingBody(50 * MB);
    const res = await handler(post(body.stream));
    assert.equal(res.status, 401);
    assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer realm="MCP", resource_metadata="/);
    assert.equal(body.pulled(), 0);
    const forged = countingBody(50 * MB);
    const res2 = await handler(post(forged.stream, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."));
    assert.equal(res2.status, 401);
    assert.equal(forged.pulled(), 0);
  });

  test("the limit is exact: a body of exactly max_body_bytes is served, one byte more is 413", async () => {
    const limit = 4096;
    const handler = makeHandler(RESOURCE, limit);
    const token = await issuer.sign({ aud: RESOURCE });
    const call = toolCall("echo");
    const padded = (n: number) => call.slice(0, -1) + " ".repeat(n - call.length) + "}";
    runs = 0;
    const ok = await handler(post(padded(limit), token));
    assert.equal(ok.status, 200);
    assert.equal((await readRpc(ok)).result.content[0].text, "ok");
    const over = await handler(post(padded(limit + 1), token));
    assert.equal(over.status, 413);
    assert.equal(runs, 1);
  });

  test("max_body_bytes is validated at construction", () => {
    assert.throws(() => makeHandler(RESOURCE, -1), /max_body_bytes/);
    assert.throws(() => makeHandler(RESOURCE, 1.5), /max_body_bytes/);
  });
});

/** Send `size` bytes over a raw HTTP request; resolve with the status (or the socket error). */
function rawPost(
  url: string,
  token: string,
  size: number,
): Promise<{ status?: number; error?: string; body?: string }> {
  return new Promise((resolve) => {
    const u = new URL(url);
    const req = httpRequest({
      host: u.hostname,
      port: u.port,
      path: u.pathname,
      method: "POST",
      headers: { ...MCP_HEADERS, authorization: `Bearer ${token}`, "transfer-encoding": "chunked" },
    });
    let settled = false;
    req.on("response", (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => {
        settled = true;
        resolve({ status: res.statusCode!, body });
      });
      res.on("error", () => !settled && resolve({ status: res.statusCode! }));
    });
    req.on("error", (e) => !settled && resolve({ error: (e as NodeJS.ErrnoException).code ?? e.message }));
    const chunk = Buffer.alloc(MB, 0x20);
    let sent = 0;
    const write = () => {
      while (sent < size) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once("drain", write);
      }
      req.end();
    };
    write();
  });
}

describe("Node adapter (MCPServer.serve)", () => {
  for (const session_mode of ["stateful", "stateless"] as const)
    test(`${session_mode}: ten 50 MB bodies in parallel: each 413, RSS grows by far less than the bodies`, async () => {
      const server = new MCPServer("b", {
        session_mode,
        authorization: { enabled: true, authorization_servers: [issuer.issuer] },
      });
      server.setAuthorizationProvider(new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer }));
      server.collect(tool({ name: "echo", description: "echo" }, () => "ok"));
      const { url } = await server.serve({ port: 0 });
      try {
        const token = await issuer.sign({ aud: url });
        global.gc?.();
        const rss0 = process.memoryUsage().rss;
        let peak = rss0;
        const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
        const results = await Promise.all(Array.from({ length: 10 }, () => rawPost(url, token, 50 * MB)));
        clearInterval(sampler);
        const growth = (peak - rss0) / MB;
        console.log(
          `# ${session_mode}: 10 × 50 MB in parallel: RSS growth ${growth.toFixed(0)} MB; answers ${results.map((r) => r.status ?? r.error).join(",")}`,
        );
        // The server answers 413 and closes; a client still writing may see the close as a reset first.
        assert.ok(
          results.every((r) => r.status === 413 || r.error === "ECONNRESET" || r.error === "EPIPE"),
          JSON.stringify(results),
        );
        assert.ok(results.filter((r) => r.status === 413).length >= 1, "at least one 413");
        for (const r of results.filter((r) => r.status === 413)) {
          assert.equal(JSON.parse(r.body!).error.code, -32000);
        }
        assert.ok(growth < 150, `RSS growth ${growth.toFixed(0)} MB`);
        // The server still serves.
        const ok = await fetch(url, {
          method: "POST",
          headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` },
          body: session_mode === "stateful" ? initialize() : toolCall("echo"),
        });
        assert.equal(ok.status, 200);
      } finally {
        await server.close();
      }
    });
});

describe("Express", () => {
  let server: Server;
  let url: string;
  before(async () => {
    server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
    const handler = makeHandler(url, 64 * 1024);
    const app = express();
    app.use(express.json({ limit: "10mb" })); // a generous framework limit: ours must still hold
    app.use(toNodeHandler(handler));
    server.on("request", app);
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  test("a pre-parsed body over max_body_bytes is 413; under it is served", async () => {
    const token = await issuer.sign({ aud: url });
    const big = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "echo", arguments: { pad: "x".repeat(100 * 1024) } },
    });
    const res = await fetch(url, {
      method: "POST",
      headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` },
      body: big,
    });
    assert.equal(res.status, 413);
    assert.equal((await res.json()).error.code, -32000);
    const ok = await fetch(url, {
      method: "POST",
      headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` },
      body: toolCall("echo"),
    });
    assert.equal(ok.status, 200);
  });
});
