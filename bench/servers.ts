/**
 * One benchmark server per process. `bench/run.ts` forks this file once per row, waits for
 * `{ type: "ready", port }`, loads it with autocannon, asks for `{ type: "stats" }`, then stops it.
 * Every row serves the same `echo` tool in Streamable HTTP with JSON responses on 127.0.0.1, port 0:
 * stateless (a fresh SDK server and transport per request), except the two stateful rows, which keep
 * one SDK server and transport per `Mcp-Session-Id` session.
 *
 * Usage (normally via run.ts): `node --import tsx bench/servers.ts <row>` with env
 * `BENCH_ISSUER`, `BENCH_JWKS_URI`, `BENCH_RESOURCE`.
 */
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import express from "express";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { releaseSettledJsonStreams } from "../src/serving/sdk-v1-json-streams.js";
import { makeMcpServer, makeV2Handler, MCP_PATH, ROWS, type Row } from "./common.js";

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`bench/servers.ts: ${name} is not set`);
  return v;
};

/** The SDK's stateless pattern: a fresh server and Node transport per request. */
async function sdkStateless(req: IncomingMessage, res: ServerResponse, parsedBody?: unknown): Promise<void> {
  const server: McpServer = makeMcpServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  res.on("close", () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res, parsedBody);
}

/**
 * The SDK's stateful pattern (its `simpleStreamableHttp` example without Express): one server and
 * Node transport per session, found by `Mcp-Session-Id`; an `initialize` without one opens a session.
 *
 * With one fix a user who knows it would make: SDK 1.x keeps one stream entry per JSON response on a
 * session (typescript-sdk#2559), so the session's heap grows by about 4.5 KB a request and the row
 * measured the garbage collector walking it (1.4–1.7 GB of RSS by the end of a run). protect() releases
 * those entries after each response; this row does the same with the same function, so (g) / (g*)
 * compares the gates and not the leak.
 */
function sdkStateful(): (req: IncomingMessage, res: ServerResponse, parsedBody: unknown) => void {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  return (req, res, parsedBody) => {
    const id = req.headers["mcp-session-id"];
    const existing = typeof id === "string" ? sessions.get(id) : undefined;
    if (existing) {
      const inner = (existing as unknown as { _webStandardTransport?: unknown })._webStandardTransport;
      return void existing.handleRequest(req, res, parsedBody).then(() => releaseSettledJsonStreams(inner));
    }
    if (id !== undefined || !isInitializeRequest(parsedBody)) return void res.writeHead(400).end();
    const server = makeMcpServer();
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      enableJsonResponse: true,
      onsessioninitialized: (sid) => void sessions.set(sid, transport),
    });
    transport.onclose = () => void (transport.sessionId && sessions.delete(transport.sessionId));
    void server.connect(transport).then(() => transport.handleRequest(req, res, parsedBody));
  };
}

/**
 * A POST to the MCP path, its body read from the socket and parsed once, handed to `serve` — what an
 * Express user with `express.json()` has, without Express's own cost. No limit, no checks: a ceiling.
 */
function parsedBodyHandler(serve: (req: IncomingMessage, res: ServerResponse, body: unknown) => void) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== "POST" || req.url !== MCP_PATH) return void res.writeHead(404).end();
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        return void res.writeHead(400).end();
      }
      serve(req, res, body);
    });
  };
}

/** A `verifyAccessToken` written the way a user of the SDK would: jose against the remote JWKS, no cache. */
function joseVerifier(jwksUri: string, issuer: string, audience: string) {
  const jwks = createRemoteJWKSet(new URL(jwksUri));
  return {
    async verifyAccessToken(token: string) {
      const { payload } = await jwtVerify(token, jwks, { issuer, audience, algorithms: ["ES256"] });
      return {
        token,
        clientId: String(payload.client_id ?? payload.azp ?? ""),
        scopes: typeof payload.scope === "string" ? payload.scope.split(" ") : [],
        expiresAt: payload.exp,
      };
    },
  };
}

/** The slice of mcp-auth's API used here. */
type McpAuthClass = new (config: Record<string, unknown>) => {
  protectedResourceMetadataRouter(): express.RequestHandler;
  bearerAuth(mode: "jwt", config: { resource: string; audience: string }): express.RequestHandler;
};

async function build(row: Row): Promise<(req: IncomingMessage, res: ServerResponse) => void> {
  const issuer = env("BENCH_ISSUER");
  const jwksUri = env("BENCH_JWKS_URI");
  const resource = env("BENCH_RESOURCE");

  switch (row) {
    case "sdk":
      return (req, res) => {
        if (req.method === "POST" && req.url === MCP_PATH) void sdkStateless(req, res);
        else res.writeHead(404).end();
      };

    case "sdk-parsed":
      // (a*): the fastest unprotected way to serve the same call: the body read from the socket and
      // parsed once, handed to the SDK's Node transport as `parsedBody` (what an Express user with
      // `express.json()` has, without Express's own cost). No limit, no checks: a ceiling, not a server.
      return parsedBodyHandler((req, res, body) => void sdkStateless(req, res, body));

    case "sdk-stateful":
      // (g*): the stateful ceiling: the SDK's Node transport per session, handed a pre-parsed body.
      return parsedBodyHandler(sdkStateful());

    case "pmcp-stateful": {
      const { protect, toNodeHandler, JWTValidator } = await import("../src/index.js");
      const handler = protect(makeMcpServer, {
        authorization: { enabled: true, authorization_servers: [issuer], resource },
        provider: new JWTValidator({ jwks_uri: jwksUri, issuer, algorithms: ["ES256"] }),
        session_mode: "stateful",
        transport: { json_response: true },
      });
      return toNodeHandler(handler);
    }

    case "pmcp-open":
    case "pmcp-jwt":
    case "pmcp-jwt-cold": {
      const { protect, toNodeHandler, JWTValidator } = await import("../src/index.js");
      const enabled = row !== "pmcp-open";
      const handler = protect(makeMcpServer, {
        authorization: { enabled, authorization_servers: [issuer], resource },
        provider: enabled ? new JWTValidator({ jwks_uri: jwksUri, issuer, algorithms: ["ES256"] }) : undefined,
        session_mode: "stateless",
      });
      return toNodeHandler(handler);
    }

    case "sdk-bearer": {
      const { requireBearerAuth } = await import("@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js");
      const app = express();
      app.use(express.json());
      app.post(
        MCP_PATH,
        requireBearerAuth({
          verifier: joseVerifier(jwksUri, issuer, resource),
          resourceMetadataUrl: `${new URL(resource).origin}/.well-known/oauth-protected-resource/mcp`,
        }),
        (req, res) => void sdkStateless(req, res, req.body),
      );
      return app;
    }

    case "v2-parsed": {
      // The v2 ceiling: createMcpHandler (protocol 2026-07-28), the body read and parsed once and
      // handed over as parsedBody, the response written as protected-mcp's Node adapter writes it.
      const { toWebRequest, writeWebResponse } = await import("../src/adapters/node.js");
      const handler = await makeV2Handler();
      return parsedBodyHandler((req, res, body) => {
        (req as IncomingMessage & { body?: unknown }).body = body;
        void handler
          .fetch(toWebRequest(req, `http://127.0.0.1`, false), { parsedBody: body })
          .then((r) => writeWebResponse(res, r));
      });
    }

    case "pmcp-v2-jwt": {
      const { protect, toNodeHandler, JWTValidator } = await import("../src/index.js");
      const handler = protect(await makeV2Handler(), {
        authorization: { enabled: true, authorization_servers: [issuer], resource },
        provider: new JWTValidator({ jwks_uri: jwksUri, issuer, algorithms: ["ES256"] }),
      });
      return toNodeHandler(handler);
    }

    case "mcp-auth": {
      // Imported through a variable on purpose: mcp-auth's type declarations augment the SDK's
      // global AuthInfo (adding a required `issuer`), which would leak into this project's typecheck.
      const specifier = "mcp-auth";
      const { MCPAuth } = (await import(specifier)) as { MCPAuth: McpAuthClass };
      const mcpAuth = new MCPAuth({
        protectedResources: [
          {
            metadata: {
              resource,
              // A resolved config: no discovery request, the JWKS URI is given.
              authorizationServers: [
                {
                  type: "oauth",
                  metadata: {
                    issuer,
                    jwksUri,
                    authorizationEndpoint: `${issuer}/authorize`,
                    tokenEndpoint: `${issuer}/token`,
                    responseTypesSupported: ["code"],
                    codeChallengeMethodsSupported: ["S256"],
                  },
                },
              ],
              scopesSupported: ["read"],
            },
          },
        ],
      });
      const app = express();
      app.use(mcpAuth.protectedResourceMetadataRouter());
      app.use(express.json());
      app.post(
        MCP_PATH,
        mcpAuth.bearerAuth("jwt", { resource, audience: resource }),
        (req, res) => void sdkStateless(req, res, req.body),
      );
      return app;
    }

    case "pmcp-dpop": {
      // DPoP-bound tokens (cnf.jkt) with dpop_required, the default DPoP check (in-memory replay
      // store sized for the load, per-key import cache). The load generator in run.ts signs a fresh proof (new jti,
      // iat,
      // ath) for every request: a replayed proof would be refused.
      if (!existsSync(new URL("../src/dpop/", import.meta.url)))
        throw new Error("src/dpop/ does not exist on this branch");
      const { protect, toNodeHandler, JWTValidator, MemoryReplayStore } = await import("../src/index.js");
      const handler = protect(makeMcpServer, {
        authorization: { enabled: true, authorization_servers: [issuer], resource, dpop_required: true },
        provider: new JWTValidator({ jwks_uri: jwksUri, issuer, algorithms: ["ES256"] }),
        session_mode: "stateless",
        // One client key at full speed: the default share (1,000 proofs per key per 600 s) and size
        // (100,000) would refuse it within a second. A full store refuses rather than evicts.
        dpop: { replay_store: new MemoryReplayStore({ max: 2_000_000, max_per_key: 2_000_000 }) },
      });
      return toNodeHandler(handler);
    }
  }
}

async function main(): Promise<void> {
  const row = process.argv[2] as Row;
  if (!ROWS.includes(row)) throw new Error(`unknown row ${String(row)}; one of ${ROWS.join(", ")}`);
  let listener: (req: IncomingMessage, res: ServerResponse) => void;
  try {
    listener = await build(row);
  } catch (e) {
    process.send?.({ type: "skip", reason: e instanceof Error ? e.message : String(e) });
    process.disconnect?.();
    return;
  }
  const http: Server = createServer(listener);
  http.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 100);
  sampler.unref();
  // The main thread's own CPU (Node >= 23.9): the event loop is what saturates first; the rest of the
  // process CPU is libuv's thread pool (signature checks) and V8's helper threads.
  const threadCpu = (process as { threadCpuUsage?: (prev?: NodeJS.CpuUsage) => NodeJS.CpuUsage }).threadCpuUsage?.bind(
    process,
  );
  let mark = process.cpuUsage();
  let threadMark = threadCpu?.();
  process.on("message", (m: { type?: string }) => {
    if (m?.type === "mark") {
      mark = process.cpuUsage();
      threadMark = threadCpu?.();
      process.send?.({ type: "marked" });
    }
    if (m?.type === "stats") {
      const cpu = process.cpuUsage(mark);
      const main = threadCpu && threadMark ? threadCpu(threadMark) : undefined;
      process.send?.({
        type: "stats",
        rss: process.memoryUsage().rss,
        peakRss,
        cpuMicros: cpu.user + cpu.system,
        mainThreadMicros: main ? main.user + main.system : undefined,
      });
    }
    if (m?.type === "stop") {
      clearInterval(sampler);
      http.closeAllConnections();
      http.close(() => process.exit(0));
    }
  });
  process.send?.({ type: "ready", port: (http.address() as AddressInfo).port });
}

await main();
