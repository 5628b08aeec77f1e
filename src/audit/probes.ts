/**
 * What the audit sends and how an answer is read, shared by the checks and the context that runs them:
 * the protocol-era probes (the first request of each protocol revision), a check's verdict, and whether
 * a server did the work.
 *
 * @module
 */
import { rpcMessage, type ProbeResponse } from "./http.js";

/** A check's verdict. SKIP: it could not be judged (a prerequisite failed or does not apply). */
export type Status = "PASS" | "WARN" | "FAIL" | "SKIP";

/** A verdict with one line of evidence. */
export interface Outcome {
  status: Status;
  evidence: string;
}

/** A protocol revision's unauthenticated request: what a client of that era sends first. */
export interface EraProbe {
  /** Protocol revision, e.g. `2026-07-28`. */
  era: string;
  /** Check id suffix, e.g. `server-discover` → `challenge.server-discover`. */
  id: string;
  /** JSON-RPC method. */
  method: string;
  /** Extra HTTP headers the revision requires. */
  headers: Record<string, string>;
  /** Request headers a browser client of this era names in a CORS preflight. */
  corsHeaders: string[];
  /** JSON-RPC params. */
  params: Record<string, unknown>;
  /** Spec reference. */
  spec: string;
}

const META_2026 = {
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientCapabilities": {},
  "io.modelcontextprotocol/clientInfo": { name: "protected-mcp-audit", version: "1" },
};

/**
 * The first request of each protocol era. The first entry is the reference: its 401 challenge is the
 * one the others must repeat. Add an entry to probe a new revision.
 */
export const ERA_PROBES: readonly EraProbe[] = [
  {
    era: "2025-11-25",
    id: "initialize",
    method: "initialize",
    headers: {},
    corsHeaders: ["authorization", "content-type", "mcp-protocol-version"],
    params: {
      protocolVersion: "2025-11-25",
      capabilities: {},
      clientInfo: { name: "protected-mcp-audit", version: "1" },
    },
    spec: "MCP authz §2.3.1; RFC 9728 §5.1",
  },
  {
    era: "2026-07-28",
    id: "server-discover",
    method: "server/discover",
    headers: { "mcp-protocol-version": "2026-07-28", "mcp-method": "server/discover" },
    corsHeaders: ["authorization", "content-type", "mcp-protocol-version", "mcp-method", "mcp-name"],
    params: { _meta: META_2026 },
    spec: "MCP 2026-07-28 server/discover",
  },
  {
    era: "2026-07-28",
    id: "tools-call",
    method: "tools/call",
    headers: {
      "mcp-protocol-version": "2026-07-28",
      "mcp-method": "tools/call",
      "mcp-name": "protected_mcp_audit_probe",
    },
    corsHeaders: ["authorization", "content-type", "mcp-protocol-version", "mcp-method", "mcp-name"],
    params: { name: "protected_mcp_audit_probe", arguments: {}, _meta: META_2026 },
    spec: "MCP 2026-07-28 Mcp-Method/Name",
  },
];

/** The JSON body of an era probe. */
export function eraBody(p: EraProbe, id: number | string = 1): string {
  return JSON.stringify({ jsonrpc: "2.0", id, method: p.method, params: p.params });
}

/** The reference probe: the first of {@link ERA_PROBES}, whose challenge the others must repeat. */
export const REFERENCE_PROBE: EraProbe = ERA_PROBES[0]!;

/** Did the server do the work (a 2xx with a JSON-RPC result)? */
export const answered = (res: ProbeResponse): boolean => {
  const m = rpcMessage(res);
  return res.status >= 200 && res.status < 300 && m !== undefined && "result" in m;
};
