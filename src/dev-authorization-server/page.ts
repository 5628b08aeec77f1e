/**
 * The login + consent page and the error page: self-contained HTML (no scripts, no external
 * assets), every interpolated value escaped (display controls made visible, then HTML-escaped),
 * served with a strict Content-Security-Policy.
 *
 * @module
 */
import { htmlDocument, htmlPageHeaders, htmlText, styleSource } from "../lib/display.js";

/**
 * Every interpolated value goes through here: display controls (bidi overrides and isolates, C0/C1)
 * made visible as `\uXXXX` first, so `"Evil\u202eelgooG"` cannot pose as "EvilGoogle", then HTML
 * escaping. Client-supplied names and URIs reach the page; the user decides on what they read.
 */
function e(value: string): string {
  return htmlText(value);
}

const CSS = `
:root{color-scheme:light dark;--bg:#f4f5f7;--card:#fff;--fg:#1c1e21;--muted:#5a6270;--line:#d9dde3;--accent:#1f5fd1;--accent-fg:#fff;--warn-bg:#fff4d6;--warn-fg:#6b4b00;--err-bg:#fde8e8;--err-fg:#8a1c1c;--chip:#eef2f8}
@media (prefers-color-scheme:dark){:root{--bg:#14161a;--card:#1d2026;--fg:#e8eaed;--muted:#a3abb8;--line:#343a44;--accent:#6ea2ff;--accent-fg:#0b1220;--warn-bg:#3a3016;--warn-fg:#f3d68a;--err-bg:#3d1c1c;--err-fg:#ffb4b4;--chip:#262b33}}
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;padding:24px;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{width:100%;max-width:440px;background:var(--card);border:1px solid var(--line);border-radius:14px;box-shadow:0 8px 30px rgba(0,0,0,.08);overflow:hidden}
.banner{margin:0;padding:8px 20px;background:var(--warn-bg);color:var(--warn-fg);font-size:13px;font-weight:600;letter-spacing:.02em}
.body{padding:24px 28px 28px}
.product{margin:0 0 4px;font-size:13px;color:var(--muted);text-transform:uppercase;letter-spacing:.06em}
h1{margin:0 0 16px;font-size:22px;line-height:1.3}
h2{margin:20px 0 8px;font-size:14px;color:var(--muted);font-weight:600}
.client{font-weight:700;overflow-wrap:anywhere}
.note{font-size:13px;color:var(--muted);margin:4px 0 0;overflow-wrap:anywhere}
ul.scopes{list-style:none;margin:0;padding:0;display:grid;gap:8px}
ul.scopes li{padding:10px 12px;background:var(--chip);border-radius:8px}
ul.scopes code{font:600 14px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
ul.scopes span{display:block;font-size:13px;color:var(--muted)}
dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:4px 12px;font-size:14px}
dt{color:var(--muted)}
dd{margin:0;overflow-wrap:anywhere;font-weight:600}
label{display:block;margin:20px 0 6px;font-weight:600}
input[type=text]{width:100%;padding:10px 12px;font:inherit;color:inherit;background:transparent;border:1px solid var(--line);border-radius:8px}
.actions{display:flex;gap:12px;margin-top:24px}
button{flex:1;padding:11px 16px;font:inherit;font-weight:600;border-radius:8px;border:1px solid var(--line);background:transparent;color:var(--fg);cursor:pointer}
button.primary{background:var(--accent);border-color:var(--accent);color:var(--accent-fg)}
button:focus-visible,input:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.alert{margin:0 0 16px;padding:10px 12px;border-radius:8px;background:var(--err-bg);color:var(--err-fg);font-size:14px}
code.err{font:600 14px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
`.trim();

let style: string | undefined;

/**
 * Security headers of every HTML page ({@link htmlPageHeaders} with this stylesheet): forms may post to
 * this origin and, for the consent page, redirect to `formTarget`.
 */
export function pageHeaders(formTarget?: string): Record<string, string> {
  return htmlPageHeaders((style ??= styleSource(CSS)), formTarget);
}

function layout(title: string, product: string, inner: string): string {
  return htmlDocument(
    title,
    CSS,
    `<p class="banner" role="note">Development only — do not expose this server to a network</p>
<div class="body">
<p class="product">${e(product)}</p>
${inner}
</div>`,
  );
}

/** What the consent page shows. Every string is escaped, display controls made visible. */
export interface ConsentView {
  /** Page product line (the server title). */
  title: string;
  /** Client name as registered (unverified), if any. */
  client_name: string | undefined;
  /** Client identifier. */
  client_id: string;
  /** Host of the `client_id` URL, for a client known by its metadata document. */
  client_id_host?: string | undefined;
  /** Origin (or private-use scheme) the user will be sent back to. */
  redirect_origin: string;
  /** The resource the token is for. */
  resource: string;
  /** Requested scopes with optional descriptions. */
  scopes: { name: string; description?: string | undefined }[];
  /** Where the form posts (a path on this origin). */
  action: string;
  /** Pending authorization id. */
  pending: string;
  /** CSRF token bound to the pending authorization. */
  csrf: string;
  /** Show the username field. */
  username_field: boolean;
  /** A message to show above the form (e.g. sign-in failed). */
  error?: string | undefined;
  /** Pre-filled username. */
  username?: string | undefined;
}

/** Render the login + consent page. */
export function consentPage(v: ConsentView): string {
  const name = v.client_name?.trim() || "An unnamed application";
  const scopes = v.scopes.length
    ? `<ul class="scopes">${v.scopes.map((s) => `<li><code>${e(s.name)}</code>${s.description ? `<span>${e(s.description)}</span>` : ""}</li>`).join("")}</ul>`
    : `<p class="note">No scopes requested.</p>`;
  const login = v.username_field
    ? `<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" required maxlength="64" pattern="[A-Za-z0-9._@\\-]+" value="${e(v.username ?? "")}" aria-describedby="username-note" autofocus>
<p class="note" id="username-note">Development sign-in: any username works, there is no password.</p>`
    : "";
  return layout(
    `Authorize ${name}`,
    v.title,
    `<h1><span class="client">${e(name)}</span> wants to access your account</h1>
${v.error ? `<p class="alert" role="alert">${e(v.error)}</p>` : ""}
${v.client_id_host ? `<p class="note">Described by a document published at <strong class="client-host">${e(v.client_id_host)}</strong></p>\n` : ""}<dl>
<dt>Client ID</dt><dd>${e(v.client_id)}</dd>
<dt>Returns to</dt><dd>${e(v.redirect_origin)}</dd>
<dt>Resource</dt><dd>${e(v.resource)}</dd>
</dl>
<p class="note">${v.client_id_host ? `The name comes from <strong>${e(v.client_id_host)}</strong>; this server has not verified who runs that site.` : "The application chose its own name; this server has not verified it."} Approve only if you started this sign-in and trust <strong>${e(v.redirect_origin)}</strong>.</p>
<h2 id="scopes-heading">It asks for these permissions</h2>
${scopes}
<form method="post" action="${e(v.action)}" aria-labelledby="scopes-heading">
<input type="hidden" name="pending" value="${e(v.pending)}">
<input type="hidden" name="csrf_token" value="${e(v.csrf)}">
${login}
<div class="actions">
<button type="submit" name="decision" value="approve" class="primary">Approve</button>
<button type="submit" name="decision" value="deny" formnovalidate>Deny</button>
</div>
</form>`,
  );
}

/** Render the error page used when the user cannot safely be redirected back to the client. */
export function errorPage(title: string, error: string, description: string): string {
  return layout(
    "Authorization error",
    title,
    `<h1>This sign-in cannot continue</h1>
<p class="alert" role="alert"><code class="err">${e(error)}</code> — ${e(description)}</p>
<p class="note">You were not sent back to the application, because its request could not be verified. Close this page and start again from the application.</p>`,
  );
}
