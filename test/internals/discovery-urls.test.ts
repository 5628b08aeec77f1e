import { test } from "node:test";
import assert from "node:assert/strict";
import { metadataUrls } from "../../src/validators/discovery.js";

test("metadata URLs: RFC 8414 path insertion first, then OpenID Connect inserted and appended", () => {
  assert.deepEqual(metadataUrls("https://as.example.com"), [
    "https://as.example.com/.well-known/oauth-authorization-server",
    "https://as.example.com/.well-known/openid-configuration",
  ]);
  assert.deepEqual(metadataUrls("https://as.example.com/"), [
    "https://as.example.com/.well-known/oauth-authorization-server",
    "https://as.example.com/.well-known/openid-configuration",
  ]);
  assert.deepEqual(metadataUrls("https://kc.example.com/realms/mcp"), [
    "https://kc.example.com/.well-known/oauth-authorization-server/realms/mcp",
    "https://kc.example.com/.well-known/openid-configuration/realms/mcp",
    "https://kc.example.com/realms/mcp/.well-known/openid-configuration",
  ]);
});
