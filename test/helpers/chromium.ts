/** Where the browser tests find Chromium, and how they launch it. */
import { existsSync } from "node:fs";

/** Debian's `chromium` package (what CI installs). */
export const DEFAULT_CHROMIUM = "/usr/bin/chromium";

/** Flags for a quiet headless Chromium in a container: no sandbox, no GPU, no background traffic. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/**
 * The Chromium executable: `CHROMIUM_PATH` when it is set (and not empty), else
 * {@link DEFAULT_CHROMIUM}. `missing` says why it cannot be used (the tests skip with it, or fail
 * under `CI=true`); a `CHROMIUM_PATH` naming no file is reported, never silently replaced.
 */
export function findChromium(
  env: Record<string, string | undefined> = process.env,
  exists: (path: string) => boolean = existsSync,
): { path: string; missing: string | undefined } {
  const configured = env.CHROMIUM_PATH;
  if (configured)
    return { path: configured, missing: exists(configured) ? undefined : `CHROMIUM_PATH=${configured} does not exist` };
  return {
    path: DEFAULT_CHROMIUM,
    missing: exists(DEFAULT_CHROMIUM)
      ? undefined
      : `needs ${DEFAULT_CHROMIUM} (apt-get install chromium) or CHROMIUM_PATH=<a Chromium executable>`,
  };
}
