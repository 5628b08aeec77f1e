/**
 * `protected-mcp audit`'s requirement levels, `--fail-on` and CI formats, on real runs of the CLI against a loopback
 * target built to fail one MUST check (the authorization server advertises no S256 PKCE) and one SHOULD check (it
 * echoes the token it was sent): the exit status at `must` and `should`, the text grouped by level, the JSON, JUnit XML
 * that a strict parser accepts whatever the target sent (`<`, `&`, `]]>`, NUL, lone surrogates), SARIF 2.1.0's
 * required shape.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { CHECKS } from "../../src/audit/checks.js";
import { formatJunit, formatSarif, formatTable, specUri, xmlText } from "../../src/audit/report.js";
import { failsAt, type AuditReport, type Finding } from "../../src/audit/run.js";

const CLI = fileURLToPath(new URL("../../src/audit/cli.ts", import.meta.url));

/** What the target slips into its metadata: markup, a CDATA end, NUL, both lone surrogate halves, a non-character. */
const EVIL = 'a<b&c]]>d"e\u0000f\udc00g\ud800h\uffff';

type Mode = "should" | "must";

/**
 * A compliant-looking target except: it echoes the credential it refuses into the 401 body (tokens.not-echoed, SHOULD)
 * and, in mode `must`, its authorization server advertises no S256 (as.pkce-s256, MUST).
 */
function target(mode: Mode): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const origin = `http://${req.headers.host}`;
    const url = new URL(req.url ?? "/", origin);
    const cors = { "access-control-allow-origin": "*", "access-control-expose-headers": "WWW-Authenticate" };
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
      res.writeHead(status, { ...cors, "content-type": "application/json", ...headers }).end(JSON.stringify(body));
    if (url.pathname === "/mcp") {
      if (req.method === "OPTIONS") {
        res
          .writeHead(204, {
            ...cors,
            "access-control-allow-methods": "GET, POST, DELETE",
            "access-control-allow-headers":
              "authorization, content-type, mcp-protocol-version, mcp-method, mcp-name, mcp-session-id, last-event-id",
          })
          .end();
        return;
      }
      const challenge = (error?: string) =>
        `Bearer resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"${error ? `, error="${error}"` : ""}`;
      const auth = req.headers.authorization;
      if (url.searchParams.has("access_token"))
        return json(400, { error: "invalid_request" }, { "www-authenticate": challenge("invalid_request") });
      if (auth)
        return json(401, { error: "invalid_token", seen: auth }, { "www-authenticate": challenge("invalid_token") });
      return json(401, { error: "unauthorized" }, { "www-authenticate": challenge() });
    }
    if (url.pathname.startsWith("/.well-known/oauth-protected-resource"))
      return json(200, { resource: `${origin}/mcp`, authorization_servers: [origin], scopes_supported: ["mcp", EVIL] });
    if (url.pathname === "/.well-known/oauth-authorization-server") {
      return json(200, {
        issuer: origin,
        authorization_endpoint: `${origin}/authorize`,
        token_endpoint: `${origin}/token`,
        registration_endpoint: `${origin}/register`,
        ...(mode === "must"
          ? { code_challenge_methods_supported: [`x${EVIL}`] }
          : { code_challenge_methods_supported: ["S256"] }),
      });
    }
    res.writeHead(404).end();
  };
}

const servers: Server[] = [];
const url: Record<Mode, string> = { should: "", must: "" };

before(async () => {
  for (const mode of ["should", "must"] as const) {
    const server = createServer(target(mode));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    servers.push(server);
    url[mode] = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
  }
});
after(() => Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))));

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", CLI, "audit", ...args],
      { timeout: 60_000, maxBuffer: 8 * 1024 * 1024 },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

const byId = (r: AuditReport, id: string): Finding => {
  const f = r.findings.find((x) => x.id === id);
  assert.ok(f, `a finding ${id}`);
  return f;
};

// ---------------------------------------------------------------------------------------------------------------------
// A strict XML 1.0 well-formedness parser for what formatJunit writes: one prolog, elements, attributes, character
// data and the predefined or numeric references; anything else (a raw `<` or `&`, `]]>` in text, a character outside
// XML's Char production, a mismatched tag, a duplicate attribute) throws.

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

// eslint-disable-next-line no-control-regex -- XML's Char production names control characters
const XML_CHAR = /^[\u0009\u000A\u000D\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;
const NAME = /[A-Za-z_:][-A-Za-z0-9_.:]*/y;
const PREDEFINED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decode(raw: string, where: string): string {
  return raw.replace(/&([^;]*);?/g, (m, ref: string) => {
    if (!m.endsWith(";")) throw new Error(`${where}: bare &`);
    if (ref in PREDEFINED) return PREDEFINED[ref] as string;
    const num = /^#(?:x([0-9A-Fa-f]+)|([0-9]+))$/.exec(ref);
    if (!num) throw new Error(`${where}: unknown reference &${ref};`);
    const c = String.fromCodePoint(num[1] ? parseInt(num[1], 16) : Number(num[2]));
    if (!XML_CHAR.test(c)) throw new Error(`${where}: reference to a non-character`);
    return c;
  });
}

function parseXml(xml: string): XmlElement {
  if (!XML_CHAR.test(xml)) throw new Error("a character outside XML's Char production");
  const prolog = '<?xml version="1.0" encoding="UTF-8"?>';
  if (!xml.startsWith(prolog)) throw new Error("no XML declaration");
  let i = prolog.length;
  const ws = () => {
    while (/\s/.test(xml[i] ?? "")) i++;
  };
  const name = (): string => {
    NAME.lastIndex = i;
    const m = NAME.exec(xml);
    if (!m) throw new Error(`a name expected at ${i}`);
    i += m[0].length;
    return m[0];
  };
  const element = (): XmlElement => {
    if (xml[i] !== "<") throw new Error(`< expected at ${i}`);
    i++;
    const el: XmlElement = { name: name(), attrs: {}, children: [], text: "" };
    for (;;) {
      const before = i;
      ws();
      if (xml.startsWith("/>", i)) {
        i += 2;
        return el;
      }
      if (xml[i] === ">") {
        i++;
        break;
      }
      if (i === before) throw new Error(`whitespace expected before an attribute at ${i}`);
      const key = name();
      if (key in el.attrs) throw new Error(`duplicate attribute ${key}`);
      if (xml[i] !== "=" || xml[i + 1] !== '"') throw new Error(`=" expected at ${i}`);
      const end = xml.indexOf('"', i + 2);
      if (end < 0) throw new Error("unterminated attribute");
      const raw = xml.slice(i + 2, end);
      if (raw.includes("<")) throw new Error(`raw < in attribute ${key}`);
      el.attrs[key] = decode(raw, `attribute ${key}`);
      i = end + 1;
    }
    for (;;) {
      const lt = xml.indexOf("<", i);
      if (lt < 0) throw new Error(`unclosed <${el.name}>`);
      const raw = xml.slice(i, lt);
      if (raw.includes("]]>")) throw new Error("]]> in character data");
      el.text += decode(raw, `text of ${el.name}`);
      i = lt;
      if (xml.startsWith("</", i)) {
        i += 2;
        if (name() !== el.name) throw new Error(`mismatched </…> for <${el.name}>`);
        ws();
        if (xml[i] !== ">") throw new Error(`> expected at ${i}`);
        i++;
        return el;
      }
      el.children.push(element());
    }
  };
  ws();
  const root = element();
  ws();
  if (i !== xml.length) throw new Error("content after the root element");
  return root;
}

const all = (el: XmlElement, name: string): XmlElement[] =>
  el.children.flatMap((c) => [...(c.name === name ? [c] : []), ...all(c, name)]);

test("the strict XML parser refuses what XML forbids (so the JUnit checks below can fail)", () => {
  const ok = '<?xml version="1.0" encoding="UTF-8"?>\n<a x="1 &lt; 2"><b/>t &amp; u</a>\n';
  assert.equal(parseXml(ok).attrs.x, "1 < 2");
  for (const bad of [
    "<a>&</a>",
    "<a>]]></a>",
    "<a>\u0000</a>",
    "<a>\udc00</a>",
    '<a x="<"/>',
    "<a></b>",
    "<a>&#0;</a>",
  ])
    assert.throws(() => parseXml(`<?xml version="1.0" encoding="UTF-8"?>\n${bad}`), Error, bad);
});

// ---------------------------------------------------------------------------------------------------------------------

describe("levels", () => {
  test("every check has a level MUST, SHOULD or MAY; the existing checks have the levels of their spec sentences", () => {
    for (const c of CHECKS) assert.ok(["MUST", "SHOULD", "MAY"].includes(c.level), `${c.id}: level ${String(c.level)}`);
    const expected: Record<string, string> = {
      "challenge.initialize": "MUST",
      "challenge.server-discover": "MUST",
      "challenge.tools-call": "MUST",
      "prm.advertised": "MUST",
      "prm.path-inserted": "MUST",
      "prm.root": "MUST",
      "resource.indicator": "MUST",
      "scope.advice": "SHOULD",
      "dpop.advertised": "SHOULD",
      "cors.preflight": "SHOULD",
      "cors.preflight.2026-07-28": "SHOULD",
      "cors.expose": "SHOULD",
      "cors.metadata": "SHOULD",
      "as.metadata": "MUST",
      "as.pkce-s256": "MUST",
      "as.registration": "SHOULD",
      "refuse.garbage": "MUST",
      "refuse.alg-none": "MUST",
      "refuse.expired": "MUST",
      "refuse.two-credentials": "MUST",
      "refuse.query-token": "MUST",
      "token.tools-list": "MUST",
      "token.audience": "MUST",
      "token.tampered": "MUST",
      "token.scheme-swap": "MUST",
      "dpop.replay": "SHOULD",
      "tokens.not-echoed": "SHOULD",
    };
    for (const [id, level] of Object.entries(expected)) {
      const c = CHECKS.find((x) => x.id === id);
      if (c) assert.equal(c.level, level, id);
    }
  });

  test("failsAt: must counts MUST FAILs only, should MUST and SHOULD FAILs; a WARN and a MAY FAIL never count", () => {
    const at = (status: Finding["status"], level: Finding["level"]) => ({ status, level });
    assert.equal(failsAt(at("FAIL", "MUST"), "must"), true);
    assert.equal(failsAt(at("FAIL", "SHOULD"), "must"), false);
    assert.equal(failsAt(at("FAIL", "SHOULD"), "should"), true);
    assert.equal(failsAt(at("FAIL", "MAY"), "should"), false);
    assert.equal(failsAt(at("WARN", "MUST"), "should"), false);
    assert.equal(failsAt(at("SKIP", "MUST"), "must"), false);
  });
});

describe("--fail-on", () => {
  test("a SHOULD FAIL only: exit 0 at must (the default), 1 at should; the JSON says which level was used", async () => {
    const dflt = await run([url.should, "--json"]);
    const report = JSON.parse(dflt.stdout) as AuditReport;
    assert.equal(byId(report, "tokens.not-echoed").status, "FAIL", byId(report, "tokens.not-echoed").evidence);
    assert.equal(byId(report, "tokens.not-echoed").level, "SHOULD");
    for (const f of report.findings.filter((x) => x.level === "MUST"))
      assert.notEqual(f.status, "FAIL", `${f.id}: ${f.evidence}`);
    assert.equal(dflt.code, 0, dflt.stderr);
    assert.equal(report.fail_on, "must");
    assert.equal(report.exit_code, 0);
    for (const f of report.findings) assert.ok(["MUST", "SHOULD", "MAY"].includes(f.level), `${f.id} has a level`);

    const must = await run([url.should, "--fail-on", "must"]);
    assert.equal(must.code, 0, must.stderr);
    const should = await run([url.should, "--fail-on", "should", "--format", "json"]);
    assert.equal(should.code, 1, should.stderr);
    assert.equal((JSON.parse(should.stdout) as AuditReport).fail_on, "should");
    assert.equal((JSON.parse(should.stdout) as AuditReport).exit_code, 1);
  });

  test("a MUST FAIL: exit 1 at must and at should", async () => {
    const must = await run([url.must]);
    assert.equal(must.code, 1, must.stderr);
    const should = await run([url.must, "--fail-on", "should"]);
    assert.equal(should.code, 1, should.stderr);
  });

  test("bad values and a --json that contradicts --format: exit 2, nothing audited", async () => {
    for (const args of [
      ["--fail-on", "may"],
      ["--format", "xml"],
      ["--json", "--format", "sarif"],
    ]) {
      const r = await run([url.should, ...args]);
      assert.equal(r.code, 2, args.join(" "));
      assert.equal(r.stdout, "", args.join(" "));
    }
    assert.match((await run([url.should, "--fail-on", "may"])).stderr, /--fail-on: must be must or should/);
    assert.match((await run([url.should, "--json", "--format", "sarif"])).stderr, /--json is --format json/);
  });
});

describe("formats on a real run (MUST and SHOULD FAILs, target text with markup, NUL and lone surrogates)", () => {
  let report: AuditReport;
  before(async () => {
    const r = await run([url.must, "--json"]);
    report = JSON.parse(r.stdout) as AuditReport;
    assert.equal(byId(report, "as.pkce-s256").status, "FAIL", byId(report, "as.pkce-s256").evidence);
    assert.equal(byId(report, "tokens.not-echoed").status, "FAIL", byId(report, "tokens.not-echoed").evidence);
  });

  test("text: groups MUST, then SHOULD, each with its header; the last line says why the exit status is 1", async () => {
    const { code, stdout } = await run([url.must]);
    assert.equal(code, 1);
    const lines = stdout.split("\n");
    const must = lines.findIndex((l) => /^MUST \(\d+ checks, 1 FAIL\)$/.test(l));
    const should = lines.findIndex((l) => /^SHOULD \(\d+ checks, 1 FAIL\)$/.test(l));
    assert.ok(must > 0 && should > must, stdout);
    const row = (id: string) =>
      lines.findIndex((l) => new RegExp(`^(PASS|WARN|FAIL|SKIP) +${id.replace(".", "\\.")} `).test(l));
    for (const f of report.findings) {
      const at = row(f.id);
      assert.ok(f.level === "MUST" ? at > must && at < should : at > should, `${f.id} in the ${f.level} group`);
    }
    assert.equal(
      lines.at(-2),
      "Exit 1: 1 FAIL at MUST (as.pkce-s256); 1 FAIL at SHOULD not counted (tokens.not-echoed); --fail-on must.",
    );
  });

  test("JUnit: well-formed XML, a suite per level, a testcase per finding, <failure> at the --fail-on level, <skipped> for SKIP", async () => {
    for (const failOn of ["must", "should"] as const) {
      const { code, stdout } = await run([url.must, "--format", "junit", "--fail-on", failOn]);
      assert.equal(code, 1);
      const root = parseXml(stdout);
      assert.equal(root.name, "testsuites");
      const suites = all(root, "testsuite");
      assert.deepEqual(
        suites.map((s) => s.attrs.name),
        ["MUST", "SHOULD", "MAY"]
          .filter((l) => report.findings.some((f) => f.level === l))
          .map((l) => `${l} requirements`),
      );
      const cases = all(root, "testcase");
      assert.equal(cases.length, report.findings.length);
      assert.equal(root.attrs.tests, String(report.findings.length));
      for (const f of report.findings) {
        const c = cases.find((x) => x.attrs.name === f.title);
        assert.ok(c, `a testcase for ${f.id}`);
        assert.equal(c.attrs.classname, f.id.split(".")[0]);
        const failure = c.children.find((x) => x.name === "failure");
        assert.equal(!!failure, failsAt(f, failOn), `${f.id} (${f.status}, ${f.level}) at ${failOn}`);
        assert.equal(!!c.children.find((x) => x.name === "skipped"), f.status === "SKIP", `${f.id} skipped`);
      }
      assert.equal(root.attrs.failures, String(report.findings.filter((f) => failsAt(f, failOn)).length));
      const pkce = cases.find((x) => x.attrs.name === byId(report, "as.pkce-s256").title);
      const message = pkce?.children.find((x) => x.name === "failure")?.attrs.message ?? "";
      assert.ok(message.includes('a<b&c]]>d\\"e\\u0000f\\udc00g\\ud800h\\uFFFF'), message);
      const scope = cases.find((x) => x.attrs.name === byId(report, "scope.advice").title);
      const out = scope?.children.find((x) => x.name === "system-out")?.text ?? "";
      assert.ok(out.endsWith('mcp a<b&c]]>d"e\\u0000f\\uDC00g\\uD800h\\uFFFF'), out);
    }
  });

  test("SARIF 2.1.0: version, $schema, one run, tool.driver.name and rules; a result per FAIL and WARN with ruleId, message.text, level, location", async () => {
    const { code, stdout } = await run([url.must, "--format", "sarif"]);
    assert.equal(code, 1);
    const sarif = JSON.parse(stdout) as {
      version: string;
      $schema: string;
      runs: {
        tool: {
          driver: { name: string; rules: { id: string; helpUri?: string; defaultConfiguration: { level: string } }[] };
        };
        originalUriBaseIds: Record<string, { uri: string }>;
        results: {
          ruleId: string;
          ruleIndex: number;
          level: string;
          message: { text: string };
          locations: { physicalLocation: { artifactLocation: { uri: string; uriBaseId: string } } }[];
        }[];
      }[];
    };
    assert.equal(sarif.version, "2.1.0");
    assert.match(sarif.$schema, /sarif-2\.1\.0\.json$/);
    assert.equal(sarif.runs.length, 1);
    const [run0] = sarif.runs;
    assert.ok(run0, "one run");
    assert.equal(run0.tool.driver.name, "protected-mcp audit");
    const rules = run0.tool.driver.rules;
    assert.deepEqual(
      rules.map((r) => r.id),
      report.findings.map((f) => f.id),
    );
    for (const r of rules) {
      const f = byId(report, r.id);
      assert.equal(r.defaultConfiguration.level, { MUST: "error", SHOULD: "warning", MAY: "note" }[f.level], r.id);
    }
    assert.equal(
      rules.find((r) => r.id === "refuse.garbage")?.helpUri,
      "https://www.rfc-editor.org/rfc/rfc6750#section-3.1",
    );
    const flagged = report.findings.filter((f) => f.status === "FAIL" || f.status === "WARN");
    assert.deepEqual(
      run0.results.map((r) => r.ruleId),
      flagged.map((f) => f.id),
    );
    for (const r of run0.results) {
      assert.equal(rules[r.ruleIndex]?.id, r.ruleId);
      assert.ok(["error", "warning", "note"].includes(r.level), r.ruleId);
      assert.ok(r.message.text.length > 0, r.ruleId);
      const loc = r.locations[0]?.physicalLocation.artifactLocation;
      assert.equal(new URL(loc?.uri ?? "", run0.originalUriBaseIds[loc?.uriBaseId ?? ""]?.uri).href, url.must);
    }
    assert.equal(run0.results.find((r) => r.ruleId === "as.pkce-s256")?.level, "error");
    assert.equal(run0.results.find((r) => r.ruleId === "tokens.not-echoed")?.level, "warning");
  });
});

describe("the formatters on their own", () => {
  const raw = `t${EVIL}\u0001\u001b[2J\u202e`;
  const report: AuditReport = {
    target: "https://mcp.example.com/",
    findings: [
      { id: "x.fail", title: raw, spec: "RFC 6750 §3", level: "MUST", status: "FAIL", evidence: raw },
      { id: "x.warn", title: "w", spec: "MCP authz §2.4", level: "SHOULD", status: "WARN", evidence: raw },
      { id: "y.skip", title: "s", spec: "Fetch: CORS", level: "MAY", status: "SKIP", evidence: raw },
      { id: "y.pass", title: "p", spec: "nowhere", level: "MAY", status: "PASS", evidence: raw },
    ],
    not_run: [],
    requests: 4,
    summary: { PASS: 1, WARN: 1, FAIL: 1, SKIP: 1 },
    fail_on: "should",
    exit_code: 1,
  };

  test("formatJunit: raw NUL, C0, ESC, lone surrogates, U+FFFF, markup and ]]> in every field still give well-formed XML", () => {
    const root = parseXml(formatJunit(report));
    const spelled = 'ta<b&c]]>d"e\\u0000f\\uDC00g\\uD800h\\uFFFF\\u0001\\u001B[2J\\u202E';
    const c = all(root, "testcase")[0];
    assert.equal(c?.attrs.name, spelled);
    assert.equal(c?.children[0]?.name, "failure");
    assert.equal(c?.children[0]?.attrs.message, spelled);
    assert.equal(all(root, "skipped").length, 1);
    assert.equal(xmlText("]]>"), "]]&gt;");
  });

  test("formatSarif: valid JSON, the root target as '.', MAY WARN as note, no helpUri where the spec has no address", () => {
    const sarif = JSON.parse(formatSarif(report)) as {
      runs: {
        results: { ruleId: string; level: string; locations: unknown[] }[];
        tool: { driver: { rules: { id: string; helpUri?: string }[] } };
      }[];
    };
    const results = sarif.runs[0]?.results ?? [];
    assert.deepEqual(
      results.map((r) => [r.ruleId, r.level]),
      [
        ["x.fail", "error"],
        ["x.warn", "warning"],
      ],
    );
    assert.deepEqual(results[0]?.locations, [
      { physicalLocation: { artifactLocation: { uri: ".", uriBaseId: "TARGET" } } },
    ]);
    assert.equal(sarif.runs[0]?.tool.driver.rules.find((r) => r.id === "y.pass")?.helpUri, undefined);
    assert.equal(
      specUri("MCP 2026-07-28 server/discover; RFC 9728 §5.1"),
      "https://www.rfc-editor.org/rfc/rfc9728#section-5.1",
    );
  });

  test("formatTable at should: a MAY group, and the verdict counts the SHOULD-or-stricter FAIL", () => {
    const out = formatTable(report);
    assert.match(out, /^MAY \(2 checks\)$/m);
    assert.match(out, /^Exit 1: 1 FAIL at MUST or SHOULD \(x\.fail\); --fail-on should\.$/m);
  });
});

test("docs/audit.md's level table names every check once, with the level the check has", async () => {
  const { readFile } = await import("node:fs/promises");
  const doc = await readFile(new URL("../../docs/audit.md", import.meta.url), "utf8");
  const section = doc.slice(doc.indexOf("## Requirement levels"), doc.indexOf("## `--fail-on`"));
  const documented = new Map<string, string>();
  for (const m of section.matchAll(/^\| (`[^|]+`) \| (MUST|SHOULD|MAY) \|/gm)) {
    for (const id of (m[1] as string).split(", ")) {
      const bare = id.replace(/`/g, "");
      assert.ok(!documented.has(bare), `${bare} documented twice`);
      documented.set(bare, m[2] as string);
    }
  }
  assert.deepEqual([...documented].sort(), CHECKS.map((c) => [c.id, c.level]).sort());
});
