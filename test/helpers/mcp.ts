/** Raw JSON-RPC helpers for driving the Streamable HTTP endpoint without a client. */
export const MCP_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };

export function toolCall(name: string, args: Record<string, unknown> = {}, id = 1) {
  return JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } });
}

export function initialize(id = 0) {
  return JSON.stringify({
    jsonrpc: "2.0",
    id,
    method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw-test", version: "1.0.0" } },
  });
}

/** Parse a JSON or single-event SSE response body into the JSON-RPC message. */
export async function readRpc(res: Response): Promise<any> {
  const text = await res.text();
  if ((res.headers.get("content-type") ?? "").includes("text/event-stream")) {
    const data = text
      .split("\n")
      .filter((l) => l.startsWith("data: "))
      .map((l) => l.slice(6));
    return JSON.parse(data[data.length - 1]!);
  }
  return JSON.parse(text);
}
