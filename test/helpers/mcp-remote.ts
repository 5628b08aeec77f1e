/**
 * Drive the third-party `mcp-remote` stdio proxy (npm) as a real MCP client would: spawn it, speak
 * newline-delimited JSON-RPC on its stdin/stdout, and catch the authorization URLs it tries to open.
 *
 * How the URLs are caught: mcp-remote calls the `open` package, which on Linux runs the `xdg-open`
 * script bundled inside `open` (not the one on PATH). With no desktop detected (DISPLAY,
 * WAYLAND_DISPLAY and XDG_CURRENT_DESKTOP removed), that script hands the URL to `$BROWSER`. So
 * `$BROWSER` is a script that appends the URL to a file and exits 0. A fake `xdg-open` doing the same
 * is also put first on PATH, for mcp-remote's own fallbacks and for an `open` without its bundled
 * script. The URL mcp-remote prints on stderr ("Please authorize this client by visiting:") is kept
 * too, so a test can check that both agree.
 *
 * What the server sent back: a preloaded module (NODE_OPTIONS=--import) subscribes to undici's
 * diagnostics channels inside the mcp-remote process and writes one JSON line per HTTP response
 * mcp-remote received: method, URL (without query), status and the `WWW-Authenticate` header. Never
 * a token: no request header and no body is written.
 */
import { spawn, type ChildProcess } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const MCP_REMOTE_BIN = resolve("node_modules/.bin/mcp-remote");

/** One HTTP response as mcp-remote's process received it. */
export interface ObservedResponse {
  method: string;
  url: string;
  status: number;
  www_authenticate: string | null;
}

/** A loopback port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const RECORDER = `
import { subscribe } from "node:diagnostics_channel";
import { appendFileSync } from "node:fs";
const out = process.env.MCP_REMOTE_TEST_RESPONSES;
subscribe("undici:request:headers", ({ request, response }) => {
  let www = null;
  const h = response.headers;
  for (let i = 0; i + 1 < h.length; i += 2) {
    if (String(h[i]).toLowerCase() === "www-authenticate") www = String(h[i + 1]);
  }
  const path = String(request.path).split("?")[0];
  appendFileSync(out, JSON.stringify({ method: request.method, url: String(request.origin) + path, status: response.statusCode, www_authenticate: www }) + "\\n");
});
`;

export interface McpRemoteOptions {
  /** The MCP endpoint. */
  url: string;
  /** Fixed OAuth callback port (mcp-remote's second argument). */
  callbackPort: number;
  /** Extra arguments after the URL and port. */
  args?: string[];
}

/** A running `mcp-remote` child with a JSON-RPC client on its stdio. */
export class McpRemote {
  readonly dir: string;
  readonly configDir: string;
  readonly #urlsFile: string;
  readonly #responsesFile: string;
  readonly #child: ChildProcess;
  #stdout = "";
  #stderr = "";
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (m: any) => void; reject: (e: Error) => void }>();
  readonly #stderrWaiters = new Set<() => void>();
  #exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(o: McpRemoteOptions) {
    this.dir = mkdtempSync(join(tmpdir(), "mcp-remote-test-"));
    this.configDir = join(this.dir, "config");
    this.#urlsFile = join(this.dir, "opened-urls.txt");
    this.#responsesFile = join(this.dir, "responses.jsonl");
    writeFileSync(this.#urlsFile, "");
    writeFileSync(this.#responsesFile, "");
    const bin = join(this.dir, "bin");
    const opener = `#!/bin/sh\nprintf '%s\\n' "$1" >> '${this.#urlsFile}'\nexit 0\n`;
    mkdirSync(bin);
    for (const p of [join(bin, "xdg-open"), join(this.dir, "browser")]) {
      writeFileSync(p, opener);
      chmodSync(p, 0o755);
    }
    const recorder = join(this.dir, "recorder.mjs");
    writeFileSync(recorder, RECORDER);

    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of [
      "DISPLAY",
      "WAYLAND_DISPLAY",
      "XDG_CURRENT_DESKTOP",
      "XDG_SESSION_DESKTOP",
      "DESKTOP_SESSION",
      "KDE_FULL_SESSION",
      "GNOME_DESKTOP_SESSION_ID",
      "MATE_DESKTOP_SESSION_ID",
      "NODE_OPTIONS",
      "NODE_TEST_CONTEXT",
    ])
      delete env[k];
    Object.assign(env, {
      PATH: `${bin}:${process.env.PATH ?? ""}`,
      BROWSER: join(this.dir, "browser"),
      MCP_REMOTE_CONFIG_DIR: this.configDir,
      MCP_REMOTE_TEST_RESPONSES: this.#responsesFile,
      NODE_OPTIONS: `--import ${recorder}`,
    });
    this.#child = spawn(MCP_REMOTE_BIN, [o.url, String(o.callbackPort), "--host", "127.0.0.1", ...(o.args ?? [])], {
      env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.#child.stdout!.setEncoding("utf8");
    this.#child.stderr!.setEncoding("utf8");
    this.#child.stdout!.on("data", (d: string) => this.#onStdout(d));
    this.#child.stderr!.on("data", (d: string) => {
      this.#stderr += d;
      for (const w of this.#stderrWaiters) w();
    });
    this.#child.once("exit", (code, signal) => {
      this.#exited = { code, signal };
      for (const p of this.#pending.values())
        p.reject(new Error(`mcp-remote exited (${code ?? signal}); stderr:\n${this.#stderr}`));
      this.#pending.clear();
      for (const w of this.#stderrWaiters) w();
    });
  }

  #onStdout(d: string): void {
    this.#stdout += d;
    let nl: number;
    while ((nl = this.#stdout.indexOf("\n")) >= 0) {
      const line = this.#stdout.slice(0, nl).trim();
      this.#stdout = this.#stdout.slice(nl + 1);
      if (!line) continue;
      let msg: any;
      try {
        msg = JSON.parse(line);
      } catch {
        this.#stderr += `[test] non-JSON line on stdout: ${line}\n`;
        continue;
      }
      if (msg.id !== undefined && ("result" in msg || "error" in msg)) {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        p?.resolve(msg);
      }
    }
  }

  /** Send a JSON-RPC request; resolves with the whole response message (result or error). */
  request(method: string, params: Record<string, unknown> = {}, timeoutMs = 20_000): Promise<any> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      if (this.#exited) return reject(new Error(`mcp-remote already exited; stderr:\n${this.#stderr}`));
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`no answer to ${method} within ${timeoutMs} ms; stderr:\n${this.#stderr}`));
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.#child.stdin!.write(JSON.stringify({ jsonrpc: "2.0", id, method, params }) + "\n");
    });
  }

  notify(method: string, params: Record<string, unknown> = {}): void {
    this.#child.stdin!.write(JSON.stringify({ jsonrpc: "2.0", method, params }) + "\n");
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** URLs mcp-remote asked the desktop to open, in order. */
  openedUrls(): URL[] {
    return readFileSync(this.#urlsFile, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((u) => new URL(u));
  }

  /** URLs mcp-remote printed after "Please authorize this client by visiting:". */
  printedUrls(): URL[] {
    return [...this.#stderr.matchAll(/Please authorize this client by visiting:\n(\S+)/g)].map((m) => new URL(m[1]!));
  }

  /** HTTP responses mcp-remote's process received, in order. */
  responses(): ObservedResponse[] {
    return readFileSync(this.#responsesFile, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as ObservedResponse);
  }

  /** Field names (never values) of the tokens mcp-remote stored in its config directory. */
  storedTokenFields(): string[] {
    if (!existsSync(this.configDir)) return [];
    const fields: string[] = [];
    for (const sub of readdirSync(this.configDir, { withFileTypes: true })) {
      if (!sub.isDirectory()) continue;
      const dir = join(this.configDir, sub.name);
      for (const f of readdirSync(dir))
        if (f.endsWith("_tokens.json")) fields.push(...Object.keys(JSON.parse(readFileSync(join(dir, f), "utf8"))));
    }
    return fields;
  }

  /** Wait until `predicate` holds (checked on every stderr chunk and every 50 ms), or fail with stderr. */
  async until(what: string, predicate: () => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (this.#exited)
        throw new Error(
          `mcp-remote exited (${this.#exited.code ?? this.#exited.signal}) while waiting for ${what}; stderr:\n${this.#stderr}`,
        );
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; stderr:\n${this.#stderr}`);
      await new Promise<void>((r) => {
        const t = setTimeout(done, 50);
        // eslint-disable-next-line @typescript-eslint/no-this-alias -- a named function that removes itself
        const self = this;
        function done() {
          clearTimeout(t);
          self.#stderrWaiters.delete(done);
          r();
        }
        this.#stderrWaiters.add(done);
      });
    }
  }

  /** Count of stderr lines matching `re`. */
  countStderr(re: RegExp): number {
    return this.#stderr.split("\n").filter((l) => re.test(l)).length;
  }

  async close(): Promise<void> {
    if (!this.#exited) {
      const exited = new Promise<void>((r) => this.#child.once("exit", () => r()));
      this.#child.stdin!.end();
      this.#child.kill("SIGTERM");
      const t = setTimeout(() => this.#child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(t);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
