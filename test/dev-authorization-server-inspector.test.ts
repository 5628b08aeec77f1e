/**
 * The MCP Inspector CLI (a devDependency) lists the demo's tools with a token from the embedded
 * development authorization server — the exact command `npm start` prints.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startDemo, type Demo } from "../examples/quickstart/demo.js";
import { freePortPair } from "./helpers/dev-as.js";

const BIN = fileURLToPath(new URL("../node_modules/.bin/mcp-inspector-cli", import.meta.url));
// inspector-cli 1.0.3 checks for "../package.json" relative to the *current directory* and then
// imports it relative to its own file; from the repository root that check fails and it crashes
// looking for node_modules/@modelcontextprotocol/package.json. Any subdirectory of the repository works.
const CWD = fileURLToPath(new URL(".", import.meta.url));

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

function json(stdout: string): any {
  return JSON.parse(stdout.slice(stdout.indexOf("{")));
}

test("inspector-cli --method tools/list with a token from the embedded server", { timeout: 120_000 }, async () => {
  const { access_token } = await demo.as.server.issueAccessToken({
    subject: "demo-user",
    scopes: ["mcp:read"],
    client_id: "inspector-cli",
  });
  const { stdout } = await inspector([
    "--cli",
    demo.url,
    "--transport",
    "http",
    "--method",
    "tools/list",
    "--header",
    `Authorization: Bearer ${access_token}`,
  ]);
  assert.deepEqual(
    json(stdout)
      .tools.map((t: { name: string }) => t.name)
      .sort(),
    ["delete_file", "downstream_whoami", "echo", "whoami"],
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
});

test("inspector-cli without a token is refused", { timeout: 120_000 }, async () => {
  await assert.rejects(
    inspector(["--cli", demo.url, "--transport", "http", "--method", "tools/list"]),
    (err: { stdout: string; stderr: string }) => {
      assert.match(err.stdout + err.stderr, /401|Unauthorized|invalid_token|Failed/i);
      return true;
    },
  );
});
