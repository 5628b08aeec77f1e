/**
 * Shared pieces of the benchmarks: one ES256 key, a loopback JWKS server, tokens signed
 * synchronously with `node:crypto` (so a load generator can sign inside autocannon's synchronous
 * `setupRequest` hook), the trivial tool every server exposes, and the request every row sends.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
  sign,
  type KeyObject,
} from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { JWK } from "jose";
import { z } from "zod";
import { LazyJsonSchemaValidator } from "../src/lib/json-schema-validator.js";

/** Row ids of bench/run.ts, in the order it runs them (bench/servers.ts builds each). */
export const ROWS = [
  "sdk",
  "sdk-parsed",
  "pmcp-open",
  "pmcp-jwt",
  "pmcp-jwt-cold",
  "sdk-bearer",
  "mcp-auth",
  "pmcp-dpop",
  "v2-parsed",
  "pmcp-v2-jwt",
  "sdk-stateful",
  "pmcp-stateful",
] as const;
export type Row = (typeof ROWS)[number];

/**
 * Node flags of every benchmark server process (all rows alike, ceilings and peers included).
 *
 * `--no-memory-reducer`: rows take turns, so each server sits idle for tens of seconds between its
 * slices. V8's memory reducer takes an idle process for one that is done working and shrinks its
 * heap; the next slice then measures V8 growing it back. On Node 24 that made a row 1.3–1.6× slower
 * per request, depending on how long it had idled (five processes of the same row: 245–283 µs a
 * request with the reducer, 170–190 µs without), and was the "row-order effect" of earlier runs. A
 * server under steady load never idles like this. Set `BENCH_MEMORY_REDUCER=1` to keep the reducer;
 * `BENCH_SERVER_FLAGS` adds flags (space-separated) to every server.
 */
export const SERVER_NODE_FLAGS: readonly string[] = [
  ...(process.env.BENCH_MEMORY_REDUCER === "1" ? [] : ["--no-memory-reducer"]),
  // Extra flags for every server, for experiments (e.g. `BENCH_SERVER_FLAGS="--no-maglev"`).
  ...(process.env.BENCH_SERVER_FLAGS?.split(" ").filter(Boolean) ?? []),
];

/** The MCP endpoint path served by every row. */
export const MCP_PATH = "/mcp";

/** Read a positive number from the environment. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0)
    throw new TypeError(`${name} must be a non-negative number, got ${JSON.stringify(raw)}`);
  return n;
}

const b64u = (v: string | Uint8Array): string => Buffer.from(v).toString("base64url");

/** An ES256 signing key with its public JWK. */
export interface BenchKey {
  kid: string;
  privateKey: KeyObject;
  publicJwk: JWK;
  /** PKCS#8 PEM, to hand the key to a child process. */
  pem: string;
}

export function makeKey(kid = "bench-1"): BenchKey {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const publicJwk = { ...(publicKey.export({ format: "jwk" }) as JWK), kid, alg: "ES256", use: "sig" };
  return { kid, privateKey, publicJwk, pem: privateKey.export({ format: "pem", type: "pkcs8" }) as string };
}

export function keyFromPem(pem: string, kid = "bench-1"): BenchKey {
  const privateKey = createPrivateKey(pem);
  const publicJwk = {
    ...(createPublicKey(privateKey).export({ format: "jwk" }) as JWK),
    kid,
    alg: "ES256",
    use: "sig",
  };
  return { kid, privateKey, publicJwk, pem };
}

/** Compact JWS with ES256, signed synchronously (IEEE P1363 signature, as JWS requires). */
export function signJws(header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject): string {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
  const sig = sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
  return `${input}.${sig.toString("base64url")}`;
}

/** An RFC 9068 access token for `audience`, valid for an hour. */
export function signAccessToken(
  key: BenchKey,
  issuer: string,
  audience: string,
  extra: Record<string, unknown> = {},
): string {
  const now = Math.floor(Date.now() / 1000);
  return signJws(
    { alg: "ES256", typ: "at+jwt", kid: key.kid },
    {
      iss: issuer,
      sub: "bench-user",
      aud: audience,
      client_id: "bench-client",
      scope: "read",
      iat: now,
      exp: now + 3600,
      jti: randomUUID(),
      ...extra,
    },
    key.privateKey,
  );
}

/** RFC 7638 thumbprint of an EC public JWK. */
export function jwkThumbprint(jwk: JWK): string {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return createHash("sha256").update(canonical).digest("base64url");
}

/**
 * A DPoP proof (RFC 9449 §4.2) for one request: fresh `jti` and `iat` every call, `ath` bound to the
 * access token. Synchronous, so it fits autocannon's `setupRequest`.
 */
export function signDpopProof(key: BenchKey, htm: string, htu: string, accessToken: string, nonce?: string): string {
  const { kty, crv, x, y } = key.publicJwk;
  return signJws(
    { typ: "dpop+jwt", alg: "ES256", jwk: { kty, crv, x, y } },
    {
      jti: randomUUID(),
      htm,
      htu,
      iat: Math.floor(Date.now() / 1000),
      ath: createHash("sha256").update(accessToken).digest("base64url"),
      ...(nonce === undefined ? {} : { nonce }),
    },
    key.privateKey,
  );
}

/** A JWKS document served on 127.0.0.1, counting fetches. */
export interface JwksServer {
  issuer: string;
  jwksUri: string;
  fetches(): number;
  close(): Promise<void>;
}

export async function startJwksServer(keys: JWK[]): Promise<JwksServer> {
  let fetches = 0;
  const body = JSON.stringify({ keys });
  const server: Server = createServer((req, res) => {
    if (req.url === "/jwks") {
      fetches++;
      res.writeHead(200, { "content-type": "application/json" }).end(body);
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    fetches: () => fetches,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

// The tool's schema is built once; every server built by the factory shares it.
const echoInput = { text: z.string() };

/**
 * The trivial tool every row serves, on a fresh SDK server (stateless mode builds one per request).
 *
 * The SDK's `Server` builds an Ajv instance in its constructor (about 300 µs, a sixth of a request's
 * CPU here); every row uses the same factory, which defers that (as `MCPServer` does), so the rows
 * differ only in HTTP handling and authorization. With the SDK default every row is slower by the
 * same absolute amount and the ratios move towards 1.
 */
export function makeMcpServer(): McpServer {
  const server = new McpServer(
    { name: "bench", version: "0.0.0" },
    { jsonSchemaValidator: new LazyJsonSchemaValidator() },
  );
  server.registerTool("echo", { description: "Echo the text back", inputSchema: echoInput }, async ({ text }) => ({
    content: [{ type: "text", text }],
  }));
  return server;
}

/** The request every row sends: a `tools/call` in stateless Streamable HTTP. */
export const TOOLS_CALL_BODY = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "tools/call",
  params: { name: "echo", arguments: { text: "hello" } },
});

/** The same call in protocol revision 2026-07-28 (the v2 rows): `_meta` envelope, no session. */
export const MODERN_TOOLS_CALL_BODY = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "tools/call",
  params: {
    name: "echo",
    arguments: { text: "hello" },
    _meta: {
      "io.modelcontextprotocol/protocolVersion": "2026-07-28",
      "io.modelcontextprotocol/clientInfo": { name: "bench", version: "1" },
      "io.modelcontextprotocol/clientCapabilities": {},
    },
  },
});

/** Headers of a 2026-07-28 request. */
export const MODERN_HEADERS: Record<string, string> = {
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  "mcp-protocol-version": "2026-07-28",
  "mcp-method": "tools/call",
  "mcp-name": "echo",
};

/** An SDK v2 handler serving the same echo tool (protocol 2026-07-28), for the v2 rows. */
export async function makeV2Handler(): Promise<{
  fetch(req: Request, o?: { authInfo?: unknown; parsedBody?: unknown }): Promise<Response>;
  close(): Promise<void>;
}> {
  const { createMcpHandler, McpServer: McpServerV2 } = await import("@modelcontextprotocol/server");
  return createMcpHandler(() => {
    const server = new McpServerV2({ name: "bench", version: "0.0.0" });
    server.registerTool(
      "echo",
      { description: "Echo the text back", inputSchema: z.object(echoInput) },
      async ({ text }) => ({
        content: [{ type: "text", text }],
      }),
    );
    return server;
  });
}

/**
 * The call on a session: JSON-RPC ids must be unique within a session (the SDK's transport routes a
 * response by its id, so concurrent requests with one id lose responses). autocannon replaces
 * `[<id>]` with a fresh id per request (`idReplacement`); {@link withFreshId} does it for fetch.
 */
export const SESSION_TOOLS_CALL_BODY = TOOLS_CALL_BODY.replace('"id":1', '"id":"[<id>]"');

/** `body` with its `[<id>]` placeholder (if any) replaced by a fresh id. */
export const withFreshId = (body: string): string => body.replace("[<id>]", randomUUID());

/** Rows that serve one `Mcp-Session-Id` session: the load opens it once (initialize), then calls on it. */
export const STATEFUL_ROWS: readonly Row[] = ["sdk-stateful", "pmcp-stateful"];

/**
 * Open a session on a stateful row: `initialize`, then `notifications/initialized`, as a client does.
 * Resolves to the `mcp-session-id` header every later request carries.
 */
export async function openSession(url: string, headers: Record<string, string>): Promise<Record<string, string>> {
  const init = await fetch(url, {
    method: "POST",
    headers,
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "bench", version: "0" } },
    }),
  });
  const text = await init.text();
  const id = init.headers.get("mcp-session-id");
  if (init.status !== 200 || !id)
    throw new Error(`initialize answered ${init.status} without a session: ${text.slice(0, 200)}`);
  const session = { "mcp-session-id": id };
  const initialized = await fetch(url, {
    method: "POST",
    headers: { ...headers, ...session },
    body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
  });
  await initialized.arrayBuffer();
  if (initialized.status !== 202) throw new Error(`notifications/initialized answered ${initialized.status}`);
  return session;
}

export const MCP_HEADERS: Record<string, string> = {
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  "mcp-protocol-version": "2025-06-18",
};

/** The median (the upper one for an even count) of `xs`; 0 for none. */
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
