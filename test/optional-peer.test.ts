/** The SDK v2 packages are an optional peer: without them the v1 path works and engine "v2" says what to install. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

test("without @modelcontextprotocol/server installed: v1 serves, engine v2 is refused at startup with an install hint", () => {
  const hook = new URL("./fixtures/hide-sdk-v2.mjs", import.meta.url).href;
  const register = `data:text/javascript,import{register}from"node:module";register(${JSON.stringify(hook)});`;
  const out = execFileSync(
    process.execPath,
    ["--import", register, "--import", "tsx", fileURLToPath(new URL("./fixtures/without-sdk-v2.ts", import.meta.url))],
    {
      encoding: "utf8",
      timeout: 60_000,
    },
  );
  const result = JSON.parse(out.trim().split("\n").pop()!);
  assert.equal(result.v1, 200);
  assert.match(
    result.message,
    /optional peer dependency "@modelcontextprotocol\/server" \(>= 2\.4\): npm install @modelcontextprotocol\/server/,
  );
});
