/**
 * DNS-rebinding protection, on by default: Host and Origin are checked before anything else
 * (metadata and preflight included); 403 with a JSON body otherwise.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:http";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { MCPServer, protect, type ProtectOptions } from "../src/index.js";
import { initialize, MCP_HEADERS } from "./helpers/mcp.js";

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw HTTP request, so the Host header is exactly what the test says. */
function raw(port: number, path: string, headers: Record<string, string>, method = "POST", body?: string): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method, headers, setHost: false }, (res) => {
      let text = "";
      res
        .setEncoding("utf8")
        .on("data", (d) => (text += d))
        .on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on("error", reject).end(body);
  });
}

const FORBIDDEN_HOST = {
  error: "forbidden",
  error_description: "The Host header does not name this resource (see the dns_rebinding_protection option)",
};
const FORBIDDEN_ORIGIN = {
  error: "forbidden",
  error_description: "The Origin of this request is not allowed (see the dns_rebinding_protection and cors_origins options)",
};

describe("a loopback server (defaults)", () => {
  let server: MCPServer;
  let port: number;
  before(async () => {
    server = new MCPServer("local", { log: () => {} });
    port = Number(new URL((await server.serve({ port: 0 })).address).port);
  });
  after(() => server.close());
  const init = (headers: Record<string, string>) => raw(port, "/mcp", { ...MCP_HEADERS, ...headers }, "POST", initialize());

  test("the conformance suite's request (Host and Origin evil.example.com) is refused 403, before the server sees it", async () => {
    const res = await init({ host: "evil.example.com", origin: "http://evil.example.com" });
    assert.equal(res.status, 403);
    assert.equal(res.headers["content-type"], "application/json");
    assert.equal(res.headers["mcp-session-id"], undefined, "no session was opened");
    assert.deepEqual(JSON.parse(res.body), FORBIDDEN_HOST);
  });

  test("a rebinding page's Host, with any port, or a Host with several values, is refused", async () => {
    for (const host of [
      "evil.example.com",
      `evil.example.com:${port}`,
      "localhost.evil.example",
      "127.0.0.1.nip.io",
      "",
      `127.0.0.1:${port}, evil.example`,
    ]) {
      const res = await init({ host });
      assert.equal(res.status, 403, host);
      assert.deepEqual(JSON.parse(res.body), FORBIDDEN_HOST);
    }
  });

  test("a loopback Host with a foreign Origin is refused (a page elsewhere calling localhost)", async () => {
    for (const origin of ["http://evil.example.com", "https://evil.example.com", "null", `http://127.0.0.1.evil.example:${port}`]) {
      const res = await init({ host: `127.0.0.1:${port}`, origin });
      assert.equal(res.status, 403, origin);
      assert.deepEqual(JSON.parse(res.body), FORBIDDEN_ORIGIN);
      assert.equal(res.headers["access-control-allow-origin"], undefined);
    }
  });

  test("loopback Hosts and origins are served", async () => {
    for (const [host, origin] of [
      [`127.0.0.1:${port}`, undefined],
      [`localhost:${port}`, `http://localhost:5173`],
      ["LOCALHOST", "http://127.0.0.1:6274"],
      [`[::1]:${port}`, "https://[::1]"],
    ] as const) {
      const res = await init({ host, ...(origin ? { origin } : {}) });
      assert.equal(res.status, 200, `${host} ${origin}`);
    }
  });

  test("preflight and the metadata document are guarded too", async () => {
    const preflight = await raw(port, "/mcp", { host: "evil.example.com", origin: "http://evil.example.com" }, "OPTIONS");
    assert.equal(preflight.status, 403);
    assert.equal(preflight.headers["access-control-allow-origin"], undefined);
    const unknownPath = await raw(port, "/other", { host: "evil.example.com" }, "GET");
    assert.equal(unknownPath.status, 403);
  });
});

describe("a public resource", () => {
  const RESOURCE = "https://mcp.example.com/mcp";
  const factory = () => new McpServer({ name: "p", version: "1" });
  const handler = (extra: Partial<ProtectOptions> = {}) =>
    protect(factory, { authorization: { enabled: false, resource: RESOURCE }, session_mode: "stateless", ...extra });
  const send = (h: ReturnType<typeof handler>, headers: Record<string, string>, path = "/mcp") =>
    h(new Request(`https://mcp.example.com${path}`, { method: "POST", headers: { ...MCP_HEADERS, ...headers }, body: initialize() }));

  test("Host must be the resource's host (a default port is the same host)", async () => {
    const h = handler();
    for (const host of ["mcp.example.com", "MCP.example.com", "mcp.example.com:443"])
      assert.equal((await send(h, { host })).status, 200, host);
    for (const host of ["evil.example.com", "mcp.example.com:8443", "localhost", "127.0.0.1", "mcp.example.com.evil.example"]) {
      const res = await send(h, { host });
      assert.equal(res.status, 403, host);
      assert.deepEqual(await res.json(), FORBIDDEN_HOST);
    }
  });

  test("trust_proxy's allowed hosts and dns_rebinding_protection.allowed_hosts widen the Host check", async () => {
    assert.equal((await send(handler({ trust_proxy: { allowed_hosts: ["mcp.example.org"] } }), { host: "mcp.example.org" })).status, 200);
    const h = handler({ dns_rebinding_protection: { allowed_hosts: ["backend.internal:8000"] } });
    assert.equal((await send(h, { host: "backend.internal:8000" })).status, 200);
    assert.equal((await send(h, { host: "backend.internal:8001" })).status, 403);
  });

  test('with cors_origins "*" any Origin may call (tokens are not cookies); with a list, only those and the resource\'s own', async () => {
    assert.equal((await send(handler(), { host: "mcp.example.com", origin: "https://app.example" })).status, 200);
    const h = handler({
      cors_origins: ["https://app.example"],
      dns_rebinding_protection: { allowed_origins: ["https://inspector.example"] },
    });
    for (const origin of ["https://app.example", "https://inspector.example", "https://mcp.example.com"]) {
      assert.equal((await send(h, { host: "mcp.example.com", origin })).status, 200, origin);
    }
    for (const origin of ["https://evil.example", "https://app.example.evil", "null"]) {
      const res = await send(h, { host: "mcp.example.com", origin });
      assert.equal(res.status, 403, origin);
      assert.deepEqual(await res.json(), FORBIDDEN_ORIGIN);
    }
  });

  test("dns_rebinding_protection: false switches the check off", async () => {
    const h = handler({ dns_rebinding_protection: false });
    assert.equal((await send(h, { host: "evil.example.com", origin: "http://evil.example.com" })).status, 200);
  });
});
