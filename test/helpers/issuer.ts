/**
 * A tiny local token issuer for tests: ES256 keys, a JWKS served on 127.0.0.1, and a signer that
 * can produce every bad token the refusal matrix needs.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type CryptoKey } from "jose";

export interface TestKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function makeKey(kid: string, alg: "ES256" | "RS256" = "ES256"): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { kid, privateKey, publicJwk };
}

export interface LocalIssuer {
  issuer: string;
  jwksUri: string;
  keys: TestKey[];
  /** Sign with the first key (or `key`), defaults: iss, sub, iat, exp +1h, typ at+jwt. */
  sign(
    claims: JWTPayload,
    opts?: { key?: TestKey; typ?: string; alg?: string; noExp?: boolean; kid?: string },
  ): Promise<string>;
  /** Serve these keys from now on. */
  setKeys(keys: TestKey[]): void;
  jwksFetches(): number;
  setDown(down: boolean): void;
  /** How the JWKS endpoint answers: keys (`ok`), 503 (`down`), 500, an HTML page, 5 MB of JSON, or never (`hang`). */
  setMode(mode: JwksMode): void;
  close(): Promise<void>;
}

export type JwksMode = "ok" | "down" | "500" | "html" | "huge" | "hang";

export async function startLocalIssuer(): Promise<LocalIssuer> {
  let keys = [await makeKey("k1")];
  let fetches = 0;
  let mode: JwksMode = "ok";
  const server: Server = createServer((req, res) => {
    if (req.url === "/jwks") {
      fetches++;
      if (mode === "down") return void res.writeHead(503).end();
      if (mode === "500")
        return void res.writeHead(500, { "content-type": "application/json" }).end('{"error":"internal"}');
      if (mode === "html")
        return void res.writeHead(200, { "content-type": "text/html" }).end("<html><body>Maintenance</body></html>");
      if (mode === "hang") return; // never answers
      if (mode === "huge") {
        // 5 MB of valid-looking JSON, streamed without a Content-Length.
        res.writeHead(200, { "content-type": "application/json" });
        res.write('{"keys":[');
        const filler = JSON.stringify({ kty: "oct", k: "x".repeat(1000) });
        for (let i = 0; i < 5000; i++) res.write((i ? "," : "") + filler);
        return void res.end("]}");
      }
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ keys: keys.map((k) => k.publicJwk) }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    get keys() {
      return keys;
    },
    async sign(claims, opts = {}) {
      const key = opts.key ?? keys[0]!;
      const now = Math.floor(Date.now() / 1000);
      const jwt = new SignJWT({
        iss: issuer,
        sub: "alice",
        iat: now,
        ...(opts.noExp ? {} : { exp: now + 3600 }),
        ...claims,
      }).setProtectedHeader({
        alg: opts.alg ?? (key.publicJwk.alg as string),
        typ: opts.typ ?? "at+jwt",
        kid: opts.kid ?? key.kid,
      });
      return jwt.sign(key.privateKey);
    },
    setKeys(next) {
      keys = next;
    },
    jwksFetches: () => fetches,
    setDown(d) {
      mode = d ? "down" : "ok";
    },
    setMode(m) {
      mode = m;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
