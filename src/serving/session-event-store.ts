/**
 * Each session's own view of the user's event store, so `Last-Event-ID` resolves only within the
 * session that was sent the event.
 *
 * The SDK transport trusts its event store with whatever `Last-Event-ID` a client sends: with one store
 * shared by every session (the usual setup), a caller on their own session could replay another
 * session's events by naming one of its ids (leaked, or guessed where ids are sequential), and every
 * session's standalone GET stream has the same stream id (`_GET_stream`), so stores that replay "the
 * events after X on X's stream" would mix sessions on it. The transports spec: a server "MUST NOT
 * replay messages that would have been delivered on a different stream".
 *
 * The view, one per session:
 * - stores under stream ids made of a random tag of the session and the transport's stream id, so no
 *   two sessions share a stream in the user's store. Both in hex: stores that find the stream in their
 *   own event ids by a separator (the SDK's `InMemoryEventStore` splits at `_`) see one word;
 * - hands the client event ids of the form `<mac>.<stream>.<store's id>`, where `mac` is an HMAC-SHA-256
 *   under a key only this session's view holds, over the rest of the id. An id this view did not mint
 *   (another session's, one of this client's earlier session, a guess) fails the check and is answered
 *   exactly as an unknown id is (`getStreamIdForEventId` → `undefined`: the SDK's 400 "Invalid event
 *   ID format"), and never reaches the user's store;
 * - replays only after the store confirms the stream it replayed is this session's: events are held
 *   until then (the SDK itself buffers a replay until the store's call returns, so this costs nothing
 *   more), and a replay of any other stream is dropped whole.
 *
 * Works with any `EventStore` (with or without `getStreamIdForEventId`), in both SDKs; the cost is one
 * HMAC per stored event.
 *
 * @module
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { EventStoreLike } from "./transport-options.js";

/** Length of the base64url HMAC-SHA-256 at the start of each id. */
const MAC_LENGTH = 43;

/** The event-store view of one session: give it to that session's transport only. */
export function sessionEventStore(store: EventStoreLike): Required<EventStoreLike> {
  const key = randomBytes(32);
  // The store's stream id for one of this session's streams: `<tag><the transport's stream id>`, in hex.
  const tag = randomBytes(16).toString("hex");
  const storeStream = (streamId: string) => tag + Buffer.from(streamId).toString("hex");
  const mac = (rest: string) => createHmac("sha256", key).update(rest).digest("base64url");

  const mint = (streamId: string, storeId: string): string => {
    const rest = `${Buffer.from(streamId).toString("base64url")}.${storeId}`;
    return `${mac(rest)}.${rest}`;
  };

  /** The transport's stream id and the store's event id, when this view minted `eventId`. */
  const open = (eventId: unknown): { streamId: string; storeId: string } | undefined => {
    if (typeof eventId !== "string" || eventId.charCodeAt(MAC_LENGTH) !== 0x2e /* . */) return undefined;
    const rest = eventId.slice(MAC_LENGTH + 1);
    // Compared as bytes of equal length: a client's id may hold any code point.
    const given = Buffer.from(eventId.slice(0, MAC_LENGTH));
    const expected = Buffer.from(mac(rest));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    const dot = rest.indexOf(".");
    return { streamId: Buffer.from(rest.slice(0, dot), "base64url").toString(), storeId: rest.slice(dot + 1) };
  };

  return {
    async storeEvent(streamId, message) {
      return mint(streamId, await store.storeEvent(storeStream(streamId), message));
    },
    async getStreamIdForEventId(eventId) {
      return open(eventId)?.streamId;
    },
    async replayEventsAfter(lastEventId, { send }) {
      const opened = open(lastEventId);
      // The transport asks getStreamIdForEventId first and stops at undefined; this is for a caller that does not.
      if (!opened) throw new Error("Invalid event ID");
      const held: [string, unknown][] = [];
      const replayed = await store.replayEventsAfter(opened.storeId, {
        send: async (storeId, message) => void held.push([storeId, message]),
      });
      // The store replayed another stream than the one this view stored the event on (it lost the
      // event, or it is inconsistent): send nothing, and let the client follow its own stream again.
      if (replayed !== storeStream(opened.streamId)) return opened.streamId;
      for (const [storeId, message] of held) await send(mint(opened.streamId, storeId), message);
      return opened.streamId;
    },
  };
}
