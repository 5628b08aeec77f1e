/** A slowloris-style client: a raw connection that sends `head`, then one byte every `everyMs`. */
import { connect } from "node:net";

/** Resolves with what the server sent and how long until it closed the connection. */
export function trickle(
  url: string,
  head: string,
  everyMs: number,
): Promise<{ response: string; statusLine: string; closedAfterMs: number }> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const t0 = performance.now();
    const socket = connect(Number(u.port), u.hostname);
    let response = "";
    let timer: ReturnType<typeof setInterval> | undefined;
    socket.on("connect", () => {
      socket.write(head);
      timer = setInterval(() => socket.writable && socket.write("x"), everyMs);
    });
    socket.on("data", (d) => (response += d.toString()));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearInterval(timer);
      resolve({ response, statusLine: response.split("\r\n", 1)[0] ?? "", closedAfterMs: performance.now() - t0 });
    });
  });
}
