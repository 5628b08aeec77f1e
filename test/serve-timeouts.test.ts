/**
 * serve() cuts slow clients: headers trickled slowloris-style (headers_timeout) and slow bodies
 * (request_timeout), while other clients keep being served.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MCPServer, tool } from "../src/index.js";
import { initialize, MCP_HEADERS } from "./helpers/mcp.js";
import { trickle } from "./helpers/slow-client.js";

test("slow headers and slow bodies are cut with 408; others are served meanwhile", async () => {
  const server = new MCPServer("t", { authorization: { enabled: false }, log: () => {} });
  server.collect(tool({ name: "ping", description: "" }, () => "pong"));
  const { url } = await server.serve({ port: 0, headers_timeout_ms: 500, request_timeout_ms: 1000 });
  try {
    const path = new URL(url).pathname;
    const slowHeaders = trickle(url, `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: `, 100);
    const slowBody = trickle(
      url,
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 100000\r\n\r\n{`,
      100,
    );
    // Meanwhile a normal client is served.
    const ok = await fetch(url, { method: "POST", headers: MCP_HEADERS, body: initialize() });
    assert.equal(ok.status, 200);
    const [h, b] = await Promise.all([slowHeaders, slowBody]);
    assert.match(h.response, /^HTTP\/1\.1 408 /);
    assert.match(b.response, /^HTTP\/1\.1 408 /);
    // Node checks every connectionsCheckingInterval (1 s here, 30 s by default).
    assert.ok(h.closedAfterMs < 2500, `headers cut after ${h.closedAfterMs.toFixed(0)} ms`);
    assert.ok(b.closedAfterMs < 3000, `body cut after ${b.closedAfterMs.toFixed(0)} ms`);
    console.log(
      `# slowloris headers cut after ${h.closedAfterMs.toFixed(0)} ms, slow body after ${b.closedAfterMs.toFixed(0)} ms`,
    );
  } finally {
    await server.close();
  }
});

test("serve() validates its timeouts", async () => {
  const server = new MCPServer("t", { log: () => {} });
  await assert.rejects(server.serve({ port: 0, request_timeout_ms: 0 }), /request_timeout/);
  await assert.rejects(
    server.serve({ port: 0, headers_timeout_ms: 5000, request_timeout_ms: 1000 }),
    /headers_timeout/,
  );
});
