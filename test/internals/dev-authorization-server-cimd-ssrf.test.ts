/**
 * Client ID Metadata Document fetches cannot be aimed inside the server's network (SSRF): private,
 * loopback, link-local, CGNAT, unique-local and other special-purpose addresses are refused, as
 * literals and as DNS answers, before any connection; loopback only with `allow_loopback`; and the
 * default fetch connects to the very address it checked (no second DNS resolution to rebind).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createDevAuthorizationServer } from "../../src/dev-authorization-server/index.js";
import { addressPolicy } from "../../src/dev-authorization-server/client-metadata-document.js";
import { isForbiddenAddress, isLoopbackAddress } from "../../src/dev-authorization-server/lib/address.js";
import { authorizeUrl, call, form, pkce } from "../helpers/dev-as.js";
import { startDocServer, type DocServer } from "../helpers/cimd.js";

const ISSUER = "http://127.0.0.1:8001";
const REDIRECT = "http://127.0.0.1:9999/callback";
const FORBIDDEN_DESCRIPTION =
  "The client_id URL points to a forbidden address (private, link-local, unique-local, CGNAT or another special-purpose range)";
const LOOPBACK_DESCRIPTION =
  "The client_id URL points to a loopback address (dev authorization server option `client_id_metadata_documents.allow_loopback` allows it for local testing)";

let docs: DocServer;
before(async () => {
  docs = await startDocServer();
});
after(() => docs.close());

function make(cimd: Record<string, unknown>) {
  return createDevAuthorizationServer({
    issuer: ISSUER,
    resources: ["http://127.0.0.1:8000/mcp"],
    client_id_metadata_documents: { timeout_ms: 1000, ...cimd },
  });
}

/** /token with a URL client_id: the refusal is 401 invalid_client with the address problem as description. */
async function tokenRefusal(as: Awaited<ReturnType<typeof make>>, clientId: string) {
  const res = await call(
    as,
    "/token",
    form({
      grant_type: "authorization_code",
      code: "x".repeat(43),
      client_id: clientId,
      redirect_uri: REDIRECT,
      code_verifier: "v".repeat(43),
    }),
  );
  return { status: res.status, body: await res.json() };
}

describe("address policy", () => {
  const forbidden = [
    "0.0.0.0",
    "0.1.2.3",
    "10.0.0.1",
    "10.255.255.1",
    "100.64.0.1",
    "100.127.255.254",
    "100.100.100.200",
    "169.254.169.254",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "192.0.2.7",
    "198.18.0.1",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "fc00::1",
    "fd00:ec2::254",
    "fe80::1",
    "febf::1",
    "ff02::1",
    "2001:db8::1",
    "::ffff:10.0.0.1",
    "::ffff:a9fe:a9fe",
    "::ffff:192.168.0.1",
    "::ffff:100.64.0.1",
    "::10.0.0.1",
    "64:ff9b::a00:1",
    "64:ff9b::169.254.169.254",
    "2002:c0a8:101::1",
    "not-an-ip",
    "fe80::1%eth0",
    "::1%lo",
  ];
  for (const a of forbidden) {
    test(`${a} is forbidden`, () => {
      assert.equal(isForbiddenAddress(a), true);
      assert.equal(addressPolicy([a], false, true), FORBIDDEN_DESCRIPTION);
    });
  }
  for (const a of ["127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1"]) {
    test(`${a} is loopback: refused by default, allowed with allow_loopback`, () => {
      assert.equal(isForbiddenAddress(a), false);
      assert.equal(isLoopbackAddress(a), true);
      assert.equal(addressPolicy([a], false, false), LOOPBACK_DESCRIPTION);
      assert.equal(addressPolicy([a], false, true), undefined);
    });
  }
  for (const a of [
    "93.184.215.14",
    "8.8.8.8",
    "100.63.255.255",
    "100.128.0.0",
    "172.32.0.1",
    "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
    "64:ff9b::808:808",
  ]) {
    test(`${a} is public`, () => {
      assert.equal(isForbiddenAddress(a), false);
      assert.equal(addressPolicy([a], false, false), undefined);
    });
  }
  test("one forbidden address among public ones is enough to refuse", () => {
    assert.equal(addressPolicy(["93.184.215.14", "10.0.0.1"], false, false), FORBIDDEN_DESCRIPTION);
  });
});

describe("at the server", () => {
  test("https://10.255.255.1/… (literal private address) is refused before any connection or lookup", async () => {
    const seen: string[] = [];
    const as = await make({
      fetch: async (u: string) => (seen.push(`fetch ${u}`), Response.json({})),
      lookup: async (h: string) => (seen.push(`lookup ${h}`), []),
    });
    const clientId = "https://10.255.255.1/client.json";
    assert.deepEqual(await tokenRefusal(as, clientId), {
      status: 401,
      body: { error: "invalid_client", error_description: FORBIDDEN_DESCRIPTION },
    });
    const page = await call(
      as,
      authorizeUrl(as, {
        response_type: "code",
        client_id: clientId,
        redirect_uri: REDIRECT,
        code_challenge: pkce().challenge,
        code_challenge_method: "S256",
      }),
    );
    assert.equal(page.status, 400);
    assert.equal(page.headers.get("location"), null);
    assert.deepEqual(seen, []);
  });

  for (const [host, address] of [
    ["cgnat.test", "100.64.1.1"],
    ["ula.test", "fd12:3456::1"],
    ["mapped.test", "::ffff:172.16.5.4"],
    ["private.test", "192.168.0.10"],
  ] as const) {
    test(`a hostname resolving to ${address} is refused before any connection`, async () => {
      const seen: string[] = [];
      const as = await make({
        fetch: async (u: string) => (seen.push(`fetch ${u}`), Response.json({})),
        lookup: async (h: string) => (
          seen.push(`lookup ${h}`),
          [
            { address: "93.184.215.14", family: 4 },
            { address, family: address.includes(":") ? 6 : 4 },
          ]
        ),
      });
      assert.deepEqual(await tokenRefusal(as, `https://${host}/client.json`), {
        status: 401,
        body: { error: "invalid_client", error_description: FORBIDDEN_DESCRIPTION },
      });
      assert.deepEqual(seen, [`lookup ${host}`]);
    });
  }

  test("a loopback document server is refused by default (no request reaches it)", async () => {
    const as = await make({});
    docs.hits.clear();
    assert.deepEqual(await tokenRefusal(as, `${docs.origin}/client.json`), {
      status: 401,
      body: { error: "invalid_client", error_description: LOOPBACK_DESCRIPTION },
    });
    assert.equal(docs.hits.size, 0);
  });

  test("the default fetch connects to the checked address: the name is resolved once, and sent as Host", async () => {
    const port = new URL(docs.origin).port;
    const clientId = `http://localhost:${port}/pinned.json`;
    let host: string | undefined;
    docs.routes.set("/pinned.json", (req, res) => {
      host = req.headers.host;
      const text = JSON.stringify({ client_id: clientId, client_name: "Pinned", redirect_uris: [REDIRECT] });
      res.writeHead(200, { "content-type": "application/json" }).end(text);
    });
    const lookups: string[] = [];
    // The first answer is the one checked; a rebinding resolver would answer differently next time,
    // which the default fetch must never ask.
    const answers = [[{ address: "127.0.0.1", family: 4 }], [{ address: "10.0.0.1", family: 4 }]];
    const as = await make({
      allow_loopback: true,
      lookup: async (h: string) => (lookups.push(h), answers[lookups.length - 1] ?? []),
    });
    const page = await call(
      as,
      authorizeUrl(as, {
        response_type: "code",
        client_id: clientId,
        redirect_uri: REDIRECT,
        code_challenge: pkce().challenge,
        code_challenge_method: "S256",
      }),
    );
    assert.equal(page.status, 200);
    assert.deepEqual(lookups, ["localhost"]);
    assert.equal(host, `localhost:${port}`);
  });

  test("… and only that address: a checked 127.0.0.2 is where it connects, although localhost resolves to the server's 127.0.0.1", async () => {
    const port = new URL(docs.origin).port;
    docs.hits.clear();
    const as = await make({ allow_loopback: true, lookup: async () => [{ address: "127.0.0.2", family: 4 }] });
    // Nothing listens on 127.0.0.2: a fetch that resolved "localhost" again would reach the document server.
    assert.deepEqual(await tokenRefusal(as, `http://localhost:${port}/pinned.json`), {
      status: 401,
      body: { error: "invalid_client", error_description: "The client metadata document could not be fetched" },
    });
    assert.equal(docs.hits.size, 0);
  });
});
