/**
 * The MCP Inspector CLI (a devDependency) lists the demo's tools with a token from the embedded
 * development authorization server — the arguments of the exact command `npm start` prints, run by
 * the Inspector 1.0.3 CLI, the version that command names on Node 20 (no network: the tests run the
 * installed `@modelcontextprotocol/inspector-cli`, the CLI inside that package). On Node >= 22.19 the
 * command names Inspector 2.x, whose CLI takes the same arguments.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { INSPECTOR, inspectorCommand, startDemo, type Demo } from "../../examples/quickstart/demo.js";
import { freePortPair } from "../helpers/dev-as.js";

const BIN = fileURLToPath(new URL("../../node_modules/.bin/mcp-inspector-cli", import.meta.url));
// inspector-cli 1.0.3 checks for "../package.json" relative to the *current directory* and then
// imports it relative to its own file; from the repository root that check fails and it crashes
// looking for node_modules/@modelcontextprotocol/package.json. A directory one below the repository root works: test/.
const CWD = fileURLToPath(new URL("..", import.meta.url));

let demo: Demo;
before(async () => {
  demo = await startDemo({ port: await freePortPair(), log: () => {} });
});
after(() => demo.close());

function inspector(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { cwd: CWD, timeout: 90_000 }, (err, stdout, stderr) =>
      err ? reject(Object.assign(err, { stdout, stderr })) : resolve({ stdout, stderr }),
    );
  });
}

/** Split a printed command line into words (double quotes group, as a POSIX shell does for these). */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

function json(stdout: string): any {
  return JSON.parse(stdout.slice(stdout.indexOf("{")));
}

test("the Inspector version npm start names for Node 20 is the installed CLI's; Node >= 22.19 gets 2.x", () => {
  const installed = (
    JSON.parse(
      readFileSync(
        new URL("../../node_modules/@modelcontextprotocol/inspector-cli/package.json", import.meta.url),
        "utf8",
      ),
    ) as {
      version: string;
    }
  ).version;
  assert.equal(
    INSPECTOR.node20,
    installed,
    "the devDependency @modelcontextprotocol/inspector-cli is the version printed for Node 20",
  );
  assert.match(
    inspectorCommand("http://x/mcp", "t", "20.20.2"),
    /^npx @modelcontextprotocol\/inspector@1\.0\.3 --cli http:\/\/x\/mcp /,
  );
  assert.match(inspectorCommand("http://x/mcp", "t", "22.18.9"), /inspector@1\.0\.3 /);
  assert.match(inspectorCommand("http://x/mcp", "t", "22.19.0"), /inspector@2\.\d+\.\d+ /);
  assert.match(inspectorCommand("http://x/mcp", "t", "24.1.0"), /inspector@2\.\d+\.\d+ /);
  assert.doesNotMatch(
    inspectorCommand("http://x/mcp", "t"),
    /inspector --cli/,
    "never the bare package name (npx on Node 20 falls back to 0.15, which takes no URL)",
  );
});

test(
  "inspector-cli runs the printed command's arguments with a token from the embedded server",
  { timeout: 120_000 },
  async () => {
    const { access_token } = await demo.as.server.issueAccessToken({
      subject: "demo-user",
      scopes: ["mcp:read"],
      client_id: "inspector-cli",
    });
    const [npx, spec, ...args] = words(inspectorCommand(demo.url, access_token));
    assert.equal(npx, "npx");
    assert.match(spec!, /^@modelcontextprotocol\/inspector@\d+\.\d+\.\d+$/, "a pinned version");
    assert.deepEqual(args.slice(0, 6), ["--cli", demo.url, "--transport", "http", "--method", "tools/list"]);
    const { stdout } = await inspector(args);
    assert.deepEqual(
      json(stdout)
        .tools.map((t: { name: string }) => t.name)
        .sort(),
      ["delete_file", "downstream_whoami", "echo", "upstream_whoami", "whoami"],
    );

    const who = await inspector([
      "--cli",
      demo.url,
      "--transport",
      "http",
      "--method",
      "tools/call",
      "--tool-name",
      "whoami",
      "--header",
      `Authorization: Bearer ${access_token}`,
    ]);
    assert.deepEqual(json(who.stdout).structuredContent, {
      subject: "demo-user",
      client_id: "inspector-cli",
      scopes: ["mcp:read"],
      dpop_jkt: null,
    });
  },
);

test("inspector-cli without a token is refused", { timeout: 120_000 }, async () => {
  await assert.rejects(
    inspector(["--cli", demo.url, "--transport", "http", "--method", "tools/list"]),
    (err: { stdout: string; stderr: string }) => {
      assert.match(err.stdout + err.stderr, /401|Unauthorized|invalid_token|Failed/i);
      return true;
    },
  );
});
