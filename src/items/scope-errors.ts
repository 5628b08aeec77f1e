/**
 * The JSON-RPC refusal for a resource or prompt read without its scopes (tools answer with an
 * `isError` result instead, as the design contract asks).
 *
 * @module
 */
import { pyList } from "../lib/scope.js";
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- named by {@link} in TSDoc
import type { InsufficientScope } from "../errors.js";

/**
 * JSON-RPC error code for "the caller's token lacks the scopes this resource or prompt requires".
 * In the implementation-defined server-error range (-32000 … -32099).
 */
export const MISSING_SCOPES_RPC_CODE = -32003;

/** The `data` of an insufficient-scope JSON-RPC error. */
export interface MissingScopesData {
  /** Every scope the item requires. */
  required: string[];
  /** The ones the caller lacks. */
  missing: string[];
}

/**
 * Thrown inside a resource or prompt callback when the caller lacks its scopes (named apart from
 * {@link InsufficientScope}, the HTTP-level refusal); the SDK (v1 and v2)
 * turns it into a JSON-RPC error with `-32003`, the message naming the
 * required and missing scopes, and `data: { required, missing }`.
 */
export class MissingScopesError extends Error {
  /** Always `-32003`. */
  readonly code = MISSING_SCOPES_RPC_CODE;
  /** Sent to the client as the error's `data`. */
  readonly data: MissingScopesData;
  /**
   * @param kind - "Resource" or "Prompt".
   * @param name - the resource URI or prompt name.
   * @param required - every scope it requires.
   * @param missing - the ones the caller lacks.
   */
  constructor(kind: "Resource" | "Prompt", name: string, required: readonly string[], missing: readonly string[]) {
    super(`${kind} "${name}" requires scopes: ${pyList(required)}. Missing: ${pyList(missing)}`);
    this.name = "MissingScopesError";
    this.data = { required: [...required], missing: [...missing] };
  }
}
