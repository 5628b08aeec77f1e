/**
 * No cached state skips a proof check (issue 30): the DPoP check keeps each client key's header, imported key and
 * thumbprint, and each nonce step's value, from one request to the next. These tests warm those caches with a good
 * proof, then send proofs that differ in one respect and hold that each is refused exactly as a cold check refuses
 * it, with the replay store never asked to record a refused proof.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createAuthContext } from "../../src/context/request-context.js";
import type { AuthContext } from "../../src/context/types.js";
import { createDpopCheck } from "../../src/dpop/check.js";
import { createDpopNonces } from "../../src/dpop/nonce.js";
import { createDpopKeyCache, verifyDpopProof } from "../../src/dpop/verify.js";
import { InvalidDpopProof, UseDpopNonce } from "../../src/errors.js";
import type { ReplayStore } from "../../src/stores/replay.js";
import { MemoryReplayStore } from "../../src/stores/replay.js";
import { clientKey, makeProof, type ClientKey } from "../helpers/dpop.js";

const HTU = "https://mcp.example.com/mcp";
const SECRET = "a-dpop-nonce-secret-of-at-least-32-bytes!";
const T0 = 1_800_000_000_000;

/** A proof issued at T0 unless `iat` says otherwise. */
const proofAt = (parts: Parameters<typeof makeProof>[0]) => makeProof({ iat: Math.floor(T0 / 1000), ...parts });

/** A replay store that counts what it was asked to record. */
function countingStore(): ReplayStore & { keys: string[] } {
  const inner = new MemoryReplayStore({ clock: () => 0 });
  const keys: string[] = [];
  return { keys, remember: (key, ttl) => (keys.push(key), inner.remember(key, ttl)) };
}

const principal = (jkt: string, token: string): AuthContext =>
  createAuthContext(
    { subject: "u", scopes: [], claims: {}, client_id: "c", issuer: undefined, expires_at: undefined, jkt },
    token,
  );

const request = (proof: string, method = "POST") =>
  new Request(HTU, { method, headers: { authorization: "DPoP x", dpop: proof } });

/** A check with its clock and store, warmed with one good proof of `key` for `token`. */
async function warmCheck(key: ClientKey, token: string, options: { nonce?: boolean } = {}) {
  let now = T0;
  const store = countingStore();
  const check = createDpopCheck({
    replay_store: store,
    clock: () => now,
    ...(options.nonce ? { nonce: { secret: SECRET } } : {}),
  });
  const nonce = options.nonce ? createDpopNonces({ secret: SECRET }).current(now) : undefined;
  const iat = Math.floor(now / 1000);
  const good = await proofAt({ key, htu: HTU, token, iat, ...(nonce ? { nonce } : {}) });
  await check.verify(request(good), token, principal(key.jkt, token), HTU);
  assert.equal(store.keys.length, 1, "the warm-up proof is recorded");
  return { check, store, iat, nonce, setNow: (ms: number) => void (now = ms) };
}

/** `verify` refuses with `InvalidDpopProof` and this exact message, and the store records nothing more. */
async function refuses(
  run: () => Promise<void>,
  store: { keys: string[] },
  message: string,
  type: typeof InvalidDpopProof | typeof UseDpopNonce = InvalidDpopProof,
) {
  const before = store.keys.length;
  await assert.rejects(run, (e: unknown) => {
    assert.ok(e instanceof type, `refused with ${type.name}, got ${String(e)}`);
    assert.equal(e.message, message, "the refusal's exact text");
    return true;
  });
  assert.equal(store.keys.length, before, "a refused proof is never recorded");
}

describe("DPoP: no cached state skips a proof check", () => {
  test("a new key with the same kid-less JWK shape (other coordinates) gets its own thumbprint, and a cold check's answer", async () => {
    const [a, b] = [await clientKey(), await clientKey()];
    assert.deepEqual(Object.keys(a.jwk).sort(), Object.keys(b.jwk).sort(), "the two JWKs have the same members");
    const cache = createDpopKeyCache();
    const options = { htu: HTU, access_token: "tok", key_cache: cache, now_ms: T0 };
    const first = await verifyDpopProof(request(await proofAt({ key: a, htu: HTU, token: "tok" })), options);
    assert.equal(first.jkt, a.jkt, "key A's proof has A's thumbprint");
    const second = await verifyDpopProof(request(await proofAt({ key: b, htu: HTU, token: "tok" })), options);
    assert.equal(second.jkt, b.jkt, "key B's proof has B's thumbprint, not A's cached one");
    assert.equal(cache.size, 2, "one cache entry per key");

    const { check, store } = await warmCheck(a, "tok-a");
    await refuses(
      async () =>
        check.verify(
          request(await proofAt({ key: b, htu: HTU, token: "tok-a" })),
          "tok-a",
          principal(a.jkt, "tok-a"),
          HTU,
        ),
      store,
      "The DPoP proof key does not match the access token binding",
    );
  });

  test("a header carrying a cached key but signed by another key is refused (a bad signature on a new proof)", async () => {
    const [a, b] = [await clientKey(), await clientKey()];
    const { check, store } = await warmCheck(a, "tok");
    const forged = await proofAt({ key: a, htu: HTU, token: "tok", signWith: b.privateKey });
    await refuses(
      async () => check.verify(request(forged), "tok", principal(a.jkt, "tok"), HTU),
      store,
      "The DPoP proof signature is invalid",
    );
    // The good proof's header with another proof's claims: the signature no longer covers them.
    const good = (await proofAt({ key: a, htu: HTU, token: "tok" })).split(".");
    const other = (await proofAt({ key: a, htu: HTU, token: "tok", htm: "GET" })).split(".");
    const spliced = [good[0], other[1], good[2]].join(".");
    await refuses(
      async () => check.verify(request(spliced), "tok", principal(a.jkt, "tok"), HTU),
      store,
      "The DPoP proof signature is invalid",
    );
  });

  test("a key cached for one token's cnf.jkt does not bind another token", async () => {
    const [a, b] = [await clientKey(), await clientKey()];
    const { check, store } = await warmCheck(a, "tok-a");
    await check.verify(
      request(await proofAt({ key: b, htu: HTU, token: "tok-b" })),
      "tok-b",
      principal(b.jkt, "tok-b"),
      HTU,
    );
    assert.equal(store.keys.length, 2, "B's own proof for B's token is accepted");
    for (const [key, token, bound] of [
      [a, "tok-b", b],
      [b, "tok-a", a],
    ] as const) {
      const proof = await proofAt({ key, htu: HTU, token });
      await refuses(
        async () => check.verify(request(proof), token, principal(bound.jkt, token), HTU),
        store,
        "The DPoP proof key does not match the access token binding",
      );
    }
    // A's proof made for A's token, presented with B's token: its ath names the other token.
    const proof = await proofAt({ key: a, htu: HTU, token: "tok-a" });
    await refuses(
      async () => check.verify(request(proof), "tok-b", principal(a.jkt, "tok-b"), HTU),
      store,
      "The DPoP proof ath does not match the access token",
    );
  });

  test("a cached key's proof whose iat has left the window is refused, before and after the window", async () => {
    const a = await clientKey();
    const { check, store, iat, setNow } = await warmCheck(a, "tok");
    const auth = principal(a.jkt, "tok");
    const stale = await proofAt({ key: a, htu: HTU, token: "tok", iat });
    setNow(T0 + 301_000);
    await refuses(
      async () => check.verify(request(stale), "tok", auth, HTU),
      store,
      "The DPoP proof iat is outside the acceptable window",
    );
    const early = await proofAt({ key: a, htu: HTU, token: "tok", iat: iat + 301 + 301 });
    await refuses(
      async () => check.verify(request(early), "tok", auth, HTU),
      store,
      "The DPoP proof iat is outside the acceptable window",
    );
    const fresh = await proofAt({ key: a, htu: HTU, token: "tok", iat: iat + 301 });
    await check.verify(request(fresh), "tok", auth, HTU);
    assert.equal(store.keys.length, 2, "a proof inside the moved window is accepted and recorded");
  });

  test("every other check still runs on a cached key: typ, alg, htm, htu, ath, jti, replay", async () => {
    const a = await clientKey();
    const { check, store } = await warmCheck(a, "tok");
    const auth = principal(a.jkt, "tok");
    const cases: [string, Parameters<typeof makeProof>[0], string?][] = [
      ["The DPoP proof type must be dpop+jwt", { key: a, htu: HTU, token: "tok", typ: "jwt" }],
      ["The DPoP proof htm does not match the request method", { key: a, htu: HTU, token: "tok", htm: "GET" }],
      [
        "The DPoP proof htu does not match the request URL",
        { key: a, htu: "https://other.example.com/mcp", token: "tok" },
      ],
      ["The DPoP proof ath does not match the access token", { key: a, htu: HTU, token: "another-token" }],
      ["The DPoP proof ath is missing", { key: a, htu: HTU, token: "tok", omit: ["ath"] }],
      ["The DPoP proof jti is missing or invalid", { key: a, htu: HTU, token: "tok", omit: ["jti"] }],
      ["The DPoP proof iat is missing", { key: a, htu: HTU, token: "tok", omit: ["iat"] }],
    ];
    for (const [message, parts] of cases) {
      const proof = await proofAt(parts);
      await refuses(async () => check.verify(request(proof), "tok", auth, HTU), store, message);
    }
    const once = await proofAt({ key: a, htu: HTU, token: "tok" });
    await check.verify(request(once), "tok", auth, HTU);
    await assert.rejects(
      check.verify(request(once), "tok", auth, HTU),
      /already used/,
      "a replay of a cached key's proof is refused",
    );
    // The algorithm allowlist is the caller's: a cached ES256 header is refused where ES256 is not accepted.
    const cache = createDpopKeyCache();
    const proof = request(await proofAt({ key: a, htu: HTU, token: "tok" }));
    await verifyDpopProof(proof, { htu: HTU, access_token: "tok", key_cache: cache, now_ms: T0 });
    await assert.rejects(
      verifyDpopProof(proof, { htu: HTU, access_token: "tok", key_cache: cache, now_ms: T0, algorithms: ["EdDSA"] }),
      /algorithm is not accepted/,
      "a cached header's alg is checked against this call's allowlist",
    );
  });

  test("nonces: the cached step values accept the current and previous step only, across clock moves", async () => {
    const nonces = createDpopNonces({ secret: SECRET });
    const step = 60_000;
    const n0 = nonces.current(T0);
    assert.equal(nonces.isValid(n0, T0), true, "the current nonce is valid");
    assert.equal(nonces.isValid(n0, T0 + step), true, "and for one step more");
    assert.equal(nonces.isValid(n0, T0 + 2 * step), false, "not two steps later");
    assert.equal(nonces.isValid(n0, T0 - step), false, "nor a step before it was issued");
    assert.equal(nonces.isValid(n0, T0), true, "back at its own step, after the cache moved on, it is valid again");
    const other = createDpopNonces({ secret: `${SECRET}-other` });
    assert.equal(nonces.isValid(other.current(T0), T0), false, "a nonce of another secret is refused");
    assert.equal(
      nonces.isValid(`${n0.slice(0, -1)}${n0.endsWith("A") ? "B" : "A"}`, T0),
      false,
      "one character changed",
    );
    assert.equal(nonces.isValid(`${n0}=`, T0), false, "a longer value");

    const a = await clientKey();
    const { check, store, nonce, setNow } = await warmCheck(a, "tok", { nonce: true });
    setNow(T0 + 2 * step);
    const proof = await proofAt({ key: a, htu: HTU, token: "tok", iat: Math.floor((T0 + 2 * step) / 1000), nonce });
    await refuses(
      async () => check.verify(request(proof), "tok", principal(a.jkt, "tok"), HTU),
      store,
      "Resource server requires nonce in DPoP proof",
      UseDpopNonce,
    );
  });
});
