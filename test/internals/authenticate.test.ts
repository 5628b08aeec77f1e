import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { authenticateCachedFirst } from "../../src/protect/authenticate.js";
import { parseAuthorizationConfig } from "../../src/config.js";
import { createAuthContext } from "../../src/context/request-context.js";
import { MAX_TOKEN_LENGTH } from "../../src/protect/credentials.js";
import { InvalidDpopProof } from "../../src/errors.js";
import { authenticate, type AuthContext, type AuthorizationProvider, type DpopCheck } from "../../src/index.js";

const RESOURCE = "https://mcp.example.com/mcp";
const code = (e: unknown) => (e as { code?: string }).code;

/** A provider whose cache answers `cached` (or throws `probeError`), counting both kinds of call. */
function countingProvider(cached: AuthContext | undefined, opts: { probeError?: Error; verified?: AuthContext } = {}) {
  const calls = { verifyCached: 0, verify: 0 };
  const provider: AuthorizationProvider = {
    verifyCached(token, context) {
      calls.verifyCached++;
      assert.equal(token, "tok");
      assert.equal(context.resource, RESOURCE);
      if (opts.probeError) throw opts.probeError;
      return cached;
    },
    async verify() {
      calls.verify++;
      return opts.verified ?? cached ?? principal();
    },
  };
  return { provider, calls };
}

const principal = (extra: Partial<Omit<AuthContext, "token">> = {}) =>
  createAuthContext(
    {
      subject: "alice",
      scopes: ["read"],
      claims: {},
      client_id: undefined,
      issuer: undefined,
      jkt: undefined,
      expires_at: Math.floor(Date.now() / 1000) + 60,
      ...extra,
    },
    "tok",
  );

const request = (authorization: string, dpop?: string) =>
  new Request(RESOURCE, { method: "POST", headers: { authorization, ...(dpop ? { dpop } : {}) } });

const options = (provider: AuthorizationProvider, config: Record<string, unknown> = {}, dpop?: DpopCheck) => ({
  config: parseAuthorizationConfig({
    enabled: true,
    authorization_servers: ["https://as.example"],
    resource: RESOURCE,
    ...config,
  }),
  provider,
  resource: RESOURCE,
  dpop,
});

describe("authorize: a cached bearer token is accepted without a promise", () => {
  test("a cache hit is returned as it is, synchronously, and verify is not called", () => {
    const auth = principal();
    const { provider, calls } = countingProvider(auth);
    const decided = authenticateCachedFirst(request("Bearer tok"), options(provider));
    assert.equal(decided, auth);
    assert.deepEqual(calls, { verifyCached: 1, verify: 0 });
  });

  test("a miss goes to verify", async () => {
    const { provider, calls } = countingProvider(undefined);
    const decided = authenticateCachedFirst(request("Bearer tok"), options(provider));
    assert.ok(decided instanceof Promise, "a miss answers with a promise");
    assert.equal((await decided)?.subject, "alice");
    assert.deepEqual(calls, { verifyCached: 1, verify: 1 });
  });

  test("a provider without verifyCached is asked verify only", async () => {
    let verified = 0;
    const provider: AuthorizationProvider = { verify: async () => (verified++, principal()) };
    assert.equal((await authenticateCachedFirst(request("Bearer tok"), options(provider)))?.subject, "alice");
    assert.equal(verified, 1);
  });

  test("a probe that throws is only a miss: verify decides", async () => {
    const { provider, calls } = countingProvider(principal(), { probeError: new Error("boom") });
    assert.equal((await authenticateCachedFirst(request("Bearer tok"), options(provider)))?.subject, "alice");
    assert.deepEqual(calls, { verifyCached: 1, verify: 1 });
  });
});

describe("authorize: every refusal keeps the full path's exact error, cache or not", () => {
  test("a bad credential throws before any provider call", () => {
    const { provider, calls } = countingProvider(principal());
    assert.throws(
      () => authenticateCachedFirst(request("Bearer tok extra"), options(provider)),
      (e) => code(e) === "ERR_INVALID_REQUEST",
    );
    assert.deepEqual(calls, { verifyCached: 0, verify: 0 });
  });

  test("a cached principal short of required_scopes: 403 insufficient_scope naming them, from the full path", async () => {
    const { provider, calls } = countingProvider(principal({ scopes: ["read"] }));
    const o = options(provider, { required_scopes: ["read", "write"] });
    await assert.rejects(
      Promise.resolve().then(() => authenticateCachedFirst(request("Bearer tok"), o)),
      (e) => {
        assert.equal(code(e), "ERR_INSUFFICIENT_SCOPE");
        assert.deepEqual((e as { required?: string[] }).required, ["read", "write"]);
        return true;
      },
    );
    assert.equal(calls.verify, 1);
    // The public authenticate() refuses the same way.
    await assert.rejects(authenticate(request("Bearer tok"), o), (e) => code(e) === "ERR_INSUFFICIENT_SCOPE");
  });

  test("a cached DPoP-bound principal sent as Bearer: refused as a downgrade (RFC 9449 §7.2)", async () => {
    const dpop: DpopCheck = {
      algorithms: ["ES256"],
      verify: async () => assert.fail("no proof is checked for a downgrade"),
    };
    const { provider, calls } = countingProvider(principal({ jkt: "thumbprint" }));
    await assert.rejects(
      Promise.resolve().then(() => authenticateCachedFirst(request("Bearer tok"), options(provider, {}, dpop))),
      (e) => code(e) === "ERR_INVALID_TOKEN" && /DPoP authorization scheme/.test((e as Error).message),
    );
    assert.equal(calls.verify, 1);
  });

  test("dpop_required: a cached unbound principal is refused, not accepted from the cache", async () => {
    const dpop: DpopCheck = { algorithms: ["ES256"], verify: async () => {} };
    const { provider, calls } = countingProvider(principal());
    await assert.rejects(
      Promise.resolve().then(() =>
        authenticateCachedFirst(request("Bearer tok"), options(provider, { dpop_required: true }, dpop)),
      ),
      (e) => code(e) === "ERR_INVALID_TOKEN",
    );
    assert.equal(calls.verifyCached, 0);
  });

  test("the DPoP scheme: a token the provider has cached skips verify, never the proof (checked on every request)", async () => {
    let proofs = 0;
    const dpop: DpopCheck = { algorithms: ["ES256"], verify: async () => void proofs++ };
    const bound = principal({ jkt: "thumbprint" });
    const { provider, calls } = countingProvider(bound);
    for (let i = 0; i < 3; i++)
      assert.equal(await authenticateCachedFirst(request("DPoP tok", "proof"), options(provider, {}, dpop)), bound);
    assert.equal(proofs, 3, "the proof is checked on every request");
    assert.deepEqual(calls, { verifyCached: 3, verify: 0 }, "the token's verification comes from the cache");
    // A bad proof is refused on a cache hit too.
    const refusing: DpopCheck = {
      algorithms: ["ES256"],
      verify: async () => {
        throw new InvalidDpopProof("The DPoP proof signature is invalid");
      },
    };
    await assert.rejects(
      Promise.resolve(authenticateCachedFirst(request("DPoP tok", "proof"), options(provider, {}, refusing))),
      InvalidDpopProof,
      "a cached token with a bad proof is refused",
    );
    // A miss still goes to verify.
    const miss = countingProvider(undefined, { verified: bound });
    await authenticateCachedFirst(request("DPoP tok", "proof"), options(miss.provider, {}, dpop));
    assert.deepEqual(miss.calls, { verifyCached: 1, verify: 1 }, "a miss is verified");
  });
});

describe("authorize: the cache probe before the header is parsed", () => {
  /** A provider whose cache knows `known` only (as a real cache: only tokens verify accepted). */
  function cacheOf(known: string) {
    const probes: string[] = [];
    let verified = 0;
    const provider: AuthorizationProvider = {
      verifyCached: (token) => (probes.push(token), token === known ? principal() : undefined),
      verify: async () => (verified++, principal()),
    };
    return { provider, probes, verified: () => verified };
  }

  test("`Bearer <token>` is probed once with the token as sent; a hit skips the parse, a miss is parsed and verified", async () => {
    const hit = cacheOf("tok");
    const decided = authenticateCachedFirst(request("Bearer tok"), options(hit.provider));
    assert.ok(!(decided instanceof Promise), "a hit is synchronous");
    assert.equal(decided?.subject, "alice");
    assert.deepEqual(hit.probes, ["tok"]);
    const miss = cacheOf("other");
    assert.equal((await authenticateCachedFirst(request("Bearer tok"), options(miss.provider)))?.subject, "alice");
    assert.deepEqual(miss.probes, ["tok"], "a miss is not probed a second time");
    assert.equal(miss.verified(), 1);
  });

  test("a malformed token the cache does not know is refused by the full parse, before verify", () => {
    for (const header of ["Bearer tok!", "Bearer tok\u00e9", "Bearer =tok", "Bearer "]) {
      const c = cacheOf("tok");
      assert.throws(
        () =>
          authenticateCachedFirst(new Request(RESOURCE, { headers: { authorization: header } }), options(c.provider)),
        (e) => code(e) === "ERR_INVALID_REQUEST" || code(e) === "ERR_MISSING_TOKEN",
        header,
      );
      assert.equal(c.verified(), 0, header);
    }
  });

  test("values that are not one plain bearer token are never probed: two headers, extra words, other spellings, an access_token query", () => {
    const twoHeaders = new Headers();
    twoHeaders.append("authorization", "Bearer tok");
    twoHeaders.append("authorization", "Bearer tok");
    const refused: Request[] = [
      new Request(RESOURCE, { headers: twoHeaders }),
      request("Bearer tok extra"),
      request("Bearer tok,tok"),
      new Request(`${RESOURCE}?access_token=tok`, { headers: { authorization: "Bearer tok" } }),
    ];
    for (const req of refused) {
      const c = cacheOf("tok");
      assert.throws(
        () => authenticateCachedFirst(req, options(c.provider)),
        (e) => code(e) === "ERR_INVALID_REQUEST",
      );
      assert.deepEqual(c.probes, [], req.headers.get("authorization") ?? "");
      assert.equal(c.verified(), 0);
    }
    // Another spelling of the scheme is parsed first, then probed: still accepted from the cache.
    const lower = cacheOf("tok");
    assert.equal(
      (authenticateCachedFirst(request("bearer tok"), options(lower.provider)) as AuthContext).subject,
      "alice",
    );
    assert.deepEqual(lower.probes, ["tok"]);
  });
});

describe("authorize: the cache probe at the header-length bound", () => {
  const probing = (known: string) => {
    const probes: string[] = [];
    const provider: AuthorizationProvider = {
      verifyCached: (token) => (probes.push(token), token === known ? principal() : undefined),
      verify: async () => principal(),
    };
    return { provider, probes };
  };

  test("the longest header extractCredentials takes is probed and answered from the cache; one character more is never probed, and refused", () => {
    // `Bearer ` + token: 7 characters; the bound on the header is MAX_TOKEN_LENGTH + 16, as in extractCredentials.
    const atBound = "a".repeat(MAX_TOKEN_LENGTH + 16 - 7);
    const ok = probing(atBound);
    const decided = authenticateCachedFirst(request(`Bearer ${atBound}`), options(ok.provider));
    assert.ok(!(decided instanceof Promise), "answered from the cache");
    assert.equal(decided?.subject, "alice");
    assert.deepEqual(ok.probes, [atBound]);

    const past = `${atBound}a`;
    const no = probing(past);
    assert.throws(
      () => authenticateCachedFirst(request(`Bearer ${past}`), options(no.provider)),
      (e) => code(e) === "ERR_INVALID_REQUEST",
    );
    assert.deepEqual(no.probes, []);
  });
});
