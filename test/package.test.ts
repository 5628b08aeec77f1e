/**
 * The package as it ships: the committed HEAD is cloned, packed (`npm pack`, so `prepack` builds
 * `dist/`), installed from the tarball into a fresh ESM project outside the repository, and every
 * entry point of package.json `exports` is imported there by a plain `node`; the `protected-mcp`
 * bin answers `audit --help`.
 *
 * How it stays fast and offline (loopback only, like every test here):
 * - The clone is `git clone --shared` of this repository (objects are borrowed, nothing is copied),
 *   so it holds exactly what is committed — a file missing from git is missing from the tarball too.
 *   It gets a symlink to this repository's `node_modules` for the build (TypeScript and the types the
 *   sources import); `files` in package.json keeps that link out of the tarball.
 * - The consumer project is installed with `npm ci --offline` from a lockfile this test writes: the
 *   tarball (with the integrity `npm pack` reported) plus the runtime dependency closure copied from
 *   this repository's package-lock.json (same versions, same integrity). npm takes those from its
 *   cache, which the repository's own `npm ci`/`npm install` filled, and asks no registry.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

interface PackageJson {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  optionalDependencies?: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
  bin?: Record<string, string>;
}

/** One entry of package-lock.json `packages`. */
interface LockEntry {
  version?: string;
  integrity?: string;
  resolved?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  link?: boolean;
  dev?: boolean;
  devOptional?: boolean;
  peer?: boolean;
  optional?: boolean;
  [key: string]: unknown;
}

/** The npm beside the running node when there is one (a standard install), else `npm` from PATH. */
function npmCommand(): string {
  const beside = join(dirname(process.execPath), "npm");
  return existsSync(beside) ? beside : "npm";
}

/**
 * The environment for the child processes: this one without what `npm test` (or any npm script)
 * exports about *this* repository (`npm_config_local_prefix`, `npm_package_*`, `npm_lifecycle_*`,
 * `npm_config_*` settings), so the npm runs in the clone and in the consumer see only their own
 * directory. npm's cache and config files are kept.
 */
export function childEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const keep = new Set(["npm_config_cache", "npm_config_userconfig", "npm_config_globalconfig", "npm_config_cafile"]);
  return Object.fromEntries(Object.entries(env).filter(([k]) => !/^npm_/i.test(k) || keep.has(k.toLowerCase())));
}

function run(file: string, args: string[], cwd: string, timeout = 60_000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, timeout, maxBuffer: 32 * 1024 * 1024, env: childEnv() }, (err, stdout, stderr) =>
      err
        ? reject(
            Object.assign(err, { message: `${file} ${args.join(" ")} failed: ${err.message}\n${stdout}\n${stderr}` }),
          )
        : resolve({ stdout, stderr }),
    );
  });
}

/**
 * The lockfile `packages` entries a consumer needs besides the tarball: every runtime dependency of
 * `pkg` (and non-optional peer), transitively, resolved from the consumer's `node_modules/<name>` as
 * Node resolves it — nested `node_modules` first, then each parent — in this repository's lockfile.
 */
export function dependencyClosure(pkg: PackageJson, lock: Record<string, LockEntry>): Record<string, LockEntry> {
  const out: Record<string, LockEntry> = {};
  const runtime = (e: {
    dependencies?: Record<string, string>;
    optionalDependencies?: Record<string, string>;
    peerDependencies?: Record<string, string>;
    peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  }) => [
    ...Object.keys(e.dependencies ?? {}),
    ...Object.keys(e.optionalDependencies ?? {}),
    ...Object.keys(e.peerDependencies ?? {}).filter((p) => !e.peerDependenciesMeta?.[p]?.optional),
  ];
  const resolve = (from: string, name: string): string | undefined => {
    for (let dir = from; ;) {
      const candidate = `${dir ? `${dir}/` : ""}node_modules/${name}`;
      if (lock[candidate]) return candidate;
      if (!dir) return undefined;
      const up = dir.lastIndexOf("/node_modules/");
      dir = up === -1 ? "" : dir.slice(0, up);
    }
  };
  const queue: [string, string][] = runtime(pkg).map((name) => ["", name]);
  while (queue.length > 0) {
    const [from, name] = queue.shift()!;
    const path = resolve(from, name);
    if (path === undefined) {
      // Optional dependencies of other platforms are absent from the lockfile; required ones may not be.
      const parent = from ? lock[from] : pkg;
      if (parent?.optionalDependencies?.[name] !== undefined) continue;
      throw new Error(`${name} (needed by ${from || pkg.name}) is not in package-lock.json`);
    }
    if (out[path]) continue;
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...entry } = lock[path]!;
    assert.ok(!entry.link, `${path} is a link in package-lock.json: a runtime dependency must come from the registry`);
    out[path] = entry;
    for (const dep of runtime(entry)) queue.push([path, dep]);
  }
  return out;
}

test(
  "npm pack of a clean clone ships dist/, installs into a fresh ESM project, and every entry point imports",
  { timeout: 180_000 },
  async (t) => {
    const tmp = mkdtempSync(join(tmpdir(), "protected-mcp-package-"));
    t.after(() => rmSync(tmp, { recursive: true, force: true }));
    const npm = npmCommand();

    // 1. A clean clone of the committed HEAD, with this repository's node_modules for the build.
    const clone = join(tmp, "clone");
    await run("git", ["clone", "--quiet", "--shared", "--no-checkout", ROOT, clone], tmp);
    await run(
      "git",
      [
        "-c",
        "advice.detachedHead=false",
        "checkout",
        "--quiet",
        (await run("git", ["rev-parse", "HEAD"], ROOT)).stdout.trim(),
      ],
      clone,
    );
    symlinkSync(join(ROOT, "node_modules"), join(clone, "node_modules"), "dir");
    assert.equal(existsSync(join(clone, "dist")), false, "a clean clone has no dist/ (it is git-ignored)");

    // 2. npm pack: prepack builds. Script output goes to stderr, the JSON report to stdout.
    const packed = JSON.parse(
      (await run(npm, ["pack", "--json", "--pack-destination", tmp], clone, 120_000)).stdout,
    ) as {
      filename: string;
      integrity: string;
      files: { path: string }[];
    }[];
    assert.equal(packed.length, 1, "one tarball");
    const { filename, integrity, files } = packed[0]!;
    const paths = files.map((f) => f.path);
    for (const required of [
      "dist/index.js",
      "dist/index.d.ts",
      "dist/audit/cli.js",
      "package.json",
      "README.md",
      "LICENSE",
    ])
      assert.ok(paths.includes(required), `the tarball holds ${required} (it holds ${paths.length} files)`);
    const leaked = paths.filter(
      (p) => /^(src|test|examples|bench|docs|node_modules|conformance)\//.test(p) || p.startsWith("."),
    );
    assert.deepEqual(leaked, [], "no sources, tests, examples, node_modules or dotfiles in the tarball");

    // 3. A fresh ESM project outside the repository, installed offline from a lockfile (see the top).
    const pkg = JSON.parse(readFileSync(join(clone, "package.json"), "utf8")) as PackageJson;
    const lock = (
      JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, LockEntry> }
    ).packages;
    const consumer = join(tmp, "consumer");
    mkdirSync(consumer);
    copyFileSync(join(tmp, filename), join(consumer, filename));
    const spec = `file:${filename}`;
    writeFileSync(
      join(consumer, "package.json"),
      JSON.stringify({ name: "consumer", private: true, type: "module", dependencies: { [pkg.name]: spec } }),
    );
    const {
      name: _name,
      version,
      dependencies,
      optionalDependencies,
      peerDependencies,
      peerDependenciesMeta,
      bin,
    } = pkg;
    const self: LockEntry = {
      version,
      resolved: spec,
      integrity,
      dependencies,
      optionalDependencies,
      peerDependencies,
      peerDependenciesMeta,
      bin,
    };
    writeFileSync(
      join(consumer, "package-lock.json"),
      JSON.stringify({
        name: "consumer",
        lockfileVersion: 3,
        requires: true,
        packages: {
          "": { name: "consumer", dependencies: { [pkg.name]: spec } },
          [`node_modules/${pkg.name}`]: JSON.parse(JSON.stringify(self)) as LockEntry,
          ...dependencyClosure(pkg, lock),
        },
      }),
    );
    await run(npm, ["ci", "--offline", "--no-audit", "--no-fund", "--ignore-scripts"], consumer, 120_000);

    // 4. Every entry point of `exports`, imported by plain node (no tsx, no TypeScript) in the consumer.
    const installed = join(consumer, "node_modules", pkg.name);
    const specifiers = Object.keys(pkg.exports).map((sub) => (sub === "." ? pkg.name : `${pkg.name}/${sub.slice(2)}`));
    assert.ok(specifiers.length >= 5, `exports lists every entry point (found ${specifiers.join(", ")})`);
    for (const [sub, target] of Object.entries(pkg.exports)) {
      const targets = typeof target === "string" ? [target] : Object.values(target);
      for (const file of targets)
        assert.ok(existsSync(join(installed, file)), `exports["${sub}"] → ${file} is installed`);
    }
    const script = `
    const out = {};
    for (const s of ${JSON.stringify(specifiers)}) {
      const m = await import(s, s.endsWith(".json") ? { with: { type: "json" } } : undefined);
      out[s] = Object.keys(m).length;
    }
    process.stdout.write(JSON.stringify(out));`;
    const imported = JSON.parse(
      (await run(process.execPath, ["--input-type=module", "-e", script], consumer)).stdout,
    ) as Record<string, number>;
    assert.deepEqual(Object.keys(imported), specifiers, "every entry point imported");
    for (const [s, n] of Object.entries(imported)) assert.ok(n > 0, `${s} exports something (it exported ${n} names)`);

    // 5. The bin, as npm linked it.
    const usage = await run(
      process.execPath,
      [join(consumer, "node_modules", ".bin", "protected-mcp"), "audit", "--help"],
      consumer,
    );
    assert.match(usage.stdout, /^Usage: protected-mcp audit <url>/, "audit --help prints the usage");
  },
);

test("childEnv: drops what an npm script exports about this package, keeps npm's cache and config files", () => {
  assert.deepEqual(
    childEnv({
      PATH: "/bin",
      npm_config_local_prefix: "/repo",
      npm_package_name: "protected-mcp",
      npm_lifecycle_event: "test",
      NPM_CONFIG_PREFIX: "/usr",
      npm_config_cache: "/home/u/.npm",
      npm_config_userconfig: "/home/u/.npmrc",
    }),
    { PATH: "/bin", npm_config_cache: "/home/u/.npm", npm_config_userconfig: "/home/u/.npmrc" },
  );
});

test("dependencyClosure: nested before hoisted, transitive, optional peers and foreign-platform optionals skipped, dev flags dropped", () => {
  const pkg: PackageJson = {
    name: "p",
    version: "1.0.0",
    exports: {},
    dependencies: { a: "^1" },
    peerDependencies: { peer: "^1", opt: "^1" },
    peerDependenciesMeta: { opt: { optional: true } },
  };
  const lock: Record<string, LockEntry> = {
    "node_modules/a": {
      version: "1.0.0",
      dependencies: { b: "^2" },
      optionalDependencies: { "os-only": "1" },
      dev: true,
    },
    "node_modules/a/node_modules/b": { version: "2.0.0", dependencies: { c: "^1" } },
    "node_modules/b": { version: "1.0.0" },
    "node_modules/c": { version: "1.0.0", devOptional: true },
    "node_modules/peer": { version: "1.0.0", peer: true },
    "node_modules/opt": { version: "1.0.0" },
    "node_modules/unrelated": { version: "1.0.0" },
  };
  assert.deepEqual(dependencyClosure(pkg, lock), {
    "node_modules/a": { version: "1.0.0", dependencies: { b: "^2" }, optionalDependencies: { "os-only": "1" } },
    "node_modules/peer": { version: "1.0.0" },
    "node_modules/a/node_modules/b": { version: "2.0.0", dependencies: { c: "^1" } },
    "node_modules/c": { version: "1.0.0" },
  });
  assert.throws(
    () => dependencyClosure({ ...pkg, dependencies: { missing: "1" } }, lock),
    /missing \(needed by p\) is not in package-lock.json/,
  );
});
