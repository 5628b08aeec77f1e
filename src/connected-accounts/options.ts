/**
 * The `connected_accounts` option: checked strictly at construction (`ConfigError` naming every
 * problem), providers by `provider-options.ts`.
 *
 * @internal
 * @module
 */
import { z } from "zod";
import { functionSchema, optionsSchema, parseOptions, withMethods } from "../lib/options.js";
import type { ConnectedAccountsOptions, TokenVault } from "./types.js";
import { parseProviders } from "./provider-options.js";

/** Default lifetime of a connect link, and the most allowed: the spec's "short-lived". */
export const MAX_HANDLE_TTL_SECONDS = 600;
/** How long a 2026-07-28 retry that accepted the elicitation waits for the account, by default. */
export const DEFAULT_RETRY_WAIT_SECONDS = 120;

const SignInSchema = z
  .strictObject({
    client_id: z.string().min(1).optional(),
    client_secret: z.string().min(1).optional(),
    scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, { error: "not a scope token" })).optional(),
    identify: functionSchema.optional(),
  })
  .superRefine((s, ctx) => {
    if (s.identify && s.client_id)
      ctx.addIssue({ code: "custom", message: "give either identify or client_id, not both", path: ["identify"] });
    if (s.client_secret && !s.client_id)
      ctx.addIssue({ code: "custom", message: "client_secret needs client_id", path: ["client_secret"] });
  });

const ConnectedAccountsSchema = optionsSchema(
  "connected_accounts",
  z.strictObject({
    providers: z
      .record(z.string(), z.unknown())
      .refine((p) => Object.keys(p).length > 0, { error: "name at least one provider" }),
    vault: withMethods<TokenVault>(
      "get",
      "set",
      "delete",
      "lock",
      "putTransient",
      "peekTransient",
      "takeTransient",
      "seal",
      "open",
    ).optional(),
    // Without it the connect page could not tell who opened a link: refused here rather than on every link.
    sign_in: SignInSchema.refine((s) => s.identify !== undefined || s.client_id !== undefined, {
      error: "give client_id (a sign-in at this server's authorization server) or identify (your app's session)",
    }),
    base_path: z
      .string()
      .regex(/^(\/[A-Za-z0-9._~-]+)+$/, { error: 'a path such as "/connect" (no trailing slash, no query)' })
      .optional(),
    handle_ttl_seconds: z.number().int().min(30).max(MAX_HANDLE_TTL_SECONDS).optional(),
    retry_wait_seconds: z.number().int().min(0).max(600).optional(),
    fetch: functionSchema.optional(),
    clock: functionSchema.optional(),
  }),
);

/** Check `connected_accounts` and its providers at construction, without building anything. */
export function checkConnectedAccountsOptions(input: unknown, where: string): void {
  const options = parseConnectedAccountsOptions(input, where);
  parseProviders(options.providers, `${where} connected_accounts`);
}

/** Check `connected_accounts` (providers are checked by their own schema when resolved). */
export function parseConnectedAccountsOptions(input: unknown, where: string): ConnectedAccountsOptions {
  return parseOptions(ConnectedAccountsSchema, input, `${where} connected_accounts`) as ConnectedAccountsOptions;
}
