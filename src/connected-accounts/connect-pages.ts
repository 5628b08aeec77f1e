/**
 * The connect pages: the confirmation ("Connect GitHub to alice"), the done page and the fixed-text
 * refusals. Self-contained HTML, no scripts, no external assets, served with a strict
 * Content-Security-Policy (the one stylesheet by hash). Every interpolated value — display names and
 * subjects are untrusted — has its display controls made visible, then is HTML-escaped.
 *
 * @internal
 * @module
 */
import { htmlDocument, htmlPageHeaders, htmlText as e, styleSource } from "../lib/display.js";

const CSS = `
:root{color-scheme:light dark;--bg:#f4f5f7;--card:#fff;--fg:#1c1e21;--muted:#5a6270;--line:#d9dde3;--accent:#1f5fd1;--accent-fg:#fff;--err-bg:#fde8e8;--err-fg:#8a1c1c;--ok-bg:#e5f5ea;--ok-fg:#14532d}
@media (prefers-color-scheme:dark){:root{--bg:#14161a;--card:#1d2026;--fg:#e8eaed;--muted:#a3abb8;--line:#343a44;--accent:#6ea2ff;--accent-fg:#0b1220;--err-bg:#3d1c1c;--err-fg:#ffb4b4;--ok-bg:#16301f;--ok-fg:#a7e3b9}}
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;padding:24px;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{width:100%;max-width:440px;background:var(--card);border:1px solid var(--line);border-radius:14px;box-shadow:0 8px 30px rgba(0,0,0,.08);padding:24px 28px 28px}
h1{margin:0 0 16px;font-size:22px;line-height:1.3;overflow-wrap:anywhere}
.name{font-weight:700}
.note{font-size:14px;color:var(--muted);margin:8px 0 0;overflow-wrap:anywhere}
label{display:block;margin:20px 0 6px;font-weight:600}
input[type=password]{width:100%;padding:10px 12px;font:inherit;color:inherit;background:transparent;border:1px solid var(--line);border-radius:8px}
.actions{display:flex;gap:12px;margin-top:24px}
button{flex:1;padding:11px 16px;font:inherit;font-weight:600;border-radius:8px;border:1px solid var(--accent);background:var(--accent);color:var(--accent-fg);cursor:pointer}
button:focus-visible,input:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.alert{margin:0;padding:12px 14px;border-radius:8px;background:var(--err-bg);color:var(--err-fg)}
.ok{margin:0;padding:12px 14px;border-radius:8px;background:var(--ok-bg);color:var(--ok-fg)}
`.trim();

let style: string | undefined;

/**
 * Headers of every connect page: {@link htmlPageHeaders} with this stylesheet; forms go to this origin
 * and, for the confirmation of an OAuth provider, the origin its authorization endpoint redirects to.
 *
 * `referrer` is `no-referrer` everywhere except on the confirmation page, which needs `same-origin`:
 * under `no-referrer` a browser sends `Origin: null` with a form post (Fetch §"serializing a request
 * origin"), and the confirm route checks `Origin`. `same-origin` still sends nothing to other origins.
 */
export function pageHeaders(
  formTarget?: string,
  referrer: "no-referrer" | "same-origin" = "no-referrer",
): Record<string, string> {
  return htmlPageHeaders((style ??= styleSource(CSS)), formTarget, referrer);
}

function layout(title: string, inner: string): string {
  return htmlDocument(title, CSS, inner);
}

/** What the confirmation page shows. */
export interface ConfirmView {
  /** The provider's display name (configuration, still escaped). */
  provider: string;
  /** Who the browser user is: their display name, else their subject (untrusted). */
  who: string;
  /** Where the form posts (a path on this origin). */
  action: string;
  /** CSRF token bound to the flow. */
  csrf: string;
  /** For an API-key provider: the label of the key field. */
  key_label?: string | undefined;
}

/** The confirmation page: "Connect ⟨provider⟩ to ⟨who⟩", one button, an API-key field when needed. */
export function confirmPage(v: ConfirmView): string {
  const key = v.key_label
    ? `<label for="api_key">${e(v.key_label)}</label>
<input type="password" id="api_key" name="api_key" required maxlength="4096" autocomplete="off" spellcheck="false" autofocus>`
    : "";
  return layout(
    `Connect ${v.provider}`,
    `<h1>Connect <span class="name">${e(v.provider)}</span> to <span class="name" id="who">${e(v.who)}</span></h1>
<p class="note">Your MCP client asked for this connection. Continue only if you started it and this is your account.</p>
<form method="post" action="${e(v.action)}">
<input type="hidden" name="csrf_token" value="${e(v.csrf)}">
${key}
<div class="actions"><button type="submit">Connect</button></div>
</form>`,
  );
}

/** The done page. */
export function donePage(provider: string): string {
  return layout(
    `${provider} connected`,
    `<p class="ok" role="status">Connected. You can close this window and return to your MCP client.</p>
<p class="note">Account: <span class="name">${e(provider)}</span></p>`,
  );
}

/** A refusal or failure: a fixed text (never a value from the request). */
export function messagePage(text: string): string {
  return layout("Connect", `<p class="alert" role="alert">${e(text)}</p>`);
}
