/**
 * Stateful Streamable HTTP sessions bound to the principal that opened them, for both SDKs' session
 * transports (v1 sessions, and v2 serving 2025-era clients): the registry, the session check, the
 * routing of a request that names a session, and the transport options that register a new one.
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import { runWithContext } from "../context/storage.js";
import { SessionMismatch } from "../errors.js";
import { sessionNotFound } from "../protect/responses.js";
import { SessionRegistry, type SessionEntry, type SessionLimits } from "./sessions.js";
import type { AuthorizedRequest, SessionLookup } from "./backend.js";
import { sessionEventStore } from "./session-event-store.js";
import type { EventStoreLike } from "./transport-options.js";

/** What a session transport offers, in both SDKs. */
export interface SessionTransport {
  /** Set once the transport accepted an `initialize`. */
  readonly sessionId?: string | undefined;
  /** Called when the transport closes. */
  onclose?: (() => void) | undefined;
  /** Answer one request of the session. */
  handleRequest(request: Request, options?: { authInfo?: never; parsedBody?: unknown }): Promise<Response>;
}

/** The sessions of one backend. */
export interface BoundSessions<S extends { transport: SessionTransport }> {
  /**
   * The session the request names, for {@link serve}: `undefined` when it names none. Throws
   * {@link SessionMismatch} when it names a session another principal opened.
   */
  findSession(req: Request, principal: string): SessionLookup | undefined;
  /**
   * Answer a request that names a session, with what {@link findSession} found for it (404 when the
   * session is unknown or has closed since); `undefined` when it names none.
   */
  serve(authorized: AuthorizedRequest): Promise<Response> | undefined;
  /**
   * The transport options for a new session of `principal`: the user's (event store, …) first, then
   * ours, which register it once the transport has accepted the `initialize`. `session` is read then.
   * The user's event store is given to the transport as this session's own view of it
   * ({@link sessionEventStore}): `Last-Event-ID` resolves only within the session.
   */
  transportOptions(
    user: Readonly<Record<string, unknown>>,
    principal: string,
    session: () => S,
  ): Record<string, unknown>;
  /** Forget the session when its transport closes. */
  forgetOnClose(transport: SessionTransport): void;
  /** Close every session. */
  clear(): void;
}

/** What {@link BoundSessions.findSession} found: the entry, or `undefined` for an unknown id. */
interface Found<S> {
  readonly entry: SessionEntry<S> | undefined;
}

/**
 * Build the sessions of one backend; `close` ends one (evicted, idle or at shutdown); `beforeRequest`,
 * when given, runs synchronously before each request {@link BoundSessions.serve} hands a session's
 * transport.
 */
export function boundSessions<S extends { transport: SessionTransport }>(
  limits: SessionLimits,
  close: (session: S) => void,
  beforeRequest?: (session: S) => void,
): BoundSessions<S> {
  const sessions = new SessionRegistry<S>(limits, close);
  return {
    findSession(req, principal) {
      const id = req.headers.get("mcp-session-id");
      if (!id) return undefined;
      // Session ids are not credentials: a session may only be used by the principal that opened it.
      // Looked up once per request (and marked used here): serve() gets the entry with the request.
      const entry = sessions.get(id);
      if (entry && entry.principal !== principal) throw new SessionMismatch();
      return { entry } satisfies Found<S>;
    },
    serve({ req, authInfo, parsedBody, context, session }) {
      if (!session) return undefined;
      const { entry } = session as Found<S>;
      // Gone: closed (evicted, idle, deleted) while this request's body was read.
      if (!entry || entry.gone) return Promise.resolve(sessionNotFound());
      beforeRequest?.(entry.session);
      return runWithContext(context, () =>
        entry.session.transport.handleRequest(req, { authInfo: authInfo as never, parsedBody }),
      );
    },
    transportOptions(user, principal, session) {
      const eventStore = user["eventStore"] as EventStoreLike | undefined;
      return {
        ...user,
        ...(eventStore ? { eventStore: sessionEventStore(eventStore) } : {}),
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id: string): void => sessions.add(id, principal, session()),
        onsessionclosed: (id: string): void => sessions.delete(id),
      };
    },
    forgetOnClose(transport) {
      transport.onclose = () => {
        if (transport.sessionId) sessions.delete(transport.sessionId);
      };
    },
    clear: () => sessions.clear(),
  };
}
