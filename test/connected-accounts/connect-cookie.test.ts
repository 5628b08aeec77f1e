/**
 * The connect flow's cookie on an https origin: `__Host-` prefixed, Secure, HttpOnly, SameSite=Lax,
 * Path=/, no Domain, living no longer than the link; and the page that sets it is never cached or framed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createConnectRoutes } from "../../src/connected-accounts/connect-routes.js";
import { MemoryTokenVault } from "../../src/connected-accounts/vault.js";
import { keyProvider } from "../helpers/connect.js";

test("https: the flow cookie is __Host-, Secure, HttpOnly, SameSite=Lax, Path=/, bounded by the link's life", async () => {
  let now = 1_800_000_000_000;
  const clock = () => now;
  const vault = new MemoryTokenVault({ clock });
  const routes = createConnectRoutes({
    base_path: "/connect",
    origin: "https://mcp.example.com",
    providers: new Map([[keyProvider.name, keyProvider]]),
    vault,
    sign_in: { identify: () => ({ issuer: "https://as.example.com", subject: "alice" }) },
    authorization_server: "https://as.example.com",
    resource: "https://mcp.example.com/mcp",
    verify_token: () => Promise.reject(new Error("not used")),
    fetch: () => Promise.reject(new Error("no network")),
    clock,
    on_connected: () => {},
  });
  const handle = "h".repeat(43);
  await vault.putTransient(
    `handle:${handle}`,
    {
      issuer: "https://as.example.com",
      subject: "alice",
      provider: keyProvider.name,
      elicitation_id: "e1",
      expires_at: Math.floor(now / 1000) + 300,
    },
    300_000,
  );
  now += 60_000;
  const res = await routes.handle(new Request(`https://mcp.example.com/connect/start?handle=${handle}`));
  assert.equal(res.status, 200, "the confirmation page");
  const cookie = res.headers.get("set-cookie") ?? "";
  assert.match(cookie, /^__Host-protected-mcp-connect=[A-Za-z0-9_-]{43};/, "a __Host- cookie holding only a random id");
  const attributes = cookie.split(";").map((a) => a.trim().toLowerCase());
  for (const a of ["path=/", "httponly", "samesite=lax", "secure"])
    assert.ok(attributes.includes(a), `${a}: ${cookie}`);
  assert.ok(!attributes.some((a) => a.startsWith("domain=")), "no Domain (a __Host- cookie must not have one)");
  const maxAge = Number(attributes.find((a) => a.startsWith("max-age="))?.split("=")[1]);
  assert.ok(maxAge > 0 && maxAge <= 240, `Max-Age within the link's remaining 240 s, not ${maxAge}`);
  assert.equal(res.headers.get("cache-control"), "no-store", "never cached");
  assert.match(res.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/, "never framed");
  assert.doesNotMatch(await res.text(), /<script/i, "no script");
});
