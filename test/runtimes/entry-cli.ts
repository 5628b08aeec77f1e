/** Entry for Bun and Deno: run the smoke suite, print `SMOKE {json}`, fail the process on any failed check. */
import { runSmoke } from "./smoke.js";

const result = await runSmoke();
console.log(`SMOKE ${JSON.stringify(result)}`);
if (!result.ok) throw new Error("runtime smoke suite failed");
