/**
 * One event store shared by every session (`transport.event_store`) never replays one session's
 * events to another: `Last-Event-ID` resolves only within the caller's own session, for POST
 * (tool-call) streams and the standalone GET stream, in both engines, with the SDK's
 * `InMemoryEventStore` and with a store whose ids are sequential and that has no
 * `getStreamIdForEventId` (Redis-stream-like).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { InMemoryEventStore } from "@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js";
import { McpServer as McpServerV2 } from "@modelcontextprotocol/server";
import { z } from "zod";
import { JWTValidator, protect, type ProtectedHandler } from "../../src/index.js";
import type { EventStoreLike } from "../../src/serving/transport-options.js";
import { startLocalIssuer, type LocalIssuer } from "../helpers/issuer.js";
import { MCP_HEADERS, toolCall } from "../helpers/mcp.js";
import { readEvents, type SseEvent } from "../helpers/sse.js";

const URL_ = "http://localhost/mcp";
let issuer: LocalIssuer;
before(async () => {
  issuer = await startLocalIssuer();
});
after(() => issuer.close());

/**
 * Ids `1`, `2`, `3`…, one list for every stream, no `getStreamIdForEventId`: the replay of an id is
 * every later event of that id's stream. What a Redis-stream store looks like to a guesser.
 */
class SequentialEventStore implements EventStoreLike {
  readonly events: { id: string; streamId: string; message: unknown }[] = [];
  async storeEvent(streamId: string, message: unknown): Promise<string> {
    const id = String(this.events.length + 1);
    this.events.push({ id, streamId, message });
    return id;
  }
  async replayEventsAfter(
    lastEventId: string,
    { send }: { send: (id: string, m: unknown) => Promise<void> },
  ): Promise<string> {
    const at = this.events.findIndex((e) => e.id === lastEventId);
    if (at === -1) return "";
    const { streamId } = this.events[at]!;
    for (const e of this.events.slice(at + 1)) if (e.streamId === streamId) await send(e.id, e.message);
    return streamId;
  }
}

/**
 * `secret` answers with the caller's secret; `shout` sends it as a notification outside any request
 * (so it goes to the session's standalone GET stream) and answers "ok".
 */
function v1Server() {
  const s = new McpServer({ name: "iso", version: "1" }, { capabilities: { logging: {} } });
  s.registerTool("secret", { inputSchema: { who: z.string() } }, async ({ who }) => ({
    content: [{ type: "text", text: `${who}-secret` }],
  }));
  s.registerTool("shout", { inputSchema: { who: z.string() } }, async ({ who }) => {
    await s.server.notification({ method: "notifications/message", params: { level: "info", data: `${who}-shout` } });
    return { content: [{ type: "text", text: "ok" }] };
  });
  return s;
}
function v2Server() {
  const s = new McpServerV2({ name: "iso", version: "1" }, { capabilities: { logging: {} } });
  s.registerTool("secret", { inputSchema: z.object({ who: z.string() }) }, async ({ who }) => ({
    content: [{ type: "text", text: `${who}-secret` }],
  }));
  s.registerTool("shout", { inputSchema: z.object({ who: z.string() }) }, async ({ who }) => {
    await s.server.notification({ method: "notifications/message", params: { level: "info", data: `${who}-shout` } });
    return { content: [{ type: "text", text: "ok" }] };
  });
  return s;
}

for (const engine of ["v1", "v2"] as const) {
  for (const storeKind of ["InMemoryEventStore", "sequential ids"] as const) {
    describe(`engine ${engine}, ${storeKind}: Last-Event-ID resolves only within the caller's session`, () => {
      let handler: ProtectedHandler;
      let store: InMemoryEventStore | SequentialEventStore;
      before(() => {
        store = storeKind === "InMemoryEventStore" ? new InMemoryEventStore() : new SequentialEventStore();
        handler = protect(engine === "v1" ? v1Server : v2Server, {
          authorization: { enabled: true, authorization_servers: [issuer.issuer], resource: URL_ },
          provider: new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer, audience: URL_ }),
          engine,
          transport: { event_store: store, retry_interval_ms: 250 },
        });
      });
      after(() => handler.close());

      const auth = async (sub: string) => ({ authorization: `Bearer ${await issuer.sign({ sub, aud: URL_ })}` });

      /** A session of `sub`, initialized; its headers. */
      async function openSession(sub: string): Promise<Record<string, string>> {
        const init = await handler(
          new Request(URL_, {
            method: "POST",
            headers: { ...MCP_HEADERS, ...(await auth(sub)) },
            body: JSON.stringify({
              jsonrpc: "2.0",
              id: 0,
              method: "initialize",
              params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "iso", version: "1" } },
            }),
          }),
        );
        assert.equal(init.status, 200, `initialize for ${sub}`);
        await init.text();
        const session = { "mcp-session-id": init.headers.get("mcp-session-id")!, "mcp-protocol-version": "2025-11-25" };
        assert.ok(session["mcp-session-id"], `a session id for ${sub}`);
        const initialized = await handler(
          new Request(URL_, {
            method: "POST",
            headers: { ...MCP_HEADERS, ...session, ...(await auth(sub)) },
            body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
          }),
        );
        assert.equal(initialized.status, 202, `initialized for ${sub}`);
        return session;
      }

      /** Call a tool on the session; the whole SSE response's events. */
      async function call(sub: string, session: Record<string, string>, name: string, id: number): Promise<SseEvent[]> {
        const res = await handler(
          new Request(URL_, {
            method: "POST",
            headers: { ...MCP_HEADERS, ...session, ...(await auth(sub)) },
            body: toolCall(name, { who: sub }, id),
          }),
        );
        assert.equal(res.status, 200, `${name} for ${sub}`);
        assert.match(
          res.headers.get("content-type") ?? "",
          /text\/event-stream/,
          "an SSE answer (the event store primes it)",
        );
        return readEvents(res.body!.getReader(), () => false);
      }

      /** GET the standalone stream of `session` as `sub`, resuming after `lastEventId` when given. */
      async function get(sub: string, session: Record<string, string>, lastEventId?: string): Promise<Response> {
        return handler(
          new Request(URL_, {
            method: "GET",
            headers: {
              accept: "text/event-stream",
              ...session,
              ...(lastEventId === undefined ? {} : { "last-event-id": lastEventId }),
              ...(await auth(sub)),
            },
          }),
        );
      }

      /**
       * Status and body of an answer. Of an SSE stream (which never ends by itself) only what is already
       * queued is read — the SDK queues a replay before it answers — then it is cancelled: a replay that
       * should not have happened fails the test instead of hanging it.
       */
      async function answerOf(res: Response): Promise<{ status: number; body: string }> {
        if (!(res.headers.get("content-type") ?? "").includes("text/event-stream"))
          return { status: res.status, body: await res.text() };
        const reader = res.body!.getReader();
        const decoder = new TextDecoder();
        let body = "";
        for (;;) {
          const next = await Promise.race([reader.read(), new Promise<"empty">((r) => setImmediate(() => r("empty")))]);
          if (next === "empty" || next.done) break;
          body += decoder.decode(next.value, { stream: true });
        }
        await reader.cancel().catch(() => {});
        return { status: res.status, body };
      }

      /** The answer to a resume with an id nobody was ever sent, on `session`: a 400, not a stream. */
      async function unknownIdAnswer(sub: string, session: Record<string, string>) {
        const answer = await answerOf(await get(sub, session, "no-such-event"));
        assert.equal(answer.status, 400, `an unknown id is a 400: ${answer.body}`);
        return answer;
      }

      test("another principal's event id on one's own session: the unknown-id answer, nothing replayed", async () => {
        const alice = await openSession("alice");
        const events = await call("alice", alice, "secret", 1);
        assert.ok(
          events.some((e) => e.data.includes("alice-secret")),
          `alice gets her result: ${JSON.stringify(events)}`,
        );
        const aliceIds = events.map((e) => e.id).filter((id): id is string => id !== undefined);
        assert.ok(aliceIds.length >= 1, "alice was sent event ids");

        // Control: on her own session, alice's first (priming) id replays her result.
        const own = await get("alice", alice, aliceIds[0]);
        assert.equal(own.status, 200, "alice resumes her own stream");
        const replay = await readEvents(own.body!.getReader(), (evs) =>
          evs.some((e) => e.data.includes("alice-secret")),
        );
        assert.ok(
          replay.some((e) => e.data.includes("alice-secret")),
          `alice's own resume replays her result: ${JSON.stringify(replay)}`,
        );
        await own.body?.cancel().catch(() => {});

        const mallory = await openSession("mallory");
        const expected = await unknownIdAnswer("mallory", mallory);
        for (const id of aliceIds) {
          const answer = await answerOf(await get("mallory", mallory, id));
          assert.deepEqual(answer, expected, `alice's id ${id} on mallory's session answers as an unknown id`);
          assert.doesNotMatch(answer.body, /alice/, "nothing of alice's reaches mallory");
        }
      });

      test("guessed sequential ids (every id the store ever handed out, raw): the unknown-id answer", async () => {
        const alice = await openSession("alice");
        await call("alice", alice, "secret", 2);
        const mallory = await openSession("mallory");
        const expected = await unknownIdAnswer("mallory", mallory);
        const count = store instanceof SequentialEventStore ? store.events.length : 0;
        // The sequential store's raw ids are 1..count; for InMemoryEventStore, guesses of its shape.
        const guesses =
          store instanceof SequentialEventStore
            ? Array.from({ length: count }, (_v, i) => String(i + 1))
            : ["_GET_stream_0_x", `${alice["mcp-session-id"]}_1_x`, "1", "0"];
        assert.ok(guesses.length > 0, "there is something to guess");
        for (const guess of guesses) {
          assert.deepEqual(
            await answerOf(await get("mallory", mallory, guess)),
            expected,
            `guess ${guess} answers as an unknown id`,
          );
        }
      });

      test("an id of one's own earlier session, after it closed: the unknown-id answer", async () => {
        const first = await openSession("alice");
        const events = await call("alice", first, "secret", 3);
        const oldId = events.find((e) => e.id !== undefined)?.id;
        assert.ok(oldId, "the first session was sent an event id");
        const closed = await handler(
          new Request(URL_, { method: "DELETE", headers: { ...first, ...(await auth("alice")) } }),
        );
        assert.equal(closed.status, 200, "the first session is closed");

        const second = await openSession("alice");
        const expected = await unknownIdAnswer("alice", second);
        const answer = await answerOf(await get("alice", second, oldId));
        assert.deepEqual(answer, expected, "the closed session's id answers as an unknown id");
        assert.doesNotMatch(answer.body, /alice-secret/, "nothing of the closed session is replayed");
      });

      test("the standalone GET stream: resuming one's own stream replays one's own events only", async () => {
        const alice = await openSession("alice");
        const mallory = await openSession("mallory");

        // Each opens the GET stream, shouts once and reads it there (with its id), then goes away.
        const firstShout = async (sub: string, session: Record<string, string>, id: number) => {
          const res = await get(sub, session);
          assert.equal(res.status, 200, `${sub}'s GET stream opens`);
          const reader = res.body!.getReader();
          await call(sub, session, "shout", id);
          const [shout] = await readEvents(reader, (evs) => evs.some((e) => e.data.includes(`${sub}-shout`)));
          assert.ok(
            shout?.id !== undefined && shout.data.includes(`${sub}-shout`),
            `${sub}'s shout on the GET stream: ${JSON.stringify(shout)}`,
          );
          await reader.cancel();
          return shout.id;
        };
        const aliceFirst = await firstShout("alice", alice, 4);
        const malloryFirst = await firstShout("mallory", mallory, 5);

        // Both shout again while away: stored on each session's GET stream (one store, one stream name in the SDK).
        await call("alice", alice, "shout", 6);
        await call("mallory", mallory, "shout", 7);
        await call("alice", alice, "shout", 8);

        // Mallory resumes her own GET stream: her second shout, never alice's.
        const resumed = await answerOf(await get("mallory", mallory, malloryFirst));
        assert.equal(resumed.status, 200, `mallory resumes her own GET stream: ${resumed.body}`);
        assert.match(resumed.body, /mallory-shout/, "mallory's own second shout is replayed");
        assert.doesNotMatch(resumed.body, /alice/, "nothing of alice's on mallory's stream");

        // Alice's GET id on mallory's session: the unknown-id answer.
        const expected = await unknownIdAnswer("mallory", mallory);
        const stolen = await get("mallory", mallory, aliceFirst);
        assert.deepEqual(await answerOf(stolen), expected, "alice's GET id answers as an unknown id");
      });
    });
  }
}
