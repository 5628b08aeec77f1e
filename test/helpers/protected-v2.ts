/** A `protect()` handler with `engine: "v2"` on a loopback port, tokens from a local issuer: the setup v2 tests share. */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { JWTValidator, protect, toNodeHandler, type ProtectedHandler } from "../../src/index.js";
import { startLocalIssuer, type LocalIssuer } from "./issuer.js";

/** The running setup. */
export interface ProtectedV2 {
  issuer: LocalIssuer;
  /** The MCP endpoint (`http://127.0.0.1:<port>/mcp`), also the resource and the tokens' audience. */
  url: string;
  handler: ProtectedHandler;
  close(): Promise<void>;
}

/** Serve `factory`'s servers through `protect(…, { engine: "v2" })` on 127.0.0.1, port 0. */
export async function startProtectedV2(factory: () => unknown): Promise<ProtectedV2> {
  const issuer = await startLocalIssuer();
  const http = createServer();
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
  const handler = protect(factory, {
    authorization: { enabled: true, authorization_servers: [issuer.issuer], resource: url },
    provider: new JWTValidator({ jwks_uri: issuer.jwksUri, issuer: issuer.issuer, audience: url }),
    engine: "v2",
  });
  http.on("request", toNodeHandler(handler));
  return {
    issuer,
    url,
    handler,
    async close() {
      await handler.close();
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
      await issuer.close();
    },
  };
}
