/** Reading Server-Sent Events in tests. */

/** One SSE event: its `id` (when it has one) and its `data` lines joined. */
export interface SseEvent {
  id?: string;
  data: string;
}

/**
 * SSE events (id and data) read from `reader` until `stop` says enough; fails after 10 s rather than wait forever on an
 * open stream.
 */
export async function readEvents(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  stop: (events: SseEvent[]) => boolean,
) {
  const decoder = new TextDecoder();
  let buf = "";
  const events: SseEvent[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no such event within 10 s; got ${JSON.stringify(events)}`)), 10_000);
  });
  try {
    while (!stop(events)) {
      const { value, done } = await Promise.race([reader.read(), expired]);
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let at: number;
      while ((at = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, at);
        buf = buf.slice(at + 2);
        const ev: SseEvent = { data: "" };
        for (const line of block.split("\n")) {
          if (line.startsWith("id:")) ev.id = line.slice(3).trim();
          else if (line.startsWith("data:")) ev.data += line.slice(5).trim();
        }
        if (ev.id !== undefined || ev.data) events.push(ev);
      }
    }
  } finally {
    clearTimeout(timer);
  }
  return events;
}
