import { createHash, randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { KeyRing, vaultKeyIssues } from "../../src/connected-accounts/key-ring.js";
import { expectConfigError } from "../helpers/config-error.js";

const keyText = (): string => randomBytes(32).toString("base64url");

describe("KeyRing", () => {
  test("round trip; every seal has a fresh IV; the sealed text has the v1.<kid>.<iv>.<ct> shape", async () => {
    const ring = new KeyRing([{ id: "k1", key: keyText() }]);
    const a = await ring.seal("credential", "secret-value", "ad");
    const b = await ring.seal("credential", "secret-value", "ad");
    assert.match(a, /^v1\.k1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/, "format");
    assert.notEqual(a, b, "a fresh IV per seal");
    assert.notEqual(a.split(".")[2], b.split(".")[2], "different IVs");
    assert.ok(!a.includes("secret"), "no plaintext in the sealed text");
    assert.equal(await ring.open("credential", a, "ad"), "secret-value", "opens");
    assert.equal(await ring.open("credential", b, "ad"), "secret-value", "opens");
    assert.equal(await ring.open("credential", "", "ad"), undefined, "empty");
  });

  test("associated data and purpose bind: other AD or another purpose → undefined", async () => {
    const ring = new KeyRing([keyText()]);
    const sealed = await ring.seal("credential", "x", '["credential","iss","alice","github"]');
    assert.equal(await ring.open("credential", sealed, '["credential","iss","bob","github"]'), undefined, "other AD");
    assert.equal(await ring.open("transient", sealed, '["credential","iss","alice","github"]'), undefined, "purpose");
    assert.equal(await ring.open("credential", sealed, '["credential","iss","alice","github"]'), "x", "same AD");
  });

  test("a bare key's id is the first 8 base64url characters of its SHA-256, for text and bytes alike", async () => {
    const bytes = randomBytes(32);
    const id = createHash("sha256").update(bytes).digest("base64url").slice(0, 8);
    assert.deepEqual(new KeyRing([bytes.toString("base64url")]).ids, [id], "text");
    assert.deepEqual(new KeyRing([new Uint8Array(bytes)]).ids, [id], "bytes");
    const sealed = await new KeyRing([new Uint8Array(bytes)]).seal("p", "v", "");
    assert.equal(sealed.split(".")[1], id, "the kid in sealed text");
    assert.equal(await new KeyRing([bytes.toString("base64url")]).open("p", sealed, ""), "v", "same key, both forms");
  });

  test("the ring copies byte keys: zeroing the caller's array later changes nothing", async () => {
    const bytes = new Uint8Array(randomBytes(32));
    const ring = new KeyRing([bytes]);
    const sealed = await ring.seal("p", "v", "");
    const copy = new KeyRing([new Uint8Array(bytes)]);
    bytes.fill(0);
    assert.equal(await ring.open("p", sealed, ""), "v", "still opens");
    assert.equal(await copy.open("p", sealed, ""), "v", "the original key opens too");
  });

  test("rotation: sealed under [A], opened under [B, A]; new seals use B; a ring without A cannot open", async () => {
    const A = { id: "A", key: keyText() };
    const B = { id: "B", key: keyText() };
    const old = await new KeyRing([A]).seal("credential", "old", "ad");
    const rotated = new KeyRing([B, A]);
    assert.equal(await rotated.open("credential", old, "ad"), "old", "old records still open");
    const fresh = await rotated.seal("credential", "new", "ad");
    assert.equal(fresh.split(".")[1], "B", "new seals use the first key");
    assert.equal(await new KeyRing([B]).open("credential", old, "ad"), undefined, "a ring without A");
    assert.equal(await new KeyRing([A]).open("credential", fresh, "ad"), undefined, "A cannot open B's");
    // Same id, another key: the tag fails.
    assert.equal(await new KeyRing([{ id: "A", key: keyText() }]).open("credential", old, "ad"), undefined, "same id");
  });

  test("purposes get different keys from one ring key (HKDF): a transient record is no credential", async () => {
    const ring = new KeyRing([keyText()]);
    const sealed = await ring.seal("transient", "v", "same");
    for (const purpose of ["credential", "state:transient", "Transient", "transient "]) {
      assert.equal(await ring.open(purpose, sealed, "same"), undefined, `purpose ${JSON.stringify(purpose)}`);
    }
    assert.equal(await ring.open("transient", sealed, "same"), "v", "its own purpose");
  });

  test("tampered, truncated, re-encoded or unknown-kid sealed text → undefined, never a throw", async () => {
    const ring = new KeyRing([{ id: "k", key: keyText() }]);
    const sealed = await ring.seal("p", "hello world", "ad");
    const [v, kid, iv, ct] = sealed.split(".") as [string, string, string, string];
    const flip = (s: string, i: number): string => s.slice(0, i) + (s[i] === "A" ? "B" : "A") + s.slice(i + 1);
    const cases: Record<string, unknown> = {
      "ciphertext bit": [v, kid, iv, flip(ct, 0)].join("."),
      "tag bit": [v, kid, iv, flip(ct, ct.length - 3)].join("."),
      "iv bit": [v, kid, flip(iv, 3), ct].join("."),
      "truncated by one char": sealed.slice(0, -1),
      "truncated to the tag": [v, kid, iv, ct.slice(0, 21)].join("."),
      "no ciphertext": [v, kid, iv, ""].join("."),
      "short iv": [v, kid, iv.slice(0, 12), ct].join("."),
      "unknown kid": [v, "other", iv, ct].join("."),
      "version v2": ["v2", kid, iv, ct].join("."),
      "five parts": `${sealed}.x`,
      "three parts": [v, kid, ct].join("."),
      padding: `${sealed}=`,
      "standard base64": [v, kid, iv, ct.replace(/-/g, "+").replace(/_/g, "/")].join("."),
      "iv last character": [v, kid, flip(iv, 15), ct].join("."),
      huge: `v1.k.${"A".repeat(16)}.${"A".repeat(300_000)}`,
      "not a string": 42,
    };
    for (const [name, text] of Object.entries(cases)) {
      if (text === sealed) continue;
      assert.equal(await ring.open("p", text as string, "ad"), undefined, name);
    }
    assert.equal(await ring.open("p", sealed, "ad"), "hello world", "the original still opens");
  });

  test("bad key lists: ConfigError naming each position, never the key material", () => {
    const good = keyText();
    const short = randomBytes(31).toString("base64url");
    const long = randomBytes(33).toString("base64url");
    const padded = `${keyText()}=`;
    expectConfigError(() => new KeyRing([]), ["keys"]);
    expectConfigError(() => new KeyRing("x" as never), ["keys"]);
    expectConfigError(() => new KeyRing([good, short]), ["keys.1"], [short]);
    const e = expectConfigError(
      () =>
        new KeyRing([
          long,
          good,
          padded,
          new Uint8Array(16),
          { id: "has.dot", key: good },
          { id: "x".repeat(33), key: good },
          { id: "ok", key: short },
          { id: "ok2", key: good, extra: long } as never,
          42 as never,
          null as never,
        ]),
      ["keys.0", "keys.2", "keys.3", "keys.4", "keys.5", "keys.6", "keys.7", "keys.8", "keys.9"],
      [long, good, padded, short],
    );
    assert.match(e.message, /^Invalid KeyRing options: keys\.0: /, e.message);
    expectConfigError(
      () =>
        new KeyRing([
          { id: "same", key: keyText() },
          { id: "same", key: keyText() },
        ]),
      ["keys.1"],
    );
    expectConfigError(() => new KeyRing([good, good]), ["keys.1"], [good]);
    // 43 characters carry 258 bits: the last character's 2 spare bits changed decode to the same key, refused.
    const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const twin = good.slice(0, 42) + ALPHABET[ALPHABET.indexOf(good[42]!) ^ 1]!;
    expectConfigError(() => new KeyRing([twin]), ["keys.0"], [twin]);
    assert.deepEqual(vaultKeyIssues([good]), [], "a good list has no issue");
  });

  test("a 32-byte key as a standard-base64 string is refused (it is not base64url)", () => {
    let b: Buffer;
    do b = randomBytes(32);
    while (!/[+/]/.test(b.toString("base64")));
    expectConfigError(() => new KeyRing([b.toString("base64").replace(/=+$/, "")]), ["keys.0"]);
  });

  test("KeyRing.random: a fresh key per ring", async () => {
    const a = KeyRing.random();
    const b = KeyRing.random();
    assert.notDeepEqual(a.ids, b.ids, "different keys");
    assert.equal(await b.open("p", await a.seal("p", "v", ""), ""), undefined, "another ring cannot open");
  });
});
