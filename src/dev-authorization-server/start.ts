/**
 * `startDevAuthorizationServer()`: listen on a local port with Node's `http` module.
 *
 * @module
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { toNodeHandler } from "../adapters/node.js";
import { createDevAuthorizationServer, type DevAuthorizationServer } from "./handler.js";
import { z } from "zod";
import { functionSchema, optionsSchema, parseOptions, withNewNames } from "../lib/options.js";
import { DEV_OPTION_KEYS, DEV_RENAMED, type DevAuthorizationServerOptions } from "./options.js";

/** Options of {@link startDevAuthorizationServer}: the server's options plus where to listen. */
export interface StartOptions extends Omit<DevAuthorizationServerOptions, "issuer"> {
  /** TCP port; 0 picks a free one. Default 0. */
  port?: number;
  /** Interface. Default `127.0.0.1`. */
  host?: string;
  /** Issuer identifier. Default `http://{host}:{port}` of the address actually bound. */
  issuer?: string;
  /** Receives the "development only" warning. Default `console.warn`. */
  on_warning?: (message: string) => void;
  /** @deprecated Use `on_warning`. Removed in 0.3. */
  log?: (message: string) => void;
}

const StartOptionsSchema = optionsSchema(
  "startDevAuthorizationServer()",
  z.strictObject({
    ...Object.fromEntries(DEV_OPTION_KEYS.map((k) => [k, z.unknown().optional()])),
    port: z.number().int().min(0).max(65_535).optional(),
    host: z.string().min(1).optional(),
    issuer: z.string().optional(),
    on_warning: functionSchema.optional(),
  }),
  { ...DEV_RENAMED, log: "on_warning" },
);

/** A listening development authorization server. */
export interface RunningDevAuthorizationServer {
  /** Issuer identifier (put it in `authorization_servers`). */
  readonly issuer: string;
  /** The handler, with `metadata`, `jwks` and `issueAccessToken()`. */
  readonly server: DevAuthorizationServer;
  /** Stop listening. */
  close(): Promise<void>;
}

/**
 * Start the development authorization server on a local port.
 *
 * @example
 * ```ts
 * const as = await startDevAuthorizationServer({ port: 8001, resources: ["http://127.0.0.1:8000/mcp"] });
 * // authorization: { enabled: true, authorization_servers: [as.issuer] }
 * ```
 */
export async function startDevAuthorizationServer(options: StartOptions): Promise<RunningDevAuthorizationServer> {
  // Its own keys here; the rest are checked in full by createDevAuthorizationServer().
  parseOptions(StartOptionsSchema, options, "startDevAuthorizationServer()");
  const {
    port = 0,
    host = "127.0.0.1",
    issuer: configured,
    on_warning = console.warn,
    ...rest
  } = withNewNames(StartOptionsSchema, options);
  const http = createServer();
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(port, host, () => resolve());
  });
  const hostPart = host.includes(":") ? `[${host}]` : host;
  const issuer = configured ?? `http://${hostPart}:${(http.address() as AddressInfo).port}`;
  let server: DevAuthorizationServer;
  try {
    server = await createDevAuthorizationServer({ ...rest, issuer });
  } catch (err) {
    http.close();
    throw err;
  }
  http.on("request", toNodeHandler(server, { origin: new URL(issuer).origin }));
  on_warning(
    `[protected-mcp] DEVELOPMENT authorization server at ${issuer}: any username signs in without a password. Never expose it to a network.`,
  );
  return {
    issuer,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}
