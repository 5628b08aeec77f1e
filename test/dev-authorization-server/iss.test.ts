/**
 * RFC 9207 with a client that checks `iss`: oauth4webapi's `validateAuthResponse`. Two development
 * authorization servers on loopback; a response from one is accepted for it and refused when the
 * client expects the other (the mix-up attack RFC 9207 prevents), or when `iss` is missing.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as oauth from "oauth4webapi";
import {
  startDevAuthorizationServer,
  type RunningDevAuthorizationServer,
} from "../../src/dev-authorization-server/index.js";
import { approveConsent } from "../../examples/oauth-client.js";

const RESOURCE = "http://127.0.0.1:8000/mcp";
const REDIRECT = "http://127.0.0.1:33419/callback";
const insecure = { [oauth.allowInsecureRequests]: true } as const;
let a: RunningDevAuthorizationServer;
let b: RunningDevAuthorizationServer;

before(async () => {
  a = await startDevAuthorizationServer({ resources: [RESOURCE], on_warning: () => {} });
  b = await startDevAuthorizationServer({ resources: [RESOURCE], on_warning: () => {} });
});
after(async () => {
  await a.close();
  await b.close();
});

async function discover(issuer: string): Promise<oauth.AuthorizationServer> {
  const url = new URL(issuer);
  return oauth.processDiscoveryResponse(url, await oauth.discoveryRequest(url, { ...insecure, algorithm: "oauth2" }));
}

/** Register with oauth4webapi, then run the authorization request through the consent page. */
async function authorizationResponse(as: oauth.AuthorizationServer, decision: "approve" | "deny" = "approve") {
  const client = (await oauth.processDynamicClientRegistrationResponse(
    await oauth.dynamicClientRegistrationRequest(
      as,
      {
        redirect_uris: [REDIRECT],
        token_endpoint_auth_method: "none",
        application_type: "native",
        client_name: "oauth4webapi",
      },
      insecure,
    ),
  )) as oauth.Client;
  assert.equal(client.application_type, "native", "application_type is echoed");
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const url = new URL(as.authorization_endpoint!);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: client.client_id,
    redirect_uri: REDIRECT,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    state,
    resource: RESOURCE,
  }).toString();
  const redirect = await approveConsent(url, "alice", decision);
  return { client, verifier, state, redirect };
}

function isIssuerRefusal(expectedIssuer: string) {
  return (err: unknown) => {
    assert.ok(err instanceof oauth.OperationProcessingError, "an OperationProcessingError");
    assert.equal(err.code, oauth.INVALID_RESPONSE);
    assert.match(err.message, /"iss"/);
    if (expectedIssuer) assert.equal((err.cause as { expected?: string }).expected, expectedIssuer);
    return true;
  };
}

describe("RFC 9207 iss, checked by oauth4webapi", () => {
  test("metadata says authorization_response_iss_parameter_supported; the response's iss passes and the code redeems", async () => {
    const asB = await discover(b.issuer);
    assert.equal(asB.authorization_response_iss_parameter_supported, true);
    const { client, verifier, state, redirect } = await authorizationResponse(asB);
    assert.equal(redirect.searchParams.get("iss"), b.issuer);
    const params = oauth.validateAuthResponse(asB, client, redirect, state);
    const tokens = await oauth.processAuthorizationCodeResponse(
      asB,
      client,
      await oauth.authorizationCodeGrantRequest(asB, client, oauth.None(), params, REDIRECT, verifier, {
        ...insecure,
        additionalParameters: { resource: RESOURCE },
      }),
    );
    assert.equal(tokens.token_type.toLowerCase(), "bearer");
    assert.ok(tokens.access_token, "the token answer carries an access token");
  });

  test("mix-up: a response from server B validated as if from server A is refused", async () => {
    const asA = await discover(a.issuer);
    const asB = await discover(b.issuer);
    const { client, state, redirect } = await authorizationResponse(asB);
    assert.throws(() => oauth.validateAuthResponse(asA, client, redirect, state), isIssuerRefusal(a.issuer));
    // The very same response is fine for the server that sent it.
    assert.ok(
      oauth.validateAuthResponse(asB, client, redirect, state).get("code"),
      "the authorization response carries a code",
    );
  });

  test("a tampered or missing iss is refused", async () => {
    const asA = await discover(a.issuer);
    const { client, state, redirect } = await authorizationResponse(asA);
    const tampered = new URL(redirect);
    tampered.searchParams.set("iss", `${a.issuer}/`);
    assert.throws(() => oauth.validateAuthResponse(asA, client, tampered, state), isIssuerRefusal(a.issuer));
    const stripped = new URL(redirect);
    stripped.searchParams.delete("iss");
    assert.throws(() => oauth.validateAuthResponse(asA, client, stripped, state), isIssuerRefusal(""));
  });

  test("error responses carry iss too: a denial is reported as the server's error, after the iss check", async () => {
    const asA = await discover(a.issuer);
    const asB = await discover(b.issuer);
    const { client, state, redirect } = await authorizationResponse(asA, "deny");
    assert.equal(redirect.searchParams.get("iss"), a.issuer);
    assert.throws(
      () => oauth.validateAuthResponse(asA, client, redirect, state),
      (err: unknown) => {
        assert.ok(err instanceof oauth.AuthorizationResponseError, "an AuthorizationResponseError");
        assert.equal(err.error, "access_denied");
        return true;
      },
    );
    assert.throws(() => oauth.validateAuthResponse(asB, client, redirect, state), isIssuerRefusal(b.issuer));
  });
});
