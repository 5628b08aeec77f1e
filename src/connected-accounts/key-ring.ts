/**
 * The vault's key ring: AES-256-GCM (WebCrypto) under keys derived per purpose with HKDF-SHA-256, so
 * one configured ring seals credentials, transient records and state blobs without ever using one AES
 * key for two purposes. The first key seals; every key opens (rotation without downtime).
 *
 * Sealed text: `v1.<kid>.<iv>.<ciphertext and tag>`, the last two base64url; the kid names the ring
 * key the record was sealed under, the IV is 96 random bits drawn per seal.
 *
 * @internal
 * @module
 */
import { createHash } from "node:crypto";
import { base64url } from "jose";
import { LRUCache } from "lru-cache";
import { ConfigError, type ConfigIssue } from "../errors.js";
import type { VaultKey } from "./types.js";

/** A key id: short, and free of the `.` that separates the parts of sealed text. */
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
/** 32 bytes as unpadded base64url: 43 characters. */
const KEY_TEXT = /^[A-Za-z0-9_-]{43}$/;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/**
 * Longest sealed text `open` reads. State blobs come back from clients: anything longer is refused
 * before it is decoded. Credentials (a Google token response) are a few kilobytes.
 */
const MAX_SEALED_LENGTH = 256 * 1024;
/** Derived keys kept (ring keys × purposes; the library uses a handful of purposes). */
const DERIVED_KEYS_MAX = 256;

/** One key of a ring, checked. */
interface RingKey {
  readonly id: string;
  /** Imported once, lazily: the HKDF input keying material (never extractable). */
  base?: Promise<CryptoKey>;
  readonly bytes: Bytes;
}

/** Bytes on an `ArrayBuffer` (what WebCrypto takes). */
type Bytes = Uint8Array<ArrayBuffer>;

const subtle = (): SubtleCrypto => globalThis.crypto.subtle;

/** Canonical unpadded base64url of exactly `length` bytes, else `undefined` (never throws). */
function decodeExact(text: string, length?: number): Bytes | undefined {
  if (!/^[A-Za-z0-9_-]+$/.test(text)) return undefined;
  let bytes: Bytes;
  try {
    bytes = new Uint8Array(base64url.decode(text));
  } catch {
    return undefined;
  }
  // Trailing bits that decode to nothing would let two texts name one value: refuse all but one.
  if (base64url.encode(bytes) !== text) return undefined;
  return length === undefined || bytes.length === length ? bytes : undefined;
}

/** The id a bare key gets: the first 8 base64url characters of its SHA-256. */
function derivedId(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("base64url").slice(0, 8);
}

/** Key bytes from base64url text or bytes, or what is wrong (never quoting the value). */
function keyBytes(value: unknown): Bytes | string {
  if (value instanceof Uint8Array) {
    // A copy: the caller's array may be reused or zeroed later.
    return value.length === 32 ? new Uint8Array(value) : "must be exactly 32 bytes (AES-256)";
  }
  if (typeof value !== "string") return "must be 32 bytes as base64url text or a Uint8Array";
  if (!KEY_TEXT.test(value)) return "must be 32 bytes as unpadded base64url text (43 characters)";
  return decodeExact(value, 32) ?? "must be 32 bytes as canonical unpadded base64url text";
}

/** One entry of a key list, checked: the key, or what is wrong with it. */
function parseEntry(entry: unknown): { id: string; bytes: Bytes } | string {
  if (typeof entry === "string" || entry instanceof Uint8Array) {
    const bytes = keyBytes(entry);
    return typeof bytes === "string" ? bytes : { id: derivedId(bytes), bytes };
  }
  if (typeof entry !== "object" || entry === null) return "must be a key (base64url text or bytes) or { id, key }";
  const extra = Object.keys(entry).filter((k) => k !== "id" && k !== "key");
  if (extra.length > 0) return "unknown field (a key entry holds only id and key)";
  const { id, key } = entry as { id?: unknown; key?: unknown };
  if (typeof id !== "string" || !KEY_ID.test(id)) return "id must be 1 to 32 characters of [A-Za-z0-9_-]";
  const bytes = keyBytes(key);
  return typeof bytes === "string" ? `key ${bytes}` : { id, bytes };
}

/**
 * Check a list of vault keys: every problem, keyed by position (`"0"`, `"2"`) under `path`, with a
 * message that never quotes key material. Empty when the list makes a ring.
 *
 * @param keys - the option's value.
 * @param path - the option's name, e.g. `keys`, prefixed to each issue's key.
 */
export function vaultKeyIssues(keys: unknown, path = "keys"): ConfigIssue[] {
  return parseKeys(keys, path).issues;
}

function parseKeys(keys: unknown, path: string): { keys: RingKey[]; issues: ConfigIssue[] } {
  if (!Array.isArray(keys)) return { keys: [], issues: [{ key: path, message: "must be an array of vault keys" }] };
  if (keys.length === 0) return { keys: [], issues: [{ key: path, message: "must hold at least one key" }] };
  const issues: ConfigIssue[] = [];
  const out: RingKey[] = [];
  const seen = new Map<string, number>();
  keys.forEach((entry: unknown, i) => {
    const parsed = parseEntry(entry);
    if (typeof parsed === "string") return void issues.push({ key: `${path}.${i}`, message: parsed });
    const first = seen.get(parsed.id);
    if (first !== undefined) {
      // The id is not secret (it is written beside every record), but a derived one is named by position only.
      return void issues.push({ key: `${path}.${i}`, message: `same key id as ${path}.${first}` });
    }
    seen.set(parsed.id, i);
    out.push(parsed);
  });
  return { keys: out, issues };
}

/**
 * Seals and opens text under a ring of AES-256-GCM keys: the first key seals, any key opens what it
 * sealed. Each purpose gets its own AES key, derived from the ring key with HKDF-SHA-256
 * (`info = "protected-mcp/" + purpose`, empty salt: the ring keys are uniformly random), imported
 * non-extractable and cached.
 *
 * @internal
 */
export class KeyRing {
  readonly #keys: readonly RingKey[];
  readonly #byId: ReadonlyMap<string, RingKey>;
  readonly #derived = new LRUCache<string, Promise<CryptoKey>>({ max: DERIVED_KEYS_MAX });

  /**
   * @param keys - at least one; the first seals.
   * @param where - whose option this is (`RedisTokenVault`), for the error.
   * @throws {@link ConfigError} naming each bad position (`keys.1`), never the key material.
   */
  constructor(keys: readonly VaultKey[], where = "KeyRing") {
    const parsed = parseKeys(keys, "keys");
    if (parsed.issues.length > 0) throw new ConfigError(where, parsed.issues);
    this.#keys = parsed.keys;
    this.#byId = new Map(parsed.keys.map((k) => [k.id, k]));
  }

  /** A ring of one fresh random key: what it seals is lost with the process. */
  static random(): KeyRing {
    return new KeyRing([globalThis.crypto.getRandomValues(new Uint8Array(32))]);
  }

  /** The ids of the ring's keys, the sealing key first. */
  get ids(): readonly string[] {
    return this.#keys.map((k) => k.id);
  }

  /**
   * Seal `plaintext` for `purpose` under the first key, bound to `associated_data` (authenticated,
   * not stored: {@link KeyRing.open} must be given the same).
   */
  async seal(purpose: string, plaintext: string, associated_data: string): Promise<string> {
    const key = this.#keys[0]!;
    const iv = globalThis.crypto.getRandomValues(new Uint8Array(IV_BYTES));
    const sealed = await subtle().encrypt(
      { name: "AES-GCM", iv, additionalData: utf8(associated_data), tagLength: TAG_BYTES * 8 },
      await this.#derive(key, purpose),
      utf8(plaintext),
    );
    return `v1.${key.id}.${base64url.encode(iv)}.${base64url.encode(new Uint8Array(sealed))}`;
  }

  /**
   * Open what {@link KeyRing.seal} sealed for the same `purpose` and `associated_data`, under whichever
   * ring key its kid names. `undefined` for malformed text, an unknown kid, or a tag that does not
   * verify (tampered, another purpose, other associated data, another key of the same id). Never throws.
   */
  async open(purpose: string, sealed: string, associated_data: string): Promise<string | undefined> {
    if (typeof sealed !== "string" || sealed.length > MAX_SEALED_LENGTH) return undefined;
    const parts = sealed.split(".");
    if (parts.length !== 4 || parts[0] !== "v1") return undefined;
    const key = this.#byId.get(parts[1]!);
    const iv = decodeExact(parts[2]!, IV_BYTES);
    const data = decodeExact(parts[3]!);
    if (!key || !iv || !data || data.length < TAG_BYTES) return undefined;
    try {
      const plain = await subtle().decrypt(
        { name: "AES-GCM", iv, additionalData: utf8(associated_data), tagLength: TAG_BYTES * 8 },
        await this.#derive(key, purpose),
        data,
      );
      return new TextDecoder("utf-8", { fatal: true }).decode(plain);
    } catch {
      return undefined;
    }
  }

  /** The AES-GCM key of `purpose` under `key`, derived once and cached (a failed derivation is not). */
  #derive(key: RingKey, purpose: string): Promise<CryptoKey> {
    const name = `${key.id}\u0000${purpose}`;
    const cached = this.#derived.get(name);
    if (cached) return cached;
    const derived = (async () => {
      key.base ??= subtle().importKey("raw", key.bytes, "HKDF", false, ["deriveKey"]);
      return subtle().deriveKey(
        { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: utf8(`protected-mcp/${purpose}`) },
        await key.base,
        { name: "AES-GCM", length: 256 },
        false,
        ["encrypt", "decrypt"],
      );
    })();
    this.#derived.set(name, derived);
    derived.catch(() => this.#derived.delete(name));
    return derived;
  }
}

const encoder = new TextEncoder();
const utf8 = (text: string): Bytes => encoder.encode(text);
