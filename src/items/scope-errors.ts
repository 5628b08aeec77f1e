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
 * A resource or prompt was read by a caller that lacks its scopes (named apart from
 * {@link InsufficientScope}, the HTTP-level refusal). Its `code` is `ERR_MISSING_SCOPES`, like every
 * error of this library; the JSON-RPC error code `-32003` is its `rpc_code`. The resource and prompt
 * callbacks hand the SDK (v1 and v2) its JSON-RPC form (an `Error` with this one as its `cause`: the SDK reads a
 * numeric `code`), so the client gets `-32003`, the message naming the required and missing scopes,
 * and `data: { required, missing }`.
 */
export class MissingScopes extends Error {
  /** `ERR_MISSING_SCOPES`. */
  static readonly code: string = "ERR_MISSING_SCOPES";
  /** Always `ERR_MISSING_SCOPES`. */
  readonly code = "ERR_MISSING_SCOPES" as const;
  /** The JSON-RPC error code sent to the client: always `-32003`. */
  readonly rpc_code = MISSING_SCOPES_RPC_CODE;
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
    this.name = "MissingScopes";
    this.data = { required: [...required], missing: [...missing] };
  }
}

/**
 * What a resource or prompt callback throws to the SDK for a {@link MissingScopes}: the SDK (v1 and
 * v2) answers a thrown value with a JSON-RPC error made of its numeric `code`, its `message` and its
 * `data`. The {@link MissingScopes} is the `cause`.
 */
export function toJsonRpcError(err: MissingScopes): Error & { code: number; data: MissingScopesData } {
  return Object.assign(new Error(err.message, { cause: err }), { code: err.rpc_code, data: err.data });
}
