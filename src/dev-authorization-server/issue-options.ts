/**
 * The inputs of `issueAccessToken()`, checked with one strict schema against the server's own
 * configuration (supported scopes, configured resources).
 *
 * @module
 */
import { z } from "zod";
import { derivedSchema, optionsSchema, parseOptions } from "../lib/options.js";
import type { ResolvedOptions } from "./options.js";
import type { IssueAccessTokenOptions } from "./types.js";

/** {@link IssueAccessTokenOptions} after validation: `scopes` and `resource` filled in. */
export interface ResolvedIssueOptions {
  subject: string;
  scopes: string[];
  client_id: string;
  resource: string;
  jkt?: string | undefined;
}

const IssueOptionsSchema = optionsSchema(
  "issueAccessToken()",
  z.strictObject({
    subject: z.string().min(1, "subject is required"),
    scopes: z.array(z.string()).optional(),
    client_id: z.string().min(1).optional(),
    resource: z.string().optional(),
    jkt: z
      .string()
      .regex(/^[A-Za-z0-9_-]{43}$/, "must be a base64url SHA-256 JWK thumbprint")
      .optional(),
  }),
);

/** {@link IssueOptionsSchema} with the checks against one server's configuration. */
function schemaFor(o: Pick<ResolvedOptions, "scopes_supported" | "resources">) {
  return derivedSchema(
    IssueOptionsSchema,
    IssueOptionsSchema.superRefine((i, ctx) => {
      for (const s of i.scopes ?? []) {
        if (!o.scopes_supported.includes(s)) {
          ctx.addIssue({
            code: "custom",
            path: ["scopes"],
            message: `"${s}" is not in scopes_supported (dev authorization server option \`scopes_supported\`)`,
          });
        }
      }
      if (i.resource === undefined && o.resources.length !== 1) {
        ctx.addIssue({ code: "custom", path: ["resource"], message: "required when the server has several resources" });
      } else if (i.resource !== undefined && !o.resources.includes(i.resource)) {
        ctx.addIssue({
          code: "custom",
          path: ["resource"],
          message: "must be one of the configured resources (dev authorization server option `resources`)",
        });
      }
    }),
  );
}

/**
 * Validate `issueAccessToken()` inputs and fill in the defaults (every supported scope, the only
 * resource, `client_id` `"dev-cli"`).
 *
 * @throws `ConfigError` (`ERR_INVALID_CONFIG`) naming every problem.
 */
export function resolveIssueOptions(
  input: IssueAccessTokenOptions,
  o: Pick<ResolvedOptions, "scopes_supported" | "resources">,
): ResolvedIssueOptions {
  const i = parseOptions(schemaFor(o), input, "issueAccessToken()");
  return {
    subject: i.subject,
    scopes: i.scopes ?? [...o.scopes_supported],
    client_id: i.client_id ?? "dev-cli",
    resource: i.resource ?? o.resources[0]!,
    ...(i.jkt !== undefined ? { jkt: i.jkt } : {}),
  };
}
