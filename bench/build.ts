/**
 * The benchmark servers run as compiled JavaScript, as the package's users run it (`tsc` output), not
 * through `tsx`: tsx compiles with esbuild's `keepNames`, which calls a `__name` helper for every
 * function expression created — per request, for the closures on a request's path — and that cost
 * (1.3–1.5 % of the protected rows' CPU in a profile, 0.5 % of the SDK rows', whose code mostly comes
 * compiled from node_modules) is not the library's. `bench/servers.ts` and what it imports from
 * `src/` are compiled once per bench run into `.bench-build/` (tsconfig.bench.json, a few seconds);
 * `BENCH_TSX=1` runs them through tsx instead.
 */
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/** The server file to fork and the Node flags it needs: compiled (default) or through tsx. */
export interface ServerEntry {
  file: string;
  execArgv: string[];
}

let built: ServerEntry | undefined;

/** Compile the benchmark servers (once per process) and say how to start them. */
export function serverEntry(): ServerEntry {
  if (process.env.BENCH_TSX === "1")
    return { file: fileURLToPath(new URL("./servers.ts", import.meta.url)), execArgv: ["--import", "tsx"] };
  if (built) return built;
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  const project = fileURLToPath(new URL("../tsconfig.bench.json", import.meta.url));
  execFileSync(process.execPath, [tsc, "-p", project], { stdio: "inherit" });
  built = { file: fileURLToPath(new URL("../.bench-build/bench/servers.js", import.meta.url)), execArgv: [] };
  return built;
}
