/**
 * The public surface, guarded: the names of the values and of the types each entry point exports
 * must equal the snapshot in test/fixtures/exports.json. A change to the surface is a change to this
 * file's snapshot, made on purpose (`UPDATE_EXPORTS=1 node --import tsx --test test/exports.test.ts`)
 * and listed in CHANGELOG.md.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SNAPSHOT = `${ROOT}test/fixtures/exports.json`;
const MAX_ROOT_VALUES = 40;

/** Entry point → its source file, from package.json's `exports` (./dist/x.js → src/x.ts). */
function entryPoints(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")) as {
    exports: Record<string, string | { default: string }>;
  };
  const out: Record<string, string> = {};
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (typeof target === "string") continue; // ./package.json
    out[subpath] = `${ROOT}${target.default.replace(/^\.\/dist\//, "src/").replace(/\.js$/, ".ts")}`;
  }
  return out;
}

/** The names a module exports only as types (interfaces, type aliases, `export type`). */
function typeNames(files: string[]): Record<string, string[]> {
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const out: Record<string, string[]> = {};
  for (const file of files) {
    const symbol = checker.getSymbolAtLocation(program.getSourceFile(file)!)!;
    out[file] = checker
      .getExportsOfModule(symbol)
      .filter((s) => {
        const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
        return !(target.flags & ts.SymbolFlags.Value);
      })
      .map((s) => s.name)
      .sort();
  }
  return out;
}

test("the exported names of every entry point equal the snapshot; the root has at most 40 runtime exports", async () => {
  const entries = entryPoints();
  const types = typeNames(Object.values(entries));
  const surface: Record<string, { values: string[]; types: string[] }> = {};
  let rootValues = 0;
  for (const [subpath, file] of Object.entries(entries)) {
    const mod = (await import(file)) as Record<string, unknown>;
    surface[subpath] = { values: Object.keys(mod).sort(), types: types[file]! };
    if (subpath === ".") rootValues = Object.keys(mod).length;
  }
  if (process.env.UPDATE_EXPORTS) writeFileSync(SNAPSHOT, `${JSON.stringify(surface, null, 2)}\n`);
  const expected = JSON.parse(readFileSync(SNAPSHOT, "utf8"));
  assert.deepEqual(
    surface,
    expected,
    "the public surface changed: update test/fixtures/exports.json on purpose (UPDATE_EXPORTS=1) and CHANGELOG.md",
  );
  assert.ok(
    rootValues <= MAX_ROOT_VALUES,
    `root entry: ${rootValues} runtime exports, deprecated aliases included (at most ${MAX_ROOT_VALUES})`,
  );
});
