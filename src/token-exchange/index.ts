/**
 * `protected-mcp/token-exchange`: call other APIs **as the user** from inside a tool, without
 * passing the user's token through.
 *
 * Configure once with the `token_exchange` option of `protect()` / `MCPServer` (a preset from
 * {@link TokenExchange}, or plain {@link TokenExchangeOptions}); then, in any tool,
 * `getContext().connection({ audience })` gives a `fetch` that attaches an exchanged token itself, or
 * `getContext().exchangeToken({ audience })` gives the token.
 *
 * @example
 * ```ts
 * import { TokenExchange } from "protected-mcp/token-exchange";
 * const server = new MCPServer("files", { authorization, token_exchange: TokenExchange.auth0({ domain, client_id, client_secret }) });
 * const report = tool({ name: "report", description: "" }, async () => {
 *   const api = getContext().connection({ audience: "https://reports.example.com" });
 *   return (await api.fetch("/v1/latest")).json();
 * });
 * ```
 * @see RFC 8693 (OAuth 2.0 Token Exchange)
 * @packageDocumentation
 */
export { TokenExchange } from "./options.js";
export type { AudienceOptions, FetchLike, TokenExchangeOptions, TokenExchangePresetOptions } from "./options.js";
export { TokenExchangeError } from "./errors.js";
export type { TokenExchangeErrorCode, TokenExchangeErrorOptions, TokenExchangeFailureReason } from "./errors.js";
export type { Connection, ConnectionRequest, ExchangedToken, ExchangeTokenRequest } from "./types.js";
export type { ClientAuthMethod } from "../lib/client-auth.js";
