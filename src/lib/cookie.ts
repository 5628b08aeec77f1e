/**
 * Reading a cookie from a request (the development authorization server's login session, the connect
 * flow's id).
 *
 * @internal
 * @module
 */

/** The value of cookie `name` in the request's `Cookie` header, if present. */
export function getCookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.get("cookie") ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
