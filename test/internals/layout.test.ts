/**
 * The layout holds: no import circles in `src/` (type-only imports count: a type imported back says it
 * lives in the wrong module), and `src/`'s root keeps only the public nouns.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../../src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

/** Every relative module a file imports or re-exports, statically or with `import("…")`. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']+)["']/gm)].map(
    (m) => m[1]!,
  );
  return specs.map((spec) => resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
}

/** Strongly connected components with more than one file, or a file importing itself (Tarjan). */
function circles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    indices.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indices.get(w)!));
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v))
        found.push(component.map((f) => relative(SRC, f)).sort());
    }
  };
  for (const v of graph.keys()) if (!indices.has(v)) visit(v);
  return found;
}

test("src/ has no import circles, type-only imports included", () => {
  const files = sourceFiles(SRC);
  const graph = new Map(files.map((f) => [f, importsOf(f)]));
  assert.ok(files.length > 50, `the walk found src/'s modules (${files.length})`);
  assert.ok(
    [...graph.values()].some((deps) => deps.length > 0),
    "the walk found imports",
  );
  assert.deepEqual(circles(graph), [], "import circles in src/");
});

test("the circle finder finds a circle (so the test above can fail)", () => {
  const g = new Map([
    ["/a", ["/b"]],
    ["/b", ["/c"]],
    ["/c", ["/a"]],
    ["/d", ["/a"]],
  ]);
  assert.equal(circles(g).length, 1, "one circle of three");
});

test("src/'s root holds at most 8 modules: the public nouns", () => {
  const root = readdirSync(SRC).filter((name) => name.endsWith(".ts"));
  assert.ok(root.length <= 8, `src/ root modules: ${root.join(", ")}`);
});

test("npm test runs every test folder (soak and runtimes have scripts of their own)", () => {
  const TEST = resolve(SRC, "../test");
  const pkg = JSON.parse(readFileSync(resolve(SRC, "../package.json"), "utf8")) as { scripts: Record<string, string> };
  const folders = readdirSync(TEST).filter((name) => {
    const path = join(TEST, name);
    return statSync(path).isDirectory() && readdirSync(path).some((f) => f.endsWith(".test.ts"));
  });
  assert.ok(folders.includes("protect"), `the walk found the test folders (${folders.join(", ")})`);
  for (const folder of folders) {
    const script = folder === "soak" ? "soak" : folder === "runtimes" ? "test:runtimes" : "test";
    assert.ok(pkg.scripts[script]?.includes(`test/${folder}/*.test.ts`), `npm run ${script} runs test/${folder}/`);
  }
});
