/**
 * `npm start`: a protected MCP server and the embedded development authorization server on
 * localhost, with ready commands to connect. PORT (default 8000) and HOST (default 127.0.0.1) are
 * honoured; the authorization server listens on PORT+1, the downstream API (token exchange) on PORT+2,
 * the third-party service (connected accounts) on PORT+3.
 * STEP_UP=1 turns step-up authorization on.
 *
 * A bad PORT or a port in use ends the process with one line on stderr (no stack trace): exit 2 for
 * a bad value, 1 when a port is taken.
 */
import { banner, startDemo } from "./demo.js";

/** Print one line and exit: what a newcomer needs, without a stack trace. */
function fail(message: string, code: number): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

const host = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? 8000);
if (!Number.isInteger(port) || port < 1 || port > 65532)
  fail(
    `PORT must be an integer from 1 to 65532 (the authorization server uses PORT+1, the downstream API PORT+2, the third-party service PORT+3), not "${process.env.PORT}"`,
    2,
  );

const stepUp = process.env.STEP_UP === "1";
// The authorization server's log lines (its "never expose it" warning) wait until every listener is
// up: a refusal below stays one line.
const early: string[] = [];
let log: (message: string) => void = (message) => void early.push(message);
let demo: Awaited<ReturnType<typeof startDemo>>;
try {
  demo = await startDemo({
    port,
    host,
    step_up: stepUp,
    api_port: port + 2,
    third_party_port: port + 3,
    log: (message) => log(message),
    on_auth_event: (e) =>
      console.log(`[auth] ${e.type}${"code" in e ? ` ${e.code}` : ""}${"subject" in e ? ` ${e.subject}` : ""}`),
  });
} catch (err) {
  const e = err as NodeJS.ErrnoException & { port?: number };
  if (e.code === "EADDRINUSE") {
    const which =
      e.port === port + 1
        ? "PORT+1, the authorization server's"
        : e.port === port + 2
          ? "PORT+2, the downstream API's"
          : e.port === port + 3
            ? "PORT+3, the third-party service's"
            : "PORT";
    fail(
      `Port ${e.port ?? port} (${which}) is already in use on ${host}: choose other ports with PORT, e.g. PORT=9000 npm start (the demo uses PORT, PORT+1, PORT+2 and PORT+3).`,
      1,
    );
  }
  if (e.code === "EACCES" || e.code === "EADDRNOTAVAIL")
    fail(
      `Cannot listen on ${host}:${e.port ?? port} (${e.code}): choose another PORT (e.g. PORT=9000 npm start) or HOST.`,
      1,
    );
  throw err;
}
log = (message) => console.error(message);
for (const message of early) log(message);
const { access_token } = await demo.as.server.issueAccessToken({
  subject: "demo-user",
  scopes: ["mcp:read"],
  client_id: "inspector-cli",
});

console.log(banner(demo, { step_up: stepUp, access_token }));

const stop = async () => {
  await demo.close();
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
