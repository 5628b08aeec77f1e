/**
 * `protected-mcp/connected-accounts`: tools call third-party APIs (GitHub, Google, an API-key service)
 * as the user. Configure `connected_accounts` on `protect()` or `MCPServer`; in a tool,
 * `getContext().connection({ provider })` gives an origin-pinned `fetch` with the user's credential
 * attached by the library. This entry holds the vaults, the errors and the option types.
 *
 * @example
 * ```ts
 * import { RedisTokenVault } from "protected-mcp/connected-accounts";
 * import { Redis } from "ioredis";
 *
 * const vault = new RedisTokenVault({ client: new Redis(process.env.REDIS_URL!), keys: [process.env.VAULT_KEY!] });
 * ```
 *
 * @module
 */
export { MemoryTokenVault, RedisTokenVault } from "./vault.js";
export type { MemoryTokenVaultOptions, RedisTokenVaultOptions, RedisVaultClient } from "./vault.js";
export {
  ConnectedAccountError,
  ConnectionRefused,
  ConnectionRequired,
  ProviderRefused,
  ProviderUnavailable,
  VaultUnavailable,
} from "./errors.js";
export type { ConnectionRefusedReason, ConnectionRequiredReason } from "./errors.js";
export type {
  AccountKey,
  ApiKeyProviderOptions,
  BrowserIdentity,
  ConnectedAccountsOptions,
  OAuthProviderOptions,
  ProviderOptions,
  SignInOptions,
  StoredCredential,
  TokenVault,
  VaultKey,
} from "./types.js";
