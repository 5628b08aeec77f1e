/**
 * The one fetch type every option takes.
 *
 * @module
 */

/**
 * The part of the WHATWG `fetch` the library calls: a URL string and a `RequestInit`, answering a
 * `Response`. `globalThis.fetch` is one; so is any wrapper with this signature (a proxy, a test
 * double). Every `fetch` option (validators, discovery, introspection, token exchange, the audit)
 * takes one. Redirects are never followed by the library's own calls (`redirect: "manual"`).
 */
export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;
