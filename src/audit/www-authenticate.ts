/**
 * Reading `WWW-Authenticate` the way RFC 9110 §11.6.1 writes it: one or more challenges, each a
 * scheme followed by a token68 or comma-separated `name=value` parameters (quoted or not).
 *
 * @module
 */

/** One challenge: its scheme (lower-cased) and parameters (names lower-cased). */
export interface ParsedChallenge {
  scheme: string;
  params: Record<string, string>;
  token68?: string;
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;
const TOKEN68 = /[A-Za-z0-9\-._~+/]+=*/y;
const SPACES = /[ \t]*/y;

/** Parse a `WWW-Authenticate` value. Malformed input yields what could be read before the error. */
export function parseWwwAuthenticate(header: string | null): ParsedChallenge[] {
  if (!header) return [];
  const out: ParsedChallenge[] = [];
  let i = 0;
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
  const quoted = (): string | undefined => {
    if (header[i] !== '"') return undefined;
    let v = "";
    for (i++; i < header.length; i++) {
      const c = header[i];
      if (c === "\\") v += header[++i] ?? "";
      else if (c === '"') {
        i++;
        return v;
      } else v += c;
    }
    return undefined;
  };

  let current: ParsedChallenge | undefined;
  while (i < header.length) {
    skip();
    if (header[i] === ",") {
      i++;
      continue;
    }
    const start = i;
    const name = read(TOKEN);
    if (!name) break;
    skip();
    if (header[i] === "=" && current && header[i + 1] !== "=") {
      // name=value: a parameter of the current challenge
      i++;
      skip();
      const value = quoted() ?? read(TOKEN);
      if (value === undefined) break;
      current.params[name.toLowerCase()] = value;
      continue;
    }
    if (header[i] === "=" && !current) {
      i = start;
      break;
    }
    // A new challenge: scheme [token68 | params]
    current = { scheme: name.toLowerCase(), params: {} };
    out.push(current);
    skip();
    const afterScheme = i;
    const maybeName = read(TOKEN);
    skip();
    const isParam = maybeName !== undefined && header[i] === "=" && !/^=*[ \t]*(,|$)/.test(header.slice(i));
    i = afterScheme;
    if (!isParam) {
      const t68 = read(TOKEN68);
      if (t68) current.token68 = t68;
    }
  }
  return out;
}

/** The first challenge with this scheme. */
export function findChallenge(challenges: ParsedChallenge[], scheme: string): ParsedChallenge | undefined {
  return challenges.find((c) => c.scheme === scheme.toLowerCase());
}
