/** RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`. Safe inside a quoted header value. */
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
