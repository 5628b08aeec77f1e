/**
 * A real reverse proxy for fleet tests: Debian's `haproxy` (.ci/run installs it), started as a
 * non-daemon child process on a loopback port, with its config, pid file and request log in a temp
 * directory. Works as root and as an ordinary user (no `user`/`chroot`, no privileged port, no
 * system paths).
 *
 * Why HAProxy rather than nginx: a rolling restart needs "retry what the stopped instance never
 * handled, on another instance" — and nothing else. HAProxy names exactly those failure classes
 * (`retry-on conn-failure empty-response`, with `option redispatch` to move the retry to another
 * server) and buffers the request so a POST can be re-sent. nginx's `proxy_next_upstream error`
 * retries a POST only when not a byte was sent; covering a connection the instance accepted into its
 * kernel backlog but never read (reset when it stops listening) needs `non_idempotent`, which also
 * retries POSTs after timeouts and mid-response failures. nginx also wants writable system temp
 * paths and a `user` line when started as root; HAProxy needs neither.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Whether `haproxy` is installed (on PATH, or in /usr/sbin which ordinary users' PATH may lack). */
export function haproxyBinary(): string | undefined {
  for (const bin of ["haproxy", "/usr/sbin/haproxy"]) {
    if (spawnSync(bin, ["-v"], { stdio: "ignore" }).status === 0) return bin;
  }
  return undefined;
}

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve, reject) => {
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** One proxied request, from HAProxy's log (see the `log-format` below). */
export interface ProxyLogEntry {
  /** Backend server name (`s1`…), or `<NOSRV>`. */
  server: string;
  /** HTTP status sent to the client. */
  status: number;
  /** Connection retries for this request (0 when the first attempt worked). */
  retries: number;
  /** Whether HAProxy moved the request to another server after a failure. */
  redispatched: boolean;
  method: string;
  path: string;
  /** The request's `X-Test-Tag` header, `-` when absent: lets a test pick out its own requests. */
  tag: string;
}

export interface ProxyOptions {
  /** Loopback port to listen on (pick with {@link freePort}: the resource URL names it before start). */
  port: number;
  /** Upstream `host:port`s, in order; named `s1`, `s2`, … */
  upstreams: string[];
}

export interface RunningProxy {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** The HAProxy process id (also in `dir`/haproxy.pid). */
  readonly pid: number;
  /** Directory with haproxy.cfg, haproxy.pid and (after stop) haproxy.log. */
  readonly dir: string;
  /** The config actually used. */
  readonly config: string;
  /**
   * Requests logged so far, or only those tagged `tag`. HAProxy writes a request's line once the
   * response is sent, so a line can trail the response the client already has: wait (up to 2 s)
   * until at least `atLeast` are there.
   */
  log(atLeast?: number, tag?: string): Promise<ProxyLogEntry[]>;
  stop(): Promise<void>;
}

/**
 * The config under test. Round-robin, HTTP keep-alive to the instances (HAProxy's default), and
 * layer-7 retries for what an instance that stops never handled:
 * - `conn-failure`: connection refused (the instance is not listening);
 * - `empty-response`: the connection closed before any response byte — a connection queued in the
 *   instance's accept backlog when it stopped listening, or an idle keep-alive connection it closed
 *   while HAProxy was sending on it. A gracefully stopping instance finishes every request it read, so
 *   it never answers nothing to a request it ran; a crashed one might have, and the retry then runs
 *   the request again (a DPoP proof is refused the second time by the shared replay store).
 *   Measured with this test: with `conn-failure` alone, 1 run in 12 lost a request (the client's
 *   connection was closed without an answer); with `empty-response` too, 0 in 12.
 * No health checks: every request routed to the stopped instance takes the retry path.
 */
export function haproxyConfig(o: ProxyOptions & { dir: string }): string {
  return [
    "global",
    "  log stdout format raw local0",
    "  maxconn 1024",
    "",
    "defaults",
    "  mode http",
    "  log global",
    "  option dontlognull",
    // server status retries method path tag  (%rc is "+N" when redispatched; the tag is the X-Test-Tag request header)
    '  log-format "%s %ST %rc %HM %HP %[capture.req.hdr(0)]"',
    "  timeout connect 1s",
    "  timeout client 30s",
    "  timeout server 30s",
    "  retries 3",
    "  option redispatch 1",
    "  retry-on conn-failure empty-response",
    "",
    "frontend fleet",
    `  bind 127.0.0.1:${o.port}`,
    "  http-request capture req.hdr(x-test-tag) len 32",
    "  default_backend mcp",
    "",
    "backend mcp",
    "  balance roundrobin",
    ...o.upstreams.map((u, i) => `  server s${i + 1} ${u}`),
    "",
  ].join("\n");
}

function parseLog(text: string): ProxyLogEntry[] {
  const out: ProxyLogEntry[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\S+) (-?\d+) (\+?)(\d+) (\S+) (\S+)(?: (\S+))?$/.exec(line.trim());
    if (!m) continue;
    out.push({
      server: m[1]!,
      status: Number(m[2]),
      redispatched: m[3] === "+",
      retries: Number(m[4]),
      method: m[5]!,
      path: m[6]!,
      tag: m[7] ?? "-",
    });
  }
  return out;
}

async function waitForPort(port: number, proc: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`haproxy exited with ${proc.exitCode}: ${stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`haproxy did not listen on ${port}: ${stderr()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Write the config to a temp dir, check it (`haproxy -c`), start it in the foreground (`-db`). */
export async function startHaproxy(o: ProxyOptions): Promise<RunningProxy> {
  const bin = haproxyBinary();
  if (!bin) throw new Error("haproxy is not installed");
  const dir = await mkdtemp(join(tmpdir(), "protected-mcp-haproxy-"));
  const config = haproxyConfig({ ...o, dir });
  const cfgPath = join(dir, "haproxy.cfg");
  await writeFile(cfgPath, config);
  const check = spawnSync(bin, ["-c", "-q", "-f", cfgPath], { encoding: "utf8" });
  if (check.status !== 0) throw new Error(`haproxy rejected its config: ${check.stderr}${check.stdout}`);

  // -db: foreground, no master process; HAProxy writes pid files only when it daemonizes, so we do.
  const proc = spawn(bin, ["-db", "-f", cfgPath], { stdio: ["ignore", "pipe", "pipe"] });
  await writeFile(join(dir, "haproxy.pid"), `${proc.pid}\n`);
  let logText = "";
  let errText = "";
  proc.stdout.setEncoding("utf8").on("data", (d: string) => (logText += d));
  proc.stderr.setEncoding("utf8").on("data", (d: string) => (errText += d));
  const exited = new Promise<void>((r) => proc.once("exit", () => r()));
  try {
    await waitForPort(o.port, proc, () => errText);
  } catch (err) {
    proc.kill("SIGKILL");
    await exited;
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    origin: `http://127.0.0.1:${o.port}`,
    pid: proc.pid!,
    dir,
    config,
    async log(atLeast = 0, tag?: string) {
      const entries = () => parseLog(logText).filter((e) => tag === undefined || e.tag === tag);
      const deadline = Date.now() + 2000;
      while (entries().length < atLeast && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      return entries();
    },
    async stop() {
      if (proc.exitCode === null) {
        proc.kill("SIGTERM");
        await exited;
      }
      await writeFile(join(dir, "haproxy.log"), logText + errText);
      if (process.env.KEEP_PROXY_DIR !== "1") await rm(dir, { recursive: true, force: true });
    },
  };
}
