/**
 * The connected-accounts runtime behind `getContext().connection({ provider })`: finds the caller's
 * credential in the vault, refreshes it (one refresh in flight per account across a fleet), attaches
 * it to requests to the provider's API origins, and — when there is no usable credential — makes a
 * connect link bound to the caller and throws {@link ConnectionRequired} for the tool wrapper to answer.
 *
 * @internal
 * @module
 */
import { randomUUID } from "node:crypto";
import { randomToken } from "../lib/secrets.js";
import type { AuthContext } from "../context/types.js";
import { emitSafely, type AuthEventListener } from "../events.js";
import type { Clock } from "../lib/clock.js";
import type { BodyReader } from "../lib/body.js";
import type { Fetch } from "../lib/fetch.js";
import { pinnedFetch } from "../lib/pinned-fetch.js";
import type { Connection } from "../token-exchange/types.js";
import { PendingCompletions } from "./completions.js";
import { connectUrl, createConnectRoutes } from "./connect-routes.js";
import {
  ConnectionRefused,
  ConnectionRequired,
  ProviderRefused,
  ProviderUnavailable,
  type ConnectionRequiredReason,
} from "./errors.js";
import type { ConnectedNotice, ResolvedOAuthProvider, ResolvedProvider } from "./internal-types.js";
import { DEFAULT_RETRY_WAIT_SECONDS, MAX_HANDLE_TTL_SECONDS, parseConnectedAccountsOptions } from "./options.js";
import { ConfigError } from "../errors.js";
import type { AuthorizationProvider } from "../validators/provider.js";
import { resolveProviders } from "./providers.js";
import type { AccountKey, BrowserIdentity, ConnectedAccountsOptions, StoredCredential, TokenVault } from "./types.js";
import { MemoryTokenVault } from "./vault.js";

/** A token this close to its expiry is refreshed before use. */
const EXPIRY_SKEW_MS = 30_000;
/** How long one refresh may hold the account's lease. */
const REFRESH_LEASE_MS = 15_000;
/** How often an instance without the lease looks for the holder's result. */
const LEASE_POLL_MS = 50;
/** How often a waiting retry looks in the vault (a fleet: the flow may end on another instance). */
const WAIT_POLL_MS = 1000;

/** What the runtime needs from the server it belongs to. */
export interface ConnectedAccountsDeps {
  /** The canonical resource URI (links are built on its origin). */
  resource: string;
  /** Issuer of the server's own authorization server (the sign-in). */
  authorization_server: string | undefined;
  /** The server's own token check: a sign-in token → who. */
  verify_token(token: string): Promise<BrowserIdentity>;
  /** Events. */
  emit: AuthEventListener | undefined;
}

/** The vault key of `auth` for `provider`. */
export function accountOf(auth: AuthContext, provider: string): AccountKey {
  return Object.freeze({ issuer: auth.issuer ?? "", subject: auth.subject, provider });
}

const keyOf = (a: AccountKey): string => JSON.stringify([a.issuer, a.subject, a.provider]);

/** Connected accounts of one server. */
export class ConnectedAccounts {
  readonly #providers: ReadonlyMap<string, ResolvedProvider>;
  readonly #vault: TokenVault;
  readonly #routes: ReturnType<typeof createConnectRoutes>;
  readonly #origin: string;
  readonly #basePath: string;
  readonly #ttlSeconds: number;
  readonly #now: Clock;
  readonly #fetch: Fetch;
  readonly #emit: AuthEventListener | undefined;
  /** The connection's one refresh per account in this process (the vault lease covers the fleet). */
  readonly #refreshing = new Map<string, Promise<StoredCredential>>();
  /** Elicitations whose session waits for `notifications/elicitation/complete`. */
  readonly #completions: PendingCompletions;
  /** Account key → retries waiting for it in this process. */
  readonly #waiters = new Map<string, Set<() => void>>();
  /** How long an accepted 2026-07-28 retry waits for the account. */
  readonly retry_wait_ms: number;

  /** @param options - checked `connected_accounts`; @param deps - the server's parts. */
  constructor(options: ConnectedAccountsOptions, deps: ConnectedAccountsDeps) {
    const fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#now = options.clock ?? Date.now;
    this.#fetch = fetch;
    this.#providers = resolveProviders(options.providers, { fetch, clock: this.#now });
    this.#vault = options.vault ?? new MemoryTokenVault();
    this.#origin = new URL(deps.resource).origin;
    this.#basePath = options.base_path ?? "/connect";
    this.#ttlSeconds = options.handle_ttl_seconds ?? MAX_HANDLE_TTL_SECONDS;
    this.retry_wait_ms = (options.retry_wait_seconds ?? DEFAULT_RETRY_WAIT_SECONDS) * 1000;
    this.#emit = deps.emit;
    this.#completions = new PendingCompletions(this.#vault, this.#now, this.#ttlSeconds * 1000);
    this.#routes = createConnectRoutes({
      base_path: this.#basePath,
      origin: this.#origin,
      providers: this.#providers,
      vault: this.#vault,
      sign_in: options.sign_in,
      authorization_server: deps.authorization_server,
      resource: deps.resource,
      verify_token: (token) => deps.verify_token(token),
      fetch,
      clock: this.#now,
      on_connected: (notice) => this.#connected(notice),
    });
  }

  /** The clock's now, epoch milliseconds. */
  now(): number {
    return this.#now();
  }

  /** Whether `path` is one of the connect routes. */
  handles(path: string): boolean {
    return this.#routes.handles(path);
  }

  /** Serve a connect route (`readBody`: the adapter's body reader, when it hands the body over that way). */
  handle(req: Request, readBody?: BodyReader): Promise<Response> {
    return this.#routes.handle(req, readBody);
  }

  /** The provider named `name`, or a refusal. */
  provider(name: unknown): ResolvedProvider {
    const p = typeof name === "string" ? this.#providers.get(name) : undefined;
    if (!p) throw new ConnectionRefused(String(name), "unknown_provider");
    return p;
  }

  /** The handle tool code gets: `fetch` with the caller's credential, pinned to the provider's API origins. */
  connection(auth: AuthContext | null, name: unknown): Connection {
    const p = this.provider(name);
    if (!auth) throw new ConnectionRefused(p.name, "no_caller");
    const account = accountOf(auth, p.name);
    const send = pinnedFetch({
      origins: p.api_origins,
      fetch: this.#fetch,
      authorize: async (headers) => {
        const used = await this.#usable(account, p);
        headers.set(p.header, `${p.prefix}${used.access_token}`);
        return used;
      },
      on_unauthorized: (used) => this.#renewAfter401(account, p, used),
      refuse: (reason) => new ConnectionRefused(p.name, reason),
    });
    return Object.freeze({ audience: p.api_origins[0]!, origin: p.api_origins[0]!, provider: p.name, fetch: send });
  }

  /** Remove the caller's record and revoke at the provider when it can. `true` when there was a record. */
  async disconnect(auth: AuthContext | null, name: unknown): Promise<boolean> {
    const p = this.provider(name);
    if (!auth) throw new ConnectionRefused(p.name, "no_caller");
    const account = accountOf(auth, p.name);
    const credential = await this.#vault.get(account);
    const removed = await this.#vault.delete(account);
    const revoked = credential && p.type === "oauth" ? await p.revoke(credential) : false;
    if (removed)
      emitSafely(this.#emit, { type: "account_disconnected", provider: p.name, subject: auth.subject, revoked });
    return removed;
  }

  /**
   * Let `notify` send `notifications/elicitation/complete` once the link of `elicitation_id` has stored a
   * credential for `account` — on this instance or, through the vault, on another.
   */
  onCompletion(elicitation_id: string, account: AccountKey, notify: () => Promise<void>): void {
    this.#completions.add(elicitation_id, account, notify);
  }

  /** Stop watching for completions (the server closes). */
  close(): void {
    this.#completions.close();
  }

  /** Whether `account` has a credential, waiting up to `ms` for a connect flow to store one. */
  async waitForAccount(account: AccountKey, ms: number): Promise<boolean> {
    const deadline = this.#now() + ms;
    const key = keyOf(account);
    for (;;) {
      if (await this.#vault.get(account)) return true;
      const left = deadline - this.#now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const waiters = this.#waiters.get(key) ?? new Set();
        this.#waiters.set(key, waiters);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(done);
          if (waiters.size === 0) this.#waiters.delete(key);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, WAIT_POLL_MS));
        waiters.add(done);
      });
    }
  }

  /** Seal a value that travels through the client (`requestState`). */
  seal(purpose: string, value: Readonly<Record<string, unknown>>): Promise<string> {
    return this.#vault.seal(purpose, value);
  }

  /** Open what {@link ConnectedAccounts.seal} sealed. */
  open(purpose: string, sealed: string): Promise<Record<string, unknown> | undefined> {
    return this.#vault.open(purpose, sealed);
  }

  /** A connect link for `account`, as the error the tool wrapper answers. */
  async required(
    account: AccountKey,
    p: ResolvedProvider,
    reason: ConnectionRequiredReason,
  ): Promise<ConnectionRequired> {
    const handle = randomToken();
    const elicitation_id = randomUUID();
    const expires_at = Math.floor(this.#now() / 1000) + this.#ttlSeconds;
    await this.#vault.putTransient(
      `handle:${handle}`,
      { issuer: account.issuer, subject: account.subject, provider: p.name, elicitation_id, expires_at },
      this.#ttlSeconds * 1000,
    );
    emitSafely(this.#emit, { type: "connection_required", provider: p.name, subject: account.subject, reason });
    return new ConnectionRequired({
      provider: p.name,
      display_name: p.display_name,
      reason,
      url: connectUrl(this.#origin, this.#basePath, handle),
      elicitation_id,
      expires_at,
    });
  }

  /** The credential to send now: stored, covering the provider's scopes, refreshed when about to expire. */
  async #usable(account: AccountKey, p: ResolvedProvider): Promise<StoredCredential> {
    const c = await this.#vault.get(account);
    if (!c) throw await this.required(account, p, "not_connected");
    if (p.type !== "oauth") return c;
    if (c.scopes && p.scopes.some((s) => !c.scopes!.includes(s)))
      throw await this.required(account, p, "insufficient_scope");
    if (c.expires_at === undefined || c.expires_at * 1000 - EXPIRY_SKEW_MS > this.#now()) return c;
    if (p.canRefresh(c)) return this.#refreshEarly(account, p, c);
    if (c.expires_at * 1000 > this.#now()) return c;
    throw await this.#forget(account, p);
  }

  /**
   * Refresh a credential that is expired or about to expire. A provider that cannot be reached right now is
   * no reason to fail a call its access token still covers: the refresh is tried again by the next call.
   */
  async #refreshEarly(account: AccountKey, p: ResolvedOAuthProvider, c: StoredCredential): Promise<StoredCredential> {
    try {
      return await this.#refresh(account, p, c);
    } catch (e) {
      if (e instanceof ProviderUnavailable && c.expires_at !== undefined && c.expires_at * 1000 > this.#now()) return c;
      throw e;
    }
  }

  /** After a 401 from the API: refresh once (then send again), or forget the credential and ask to connect. */
  async #renewAfter401(account: AccountKey, p: ResolvedProvider, used: StoredCredential): Promise<boolean> {
    if (p.type === "oauth" && p.canRefresh(used)) {
      await this.#refresh(account, p, used);
      return true;
    }
    // The user may have connected again (or another request refreshed) while this one was in flight:
    // a newer credential is tried once; only the one that failed is forgotten.
    const current = await this.#vault.get(account);
    if (current && current.access_token !== used.access_token) return true;
    throw await this.#forget(account, p);
  }

  /** A credential nothing can renew stopped working: remove it, say so, and ask to connect again. */
  async #forget(account: AccountKey, p: ResolvedProvider): Promise<ConnectionRequired> {
    if (await this.#vault.delete(account))
      emitSafely(this.#emit, {
        type: "account_disconnected",
        provider: p.name,
        subject: account.subject,
        revoked: false,
      });
    return this.required(account, p, "revoked");
  }

  /** One refresh per account in this process; the vault lease makes it one across the fleet. */
  #refresh(account: AccountKey, p: ResolvedOAuthProvider, stale: StoredCredential): Promise<StoredCredential> {
    const key = keyOf(account);
    let running = this.#refreshing.get(key);
    if (!running) {
      running = this.#refreshUnderLease(account, p, stale).finally(() => this.#refreshing.delete(key));
      this.#refreshing.set(key, running);
    }
    return running;
  }

  async #refreshUnderLease(
    account: AccountKey,
    p: ResolvedOAuthProvider,
    stale: StoredCredential,
  ): Promise<StoredCredential> {
    const deadline = this.#now() + REFRESH_LEASE_MS;
    for (;;) {
      const release = await this.#vault.lock(account, REFRESH_LEASE_MS);
      if (release) {
        try {
          return await this.#refreshHeld(account, p, stale);
        } finally {
          await release().catch(() => {});
        }
      }
      // Another instance holds the lease: its result lands in the vault.
      await new Promise((r) => setTimeout(r, LEASE_POLL_MS));
      const current = await this.#vault.get(account);
      if (!current) throw await this.required(account, p, "refresh_failed");
      if (current.access_token !== stale.access_token) return current;
      if (this.#now() > deadline) throw new ProviderUnavailable(p.name, p.display_name, 1);
    }
  }

  /** Under the lease: someone else's fresh result, or a refresh stored before it is used. */
  async #refreshHeld(
    account: AccountKey,
    p: ResolvedOAuthProvider,
    stale: StoredCredential,
  ): Promise<StoredCredential> {
    const current = await this.#vault.get(account);
    if (!current) throw await this.required(account, p, "refresh_failed");
    if (current.access_token !== stale.access_token) return current;
    let next: StoredCredential;
    try {
      next = await p.refresh(current);
    } catch (e) {
      if (e instanceof ProviderRefused && e.error === "invalid_grant") {
        await this.#vault.delete(account);
        this.#refreshFailed(account, "invalid_grant");
        emitSafely(this.#emit, {
          type: "account_disconnected",
          provider: p.name,
          subject: account.subject,
          revoked: false,
        });
        throw await this.required(account, p, "refresh_failed");
      }
      if (e instanceof ProviderUnavailable) this.#refreshFailed(account, "unavailable");
      throw e;
    }
    // A rotated refresh token is stored before anything uses the new access token.
    await this.#vault.set(account, next);
    return next;
  }

  #refreshFailed(account: AccountKey, reason: "invalid_grant" | "unavailable"): void {
    emitSafely(this.#emit, {
      type: "connection_refresh_failed",
      provider: account.provider,
      subject: account.subject,
      reason,
    });
  }

  /** A connect flow stored a credential: report it, tell the session, wake waiting retries. */
  async #connected(notice: ConnectedNotice): Promise<void> {
    emitSafely(this.#emit, {
      type: "account_connected",
      provider: notice.account.provider,
      subject: notice.account.subject,
    });
    for (const wake of [...(this.#waiters.get(keyOf(notice.account)) ?? [])]) wake();
    await this.#completions.complete(notice.elicitation_id);
  }
}

/** What {@link connectedAccountsFor} needs from the server. */
export interface ConnectedAccountsServer {
  /** The canonical resource URI. */
  resource: string;
  /** Whether authorization is enforced (connected accounts need a verified principal). */
  enabled: boolean;
  /** The server's authorization servers; the first signs connect-page users in. */
  authorization_servers: readonly string[];
  /** The server's own token check. */
  provider: AuthorizationProvider | undefined;
  /** The server's `cache_ttl`. */
  cache_ttl: number | undefined;
  /** Events. */
  emit: AuthEventListener | undefined;
  /** Who is asking, for error messages (`protect()`, `MCPServer`). */
  where: string;
}

/** The server's connected accounts from its `connected_accounts` option, checked; `undefined` without one. */
export function connectedAccountsFor(input: unknown, server: ConnectedAccountsServer): ConnectedAccounts | undefined {
  if (input === undefined) return undefined;
  const options = parseConnectedAccountsOptions(input, server.where);
  const provider = server.provider;
  if (!server.enabled || !provider)
    throw new ConfigError(`${server.where} connected_accounts`, [
      { key: "connected_accounts", message: "needs authorization enabled: accounts are bound to verified users" },
    ]);
  return new ConnectedAccounts(options, {
    resource: server.resource,
    authorization_server: server.authorization_servers[0],
    emit: server.emit,
    verify_token: async (token) => {
      const auth = await provider.verify(token, { resource: server.resource, cache_ttl: server.cache_ttl });
      const name = [auth.claims.name, auth.claims.preferred_username, auth.claims.email].find(
        (v): v is string => typeof v === "string" && v.length > 0,
      );
      return { issuer: auth.issuer ?? "", subject: auth.subject, display_name: name };
    },
  });
}
