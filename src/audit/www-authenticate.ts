/**
 * Reading `WWW-Authenticate` the way RFC 9110 §11.6.1 writes it: one or more challenges, each a
 * scheme followed by a token68 or comma-separated `name=value` parameters (quoted or not).
 *
 * One reader serves two uses. {@link readWwwAuthenticate} reports every departure from the grammar
 * (for the challenge-syntax check) and still reads what a lenient client would;
 * {@link parseWwwAuthenticate} returns that lenient reading alone (for every other check). The lenient
 * reading never invents a challenge out of a broken quoted-string: an unescaped `"` inside a value is
 * taken as part of the value when a later quote closes it properly, and otherwise ends the reading.
 *
 * @module
 */

/** One challenge: its scheme (lower-cased) and parameters (names lower-cased). */
export interface ParsedChallenge {
  scheme: string;
  params: Record<string, string>;
  token68?: string;
}

/** A departure from the RFC 9110 §11.6.1 grammar: where (0-based offset in the header value) and what. */
export interface SyntaxProblem {
  /** Offset in the header value. */
  offset: number;
  /** What is wrong, in a few words. */
  message: string;
}

/** The lenient reading of a header value and every grammar problem found on the way. */
export interface WwwAuthenticateReading {
  /** What a lenient client reads (see the module comment). */
  challenges: ParsedChallenge[];
  /** Grammar problems, in the order met; empty for a well-formed value. */
  problems: SyntaxProblem[];
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;
const TOKEN68 = /[A-Za-z0-9\-._~+/]+=*/y;
const SPACES = /[ \t]*/y;
/** What may follow a closing quote: optional whitespace, then a comma or the end. */
const CLOSES = /[ \t]*(?:,|$)/y;
/** qdtext (RFC 9110 §5.6.4): HTAB, SP, %x21, %x23-5B, %x5D-7E, obs-text. */
const QDTEXT = /[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]/;
/** The character after a backslash in a quoted-pair: HTAB, SP, VCHAR, obs-text. */
const QUOTED_PAIR = /[\t \x21-\x7e\x80-\xff]/;

const show = (c: string): string =>
  /[\x21-\x7e]/.test(c) ? `"${c}"` : `U+${c.charCodeAt(0).toString(16).padStart(4, "0")}`;

/** Read a `WWW-Authenticate` value: the lenient reading and the grammar problems (RFC 9110 §11.6.1). */
export function readWwwAuthenticate(header: string | null): WwwAuthenticateReading {
  const challenges: ParsedChallenge[] = [];
  const problems: SyntaxProblem[] = [];
  if (header === null) return { challenges, problems };
  if (!header.trim()) return { challenges, problems: [{ offset: 0, message: "empty value" }] };
  let i = 0;
  const problem = (message: string, offset = i) => problems.push({ offset, message });
  const at = (re: RegExp, from = i): boolean => {
    re.lastIndex = from;
    return re.test(header);
  };
  const skip = () => {
    SPACES.lastIndex = i;
    SPACES.exec(header);
    i = SPACES.lastIndex;
  };
  const read = (re: RegExp): string | undefined => {
    re.lastIndex = i;
    const m = re.exec(header);
    if (!m) return undefined;
    i = re.lastIndex;
    return m[0];
  };
  /** The index of a later `"` that closes properly (followed by OWS and a comma or the end), or -1. */
  const properClose = (from: number): number => {
    for (let j = from; j < header.length; j++) {
      if (header[j] === "\\") j++;
      else if (header[j] === '"' && at(CLOSES, j + 1)) return j;
    }
    return -1;
  };
  /** A quoted-string at `i`; `undefined` when it is not terminated. */
  const quoted = (): string | undefined => {
    const open = i;
    let v = "";
    let broken = false;
    for (i++; i < header.length; i++) {
      const c = header[i] as string;
      if (c === "\\") {
        const next = header[i + 1];
        if (next === undefined) break;
        if (!QUOTED_PAIR.test(next)) problem(`${show(next)} cannot be escaped in a quoted-string`, i + 1);
        v += next;
        i++;
      } else if (c === '"') {
        // A closing quote is followed by a comma, the end, or (a missing comma, reported by the caller) whitespace.
        if (at(CLOSES, i + 1) || (!broken && /[ \t]/.test(header[i + 1] ?? ""))) {
          i++;
          return v;
        }
        if (!broken) problem(`unescaped '"' inside the quoted-string opened at offset ${open}`);
        broken = true;
        if (properClose(i + 1) < 0) {
          i++;
          return v;
        }
        v += c;
      } else {
        if (!QDTEXT.test(c)) problem(`${show(c)} is not allowed in a quoted-string`);
        v += c;
      }
    }
    problem(`the quoted-string opened at offset ${open} is not terminated`, open);
    return undefined;
  };

  let current: ParsedChallenge | undefined;
  /** Whether the last element (challenge or parameter) is complete, so that a comma must come next. */
  let needComma = false;
  while (i < header.length) {
    skip();
    if (i >= header.length) break;
    if (header[i] === ",") {
      i++;
      needComma = false;
      continue;
    }
    const start = i;
    const name = read(TOKEN);
    if (!name) {
      problem(`unexpected ${show(header[i] as string)}`);
      break;
    }
    skip();
    if (header[i] === "=" && header[i + 1] !== "=") {
      // name=value: a parameter of the current challenge
      if (!current) {
        problem(`parameter "${name}" before any auth-scheme`, start);
        break;
      }
      if (needComma) problem(`missing "," before parameter "${name}"`, start);
      i++;
      skip();
      const isQuoted = header[i] === '"';
      const value = isQuoted ? quoted() : read(TOKEN);
      if (value === undefined) {
        if (!isQuoted) problem(`parameter "${name}" has no value (a token or a quoted-string)`);
        break;
      }
      const key = name.toLowerCase();
      if (key in current.params) problem(`parameter "${name}" appears twice in one challenge`, start);
      current.params[key] = value;
      needComma = true;
      if (i < header.length && !/[ \t,]/.test(header[i] as string)) {
        problem(`unexpected ${show(header[i] as string)} after the value of "${name}"`);
        break;
      }
      continue;
    }
    // A new challenge: scheme [ 1*SP ( token68 / #auth-param ) ]
    if (needComma) problem(`missing "," before the challenge "${name}"`, start);
    current = { scheme: name.toLowerCase(), params: {} };
    challenges.push(current);
    needComma = true;
    skip();
    const afterScheme = i;
    const maybeName = read(TOKEN);
    skip();
    const isParam = maybeName !== undefined && header[i] === "=" && !/^=*[ \t]*(,|$)/.test(header.slice(i));
    i = afterScheme;
    if (isParam) {
      needComma = false;
      continue;
    }
    const t68 = read(TOKEN68);
    if (t68) {
      current.token68 = t68;
      if (!at(CLOSES)) {
        skip();
        problem(`unexpected ${show(header[i] as string)} after the token68 of "${name}"`);
        break;
      }
    }
  }
  return { challenges, problems };
}

/** Parse a `WWW-Authenticate` value leniently (see the module comment). Malformed input yields what could be read. */
export function parseWwwAuthenticate(header: string | null): ParsedChallenge[] {
  return readWwwAuthenticate(header).challenges;
}

/** The first challenge with this scheme. */
export function findChallenge(challenges: ParsedChallenge[], scheme: string): ParsedChallenge | undefined {
  return challenges.find((c) => c.scheme === scheme.toLowerCase());
}
