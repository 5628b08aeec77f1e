import { test } from "node:test";
import assert from "node:assert/strict";
import { missingScopesResult } from "../../src/items/tools.js";

test("the refusal text lists required and missing scopes in the contract's format", () => {
  assert.deepEqual(missingScopesResult("t", ["a", "b"], ["b"]), {
    isError: true,
    content: [{ type: "text", text: "Tool \"t\" requires scopes: ['a', 'b']. Missing: ['b']" }],
  });
});
