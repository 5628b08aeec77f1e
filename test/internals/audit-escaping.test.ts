/**
 * `protected-mcp audit` against a malicious target: whatever the target puts in its metadata (ESC
 * sequences that retitle or clear a terminal, a C1 CSI, a bidi override) reaches neither the table nor
 * the JSON as a raw control character; it is shown as visible `\uXXXX` text. And the CLI's flags are
 * strict: an unknown flag is named with the closest one, every problem at once, exit 2.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { formatJson, formatTable } from "../../src/audit/report.js";
import type { AuditReport } from "../../src/audit/run.js";

const CLI = fileURLToPath(new URL("../../src/audit/cli.ts", import.meta.url));
/**
 * What a terminal must never receive raw from a target: C0 (but the newline), DEL, C1, bidi and direction marks, line
 * separators.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const TITLE = "\u001b]0;pwned\u0007";
const CLEAR = "\u001b[2J";
const CSI = "\u009b31m";
const RLO = "\u202eevil";

let server: Server;
let origin: string;

before(async () => {
  server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const cors = { "access-control-allow-origin": "*", "access-control-expose-headers": "WWW-Authenticate" };
    if (path === "/mcp") {
      if (req.method === "OPTIONS") {
        res
          .writeHead(204, { ...cors, "access-control-allow-methods": "POST, GET", "access-control-allow-headers": "*" })
          .end();
        return;
      }
      res
        .writeHead(401, {
          ...cors,
          "www-authenticate": `Bearer resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"`,
        })
        .end();
      return;
    }
    if (path.startsWith("/.well-known/oauth-protected-resource")) {
      res.writeHead(200, { ...cors, "content-type": "application/json" });
      res.end(
        JSON.stringify({
          resource: `${origin}/mcp`,
          authorization_servers: [origin],
          scopes_supported: [TITLE, CLEAR, CSI, RLO],
        }),
      );
      return;
    }
    if (path === "/.well-known/oauth-authorization-server") {
      res.writeHead(200, { ...cors, "content-type": "application/json" });
      res.end(
        JSON.stringify({
          issuer: origin,
          authorization_endpoint: `${origin}/authorize`,
          token_endpoint: `${origin}/token`,
          code_challenge_methods_supported: ["S256", `${CLEAR}${CSI}${RLO}`],
          registration_endpoint: `${origin}/register${TITLE}`,
        }),
      );
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

function assertInert(output: string) {
  output
    .split("\n")
    .forEach((line, i) =>
      assert.ok(!RAW_CONTROL.test(line), `raw control character on line ${i + 1}: ${JSON.stringify(line)}`),
    );
}

describe("a target's text is never printed raw", () => {
  test("table: the PASS lines quoting the metadata show \\u001B]0;pwned\\u0007, \\u001B[2J, \\u009B, \\u202E as text", async () => {
    const { code, stdout } = await run(["audit", `${origin}/mcp`]);
    assert.ok(code === 0 || code === 1, `the audit ran (exit ${code})`);
    assertInert(stdout);
    const scopeLine = stdout.split("\n").find((l) => /^PASS +scope\.advice /.test(l));
    assert.ok(scopeLine, stdout);
    assert.ok(
      scopeLine.endsWith(
        "no scope in the challenge; clients use scopes_supported: \\u001B]0;pwned\\u0007 \\u001B[2J \\u009B31m \\u202Eevil",
      ),
      scopeLine,
    );
    const pkceLine = stdout.split("\n").find((l) => /^PASS +as\.pkce-s256 /.test(l));
    assert.ok(pkceLine?.endsWith(`${origin}: S256 \\u001B[2J\\u009B31m\\u202Eevil`), pkceLine);
  });

  test("--json: valid JSON without raw C1 or bidi characters; the evidence carries the same visible text", async () => {
    const { stdout } = await run(["audit", `${origin}/mcp`, "--json"]);
    assertInert(stdout);
    const report = JSON.parse(stdout) as AuditReport;
    const evidence = (id: string) => report.findings.find((f) => f.id === id)?.evidence;
    assert.equal(
      evidence("scope.advice"),
      "no scope in the challenge; clients use scopes_supported: \\u001B]0;pwned\\u0007 \\u001B[2J \\u009B31m \\u202Eevil",
    );
    assert.equal(
      evidence("as.registration"),
      `${origin}: registration_endpoint ${origin}/register\\u001B]0;pwned\\u0007`,
    );
    for (const f of report.findings) assert.ok(!RAW_CONTROL.test(JSON.stringify(f)), f.id);
  });
});

describe("the formatters on their own (defence in depth)", () => {
  const raw = `a${TITLE}b${CSI}c${RLO}\u2028d\u007f`;
  const report: AuditReport = {
    target: "http://127.0.0.1/mcp",
    findings: [{ id: "x.raw", title: raw, spec: "spec", level: "MUST", status: "PASS", evidence: raw }],
    not_run: [],
    requests: 1,
    summary: { PASS: 1, WARN: 0, FAIL: 0, SKIP: 0 },
    fail_on: "must",
    exit_code: 0,
  };

  test("formatJson escapes what JSON.stringify leaves raw (DEL, C1, bidi, U+2028) and still parses to the same report", () => {
    const out = formatJson(report);
    assertInert(out);
    assert.ok(out.includes('"evidence": "a\\u001b]0;pwned\\u0007b\\u009B31mc\\u202Eevil\\u2028d\\u007F"'), out);
    assert.deepEqual(JSON.parse(out), report);
  });

  test("formatTable makes every field visible text", () => {
    const out = formatTable(report);
    assertInert(out);
    assert.ok(out.includes("a\\u001B]0;pwned\\u0007b\\u009B31mc\\u202Eevil\\u2028d\\u007F"), out);
  });
});

describe("strict flags", () => {
  test("an unknown flag → exit 2 naming it with the closest flag; nothing is audited", async () => {
    const { code, stdout, stderr } = await run(["audit", `${origin}/mcp`, "--tokne", "abc"]);
    assert.equal(code, 2);
    assert.equal(stdout, "");
    assert.equal(stderr.split("\n")[0], "protected-mcp audit: --tokne: unknown option (did you mean --token?)");
  });

  test("several problems are listed together: a missing value, two unknown flags, a value on a switch", async () => {
    const { code, stderr } = await run([
      "audit",
      `${origin}/mcp`,
      "--jsn",
      "--allow-http=yes",
      "--tiemout",
      "5",
      "--token",
    ]);
    assert.equal(code, 2);
    assert.equal(
      stderr.split("\n")[0],
      "protected-mcp audit: --token: needs a value; --allow-http: takes no value; --jsn: unknown option (did you mean --json?); --tiemout: unknown option (did you mean --timeout?)",
    );
  });
});
