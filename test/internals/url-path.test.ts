/** pathnameOf agrees with `new URL(href).pathname` on serialized request URLs. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { pathnameOf } from "../../src/lib/url-path.js";
import { rng } from "../helpers/prng.js";

test("pathnameOf equals new URL(href).pathname on 20,000 generated request URLs, and on hand-picked ones", () => {
  const next = rng(11);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] as T;
  const schemes = ["http://", "https://", "HTTP://", "ws://", "file://"];
  const userinfo = ["", "u@", "u:p@", "a%2Fb@", "x/y:z@"];
  const hosts = [
    "127.0.0.1",
    "localhost",
    "[::1]",
    "example.com",
    "EXAMPLE.com",
    "xn--bcher-kva.example",
    "bücher.example",
  ];
  const ports = ["", ":80", ":443", ":8080", ":"];
  const paths = [
    "",
    "/",
    "/mcp",
    "/mcp/",
    "//x",
    "/a/../b",
    "/%2F",
    "/é",
    "/a b",
    "/.well-known/oauth-protected-resource/mcp",
    "\\mcp",
    "/a?b",
    "/a#b",
  ];
  const queries = ["", "?", "?a=1", "?access_token=x", "?/x#y", "?a#b"];
  const fragments = ["", "#", "#x", "#/y?z"];
  let checked = 0;
  for (let i = 0; i < 20_000; i++) {
    const raw =
      pick(schemes) + pick(userinfo) + pick(hosts) + pick(ports) + pick(paths) + pick(queries) + pick(fragments);
    if (!URL.canParse(raw)) continue;
    const href = new URL(raw).href; // what Request.url and the Node adapter's view hold
    assert.equal(pathnameOf(href), new URL(href).pathname, href);
    checked++;
  }
  assert.ok(checked > 10_000, `only ${checked} URLs parsed`);
  for (const href of ["http://h", "http://h?x", "http://h#/x", "https://h:8443/mcp?x=/y#/z", "http://h/a%3Fb"]) {
    assert.equal(pathnameOf(href), new URL(href).pathname, href);
  }
});
