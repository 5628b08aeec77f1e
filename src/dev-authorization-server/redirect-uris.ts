/**
 * Redirect URI rules of the development authorization server (RFC 8252 for native clients): which
 * `application_type` a client's URIs imply, and why a URI is refused. A leaf: registration, Client ID
 * Metadata Documents and pre-registered clients all use it.
 *
 * @module
 */
import { isLoopbackHost } from "./lib/http.js";
import type { ApplicationType } from "./storage.js";

/** RFC 8252 §7.1: a private-use scheme is a reverse domain name, so it has at least one dot. */
const PRIVATE_USE_SCHEME = /^[a-z][a-z0-9+-]*(?:\.[a-z0-9+-]+)+:$/;

function isPrivateUseScheme(u: URL): boolean {
  return PRIVATE_USE_SCHEME.test(u.protocol);
}

function isLoopbackHttp(u: URL): boolean {
  return u.protocol === "http:" && isLoopbackHost(u.hostname);
}

/**
 * The `application_type` a client gets when it sends none: `native` when any redirect URI is loopback
 * `http` or a private-use scheme, otherwise `web`.
 */
export function inferApplicationType(redirectUris: readonly string[]): ApplicationType {
  const native = redirectUris.some(
    (v) => URL.canParse(v) && (isLoopbackHttp(new URL(v)) || isPrivateUseScheme(new URL(v))),
  );
  return native ? "native" : "web";
}

/** Why a redirect URI is unacceptable for this application type, or `undefined` when it is fine. */
export function redirectUriProblem(value: string, applicationType: ApplicationType = "native"): string | undefined {
  if (!URL.canParse(value)) return "Redirect URIs must be absolute URLs";
  const u = new URL(value);
  if (u.hash || value.includes("#")) return "Redirect URIs must not contain a fragment";
  if (u.username || u.password) return "Redirect URIs must not contain userinfo";
  if (u.protocol === "https:") return undefined;
  if (applicationType === "web") {
    if (isLoopbackHttp(u) || isPrivateUseScheme(u))
      return 'Web clients must use https redirect URIs (loopback http and private-use schemes are for application_type "native")';
    return "Web clients must use https redirect URIs";
  }
  if (isLoopbackHttp(u)) return undefined;
  if (isPrivateUseScheme(u)) return undefined;
  return "Redirect URIs must use https, http on a loopback host (127.0.0.1, [::1], localhost), or a reverse-domain private-use scheme (native clients)";
}
