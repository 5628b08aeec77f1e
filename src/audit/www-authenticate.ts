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

/** What the reading loop does after one element: go on, or stop (the rest cannot be read). */
type Next = "continue" | "stop";

/** A position in one header value, with the helpers the grammar needs and the problems met so far. */
class Scanner {
  i = 0;
  readonly problems: SyntaxProblem[] = [];
  readonly challenges: ParsedChallenge[] = [];
  /** The challenge parameters are added to. */
  current: ParsedChallenge | undefined;
  /** Whether the last element (challenge or parameter) is complete, so that a comma must come next. */
  needComma = false;

  constructor(readonly header: string) {}

  problem(message: string, offset = this.i): void {
    this.problems.push({ offset, message });
  }

  at(re: RegExp, from = this.i): boolean {
    re.lastIndex = from;
    return re.test(this.header);
  }

  skip(): void {
    SPACES.lastIndex = this.i;
    SPACES.exec(this.header);
    this.i = SPACES.lastIndex;
  }

  read(re: RegExp): string | undefined {
    re.lastIndex = this.i;
    const m = re.exec(this.header);
    if (!m) return undefined;
    this.i = re.lastIndex;
    return m[0];
  }

  /** The index of a later `"` that closes properly (followed by OWS and a comma or the end), or -1. */
  properClose(from: number): number {
    const h = this.header;
    for (let j = from; j < h.length; j++) {
      if (h[j] === "\\") j++;
      else if (h[j] === '"' && this.at(CLOSES, j + 1)) return j;
    }
    return -1;
  }

  /** A quoted-string at `i`; `undefined` when it is not terminated. */
  quoted(): string | undefined {
    const h = this.header;
    const open = this.i;
    let v = "";
    let broken = false;
    for (this.i++; this.i < h.length; this.i++) {
      const c = h[this.i] as string;
      if (c === "\\") {
        const next = h[this.i + 1];
        if (next === undefined) break;
        if (!QUOTED_PAIR.test(next)) this.problem(`${show(next)} cannot be escaped in a quoted-string`, this.i + 1);
        v += next;
        this.i++;
      } else if (c === '"') {
        // A closing quote is followed by a comma, the end, or (a missing comma, reported by the caller) whitespace.
        if (this.at(CLOSES, this.i + 1) || (!broken && /[ \t]/.test(h[this.i + 1] ?? ""))) {
          this.i++;
          return v;
        }
        if (!broken) this.problem(`unescaped '"' inside the quoted-string opened at offset ${open}`);
        broken = true;
        if (this.properClose(this.i + 1) < 0) {
          this.i++;
          return v;
        }
        v += c;
      } else {
        if (!QDTEXT.test(c)) this.problem(`${show(c)} is not allowed in a quoted-string`);
        v += c;
      }
    }
    this.problem(`the quoted-string opened at offset ${open} is not terminated`, open);
    return undefined;
  }

  /** `name=value` at `i` (after the `=`'s position): a parameter of the current challenge. */
  param(name: string, start: number): Next {
    const h = this.header;
    if (!this.current) {
      this.problem(`parameter "${name}" before any auth-scheme`, start);
      return "stop";
    }
    if (this.needComma) this.problem(`missing "," before parameter "${name}"`, start);
    this.i++;
    this.skip();
    const isQuoted = h[this.i] === '"';
    const value = isQuoted ? this.quoted() : this.read(TOKEN);
    if (value === undefined) {
      if (!isQuoted) this.problem(`parameter "${name}" has no value (a token or a quoted-string)`);
      return "stop";
    }
    const key = name.toLowerCase();
    if (key in this.current.params) this.problem(`parameter "${name}" appears twice in one challenge`, start);
    this.current.params[key] = value;
    this.needComma = true;
    if (this.i < h.length && !/[ \t,]/.test(h[this.i] as string)) {
      this.problem(`unexpected ${show(h[this.i] as string)} after the value of "${name}"`);
      return "stop";
    }
    return "continue";
  }

  /** A new challenge: scheme [ 1*SP ( token68 / #auth-param ) ]. */
  challenge(name: string, start: number): Next {
    const h = this.header;
    if (this.needComma) this.problem(`missing "," before the challenge "${name}"`, start);
    this.current = { scheme: name.toLowerCase(), params: {} };
    this.challenges.push(this.current);
    this.needComma = true;
    this.skip();
    const afterScheme = this.i;
    const maybeName = this.read(TOKEN);
    this.skip();
    const isParam = maybeName !== undefined && h[this.i] === "=" && !/^=*[ \t]*(,|$)/.test(h.slice(this.i));
    this.i = afterScheme;
    if (isParam) {
      this.needComma = false;
      return "continue";
    }
    const t68 = this.read(TOKEN68);
    if (t68) {
      this.current.token68 = t68;
      if (!this.at(CLOSES)) {
        this.skip();
        this.problem(`unexpected ${show(h[this.i] as string)} after the token68 of "${name}"`);
        return "stop";
      }
    }
    return "continue";
  }

  /** One element at `i`: a comma, a parameter or a challenge. */
  element(): Next {
    const h = this.header;
    if (h[this.i] === ",") {
      this.i++;
      this.needComma = false;
      return "continue";
    }
    const start = this.i;
    const name = this.read(TOKEN);
    if (!name) {
      this.problem(`unexpected ${show(h[this.i] as string)}`);
      return "stop";
    }
    this.skip();
    if (h[this.i] === "=" && h[this.i + 1] !== "=") return this.param(name, start);
    return this.challenge(name, start);
  }
}

/** Read a `WWW-Authenticate` value: the lenient reading and the grammar problems (RFC 9110 §11.6.1). */
export function readWwwAuthenticate(header: string | null): WwwAuthenticateReading {
  if (header === null) return { challenges: [], problems: [] };
  if (!header.trim()) return { challenges: [], problems: [{ offset: 0, message: "empty value" }] };
  const scanner = new Scanner(header);
  while (scanner.i < header.length) {
    scanner.skip();
    if (scanner.i >= header.length || scanner.element() === "stop") break;
  }
  return { challenges: scanner.challenges, problems: scanner.problems };
}

/** Parse a `WWW-Authenticate` value leniently (see the module comment). Malformed input yields what could be read. */
export function parseWwwAuthenticate(header: string | null): ParsedChallenge[] {
  return readWwwAuthenticate(header).challenges;
}

/** The first challenge with this scheme. */
export function findChallenge(challenges: ParsedChallenge[], scheme: string): ParsedChallenge | undefined {
  return challenges.find((c) => c.scheme === scheme.toLowerCase());
}
