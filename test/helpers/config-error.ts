import assert from "node:assert/strict";
import { ConfigError } from "../../src/errors.js";

/**
 * The {@link ConfigError} `fn` throws, checked to carry `ERR_INVALID_CONFIG`, to name exactly `keys`
 * (in order) and to quote none of `secrets` in its message.
 */
export function expectConfigError(fn: () => unknown, keys: string[], secrets: string[] = []): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ConfigError, `a ConfigError, got ${String(caught)}`);
  assert.equal(caught.code, "ERR_INVALID_CONFIG", "code");
  assert.deepEqual(
    caught.issues.map((i) => i.key),
    keys,
    `issues name ${keys.join(", ")}: ${caught.message}`,
  );
  for (const s of secrets) assert.ok(!caught.message.includes(s), "the message quotes no key material");
  return caught;
}
