/**
 * extractCredentials: the one-pass parse of the well-formed case must decide exactly as the general
 * parse (RFC 9110 auth-scheme, then token68) on every header, well-formed or not.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { extractCredentials, MAX_TOKEN_LENGTH } from "../../src/protect/credentials.js";
import { rng } from "../helpers/prng.js";

/** The general parse alone, as it was before the one-pass case was added: the reference. */
function reference(header: string): { scheme: string; token: string } | string {
  if (header.length > MAX_TOKEN_LENGTH + 16) return "ERR_INVALID_REQUEST";
  const match = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?: +(.*))?$/.exec(header.trim());
  if (!match) return "ERR_INVALID_REQUEST";
  const scheme = (match[1] ?? "").toLowerCase();
  if (scheme !== "bearer" && scheme !== "dpop") return "ERR_MISSING_TOKEN";
  const token = match[2] ?? "";
  if (token.length === 0) return "ERR_INVALID_REQUEST";
  if (!/^[A-Za-z0-9\-._~+/]+=*$/.test(token)) return "ERR_INVALID_REQUEST";
  return { scheme, token };
}

function actual(header: string): { scheme: string; token: string } | string {
  try {
    const c = extractCredentials(new Request("http://127.0.0.1/mcp", { headers: { authorization: header } }));
    return { scheme: c.scheme, token: c.token };
  } catch (e) {
    return (e as { code?: string }).code ?? "unexpected";
  }
}

test("the one-pass case and the general parse agree on 20,000 generated Authorization headers", () => {
  const next = rng(42);
  const rnd = (n: number) => Math.floor(next() * n);
  const schemes = ["Bearer", "bearer", "BEARER", "DPoP", "dpop", "DPOP", "Basic", "Bearerx", "Dpop1", "", "Bear er"];
  const alphabet = "AZaz09-._~+/=  \t,;\"'é\u0000";
  const pieces = ["eyJhbGciOiJFUzI1NiJ9", ".", "==", "=", "a", "+/", " ", "  ", "\t", ",", "=a", "-_"];
  for (let i = 0; i < 20_000; i++) {
    let token = "";
    const parts = rnd(6);
    for (let j = 0; j < parts; j++)
      token += rnd(3) === 0 ? (alphabet[rnd(alphabet.length)] as string) : (pieces[rnd(pieces.length)] as string);
    const sep = ["", " ", "  ", "\t", " \t"][rnd(5)] as string;
    const header = `${rnd(8) === 0 ? " " : ""}${schemes[rnd(schemes.length)]}${sep}${token}${rnd(8) === 0 ? " " : ""}`;
    // Headers a Request refuses (NUL, CR, LF) never reach the parser.
    if (/[\0\r\n]/.test(header)) continue;
    assert.deepEqual(actual(header), reference(header.replace(/^[\t ]+|[\t ]+$/g, "")), JSON.stringify(header));
  }
});
