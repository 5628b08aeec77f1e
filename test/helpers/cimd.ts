/**
 * Helpers for the Client ID Metadata Document tests: a loopback server that serves (or misserves)
 * documents, a throwaway self-signed certificate for https on 127.0.0.1 (Debian's `openssl`), and a
 * `fetch` over `node:https` that trusts only that certificate.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";

export type Route = (req: IncomingMessage, res: ServerResponse) => void;

export interface DocServer {
  /** `http(s)://127.0.0.1:port` */
  origin: string;
  /** Path → handler; set per test. */
  routes: Map<string, Route>;
  /** Requests seen per path. */
  hits: Map<string, number>;
  close(): Promise<void>;
}

/** Serve routes on 127.0.0.1 (plain http, or https with `tls`). Unknown paths are 404. */
export async function startDocServer(tls?: { key: string; cert: string }): Promise<DocServer> {
  const routes = new Map<string, Route>();
  const hits = new Map<string, number>();
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const route = routes.get(path);
    if (route) route(req, res);
    else res.writeHead(404).end();
  };
  const server: Server = tls ? createHttpsServer(tls, handler) : createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `${tls ? "https" : "http"}://127.0.0.1:${port}`,
    routes,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A JSON route. */
export function jsonRoute(body: unknown, headers: Record<string, string> = {}): Route {
  return (_req, res) => {
    const text = JSON.stringify(body);
    res
      .writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers })
      .end(text);
  };
}

export function hasOpenssl(): boolean {
  return spawnSync("openssl", ["version"], { stdio: "ignore" }).status === 0;
}

/** A fresh P-256 self-signed certificate for IP 127.0.0.1, valid one day. */
export function selfSignedCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), "cimd-tls-"));
  try {
    const r = spawnSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr.toString()}`);
    return { key: readFileSync(join(dir, "key.pem"), "utf8"), cert: readFileSync(join(dir, "cert.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A `fetch` for GET over `node:https` that trusts only `ca` (never follows redirects, honours the
 * abort signal): what the authorization server is given to reach the test's https document server.
 */
export function httpsFetchTrusting(ca: string): (url: string, init: RequestInit) => Promise<Response> {
  return (url, init) =>
    new Promise<Response>((resolve, reject) => {
      const req = httpsRequest(
        url,
        {
          method: "GET",
          ca,
          headers: { ...(init.headers as Record<string, string>) },
          signal: init.signal ?? undefined,
        },
        (res) => {
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers))
            if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(", ") : v);
          const status = res.statusCode ?? 500;
          const body = status === 204 || status === 304 ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
          resolve(new Response(body, { status, headers }));
        },
      );
      req.once("error", reject);
      req.end();
    });
}
