/** RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`. Safe inside a quoted header value. */
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** Validate a definition's `required_scopes` once, at definition time; returns a frozen copy. */
export function checkRequiredScopes(what: string, scopes: readonly string[] | undefined): readonly string[] {
  const copy = Object.freeze([...(scopes ?? [])]);
  for (const s of copy) {
    if (typeof s !== "string" || !SCOPE_TOKEN.test(s))
      throw new TypeError(`${what}: invalid scope in "required_scopes"`);
  }
  return copy;
}

/** The scopes of `required` that `granted` lacks, in `required`'s order. */
export function missingFrom(required: readonly string[], granted: readonly string[] | undefined): string[] {
  const have = new Set(granted ?? []);
  return required.filter((s) => !have.has(s));
}

/** Python-style list, as the design contract's messages show: `['a', 'b']`. */
export const pyList = (items: readonly string[]): string => `[${items.map((s) => `'${s}'`).join(", ")}]`;
