/**
 * Making untrusted text safe to show: to a person on an HTML page, or on a terminal.
 *
 * HTML escaping stops markup, not deception. A bidi override (U+202E) makes `"Evil\u202eelgooG"`
 * read "EvilGoogle"; an ESC sequence (`\u001b]0;…\u0007`, `\u001b[2J`) retitles or clears a
 * terminal; a C1 control (U+009B is a one-byte CSI on some terminals) does the same without ESC.
 * {@link visibleControls} replaces each such character with its `\uXXXX` spelling, so the text stays
 * inert and the reader sees that something odd was there (removing it would hide the attempt).
 *
 * @module
 */
import { createHash } from "node:crypto";

/**
 * Characters that change how surrounding text is displayed rather than being text: C0 controls and
 * DEL, C1 controls, the bidi embeddings/overrides/isolates (U+202A–202E, U+2066–2069), the implicit
 * direction marks (U+200E, U+200F, U+061C) and the line/paragraph separators (U+2028, U+2029).
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const DISPLAY_CONTROL = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `\u202E` for U+202E: the JavaScript/JSON spelling, four upper-case hex digits. */
function spell(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
}

/**
 * Replace every display-control character (see above) with its visible `\uXXXX` spelling.
 *
 * @example
 * ```ts
 * visibleControls("Evil\u202eelgooG"); // 'Evil\\u202EelgooG'
 * ```
 */
export function visibleControls(value: string): string {
  return value.replace(DISPLAY_CONTROL, spell);
}

/**
 * `JSON.stringify`, then every display-control character that JSON leaves raw (DEL, C1, bidi,
 * U+2028/2029) written as a `\uXXXX` escape. Still valid JSON that parses to the same value; safe to
 * print on a terminal.
 */
export function stringifyInert(value: unknown, space?: number): string {
  // JSON.stringify escapes C0 inside strings; the raw newlines it emits are its own indentation.
  return JSON.stringify(value, null, space).replace(RAW_IN_JSON, spell);
}

/** {@link DISPLAY_CONTROL} minus C0, which `JSON.stringify` already escapes. */
const RAW_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Escape text for HTML element content and double-quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`=]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Untrusted text for an HTML page: display controls made visible first (so `"Evil\u202eelgooG"` cannot
 * pose as another name), then HTML-escaped. What every value interpolated into a page goes through.
 */
export function htmlText(value: string): string {
  return escapeHtml(visibleControls(value));
}

/**
 * A self-contained page: no scripts, no external assets, its one stylesheet inline (served with a CSP
 * that allows exactly that stylesheet by hash). `title` is untrusted text; `main` is markup already built
 * with {@link htmlText}.
 */
export function htmlDocument(title: string, css: string, main: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${htmlText(title)}</title>
<style>${css}</style>
</head>
<body>
<main>
${main}
</main>
</body>
</html>`;
}

/** The CSP `style-src` source of an inline stylesheet: `'sha256-…'` (base64). */
export function styleSource(css: string): string {
  return `'sha256-${createHash("sha256").update(css, "utf8").digest("base64")}'`;
}

/**
 * Security headers of a page built with {@link htmlDocument}: no scripts at all, only its stylesheet (by
 * `style_source`), forms post to this origin and `form_target` when given, never framed, sniffed or
 * cached, and no referrer beyond `referrer` (default `no-referrer`).
 */
export function htmlPageHeaders(
  style_source: string,
  form_target?: string,
  referrer: "no-referrer" | "same-origin" = "no-referrer",
): Record<string, string> {
  const formAction = ["'self'", ...(form_target ? [form_target] : [])].join(" ");
  return {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": `default-src 'none'; style-src ${style_source}; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": referrer,
    "cache-control": "no-store",
  };
}
