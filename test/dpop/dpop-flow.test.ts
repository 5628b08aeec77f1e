/**
 * The whole DPoP story on one machine: the embedded authorization server binds the token to the
 * client's key at /token, and the resource accepts it only with fresh proofs from that key.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { connectWithDpop } from "../../examples/dpop-client.js";
import { startDemo, type Demo } from "../../examples/quickstart/demo.js";
import { freePortPair } from "../helpers/dev-as.js";
import { MCP_HEADERS, toolCall } from "../helpers/mcp.js";

let demo: Demo;
before(async () => {
  demo = await startDemo({ port: await freePortPair(), log: () => {} });
});
after(() => demo.close());

test("oauth4webapi gets a DPoP-bound token from the dev AS and calls tools through the SDK client", async () => {
  const { client, token, jkt } = await connectWithDpop(demo.url, "alice");
  try {
    const who = (await client.callTool({ name: "whoami", arguments: {} })).structuredContent as {
      subject: string;
      dpop_jkt: string;
    };
    assert.equal(who.subject, "alice");
    assert.equal(who.dpop_jkt, jkt);
    // The same token without the key: as Bearer, or as DPoP without a proof, it is worthless.
    const asBearer = await fetch(demo.url, {
      method: "POST",
      headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` },
      body: toolCall("whoami"),
    });
    assert.equal(asBearer.status, 401);
    assert.match(
      asBearer.headers.get("www-authenticate") ?? "",
      /error="invalid_token", error_description="A DPoP-bound access token must use the DPoP authorization scheme"/,
    );
    const noProof = await fetch(demo.url, {
      method: "POST",
      headers: { ...MCP_HEADERS, authorization: `DPoP ${token}` },
      body: toolCall("whoami"),
    });
    assert.equal(noProof.status, 401);
    assert.match(noProof.headers.get("www-authenticate") ?? "", /error="invalid_dpop_proof"/);
  } finally {
    await client.close();
  }
});
