/**
 * Every ```ts block in README.md and docs/*.md type-checks, as a module of its own, against the
 * sources: `protected-mcp` and each subpath in package.json `exports` resolve to `src/` (through a
 * generated `paths` map), every other import to this project's node_modules. Blocks are compiled in
 * memory (virtual `.mts` files beside this one: ESM, top-level await allowed); nothing is written.
 *
 * A block meant to be partial is fenced ```ts nocheck. Keep those rare: they are counted below.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const VIRTUAL_DIR = join(ROOT, "test", ".docs-snippets");
const MAX_NOCHECK = 3;

/** One fenced block: where it starts in its Markdown file, and its code. */
interface Block {
  file: string;
  line: number;
  code: string;
  nocheck: boolean;
}

function markdownFiles(): string[] {
  const docs = join(ROOT, "docs");
  const guides = readdirSync(docs)
    .filter((f) => f.endsWith(".md"))
    .sort()
    .map((f) => join(docs, f));
  return [join(ROOT, "README.md"), ...guides];
}

/** The ```ts / ```typescript blocks of one Markdown file (CommonMark fences, possibly indented in lists). */
export function extractBlocks(file: string, text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^( *)(`{3,}|~{3,})\s*([^\s`]*)(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const [, indent = "", fence = "", lang = "", info = ""] = open;
    const close = new RegExp(`^ *${fence[0] === "`" ? "`" : "~"}{${fence.length},}\\s*$`);
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !close.test(lines[j]!); j++)
      body.push(lines[j]!.startsWith(indent) ? lines[j]!.slice(indent.length) : lines[j]!);
    if (lang === "ts" || lang === "typescript") {
      blocks.push({ file, line: i + 1, code: body.join("\n"), nocheck: /\bnocheck\b/.test(info) });
    }
    i = j;
  }
  return blocks;
}

/** `protected-mcp` and its exported subpaths → the source files behind them (from package.json `exports`). */
function sourcePaths(): Record<string, string[]> {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
    name: string;
    exports: Record<string, { types?: string }>;
  };
  const paths: Record<string, string[]> = {};
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const types = typeof target === "object" ? target.types : undefined;
    if (!types) continue;
    const source = types.replace(/^\.\/dist\//, "src/").replace(/\.d\.ts$/, ".ts");
    paths[subpath === "." ? pkg.name : `${pkg.name}/${subpath.slice(2)}`] = [join(ROOT, source)];
  }
  return paths;
}

function compilerOptions(): ts.CompilerOptions {
  const configPath = join(ROOT, "tsconfig.json");
  const config = ts.readConfigFile(configPath, (p) => ts.sys.readFile(p));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT, undefined, configPath);
  return {
    ...parsed.options,
    noEmit: true,
    declaration: false,
    declarationMap: false,
    sourceMap: false,
    moduleDetection: ts.ModuleDetectionKind.Force,
    paths: sourcePaths(),
  };
}

test("every ```ts block in README.md and docs/*.md type-checks", { timeout: 300_000 }, () => {
  const blocks = markdownFiles().flatMap((f) => extractBlocks(f, readFileSync(f, "utf8")));
  const checked = blocks.filter((b) => !b.nocheck);
  assert.ok(checked.length >= 10, `found only ${checked.length} ts blocks`);
  const nocheck = blocks.filter((b) => b.nocheck);
  assert.ok(
    nocheck.length <= MAX_NOCHECK,
    `${nocheck.length} blocks are marked nocheck (at most ${MAX_NOCHECK}): ${nocheck.map((b) => `${relative(ROOT, b.file)}:${b.line}`).join(", ")}`,
  );

  const virtual = new Map<string, Block>();
  for (const b of checked)
    virtual.set(join(VIRTUAL_DIR, `${relative(ROOT, b.file).replace(/[\\/]/g, "_")}-L${b.line}.mts`), b);

  const options = compilerOptions();
  const host = ts.createCompilerHost(options, true);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.fileExists = (f) => virtual.has(f) || fileExists(f);
  host.readFile = (f) => virtual.get(f)?.code ?? readFile(f);
  host.getSourceFile = (f, lang, onError, create) => {
    const b = virtual.get(f);
    return b ? ts.createSourceFile(f, b.code, lang, true) : getSourceFile(f, lang, onError, create);
  };
  const program = ts.createProgram({ rootNames: [...virtual.keys()], options, host });

  const errors = ts.getPreEmitDiagnostics(program).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, "\n  ");
    if (!d.file || d.start === undefined) return `TS${d.code}: ${text}`;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    const b = virtual.get(d.file.fileName);
    // The block's code starts on the line after its opening fence.
    const where = b
      ? `${relative(ROOT, b.file)}:${b.line + 1 + line}`
      : `${relative(ROOT, d.file.fileName)}:${line + 1}`;
    return `${where}:${character + 1} TS${d.code}: ${text}`;
  });
  assert.equal(errors.length, 0, `code blocks that do not type-check:\n${errors.join("\n")}`);
});

test("extractBlocks: languages, nocheck, indented fences, line numbers", () => {
  const md = [
    "# t",
    "```ts",
    "const a = 1;",
    "```",
    "- item",
    "  ```ts nocheck",
    "  partial(",
    "  ```",
    "```sh",
    "npm i",
    "```",
    "````typescript",
    "```",
    "````",
  ].join("\n");
  const blocks = extractBlocks("x.md", md);
  assert.deepEqual(
    blocks.map((b) => [b.line, b.code, b.nocheck]),
    [
      [2, "const a = 1;", false],
      [6, "partial(", true],
      [12, "```", false],
    ],
  );
});
