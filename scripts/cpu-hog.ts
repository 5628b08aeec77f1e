/**
 * Runs a command while busy loops keep the CPU cores busy, to check that the tests hold on a loaded
 * machine (timings, deadlines, "fails fast" bounds): `npx tsx scripts/cpu-hog.ts [--hogs N] -- npm test`.
 * One busy loop per core by default (`os.availableParallelism()`), each a worker thread of this
 * process at normal priority. The loops stop when the command exits; the exit code is the command's
 * (1 when a signal ended it).
 */
import { spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

const args = process.argv.slice(2);
const dashes = args.indexOf("--");
const own = dashes >= 0 ? args.slice(0, dashes) : [];
const command = dashes >= 0 ? args.slice(dashes + 1) : args;
const hogsAt = own.indexOf("--hogs");
const hogs = hogsAt >= 0 ? Number(own[hogsAt + 1]) : availableParallelism();
if (command.length === 0 || !Number.isInteger(hogs) || hogs < 1) {
  console.error("usage: npx tsx scripts/cpu-hog.ts [--hogs N] -- <command> [args…]");
  process.exit(2);
}

const workers = Array.from({ length: hogs }, () => new Worker("for (;;) {}", { eval: true }));
console.error(`cpu-hog: ${hogs} busy loop(s) while running: ${command.join(" ")}`);
const child = spawn(command[0]!, command.slice(1), { stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
child.once("error", (err) => {
  console.error(`cpu-hog: ${err.message}`);
  process.exitCode = 1;
  void Promise.all(workers.map((w) => w.terminate()));
});
child.once("exit", (code, signal) => {
  process.exitCode = code ?? (signal ? 1 : 0);
  void Promise.all(workers.map((w) => w.terminate()));
});
