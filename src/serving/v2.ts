/**
 * Serving through the SDK v2 (`@modelcontextprotocol/server` ≥ 2.4, protocol revision 2026-07-28
 * with its 2025-era fallback) once the request has been authorized.
 *
 * The v2 handler "performs no token verification: `authInfo` given to `fetch` is passed through" —
 * that is exactly the seam: `protect()` verifies, then hands the handler the principal as `authInfo`
 * and the body it already read and parsed.
 *
 * Nothing here imports the v2 packages at load time: a handler you built is used as it is (it is
 * only called), and the package is imported on first use only where this module has to build one
 * (`engine: "v2"`). The v1 path never loads v2.
 *
 * @module
 */
import { runWithContext } from "../context.js";
import type { McpBackend, McpExchange } from "./backend.js";

/**
 * The shape of what `createMcpHandler()` (SDK v2) returns, as far as `protect()` needs it. Structural,
 * so this package's types do not depend on the optional peer.
 */
export interface McpHttpHandlerLike {
  /** Serve one request; `authInfo` and `parsedBody` are passed through by the SDK. */
  fetch(request: Request, options?: { authInfo?: unknown; parsedBody?: unknown }): Promise<Response>;
  /** Tear down in-flight exchanges. */
  close(): Promise<void>;
}

/** Whether a value is an SDK v2 handler (`{ fetch, close }`), as opposed to a v1 server or factory. */
export function isMcpHttpHandler(v: unknown): v is McpHttpHandlerLike {
  return (
    typeof v === "object" &&
    v !== null &&
    typeof (v as McpHttpHandlerLike).fetch === "function" &&
    typeof (v as McpHttpHandlerLike).close === "function"
  );
}

/** The parts of `@modelcontextprotocol/server` this module uses. */
export interface SdkV2Module {
  /** `createMcpHandler(factory, options)`. */
  createMcpHandler(factory: (ctx: unknown) => unknown, options?: Record<string, unknown>): McpHttpHandlerLike;
  /** `isLegacyRequest(request, parsedBody)`. */
  isLegacyRequest(request: Request, parsedBody?: unknown): Promise<boolean>;
  /** The v2 `McpServer` class. */
  McpServer: new (info: { name: string; version: string }, options?: Record<string, unknown>) => object;
}

let sdkV2: Promise<SdkV2Module> | undefined;

/** Import the optional peer `@modelcontextprotocol/server` once, with a clear error when it is missing. */
export function loadSdkV2(): Promise<SdkV2Module> {
  sdkV2 ??= import("@modelcontextprotocol/server").then(
    (m) => m as SdkV2Module,
    (e: unknown) => {
      sdkV2 = undefined;
      throw new Error(
        'protected-mcp: engine "v2" needs the optional peer dependency "@modelcontextprotocol/server" (>= 2.4): npm install @modelcontextprotocol/server',
        { cause: e },
      );
    },
  );
  return sdkV2;
}

/** Serve every authorized request through a v2 handler (modern requests and its own 2025-era fallback). */
export function createV2Backend(handler: McpHttpHandlerLike | (() => Promise<McpHttpHandlerLike>)): McpBackend {
  let ready: Promise<McpHttpHandlerLike> | undefined = typeof handler === "function" ? undefined : Promise.resolve(handler);
  const get = () => (ready ??= (handler as () => Promise<McpHttpHandlerLike>)());
  return {
    async handle({ req, authInfo, parsedBody, context }: McpExchange): Promise<Response> {
      const h = await get();
      return runWithContext(context, () => h.fetch(req, { authInfo, parsedBody }));
    },
    async close() {
      if (ready) await (await ready).close();
    },
  };
}

/**
 * Both eras on one endpoint with sessions kept for 2025-era clients: modern (2026-07-28) requests go
 * to the v2 handler (built with `legacy: "reject"`), 2025-era requests to the v1 backend (stateful
 * sessions bound to their principal). The split uses the SDK's own `isLegacyRequest`, on the body
 * already parsed, so the two can never disagree.
 */
export function createDualBackend(modern: () => Promise<McpHttpHandlerLike>, legacy: McpBackend): McpBackend {
  const v2 = createV2Backend(modern);
  return {
    checkSession: legacy.checkSession?.bind(legacy),
    async handle(exchange: McpExchange): Promise<Response> {
      const sdk = await loadSdkV2();
      const isLegacy = await sdk.isLegacyRequest(exchange.req, exchange.parsedBody);
      return isLegacy ? legacy.handle(exchange) : v2.handle(exchange);
    },
    async close() {
      await Promise.all([v2.close(), legacy.close()]);
    },
  };
}
