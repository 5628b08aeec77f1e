/**
 * A guard against a leak in `@modelcontextprotocol/sdk` 1.x's Web-standard Streamable HTTP transport.
 *
 * In JSON response mode (`transport: { json_response: true }`) the transport settles a POST's response
 * without removing that POST's stream entry, so every request on a stateful session leaves one entry
 * behind until the session closes: about 4.5 KB of heap per request with what it holds (measured with
 * SDK 1.32.2: 20,000 calls on one session, +86 MB). Any authenticated caller could grow a server's
 * memory that way for as long as it keeps its session busy. Reported upstream
 * (modelcontextprotocol/typescript-sdk#2559; fix pending in #2747); the SDK v2 transport does not leak.
 *
 * Before each request on a v1 session, {@link releaseSettledJsonStreams} drops the JSON entries that no
 * pending request refers to any more (those of the session's earlier, answered requests).
 *
 * The other half of the same upstream issue: closing the transport drops a JSON-mode POST that is still
 * waiting for its handler without ever answering it, so a call in flight when its session ends (a
 * `DELETE`, an eviction by the session caps, an idle expiry, shutdown) hung until the client gave up —
 * and the session caps are shared, so one principal's new sessions could leave another's calls hanging.
 * {@link answerPendingJsonStreams} answers them (404 "Session not found", what a call arriving after the
 * close gets) before the session's transport is closed.
 *
 * Both read the transport's private fields, so they check their shape first and do nothing when it is
 * not what they expect; with a fixed SDK there is nothing to drop and nothing left unanswered.
 *
 * @module
 */

/** The private transport fields read here (SDK 1.x, `webStandardStreamableHttp.js`). */
interface TransportInternals {
  _streamMapping?: unknown;
  _requestToStreamMapping?: unknown;
  _standaloneSseStreamId?: unknown;
}

/** The transport's stream entries by stream id, or `undefined` when it does not look like SDK 1.x's. */
function streamsOf(transport: unknown): Map<unknown, unknown> | undefined {
  if (typeof transport !== "object" || transport === null) return undefined;
  const streams = (transport as TransportInternals)._streamMapping;
  return streams instanceof Map ? streams : undefined;
}

/** A JSON-mode stream entry: it waits for `resolveJson` and has no SSE controller. */
function isJsonEntry(entry: unknown): boolean {
  if (typeof entry !== "object" || entry === null) return false;
  const e = entry as { resolveJson?: unknown; controller?: unknown };
  return typeof e.resolveJson === "function" && e.controller === undefined;
}

/**
 * Drop the transport's settled JSON-mode stream entries: those no pending request id maps to. The
 * transport creates an entry and maps its request ids in one synchronous step, and unmaps them in the
 * same step that settles the response, so an entry without a mapped id is one whose response has
 * been given. Never throws.
 */
export function releaseSettledJsonStreams(transport: unknown): void {
  const streams = streamsOf(transport);
  if (!streams || streams.size === 0) return;
  const t = transport as TransportInternals;
  const pending = t._requestToStreamMapping;
  if (!(pending instanceof Map)) return;
  let live: Set<unknown> | undefined;
  for (const [id, entry] of streams) {
    if (id === t._standaloneSseStreamId || !isJsonEntry(entry)) continue;
    live ??= new Set(pending.values());
    if (!live.has(id)) streams.delete(id);
  }
}

/**
 * Answer every JSON-mode POST still waiting on the transport with `answer()`, before the transport is
 * closed (which would drop them unanswered). A POST answered here and later by the SDK keeps the first
 * answer. Never throws.
 */
export function answerPendingJsonStreams(transport: unknown, answer: () => Response): void {
  const streams = streamsOf(transport);
  if (!streams) return;
  for (const entry of streams.values()) {
    if (!isJsonEntry(entry)) continue;
    try {
      (entry as { resolveJson: (res: Response) => void }).resolveJson(answer());
    } catch {
      // A resolver that throws is the SDK's; the transport's close goes on.
    }
  }
}
