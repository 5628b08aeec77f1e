/**
 * The per-session event-store view on its own: ids it did not mint are unknown (whatever their
 * shape), and a store that replays another stream than the one asked for gets nothing sent.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { sessionEventStore } from "../../src/serving/session-event-store.js";
import type { EventStoreLike } from "../../src/serving/transport-options.js";

/** Remembers every call; replays what `replay` says. */
function recordingStore(replay: (id: string, send: (id: string, m: unknown) => Promise<void>) => Promise<string>) {
  const stored: { streamId: string; message: unknown }[] = [];
  const store: EventStoreLike = {
    async storeEvent(streamId, message) {
      stored.push({ streamId, message });
      return `e${stored.length}`;
    },
    replayEventsAfter: (id, { send }) => replay(id, send),
  };
  return { store, stored };
}

test("ids are minted per view: the same store id under another view, a tampered MAC or any odd string is unknown", async () => {
  const { store, stored } = recordingStore(async () => "never");
  const a = sessionEventStore(store);
  const b = sessionEventStore(store);
  const id = await a.storeEvent("_GET_stream", { n: 1 });
  assert.equal(await a.getStreamIdForEventId(id), "_GET_stream", "the minting view resolves its own id");
  assert.equal(await b.getStreamIdForEventId(id), undefined, "another session's view does not");
  const tampered = (id[0] === "A" ? "B" : "A") + id.slice(1);
  assert.equal(await a.getStreamIdForEventId(tampered), undefined, "a changed MAC is unknown");
  const swapped = id.slice(0, id.lastIndexOf(".") + 1) + "e2";
  assert.equal(await a.getStreamIdForEventId(swapped), undefined, "another store id under the same MAC is unknown");
  for (const odd of ["", "e1", ".", "x".repeat(43) + ".", "\ud800".repeat(50), "é".repeat(43) + ".AA.e1", id + "\n"]) {
    assert.equal(await a.getStreamIdForEventId(odd), undefined, `unknown: ${JSON.stringify(odd).slice(0, 40)}`);
  }
  // Both views wrote to distinct streams in the store, neither the SDK's bare stream id.
  await b.storeEvent("_GET_stream", { n: 2 });
  const [sa, sb] = stored.map((s) => s.streamId);
  assert.ok(sa !== sb && sa !== "_GET_stream" && /^[0-9a-f]+$/.test(sa!), `per-session hex stream ids: ${sa} ${sb}`);
  await assert.rejects(
    a.replayEventsAfter("e1", { send: async () => {} }),
    /Invalid event ID/,
    "a raw store id is never replayed",
  );
});

test("a replay of another stream than the event's sends nothing and keeps the client on its own stream", async () => {
  let asked: string | undefined;
  const { store } = recordingStore(async (id, send) => {
    asked = id;
    await send("e9", { leaked: true });
    return "someone-elses-stream";
  });
  const view = sessionEventStore(store);
  const id = await view.storeEvent("stream-1", {});
  const sent: unknown[] = [];
  const streamId = await view.replayEventsAfter(id, { send: async (_id, m) => void sent.push(m) });
  assert.equal(asked, "e1", "the store is asked for its own id");
  assert.equal(streamId, "stream-1", "the transport's own stream id comes back");
  assert.deepEqual(sent, [], "nothing of the other stream is sent");
});

test("a replay of the event's own stream is sent with ids of the view", async () => {
  const holder: { view?: ReturnType<typeof sessionEventStore>; streamOfE1?: string } = {};
  const { store, stored } = recordingStore(async (_id, send) => {
    await send("e2", { n: 2 });
    return stored[0]!.streamId;
  });
  holder.view = sessionEventStore(store);
  const first = await holder.view.storeEvent("stream-1", { n: 1 });
  const second = await holder.view.storeEvent("stream-1", { n: 2 });
  const sent: [string, unknown][] = [];
  const streamId = await holder.view.replayEventsAfter(first, { send: async (id, m) => void sent.push([id, m]) });
  assert.equal(streamId, "stream-1", "the transport's stream id");
  assert.deepEqual(sent, [[second, { n: 2 }]], "the replayed event carries the id the client was first sent");
});
