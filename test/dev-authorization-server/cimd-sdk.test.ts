/**
 * The official SDK client (1.32, `clientMetadataUrl`) against the demo with Client ID Metadata
 * Documents: the metadata document is served over real TLS from a loopback https server with a
 * throwaway certificate; the authorization server is given a fetch that trusts only that certificate.
 * 401 → discovery → no registration → PKCE + consent with the URL as client_id → token → tool call.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { decodeJwt } from "jose";
import { startDemo, type Demo } from "../../examples/quickstart/demo.js";
import { connectWithOAuth, HeadlessOAuthProvider, REDIRECT_URL } from "../../examples/oauth-client.js";
import { freePortPair } from "../helpers/dev-as.js";
import {
  hasOpenssl,
  httpsFetchTrusting,
  jsonRoute,
  selfSignedCertificate,
  startDocServer,
  type DocServer,
} from "../helpers/cimd.js";

const available = hasOpenssl();
let demo: Demo | undefined;
let docs: DocServer | undefined;
const fetched: string[] = [];

before(async () => {
  if (!available) {
    if (process.env.CI === "true")
      throw new Error("openssl is required in CI to make the test certificate: not found on PATH");
    return;
  }
  const tls = selfSignedCertificate();
  docs = await startDocServer(tls);
  const trusting = httpsFetchTrusting(tls.cert);
  demo = await startDemo({
    port: await freePortPair(),
    log: () => {},
    client_id_metadata_documents: {
      // The document server is on 127.0.0.1: loopback must be allowed explicitly.
      allow_loopback: true,
      fetch: (url, init) => {
        fetched.push(url);
        return trusting(url, init);
      },
    },
  });
});
after(async () => {
  await demo?.close();
  await docs?.close();
});

test("SDK client with clientMetadataUrl: no registration, the URL is the client_id end to end", async (t) => {
  if (!demo || !docs)
    return t.skip("needs openssl on PATH to make a test certificate (apt-get install openssl); CI never skips");
  const clientId = `${docs.origin}/oauth/client-metadata.json`;
  docs.routes.set(
    "/oauth/client-metadata.json",
    jsonRoute(
      {
        client_id: clientId,
        client_name: "SDK CIMD client",
        redirect_uris: [REDIRECT_URL],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        token_endpoint_auth_method: "none",
      },
      { "cache-control": "max-age=600" },
    ),
  );
  const provider = new HeadlessOAuthProvider("carol", clientId);
  const client = await connectWithOAuth(demo.url, provider);
  try {
    const who = (await client.callTool({ name: "whoami", arguments: {} })).structuredContent as {
      subject: string;
      client_id: string;
    };
    assert.equal(who.subject, "carol");
    assert.equal(who.client_id, clientId, "the resource server sees the URL as client_id");
  } finally {
    await client.close();
  }
  assert.equal(provider.clientInformation()?.client_id, clientId, "the SDK used the URL instead of registering");
  assert.equal(decodeJwt(provider.tokens()!.access_token).client_id, clientId);
  assert.deepEqual(fetched, [clientId], "fetched once over https; consent and token used the cache");
  assert.equal(docs.hits.get("/oauth/client-metadata.json"), 1);
});

test("SDK client whose document lists another redirect URI never gets a code", async (t) => {
  if (!demo || !docs)
    return t.skip("needs openssl on PATH to make a test certificate (apt-get install openssl); CI never skips");
  const clientId = `${docs.origin}/oauth/foreign.json`;
  docs.routes.set(
    "/oauth/foreign.json",
    jsonRoute({ client_id: clientId, client_name: "Foreign", redirect_uris: ["https://elsewhere.example/callback"] }),
  );
  const provider = new HeadlessOAuthProvider("carol", clientId);
  await assert.rejects(connectWithOAuth(demo.url, provider), /authorization page failed: HTTP 400/);
  assert.equal(provider.code, undefined);
  assert.equal(provider.tokens(), undefined);
});
