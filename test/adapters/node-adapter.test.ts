/** writeWebResponse: JSON in one piece with Content-Length, event streams streamed, headers kept. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { toNodeHandler } from "../../src/index.js";
import { rng } from "../helpers/prng.js";

async function serve(handler: (req: Request) => Promise<Response>): Promise<{ server: Server; url: string }> {
  const server = createServer(toNodeHandler(handler));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

function get(
  url: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    })
      .on("error", reject)
      .end();
  });
}

/** A request view over `rawHeaders` (a complete POST) and the real `Headers` built from the same lines. */
function viewBeside(
  nodeRequestView: typeof import("../../src/adapters/node-request.js").nodeRequestView,
  rawHeaders: string[],
): { view: Request; real: Headers } {
  const fake = {
    rawHeaders,
    method: "POST",
    destroyed: false,
    complete: true,
    once() {},
  } as unknown as import("node:http").IncomingMessage;
  const real = new Headers();
  for (let k = 0; k < rawHeaders.length; k += 2) real.append(rawHeaders[k] as string, rawHeaders[k + 1] as string);
  return { view: nodeRequestView(fake, new URL("http://127.0.0.1/mcp"), false), real };
}

/** A `Headers`' list in its iteration order. */
const list = (h: Headers) => [...(h as unknown as Iterable<[string, string]>)];

test("a JSON response is sent whole, with Content-Length and every header (repeated Set-Cookie kept)", async () => {
  const { server, url } = await serve(async () => {
    const headers = new Headers({ "content-type": "application/json", "x-one": "1" });
    headers.append("set-cookie", "a=1");
    headers.append("set-cookie", "b=2");
    return new Response(JSON.stringify({ ok: "é" }), { status: 201, headers });
  });
  try {
    const res = await get(url);
    assert.equal(res.status, 201);
    assert.equal(res.headers["content-length"], String(Buffer.byteLength(JSON.stringify({ ok: "é" }))));
    assert.equal(res.headers["transfer-encoding"], undefined);
    assert.equal(res.headers["x-one"], "1");
    assert.deepEqual(res.headers["set-cookie"], ["a=1", "b=2"]);
    assert.deepEqual(JSON.parse(res.body), { ok: "é" });
  } finally {
    server.close();
  }
});

test("a JSON body in several chunks is sent whole; a body that yields something other than bytes is cut, never half-sent", async () => {
  const enc = new TextEncoder();
  const streamOf = (chunks: unknown[], fail = false) =>
    new ReadableStream({
      pull(c) {
        if (chunks.length > 0) c.enqueue(chunks.shift());
        else if (fail) c.error(new Error("upstream failed"));
        else c.close();
      },
    });
  let body: () => ReadableStream = () => streamOf([enc.encode('{"a":'), enc.encode('"é",'), enc.encode('"b":2}')]);
  const { server, url } = await serve(
    async () => new Response(body(), { headers: { "content-type": "application/json" } }),
  );
  try {
    const res = await get(url);
    assert.equal(res.headers["content-length"], String(Buffer.byteLength('{"a":"é","b":2}')));
    assert.deepEqual(JSON.parse(res.body), { a: "é", b: 2 });
    for (const broken of [
      () => streamOf([enc.encode("{"), '"a string chunk"}']),
      () => streamOf([enc.encode("{")], true),
    ]) {
      body = broken;
      await assert.rejects(
        get(url),
        (e: NodeJS.ErrnoException) => e.code === "ECONNRESET" || /socket hang up/.test(e.message),
      );
    }
  } finally {
    server.close();
  }
});

test("an event stream reaches the client event by event, before the stream ends", async () => {
  let sendSecond!: () => void;
  const second = new Promise<void>((r) => (sendSecond = r));
  const enc = new TextEncoder();
  const { server, url } = await serve(async () => {
    const body = new ReadableStream<Uint8Array>({
      async start(c) {
        c.enqueue(enc.encode("data: one\n\n"));
        await second;
        c.enqueue(enc.encode("data: two\n\n"));
        c.close();
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  try {
    const res = await fetch(url);
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    const reader = res.body!.getReader();
    const first = await reader.read(); // arrives while the handler still holds the second event back
    assert.equal(new TextDecoder().decode(first.value), "data: one\n\n");
    sendSecond();
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
    assert.equal(rest, "data: two\n\n");
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test("a response without a body ends at once", async () => {
  const { server, url } = await serve(async () => new Response(null, { status: 204, headers: { "x-a": "b" } }));
  try {
    const res = await get(url);
    assert.equal(res.status, 204);
    assert.equal(res.headers["x-a"], "b");
    assert.equal(res.body, "");
  } finally {
    server.close();
  }
});

test("request targets that are not a path nor an http(s) URL get 400, never 500; odd paths are just paths", async () => {
  const { connect } = await import("node:net");
  const { MCPServer } = await import("../../src/index.js");
  const s = new MCPServer("t", { authorization: { enabled: false }, on_warning: () => {} });
  const { address } = await s.serve({ port: 0 });
  const statusOf = (target: string) =>
    new Promise<string>((resolve) => {
      const c = connect(Number(new URL(address).port), "127.0.0.1", () =>
        c.end(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`),
      );
      let out = "";
      c.on("data", (d) => (out += d))
        .on("error", () => {})
        .on("close", () => resolve(out.split("\r\n", 1)[0]!));
    });
  try {
    for (const target of ["http://[/mcp", "*", "ftp://x/mcp"])
      assert.match(await statusOf(target), /^HTTP\/1\.1 400 /, target);
    // Origin-form targets are paths, whatever they look like: not this endpoint → 404.
    for (const target of ["//[", "//[/mcp", "//user:pass@host/mcp"])
      assert.match(await statusOf(target), /^HTTP\/1\.1 404 /, target);
  } finally {
    await s.close();
  }
});

test("the Node request view lists headers exactly as Headers does (5,000 generated header lists)", async () => {
  const { nodeRequestView } = await import("../../src/adapters/node-request.js");
  const next = rng(7);
  const rnd = (n: number) => Math.floor(next() * n);
  const names = [
    "Host",
    "Accept",
    "accept",
    "ACCEPT",
    "Cookie",
    "cookie",
    "Set-Cookie",
    "set-cookie",
    "X-A",
    "x-a",
    "Authorization",
    "DPoP",
    "Content-Type",
    "a",
    "Z",
    "mcp-session-id",
  ];
  const values = ["1", " 2", "3 ", "\t4\t", "a, b", "", "x=y", "é", "Bearer abc", "  "];
  for (let i = 0; i < 5000; i++) {
    const rawHeaders: string[] = [];
    for (let j = rnd(9); j > 0; j--)
      rawHeaders.push(names[rnd(names.length)] as string, values[rnd(values.length)] as string);
    const { view, real } = viewBeside(nodeRequestView, rawHeaders);
    assert.deepEqual(list(view.headers), list(real), JSON.stringify(rawHeaders));
    assert.deepEqual(
      Object.fromEntries(view.headers as unknown as Iterable<[string, string]>),
      Object.fromEntries(real as unknown as Iterable<[string, string]>),
    );
    for (const n of names) assert.equal(view.headers.get(n), real.get(n), `${n} in ${JSON.stringify(rawHeaders)}`);
  }
});

test("the Node request view's signal: made once, aborts when the client leaves mid-request, never after a complete one or when not asked to", async () => {
  const { EventEmitter } = await import("node:events");
  const { nodeRequestView } = await import("../../src/adapters/node-request.js");
  const fakeRequest = (complete: boolean) =>
    Object.assign(new EventEmitter(), {
      rawHeaders: ["Host", "127.0.0.1", "Authorization", "Bearer x"],
      method: "POST",
      destroyed: false,
      complete,
    }) as unknown as import("node:http").IncomingMessage & InstanceType<typeof EventEmitter>;
  const url = new URL("http://127.0.0.1/mcp");

  // The client goes away before the request was complete: the signal aborts, and so does the real
  // Request's (built later, by a member the view does not answer itself).
  const early = fakeRequest(false);
  const view = nodeRequestView(early, url, true);
  const signal = view.signal;
  assert.ok(signal instanceof AbortSignal, "the view's signal is an AbortSignal");
  assert.equal(view.signal, signal, "the same signal on every read");
  assert.equal(early.listenerCount("close"), 1, "one listener, however often the signal is read");
  const copy = view.clone();
  assert.equal(signal.aborted, false);
  early.emit("close");
  assert.equal(signal.aborted, true);
  assert.equal(copy.signal.aborted, true, "the real Request follows the view's signal");

  // A complete request whose connection then closes: no abort.
  const done = fakeRequest(true);
  const doneView = nodeRequestView(done, url, true);
  const doneSignal = doneView.signal;
  done.emit("close");
  assert.equal(doneSignal.aborted, false);

  // Already gone when the signal is first read.
  const gone = Object.assign(fakeRequest(false), { destroyed: true });
  assert.equal(nodeRequestView(gone, url, true).signal.aborted, true);

  // request_signal: false: a signal that never aborts, and no listener on the request.
  const unfollowed = fakeRequest(false);
  const quiet = nodeRequestView(unfollowed, url, false);
  assert.equal(quiet.signal.aborted, false);
  assert.equal(unfollowed.listenerCount("close"), 0);
  unfollowed.emit("close");
  assert.equal(quiet.signal.aborted, false);
});

test("CORS headers of a protect() handler: written by the Node adapter once each, replacing the transport's own, the same as a direct call sees", async () => {
  const { protect } = await import("../../src/index.js");
  // A v2-style handler whose answer already carries an Access-Control-Allow-Origin of its own.
  const inner = {
    fetch: async () =>
      new Response('{"jsonrpc":"2.0","id":1,"result":{}}', {
        headers: {
          "content-type": "application/json",
          "Access-Control-Allow-Origin": "https://inner.example",
          "x-inner": "1",
        },
      }),
    close: async () => {},
  };
  for (const cors_origins of ["*", ["http://localhost:3000"]] as const) {
    const handler = protect(inner, {
      authorization: { enabled: false, resource: "http://127.0.0.1/mcp" },
      cors_origins: cors_origins as never,
    });
    const server = createServer(toNodeHandler(handler));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    try {
      const body = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}';
      const headers = {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        origin: "http://localhost:3000",
      };
      const raw = await new Promise<string[]>((resolve, reject) => {
        const req = request(
          { port, host: "127.0.0.1", path: "/mcp", method: "POST", headers: { ...headers, host: `127.0.0.1:${port}` } },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res.rawHeaders));
          },
        );
        req.on("error", reject);
        req.end(body);
      });
      const named = (name: string) => raw.filter((_, i) => i % 2 === 1 && raw[i - 1]!.toLowerCase() === name);
      const direct = await handler(new Request(`http://127.0.0.1:${port}/mcp`, { method: "POST", headers, body }));
      for (const name of [
        "access-control-allow-origin",
        "access-control-expose-headers",
        "vary",
        "x-inner",
        "content-type",
      ]) {
        const expected = direct.headers.get(name);
        assert.deepEqual(
          named(name),
          expected === null ? [] : [expected],
          `${name} with cors_origins ${JSON.stringify(cors_origins)}`,
        );
      }
      assert.equal(direct.status, 200);
      assert.deepEqual(named("access-control-allow-origin"), [cors_origins === "*" ? "*" : "http://localhost:3000"]);
    } finally {
      server.close();
    }
  }
});

test("the request view past its table of 256 remembered header names: 600 distinct names read and listed exactly as Headers does", async () => {
  const { nodeRequestView } = await import("../../src/adapters/node-request.js");
  for (const round of [0, 1]) {
    // Names a client invents, mixed case; the first round fills the table, the second reads past it.
    const rawHeaders: string[] = [];
    for (let i = 0; i < 600; i++) rawHeaders.push(`X-Invented-${round}-${i}${i % 2 ? "A" : "b"}`, `v${i}`);
    rawHeaders.push("Authorization", "Bearer tok", "x-invented-0-1a", "again");
    const { view, real } = viewBeside(nodeRequestView, rawHeaders);
    assert.deepEqual(list(view.headers), list(real), `round ${round}`);
    for (let k = 0; k < rawHeaders.length; k += 2) {
      const name = rawHeaders[k] as string;
      assert.equal(view.headers.get(name), real.get(name), name);
      assert.equal(view.headers.get(name.toUpperCase()), real.get(name), name.toUpperCase());
    }
    // An invalid name still goes to a real Headers, which throws as it would have.
    assert.throws(() => real.get("bad name"), TypeError);
    assert.throws(() => view.headers.get("bad name"), TypeError);
  }
});
