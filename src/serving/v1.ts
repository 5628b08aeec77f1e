/**
 * Serving an SDK v1 `McpServer` (`@modelcontextprotocol/sdk`, protocol revisions up to 2025-11-25)
 * over the SDK's Web-standard Streamable HTTP transport, stateful or stateless, once the request has
 * been authorized.
 *
 * @module
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { runWithContext } from "../context/storage.js";
import type { SessionLimits } from "./sessions.js";
import { oneSessionAtATime, sessionNotFound, sessionRequired } from "../protect/responses.js";
import type { McpBackend, AuthorizedRequest } from "./backend.js";
import { boundSessions } from "./bound-sessions.js";
import { answerPendingJsonStreams, releaseSettledJsonStreams } from "./sdk-v1-json-streams.js";

/**
 * Something that yields an SDK server: an instance, or a factory called once per session (stateful) or per request
 * (stateless).
 */
export type McpServerSource = McpServer | (() => McpServer | Promise<McpServer>);

/** `setImmediate` where it exists (Node, Bun, Deno), else a zero timeout (workers). */
const nextMacrotask: (fn: () => void) => void =
  typeof globalThis.setImmediate === "function"
    ? (fn) => void globalThis.setImmediate(fn)
    : (fn) => void setTimeout(fn, 0);

interface Session {
  transport: WebStandardStreamableHTTPServerTransport;
  server: McpServer;
}

/**
 * The v1 backend: `stateless` makes a fresh server and transport per request; `stateful` keeps
 * `Mcp-Session-Id` sessions in a {@link SessionRegistry}, each bound to the principal that opened it.
 * `transportOptions` (SDK camelCase, already checked) go to each stateful session's transport.
 */
export function createV1Backend(
  source: McpServerSource,
  mode: "stateful" | "stateless",
  limits: SessionLimits,
  transportOptions: Readonly<Record<string, unknown>> = {},
): McpBackend {
  const pool = serverPool(source);
  return mode === "stateless" ? statelessBackend(pool) : statefulBackend(pool, limits, transportOptions);
}

/** Where servers come from: a factory (one per request or session), or one instance serving one session at a time. */
interface ServerPool {
  /**
   * The server for a request: synchronous unless the factory is async (a promise less per request); `undefined` while
   * the instance is busy.
   */
  acquire(): McpServer | undefined | Promise<McpServer>;
  /** Give a server back: the instance becomes free again, a factory's server is closed. */
  release(server: McpServer): void;
}

function serverPool(source: McpServerSource): ServerPool {
  let instanceInUse = false;
  return {
    acquire() {
      if (!(source instanceof McpServer)) return source();
      if (instanceInUse) return undefined;
      instanceInUse = true;
      return source;
    },
    release(server) {
      if (server === source) instanceInUse = false;
      else void server.close().catch(() => {});
    },
  };
}

/** A fresh server and transport per request, answering in JSON. */
function statelessBackend(pool: ServerPool): McpBackend {
  return {
    async handle({ req, authInfo, parsedBody, context }: AuthorizedRequest): Promise<Response> {
      const acquired = pool.acquire();
      const server = (acquired instanceof Promise ? await acquired : acquired) as McpServer;
      const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
      });
      await server.connect(transport);
      try {
        return await runWithContext(context, () => transport.handleRequest(req, { authInfo, parsedBody }));
      } finally {
        // One macrotask later: closing in the same tick makes the SDK abort the request it still
        // tracks, building a DOMException (with a stack) per request for nothing (~25 µs, measured).
        nextMacrotask(() => {
          void transport.close().catch(() => {});
          pool.release(server);
        });
      }
    },
    async close() {},
  };
}

/** `Mcp-Session-Id` sessions, each bound to the principal that opened it. */
function statefulBackend(
  pool: ServerPool,
  limits: SessionLimits,
  transportOptions: Readonly<Record<string, unknown>>,
): McpBackend {
  // SDK 1.x leaks a stream entry per JSON-mode response on a session (sdk-v1-json-streams.ts): each
  // request first releases those its session's earlier responses left (synchronously: no promise
  // more per request), so a session holds only the entries of requests made since its latest one began.
  const json = transportOptions["enableJsonResponse"] === true;
  const release = json ? (session: Session) => releaseSettledJsonStreams(session.transport) : undefined;
  const sessions = boundSessions<Session>(
    limits,
    (session) => {
      // Closing drops a JSON-mode call still in flight unanswered (SDK 1.x): answer it first.
      if (json) answerPendingJsonStreams(session.transport, sessionNotFound);
      void session.transport.close().catch(() => {});
      pool.release(session.server);
    },
    release,
  );

  /** Open a session for an `initialize` request (the transport registers it once it is accepted). */
  const open = async ({ req, authInfo, parsedBody, context, principal }: AuthorizedRequest): Promise<Response> => {
    const server = await pool.acquire();
    if (!server) return oneSessionAtATime();
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport(
      sessions.transportOptions(transportOptions, principal, () => ({ transport, server })),
    );
    sessions.forgetOnClose(transport);
    await server.connect(transport);
    const res = await runWithContext(context, () => transport.handleRequest(req, { authInfo, parsedBody }));
    if (!transport.sessionId) {
      void transport.close().catch(() => {});
      pool.release(server);
    }
    return res;
  };

  return {
    findSession: (req, principal) => sessions.findSession(req, principal),
    // Not async: a request on a session is the transport's promise itself, without another around it.
    handle(authorized: AuthorizedRequest): Promise<Response> {
      const inSession = sessions.serve(authorized);
      if (inSession) return inSession;
      // No session: only an initialize request may open one.
      const body = authorized.parsedBody;
      const isInit = Array.isArray(body) ? body.some((m) => isInitializeRequest(m)) : isInitializeRequest(body);
      return isInit ? open(authorized) : Promise.resolve(sessionRequired());
    },
    async close() {
      sessions.clear();
    },
  };
}
