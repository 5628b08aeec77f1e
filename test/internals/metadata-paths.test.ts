import { test } from "node:test";
import assert from "node:assert/strict";
import { metadataPaths, resourceMetadataUrl } from "../../src/protect/metadata.js";

test("path helpers", () => {
  assert.deepEqual(metadataPaths("/.well-known/oauth-protected-resource", "https://a.example/mcp"), [
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp",
  ]);
  assert.deepEqual(metadataPaths("/.well-known/oauth-protected-resource", "https://a.example/"), [
    "/.well-known/oauth-protected-resource",
  ]);
  assert.equal(
    resourceMetadataUrl("/.well-known/oauth-protected-resource", "https://a.example/t/mcp"),
    "https://a.example/.well-known/oauth-protected-resource/t/mcp",
  );
  assert.equal(
    resourceMetadataUrl("/.well-known/oauth-protected-resource/custom", "https://a.example/mcp"),
    "https://a.example/.well-known/oauth-protected-resource/custom",
  );
});
