/**
 * A JSON Schema validator for SDK servers that builds its Ajv instance only when first asked.
 *
 * The SDK's `Server` constructs an `AjvJsonSchemaValidator` (a new Ajv with every format added) in
 * its constructor, and uses it only to check elicitation results. A stateless server builds one SDK
 * server per request, so that constructor was about a sixth of the CPU of a request that never
 * elicits. Deferring it keeps the same validator, per server, with the same behaviour.
 */
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv";
import type {
  JsonSchemaType,
  JsonSchemaValidator,
  jsonSchemaValidator,
} from "@modelcontextprotocol/sdk/validation/types.js";

export class LazyJsonSchemaValidator implements jsonSchemaValidator {
  #inner: AjvJsonSchemaValidator | undefined;

  getValidator<T>(schema: JsonSchemaType): JsonSchemaValidator<T> {
    this.#inner ??= new AjvJsonSchemaValidator();
    return this.#inner.getValidator<T>(schema);
  }
}
