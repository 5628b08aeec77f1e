/**
 * examples/token-exchange.ts — the token-exchange guide's two tools against the development
 * authorization server — runs as the guide prints it, and the guide's blocks use the audience the
 * example (and the guide's configuration) allows.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { REPORTS_AUDIENCE, runTokenExchangeExample, startTokenExchangeExample } from "../examples/token-exchange.js";
import { connectClient } from "../src/testing/index.js";

test(
  "npx tsx examples/token-exchange.ts: both tools reach the reports API as alice, the MCP token itself is refused there",
  { timeout: 60_000 },
  async () => {
    const lines: string[] = [];
    await runTokenExchangeExample((l) => lines.push(l));
    assert.equal(lines.length, 3, lines.join("\n"));
    assert.equal(
      lines[0],
      'tools/call latest_report → {"report":"Q3 revenue","subject":"alice","actor":"mcp-server","audience":"reports-api","scope":"reports:read"}',
    );
    assert.match(
      lines[1]!,
      /^tools\/call reports_token → \{"scope":"reports:read","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","expires_at":\d+\}$/,
    );
    assert.match(lines[2]!, /^the MCP token sent to the reports API directly → 401 Bearer .*error="invalid_token"/);
  },
);

test(
  "a caller without reports:read: the exchange is refused (never wider than the subject token) and the tool answers isError",
  { timeout: 60_000 },
  async () => {
    const example = await startTokenExchangeExample({ log: () => {} });
    try {
      const { access_token } = await example.as.server.issueAccessToken({ subject: "bob", scopes: ["mcp:read"] });
      const client = await connectClient(example.url, { token: access_token });
      try {
        for (const name of ["latest_report", "reports_token"]) {
          const result = await client.callTool({ name, arguments: {} });
          assert.equal(result.isError, true, `${name} without reports:read is an isError result`);
          assert.match(JSON.stringify(result.content), /reports-api/, `${name}'s error names the audience`);
        }
      } finally {
        await client.close();
      }
    } finally {
      await example.close();
    }
  },
);

test("docs/token-exchange.md: every audience its blocks name is the example's, and the guide points at the example", () => {
  const guide = readFileSync(new URL("../docs/token-exchange.md", import.meta.url), "utf8");
  const blocks = [...guide.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.ok(blocks.length >= 3, `the guide has its ts blocks (found ${blocks.length})`);
  const audiences = blocks.flatMap((b) =>
    [...b.matchAll(/audience: "([^"]+)"|audiences: \{ "([^"]+)"/g)].map((m) => m[1] ?? m[2]!),
  );
  assert.ok(audiences.length >= 3, `the blocks name audiences (found ${audiences.join(", ")})`);
  assert.deepEqual([...new Set(audiences)], [REPORTS_AUDIENCE], "the tools call the audience the configuration allows");
  assert.match(guide, /npx tsx examples\/token-exchange\.ts/);
});
