/**
 * Storage for the development authorization server: clients, pending authorizations, codes and
 * refresh tokens. The in-memory default is bounded everywhere (every key is reachable by an
 * unauthenticated caller), with `lru-cache`.
 *
 * @module
 */
import { LRUCache } from "lru-cache";
import { z } from "zod";
import type { Clock } from "../lib/clock.js";
import { functionSchema, optionsSchema, parseOptions } from "../lib/options.js";
import { ClientStoreFull } from "./errors.js";

/**
 * OpenID Connect `application_type`: `web` clients redirect to https only; `native` clients (RFC 8252) also to loopback
 * http and private-use schemes.
 */
export type ApplicationType = "native" | "web";

/**
 * A client registered with RFC 7591 dynamic client registration, or described by a Client ID
 * Metadata Document (then `client_id` is the document's URL): public clients only. Clients of the
 * `clients` option are looked up as one too (never stored).
 */
export interface RegisteredClient {
  /** Issued client identifier, or the URL of the client's metadata document. */
  client_id: string;
  /** Seconds since the epoch. */
  client_id_issued_at: number;
  /** Human-readable name, as the client sent it (shown escaped on the consent page, marked unverified). */
  client_name?: string | undefined;
  /** Registered redirect URIs, compared exactly (loopback ports excepted, RFC 8252 §7.3). */
  redirect_uris: string[];
  /** Always `["authorization_code", "refresh_token"]` or a subset. */
  grant_types: string[];
  /** Always `["code"]`. */
  response_types: string[];
  /**
   * `"none"`: a public client (every registered or metadata-document client). `"client_secret_basic"`: a
   * confidential client of the `clients` option (which may also use `client_secret_post`).
   */
  token_endpoint_auth_method: "none" | "client_secret_basic";
  /** Scopes the client may request (space-separated), when it registered some. */
  scope?: string | undefined;
  /** `native` or `web`, as sent or inferred at registration. Absent on clients stored by earlier versions. */
  application_type?: ApplicationType | undefined;
}

/** An authorization request waiting for the user's login and consent. */
export interface PendingAuthorization {
  /** Random identifier, carried by the consent form. */
  id: string;
  /** CSRF token bound to this pending authorization (form field and cookie). */
  csrf: string;
  /** The requesting client. */
  client_id: string;
  /** The redirect URI as sent in the request (already checked against the registration). */
  redirect_uri: string;
  /** `state`, echoed back. */
  state?: string | undefined;
  /** S256 code challenge. */
  code_challenge: string;
  /** Granted scopes if the user approves. */
  scopes: string[];
  /** RFC 8707 resource (the token audience). */
  resource: string;
  /** Milliseconds since the epoch. */
  expires_at: number;
}

/** An issued authorization code (stored under the SHA-256 of the code, never the code itself). */
export interface AuthorizationCodeRecord {
  /** The client the code was issued to. */
  client_id: string;
  /** Redirect URI the code was delivered to; the token request must repeat it. */
  redirect_uri: string;
  /** S256 code challenge. */
  code_challenge: string;
  /** Authenticated subject. */
  subject: string;
  /** Granted scopes. */
  scopes: string[];
  /** RFC 8707 resource. */
  resource: string;
  /** Milliseconds since the epoch. */
  expires_at: number;
  /** Refresh-token family created by redeeming this code, so a replayed code can revoke it. */
  family_id: string;
}

/** A refresh token (stored under the SHA-256 of the token). */
export interface RefreshTokenRecord {
  /** Rotation family: every token obtained from one authorization code. */
  family_id: string;
  /** The client the token was issued to. */
  client_id: string;
  /** Authenticated subject. */
  subject: string;
  /** Scopes of the original grant (a refresh may narrow, never widen). */
  scopes: string[];
  /** RFC 8707 resource. */
  resource: string;
  /** DPoP key thumbprint the family is bound to (RFC 9449 §5), when the first token request used DPoP. */
  jkt?: string | undefined;
  /** Milliseconds since the epoch. */
  expires_at: number;
}

/** What consuming a single-use secret returned. */
export interface Consumed<T> {
  /** The stored record. */
  record: T;
  /** `false` when it had already been consumed: a replay. */
  first_use: boolean;
}

/**
 * Where the development authorization server keeps its state. Implement it to share state between
 * processes; {@link MemoryStorage} is the default. Keys for codes and refresh tokens are SHA-256
 * hashes (base64url), never the secrets themselves.
 *
 * `consume*` must be atomic: of two concurrent calls for the same key, exactly one sees
 * `first_use: true`. Consumed entries must be remembered until they expire, so replays are detected.
 */
export interface DevAuthorizationServerStorage {
  /** Look up a registered client. */
  getClient(client_id: string): Promise<RegisteredClient | undefined>;
  /**
   * Store a newly registered client. When full, throw {@link ClientStoreFull} rather than forget a
   * client that may still be in use (anonymous registrations must not be able to evict it).
   */
  saveClient(client: RegisteredClient): Promise<void>;
  /** Store a pending authorization until `expires_at`. */
  savePending(pending: PendingAuthorization): Promise<void>;
  /** Remove and return a pending authorization (single use). */
  takePending(id: string): Promise<PendingAuthorization | undefined>;
  /** Read a pending authorization without removing it. */
  getPending(id: string): Promise<PendingAuthorization | undefined>;
  /** Store an authorization code until `expires_at`. */
  saveCode(key: string, record: AuthorizationCodeRecord): Promise<void>;
  /** Mark a code used and return it, or `undefined` if unknown. */
  consumeCode(key: string): Promise<Consumed<AuthorizationCodeRecord> | undefined>;
  /** Store a refresh token until `expires_at`. */
  saveRefreshToken(key: string, record: RefreshTokenRecord): Promise<void>;
  /** Mark a refresh token used and return it, or `undefined` if unknown. */
  consumeRefreshToken(key: string): Promise<Consumed<RefreshTokenRecord> | undefined>;
  /** Revoke a whole refresh-token family until `expires_at` (milliseconds since the epoch). */
  revokeFamily(family_id: string, expires_at: number): Promise<void>;
  /** Whether a family was revoked. */
  isFamilyRevoked(family_id: string): Promise<boolean>;
}

/** Bounds of {@link MemoryStorage}. */
export interface MemoryStorageOptions {
  /**
   * Most registered clients kept. When full, a client with nothing live (see `client_idle_ttl`) is
   * reclaimed; if there is none, registration is refused ({@link ClientStoreFull}) and no client is
   * evicted. Default 1000.
   */
  max_clients?: number;
  /**
   * Seconds a client stays protected from reclaiming after its registration, its last use, and the
   * expiry of its last pending authorization, code or refresh token. It covers the access tokens a
   * code was exchanged for, so the server passes `max(access_token_ttl_seconds, consent_ttl_seconds)`. Default 3600.
   */
  client_idle_ttl_seconds?: number;
  /** @deprecated Use `client_idle_ttl_seconds`. Removed in 0.3. */
  client_idle_ttl?: number;
  /** Most pending authorizations. Default 1000. */
  max_pending?: number;
  /** Most codes and most refresh tokens, each. Default 10 000. */
  max_tokens?: number;
  /** Clock in epoch milliseconds, for tests. Default `Date.now`. */
  clock?: Clock;
}

/** Milliseconds left until `expires_at`, at least 1 (lru-cache treats `ttl: 0` as "forever"). */
function ttlUntil(expires_at: number, now: number): number {
  return Math.max(1, Math.ceil(expires_at - now));
}

const MemoryStorageSchema = optionsSchema(
  "MemoryStorage",
  z.strictObject({
    max_clients: z.number().int().positive().max(1_000_000).optional(),
    max_pending: z.number().int().positive().max(1_000_000).optional(),
    max_tokens: z.number().int().positive().max(10_000_000).optional(),
    client_idle_ttl_seconds: z.number().int().nonnegative().max(31_536_000).optional(),
    clock: functionSchema.optional(),
  }),
  { client_idle_ttl: "client_idle_ttl_seconds" },
);

/** A registered client and until when (milliseconds) it must not be reclaimed. */
interface ClientEntry {
  client: RegisteredClient;
  live_until: number;
}

/**
 * The default in-memory {@link DevAuthorizationServerStorage}, bounded everywhere so a flood cannot
 * exhaust memory. Pending authorizations, codes and refresh tokens are `LRUCache`s with per-entry
 * TTLs. Clients are never evicted while anything of theirs may be live: a full client table reclaims
 * only clients idle past `client_idle_ttl`, and otherwise refuses the registration
 * ({@link ClientStoreFull}). State is lost on restart.
 */
export class MemoryStorage implements DevAuthorizationServerStorage {
  readonly #clock: () => number;
  readonly #maxClients: number;
  readonly #idleMs: number;
  // Insertion-ordered, and never evicted behind our back: reclaiming is an explicit decision.
  readonly #clients = new Map<string, ClientEntry>();
  readonly #pending: LRUCache<string, PendingAuthorization>;
  readonly #codes: LRUCache<string, { record: AuthorizationCodeRecord; used: boolean }>;
  readonly #refresh: LRUCache<string, { record: RefreshTokenRecord; used: boolean }>;
  readonly #revoked: LRUCache<string, true>;

  /**
   * @param options - bounds; see {@link MemoryStorageOptions}.
   * @throws `ConfigError` (`ERR_INVALID_CONFIG`) naming every invalid option.
   */
  constructor(options: MemoryStorageOptions = {}) {
    const o = parseOptions(MemoryStorageSchema, options, "MemoryStorage");
    this.#clock = (o.clock as (() => number) | undefined) ?? Date.now;
    const maxTokens = o.max_tokens ?? 10_000;
    this.#maxClients = o.max_clients ?? 1000;
    this.#idleMs = (o.client_idle_ttl_seconds ?? 3600) * 1000;
    this.#pending = new LRUCache({ max: o.max_pending ?? 1000, ttl: 1 });
    this.#codes = new LRUCache({ max: maxTokens, ttl: 1 });
    this.#refresh = new LRUCache({ max: maxTokens, ttl: 1 });
    this.#revoked = new LRUCache({ max: maxTokens, ttl: 1 });
  }

  async getClient(client_id: string): Promise<RegisteredClient | undefined> {
    const entry = this.#clients.get(client_id);
    // Being looked up is being used: a client in the middle of a flow is not idle.
    if (entry) this.#keepAlive(client_id, this.#clock());
    return entry?.client;
  }

  async saveClient(client: RegisteredClient): Promise<void> {
    const now = this.#clock();
    if (!this.#clients.has(client.client_id) && this.#clients.size >= this.#maxClients) this.#reclaim(now);
    this.#clients.set(client.client_id, { client, live_until: now + this.#idleMs });
  }

  /** Forget every client idle past its `live_until`; if none is, refuse with the wait until the first will be. */
  #reclaim(now: number): void {
    let soonest = Infinity;
    for (const [id, entry] of this.#clients) {
      if (entry.live_until <= now) this.#clients.delete(id);
      else soonest = Math.min(soonest, entry.live_until);
    }
    if (this.#clients.size >= this.#maxClients) throw new ClientStoreFull((soonest - now) / 1000);
  }

  /** Keep a client until `until` (plus the idle time), never shortening what it already has. */
  #keepAlive(client_id: string, until: number): void {
    const entry = this.#clients.get(client_id);
    if (entry) entry.live_until = Math.max(entry.live_until, until + this.#idleMs);
  }

  async savePending(pending: PendingAuthorization): Promise<void> {
    this.#keepAlive(pending.client_id, pending.expires_at);
    this.#pending.set(pending.id, pending, { ttl: ttlUntil(pending.expires_at, this.#clock()) });
  }

  async takePending(id: string): Promise<PendingAuthorization | undefined> {
    const pending = this.#pending.get(id);
    this.#pending.delete(id);
    return pending;
  }

  async getPending(id: string): Promise<PendingAuthorization | undefined> {
    return this.#pending.get(id);
  }

  async saveCode(key: string, record: AuthorizationCodeRecord): Promise<void> {
    this.#keepAlive(record.client_id, record.expires_at);
    this.#codes.set(key, { record, used: false }, { ttl: ttlUntil(record.expires_at, this.#clock()) });
  }

  async consumeCode(key: string): Promise<Consumed<AuthorizationCodeRecord> | undefined> {
    const entry = this.#codes.get(key);
    if (!entry) return undefined;
    const first_use = !entry.used;
    entry.used = true;
    return { record: entry.record, first_use };
  }

  async saveRefreshToken(key: string, record: RefreshTokenRecord): Promise<void> {
    this.#keepAlive(record.client_id, record.expires_at);
    this.#refresh.set(key, { record, used: false }, { ttl: ttlUntil(record.expires_at, this.#clock()) });
  }

  async consumeRefreshToken(key: string): Promise<Consumed<RefreshTokenRecord> | undefined> {
    const entry = this.#refresh.get(key);
    if (!entry) return undefined;
    const first_use = !entry.used;
    entry.used = true;
    return { record: entry.record, first_use };
  }

  async revokeFamily(family_id: string, expires_at: number): Promise<void> {
    this.#revoked.set(family_id, true, { ttl: ttlUntil(expires_at, this.#clock()) });
  }

  async isFamilyRevoked(family_id: string): Promise<boolean> {
    return this.#revoked.has(family_id);
  }
}
