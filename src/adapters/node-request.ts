/**
 * A Web `Request` view of a Node request, for handlers from `protect()` served by the Node adapter.
 *
 * Building an undici `Request` costs more than everything else the gate does for a request whose
 * token is cached (a `Headers` filled header by header, a second URL parse, an `AbortSignal`, webidl
 * conversions). The gate reads the method, the URL and a few headers; the SDK's transports read the
 * same plus the header list. So the view answers those from the Node request directly and builds
 * the real `Request` only when something asks for more (`clone()`, `cache`, …; `signal` is answered here too), at most
 * once.
 *
 * It is the technique the SDK's own Node transport relies on (through `@hono/node-server`'s
 * lightweight request): an object whose prototype chain ends in `Request.prototype`, so
 * `instanceof Request` holds, with every member of the real prototype answered either here or by
 * the real `Request`. The view never carries a body: `protect()` reads the body through
 * {@link HandlerExtras} (`readBody` or `parsedBody`), and `request.body` is `null`, as before.
 *
 * Header reads scan `rawHeaders`, so a repeated header is seen joined (`a, b`; `a; b` for `Cookie`)
 * exactly as `Headers.get()` joins it: two `Authorization` headers stay visible (Node's
 * `req.headers` keeps only the first) and are refused as such. Names and values have already passed
 * Node's HTTP parser; values are trimmed of HTTP whitespace as `Headers` does. Listing them (the SDK
 * does, every request) gives `Headers`' order and joins (a test compares the two on 5,000 generated
 * lists); `getSetCookie()` and any change go to a real `Headers` built from the same `rawHeaders`.
 *
 * @module
 */
import type { IncomingMessage } from "node:http";

const kState = Symbol("state");

interface ViewState {
  readonly req: IncomingMessage;
  readonly method: string;
  readonly url: string;
  readonly signal: boolean;
  headers: RawHeadersView | undefined;
  abortSignal: AbortSignal | undefined;
  real: Request | undefined;
}

const HTTP_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;
const isHttpWhitespace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
/** A header value without leading or trailing HTTP whitespace; the usual value (nothing to trim) is not scanned. */
function trimHttpWhitespace(v: string): string {
  if (v.length === 0 || (!isHttpWhitespace(v.charCodeAt(0)) && !isHttpWhitespace(v.charCodeAt(v.length - 1)))) return v;
  return v.replace(HTTP_WHITESPACE, "");
}
/** An RFC 9110 field name (`token`), lower-cased. Anything else goes to the real `Headers`, which throws. */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/**
 * `name` lower-cased when it is a valid field name, else `undefined`. The names looked up are the
 * code's own constants (`authorization`, `mcp-session-id`, …) and the request's own header names, a
 * dozen or two per request: the answers for the first 256 distinct valid names are kept, so the usual
 * name is neither lower-cased nor matched again. Names a client invents can only fill that table,
 * after which lookups take the slower path; nothing else depends on it.
 */
function fieldName(name: string): string | undefined {
  const known = checkedNames.get(name);
  if (known !== undefined) return known;
  const lower = String(name).toLowerCase();
  if (!FIELD_NAME.test(lower)) return undefined;
  if (typeof name === "string" && checkedNames.size < 256) checkedNames.set(name, lower);
  return lower;
}
const checkedNames = new Map<string, string>();

/** A real `Headers`' list, in its iteration order. */
const entriesOf = (headers: Headers): [string, string][] => [...(headers as unknown as Iterable<[string, string]>)];

/** `rawHeaders` into a real `Headers`, one `append` per line (repeats are joined by `Headers` itself). */
function headersFromRaw(raw: readonly string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string);
  return headers;
}

/**
 * `Headers` over a Node request's `rawHeaders`: `get`, `has` and iteration read the raw list;
 * `getSetCookie` and changes go to a real `Headers` made on first need (and used from then on).
 */
class RawHeadersView {
  readonly #raw: readonly string[];
  #real: Headers | undefined;

  constructor(raw: readonly string[]) {
    this.#raw = raw;
  }

  /** The real `Headers`, made once. */
  materialize(): Headers {
    return (this.#real ??= headersFromRaw(this.#raw));
  }

  get(name: string): string | null {
    if (this.#real) return this.#real.get(name);
    const lower = fieldName(name);
    if (lower === undefined) return this.materialize().get(name);
    const raw = this.#raw;
    let value: string | null = null;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const key = raw[i] as string;
      // Most clients send lower-case names: equal strings need no lower-casing.
      if (key !== lower && (key.length !== lower.length || key.toLowerCase() !== lower)) continue;
      const v = trimHttpWhitespace(raw[i + 1] as string);
      value = value === null ? v : `${value}${lower === "cookie" ? "; " : ", "}${v}`;
    }
    return value;
  }

  has(name: string): boolean {
    return this.get(name) !== null;
  }

  /**
   * The header list as `Headers` iterates it: names lower-cased and sorted, repeated headers joined
   * (`; ` for `Cookie`), each `Set-Cookie` on its own. The SDK's transports read it on every request.
   */
  #sorted(): [string, string][] {
    if (this.#real) return entriesOf(this.#real);
    const raw = this.#raw;
    // Lower-cased pairs in arrival order, then a stable insertion sort by name (a request has a
    // handful of headers) and one pass that joins repeats: no Map, no second array of names.
    const out: [string, string][] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = fieldName(raw[i] as string);
      // Anything a Headers would refuse goes to one, which throws as it would have.
      if (name === undefined) return entriesOf(this.materialize());
      const pair: [string, string] = [name, trimHttpWhitespace(raw[i + 1] as string)];
      let j = out.length;
      while (j > 0 && (out[j - 1] as [string, string])[0] > name) j--;
      out.splice(j, 0, pair);
    }
    let w = 0;
    for (let r = 0; r < out.length; r++) {
      const pair = out[r] as [string, string];
      const last = w > 0 ? (out[w - 1] as [string, string]) : undefined;
      if (last && last[0] === pair[0] && pair[0] !== "set-cookie") {
        last[1] = `${last[1]}${pair[0] === "cookie" ? "; " : ", "}${pair[1]}`;
      } else out[w++] = pair;
    }
    out.length = w;
    return out;
  }

  entries(): IterableIterator<[string, string]> {
    return this.#sorted()[Symbol.iterator]();
  }

  keys(): IterableIterator<string> {
    return this.#sorted()
      .map(([k]) => k)
      [Symbol.iterator]();
  }

  values(): IterableIterator<string> {
    return this.#sorted()
      .map(([, v]) => v)
      [Symbol.iterator]();
  }

  forEach(callback: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    for (const [k, v] of this.#sorted()) callback.call(thisArg, v, k, this as unknown as Headers);
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}

// Every other member of Headers.prototype is answered by the real Headers.
delegateTo(RawHeadersView.prototype, Headers.prototype, (view: RawHeadersView) => view.materialize());
Object.setPrototypeOf(RawHeadersView.prototype, Headers.prototype);

/**
 * The request's `signal`, made on first read: it aborts when the client leaves before the request
 * was complete (as `toWebRequest`'s), or never when the adapter was told not to follow the client.
 * The SDK v2's handler reads it on every request, so it is answered here rather than by building the
 * real `Request` (a `Headers` filled line by line, a URL parse and undici's signal that follows this one).
 */
function signalOf(state: ViewState): AbortSignal {
  if (state.abortSignal) return state.abortSignal;
  const controller = new AbortController();
  if (state.signal) {
    const req = state.req;
    if (req.destroyed && !req.complete) controller.abort();
    else
      req.once("close", () => {
        if (!req.complete) controller.abort();
      });
  }
  return (state.abortSignal = controller.signal);
}

/**
 * The lazily built real `Request`: no body (the gate reads bodies itself), the view's signal when it follows the
 * client.
 */
function realRequest(state: ViewState): Request {
  if (state.real) return state.real;
  const init: RequestInit = {
    method: state.method,
    headers: state.headers ? state.headers.materialize() : headersFromRaw(state.req.rawHeaders),
  };
  if (state.signal) init.signal = signalOf(state);
  return (state.real = new Request(state.url, init));
}

/** The view's class: `method`, `url`, `headers` and `body` here, the rest from the real `Request`. */
class NodeRequestView {
  readonly [kState]: ViewState;

  constructor(state: ViewState) {
    this[kState] = state;
  }

  get method(): string {
    return this[kState].method;
  }

  get url(): string {
    return this[kState].url;
  }

  get headers(): Headers {
    const state = this[kState];
    if (state.real) return state.real.headers;
    return (state.headers ??= new RawHeadersView(state.req.rawHeaders)) as unknown as Headers;
  }

  get signal(): AbortSignal {
    return signalOf(this[kState]);
  }

  get body(): null {
    return null;
  }

  get bodyUsed(): boolean {
    return false;
  }
}

delegateTo(NodeRequestView.prototype, Request.prototype, (view: NodeRequestView) => realRequest(view[kState]));
Object.setPrototypeOf(NodeRequestView.prototype, Request.prototype);

/**
 * Give `target` every member of `source` it does not define itself, answered by `realOf(this)`:
 * getters read the real object's property, methods call the real object's method.
 */
function delegateTo<T extends object>(target: object, source: object, realOf: (view: T) => object): void {
  for (const key of Reflect.ownKeys(source)) {
    if (key === "constructor" || key === Symbol.toStringTag || Object.prototype.hasOwnProperty.call(target, key))
      continue;
    const descriptor = Object.getOwnPropertyDescriptor(source, key);
    if (!descriptor) continue;
    if (descriptor.get) {
      Object.defineProperty(target, key, {
        configurable: true,
        get(this: T) {
          return Reflect.get(realOf(this), key) as unknown;
        },
      });
    } else if (typeof descriptor.value === "function") {
      Object.defineProperty(target, key, {
        configurable: true,
        writable: true,
        value(this: T, ...args: unknown[]) {
          const real = realOf(this) as Record<PropertyKey, (...a: unknown[]) => unknown>;
          return (real[key] as (...a: unknown[]) => unknown).apply(real, args);
        },
      });
    }
  }
}

/**
 * A bodiless `Request` for `req` at `url`, built lazily (see the module comment). `signal`: whether
 * the real `Request`, when built, gets a signal that aborts when the client leaves early.
 *
 * @internal
 */
export function nodeRequestView(req: IncomingMessage, url: URL, signal: boolean): Request {
  return new NodeRequestView({
    req,
    method: req.method ?? "GET",
    url: url.href,
    signal,
    headers: undefined,
    abortSignal: undefined,
    real: undefined,
  }) as unknown as Request;
}
