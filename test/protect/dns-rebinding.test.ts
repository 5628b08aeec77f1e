/**
 * DNS-rebinding protection, on by default: Host and Origin are checked before anything else
 * (metadata and preflight included); 403 with a JSON body otherwise. `Host` is parsed strictly as
 * `uri-host [":" port]` (RFC 9112 §3.2): a malformed one is 400. For an absolute-form request target
 * the target's authority is what must be allowed (RFC 9112 §3.2.2), through both Node adapters'
 * paths; those cases are written as raw bytes on a socket, so the request line and every `Host`
 * line are exactly what the test says.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, request, type Server } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { MCPServer, protect, type ProtectOptions } from "../../src/index.js";
import { requestTarget, toWebRequest, writeWebResponse } from "../../src/adapters/node.js";
import { initialize, MCP_HEADERS } from "../helpers/mcp.js";

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw HTTP request, so the Host header is exactly what the test says. */
function raw(
  port: number,
  path: string,
  headers: Record<string, string>,
  method = "POST",
  body?: string,
): Promise<Raw> {
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

/**
 * One request written byte for byte on its own connection; the answer's status, headers (lower-cased names, repeats
 * kept) and body.
 */
function rawBytes(
  port: number,
  bytes: string,
): Promise<{ status: number; headers: Map<string, string[]>; body: string }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, "127.0.0.1", () => socket.end(Buffer.from(bytes, "latin1")));
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", reject);
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const end = text.indexOf("\r\n\r\n");
      const [statusLine = "", ...lines] = text.slice(0, end).split("\r\n");
      const headers = new Map<string, string[]>();
      for (const line of lines) {
        const colon = line.indexOf(":");
        const name = line.slice(0, colon).toLowerCase();
        headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
      }
      let body = text.slice(end + 4);
      // A chunked body (a streamed answer): the chunks joined.
      if (headers.get("transfer-encoding")?.[0] === "chunked") {
        let out = "";
        for (let at = 0; ;) {
          const lineEnd = body.indexOf("\r\n", at);
          const size = parseInt(body.slice(at, lineEnd), 16);
          if (!size) break;
          out += body.slice(lineEnd + 2, lineEnd + 2 + size);
          at = lineEnd + 2 + size + 2;
        }
        body = out;
      }
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine)?.[1] ?? 0), headers, body });
    });
  });
}

/** A POST `initialize` with the exact request target and header lines given. */
const initializeBytes = (target: string, hostLines: string[]) => {
  const body = initialize();
  return (
    `POST ${target} HTTP/1.1\r\n` +
    hostLines.map((l) => `${l}\r\n`).join("") +
    `Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
};

const MALFORMED_HOST = {
  error: "invalid_request",
  error_description: "The Host header must be one host[:port] (RFC 9112 section 3.2)",
};
const MALFORMED_TARGET = {
  error: "invalid_request",
  error_description: "The request target's authority must be host[:port], without userinfo (RFC 9112 section 3.2.2)",
};

const FORBIDDEN_HOST = {
  error: "forbidden",
  error_description: "The Host header does not name this resource (see the dns_rebinding_protection option)",
};
const FORBIDDEN_ORIGIN = {
  error: "forbidden",
  error_description:
    "The Origin of this request is not allowed (see the dns_rebinding_protection and cors_origins options)",
};

describe("a loopback server (defaults)", () => {
  let server: MCPServer;
  let port: number;
  before(async () => {
    server = new MCPServer("local", { log: () => {} });
    port = Number(new URL((await server.serve({ port: 0 })).address).port);
  });
  after(() => server.close());
  const init = (headers: Record<string, string>) =>
    raw(port, "/mcp", { ...MCP_HEADERS, ...headers }, "POST", initialize());

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
      // Valid syntax (RFC 9112 §3.2: the Host of a URI without authority), but it names no host.
      "",
      "127.999.0.1",
      "localhost,evil.example",
    ]) {
      const res = await init({ host });
      assert.equal(res.status, 403, host);
      assert.deepEqual(JSON.parse(res.body), FORBIDDEN_HOST);
    }
  });

  test("a loopback Host with a foreign Origin is refused (a page elsewhere calling localhost)", async () => {
    for (const origin of [
      "http://evil.example.com",
      "https://evil.example.com",
      "null",
      `http://127.0.0.1.evil.example:${port}`,
    ]) {
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
    const preflight = await raw(
      port,
      "/mcp",
      { host: "evil.example.com", origin: "http://evil.example.com" },
      "OPTIONS",
    );
    assert.equal(preflight.status, 403);
    assert.equal(preflight.headers["access-control-allow-origin"], undefined);
    const unknownPath = await raw(port, "/other", { host: "evil.example.com" }, "GET");
    assert.equal(unknownPath.status, 403);
  });
});

/**
 * The two ways the Node adapter hands a request to protect(): the lazy request view (MCPServer.serve), and
 * toWebRequest's full Request.
 */
const NODE_PATHS = [
  {
    name: "MCPServer.serve (toNodeHandler's request view)",
    async start(): Promise<{ port: number; close: () => Promise<void> }> {
      const server = new MCPServer("strict-host", { log: () => {} });
      const port = Number(new URL((await server.serve({ port: 0 })).address).port);
      return { port, close: () => server.close() };
    },
  },
  {
    name: "toWebRequest, then the protect() handler (a full Request)",
    async start(): Promise<{ port: number; close: () => Promise<void> }> {
      const handler = protect(() => new McpServer({ name: "p", version: "1" }), {
        authorization: { enabled: false, resource: "http://localhost/mcp" },
        session_mode: "stateless",
      });
      const server: Server = createServer((req, res) => {
        let request: Request;
        const target = requestTarget(req.url, "http://localhost");
        try {
          request = toWebRequest(req, "http://localhost");
        } catch {
          // toWebRequest throws for a target that is not a path nor an http(s) URL with an authority.
          res.writeHead(400).end();
          return;
        }
        // A Request cannot say its target was absolute-form: the adapter says so in HandlerExtras.
        void (async () => writeWebResponse(res, await handler(request, { targetAuthority: target?.authority })))();
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      return {
        port: (server.address() as AddressInfo).port,
        close: async () => {
          await handler.close();
          await new Promise<void>((resolve) => server.close(() => resolve()));
        },
      };
    },
  },
];

for (const path of NODE_PATHS) {
  describe(`strict Host and absolute-form targets, over a socket: ${path.name}`, () => {
    let port: number;
    let close: () => Promise<void>;
    before(async () => {
      ({ port, close } = await path.start());
    });
    after(() => close());
    const send = (target: string, hostLines: string[]) => rawBytes(port, initializeBytes(target, hostLines));

    /** A refusal: exact status and JSON body, not cacheable, and no session opened. */
    const assertRefused = (res: Awaited<ReturnType<typeof send>>, status: number, body: object, what: string) => {
      assert.equal(res.status, status, what);
      assert.deepEqual(res.headers.get("content-type"), ["application/json"], what);
      assert.deepEqual(res.headers.get("cache-control"), ["no-store"], what);
      assert.equal(res.headers.get("mcp-session-id"), undefined, `${what}: no session was opened`);
      assert.deepEqual(JSON.parse(res.body), body, what);
    };

    test("a Host that is not uri-host[:port] is 400, before any host is compared", async () => {
      for (const host of [
        "localhost:1@evil.example",
        "localhost:not-a-port",
        // Out of range: no TCP port has that number, and the URL parser refuses it too. Decided: 400.
        "localhost:99999",
        "localhost:65536",
        // An empty port is RFC 3986 syntax that no client sends: refused too.
        "localhost:",
        "localhost:80:80",
        "localhost:+80",
        "loc alhost",
        "[::1",
        "[::1]x",
        "[fe80::1%25eth0]:8000",
        "[::g]",
        "\u00e9vil.example",
      ]) {
        assertRefused(await send("/mcp", [`Host: ${host}`]), 400, MALFORMED_HOST, host);
      }
    });

    test("two Host lines are 400, even when both name this server (RFC 9112 §3.2)", async () => {
      assertRefused(
        await send("/mcp", ["Host: localhost", "Host: evil.example"]),
        400,
        MALFORMED_HOST,
        "localhost, evil.example",
      );
      assertRefused(await send("/mcp", ["Host: localhost", "Host: localhost"]), 400, MALFORMED_HOST, "localhost twice");
    });

    test("an empty Host is valid syntax but names no host: 403", async () => {
      assertRefused(await send("/mcp", ["Host: "]), 403, FORBIDDEN_HOST, "empty Host");
    });

    test("valid loopback forms pass: localhost, localhost:1234, 127.0.0.1:80, [::1]:8000, and spellings of them", async () => {
      for (const host of [
        "localhost",
        "localhost:1234",
        "127.0.0.1:80",
        "[::1]:8000",
        "LOCALHOST",
        "[0:0:0:0:0:0:0:1]",
        "127.0.0.1:00080",
        "[::1]",
      ]) {
        const res = await send("/mcp", [`Host: ${host}`]);
        assert.equal(res.status, 200, host);
        assert.match(res.body, /"protocolVersion"/, `${host}: the server answered initialize`);
      }
    });

    test("absolute-form: the target's authority is checked, not Host — a foreign one is 403 with Host: localhost", async () => {
      for (const target of [
        "http://evil.example/mcp",
        `http://evil.example:${port}/mcp`,
        "https://evil.example/mcp",
        "http://127.0.0.1.nip.io/mcp",
      ]) {
        assertRefused(await send(target, ["Host: localhost"]), 403, FORBIDDEN_HOST, target);
      }
    });

    test("absolute-form: an authority with userinfo or a bad port is 400", async () => {
      for (const target of [
        "http://localhost:1@evil.example/mcp",
        "http://user@localhost/mcp",
        "http://localhost:not-a-port/mcp",
        "http://localhost:99999/mcp",
      ]) {
        assertRefused(await send(target, ["Host: localhost"]), 400, MALFORMED_TARGET, target);
      }
    });

    test("absolute-form with an allowed authority passes; Host is then ignored but must still be well-formed", async () => {
      for (const [target, host] of [
        [`http://localhost:${port}/mcp`, "localhost"],
        [`http://127.0.0.1:${port}/mcp`, `127.0.0.1:${port}`],
        [`http://[::1]:${port}/mcp`, "localhost"],
        ["HTTP://LOCALHOST/mcp", "localhost"],
        [`http://localhost:${port}/mcp`, "evil.example"],
      ] as const) {
        const res = await send(target, [`Host: ${host}`]);
        assert.equal(res.status, 200, `${target} Host: ${host}`);
        assert.match(res.body, /"protocolVersion"/, `${target}: the server answered initialize`);
      }
      assertRefused(
        await send(`http://localhost:${port}/mcp`, ["Host: localhost:1@evil.example"]),
        400,
        MALFORMED_HOST,
        "malformed Host",
      );
    });

    test("absolute-form targets with a fragment or another scheme are 400 and reach nothing", async () => {
      // (Node's parser itself answers 400 to `http:evil.example/mcp`, `http:/x` and backslashes: see the unit test
      // below.)
      for (const target of [`http://localhost:${port}/mcp#fragment`, "http://localhost#x", "ftp://localhost/mcp"]) {
        const res = await send(target, ["Host: localhost"]);
        assert.equal(res.status, 400, target);
        assert.equal(res.headers.get("mcp-session-id"), undefined, `${target}: no session was opened`);
        assert.doesNotMatch(res.body, /protocolVersion/, `${target}: the server did not answer`);
      }
    });
  });
}

test("requestTarget: origin-form is a path; absolute-form keeps its authority as sent; anything else is no target", async () => {
  const { requestTarget } = await import("../../src/adapters/node.js");
  const origin = "http://127.0.0.1:8000";
  const parts = (t: string) => {
    const r = requestTarget(t, origin);
    return r && { href: r.url.href, authority: r.authority };
  };
  assert.deepEqual(parts("/mcp?x=1"), { href: "http://127.0.0.1:8000/mcp?x=1", authority: undefined });
  assert.deepEqual(parts("//evil.example/mcp"), {
    href: "http://127.0.0.1:8000//evil.example/mcp",
    authority: undefined,
  });
  assert.deepEqual(parts("http://evil.example/mcp?x"), {
    href: "http://127.0.0.1:8000/mcp?x",
    authority: "evil.example",
  });
  assert.deepEqual(parts("HTTPS://User@Evil.example:1/a/../mcp"), {
    href: "http://127.0.0.1:8000/mcp",
    authority: "User@Evil.example:1",
  });
  assert.deepEqual(parts("http://localhost?x"), { href: "http://127.0.0.1:8000/?x", authority: "localhost" });
  assert.deepEqual(parts("http://localhost"), { href: "http://127.0.0.1:8000/", authority: "localhost" });
  // What a URL parser would read as http://evil.example/mcp, but an http URI needs `//` and an authority (RFC 9110
  // §4.2.1).
  for (const t of [
    "http:evil.example/mcp",
    "http:/evil.example/mcp",
    "http:\\\\evil.example\\mcp",
    "http://a\\b/mcp",
    "http://x/mcp#f",
    "ftp://x/mcp",
    "*",
    "",
  ]) {
    assert.equal(requestTarget(t, origin), undefined, t);
  }
});

describe("a public resource", () => {
  const RESOURCE = "https://mcp.example.com/mcp";
  const factory = () => new McpServer({ name: "p", version: "1" });
  const handler = (extra: Partial<ProtectOptions> = {}) =>
    protect(factory, { authorization: { enabled: false, resource: RESOURCE }, session_mode: "stateless", ...extra });
  const send = (h: ReturnType<typeof handler>, headers: Record<string, string>, path = "/mcp") =>
    h(
      new Request(`https://mcp.example.com${path}`, {
        method: "POST",
        headers: { ...MCP_HEADERS, ...headers },
        body: initialize(),
      }),
    );

  test("Host must be the resource's host (a default port is the same host)", async () => {
    const h = handler();
    for (const host of ["mcp.example.com", "MCP.example.com", "mcp.example.com:443"])
      assert.equal((await send(h, { host })).status, 200, host);
    for (const host of [
      "evil.example.com",
      "mcp.example.com:8443",
      "localhost",
      "127.0.0.1",
      "mcp.example.com.evil.example",
    ]) {
      const res = await send(h, { host });
      assert.equal(res.status, 403, host);
      assert.deepEqual(await res.json(), FORBIDDEN_HOST);
    }
  });

  test("a Host that is not uri-host[:port] is 400 through the Web-standard handler too; a default port spelled with zeros is the same host", async () => {
    const h = handler();
    for (const host of [
      "mcp.example.com:443@evil.example",
      "mcp.example.com:https",
      "mcp.example.com:443, evil.example",
      "mcp.example.com:70000",
    ]) {
      const res = await send(h, { host });
      assert.equal(res.status, 400, host);
      assert.equal(res.headers.get("cache-control"), "no-store");
      assert.deepEqual(await res.json(), MALFORMED_HOST);
    }
    assert.equal((await send(h, { host: "mcp.example.com:0443" })).status, 200);
  });

  test("trust_proxy's allowed hosts and dns_rebinding_protection.allowed_hosts widen the Host check", async () => {
    assert.equal(
      (await send(handler({ trust_proxy: { allowed_hosts: ["mcp.example.org"] } }), { host: "mcp.example.org" }))
        .status,
      200,
    );
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
