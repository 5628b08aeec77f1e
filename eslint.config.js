// @ts-check
/**
 * ESLint: the recommended JavaScript rules and typescript-eslint's type-checked rules (they see the
 * types, so they catch floating promises, misused promises, unsafe `any` flows). Layout is Prettier's
 * job (`npm run format`; `npm run lint` checks it), so no stylistic rules here. Every rule turned off
 * or changed below says why.
 */
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "dist/",
      "docs/",
      ".tools/",
      ".bench-build/",
      "test-artifacts/",
      "node_modules/",
      ".audit-build-*/",
      "conformance/vendor/",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      // Prettier puts a computed member access on its own line (`.map(…)\n[Symbol.iterator]()`);
      // eslint-config-prettier turns this rule off for the same reason.
      "no-unexpected-multiline": "off",
      // `async` without `await` is deliberate: methods of Promise-returning interfaces (stores, the dev
      // authorization server's storage) are `async` so that a throw becomes a rejection, as callers expect.
      "@typescript-eslint/require-await": "off",
      // `_`-prefixed names are deliberate placeholders (callbacks with fixed signatures).
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" },
      ],
      // Passing on a rejection received as `unknown` (a wrapped promise, a rethrow) is not inventing a non-Error.
      "@typescript-eslint/prefer-promise-reject-errors": ["error", { allowThrowingUnknown: true }],
      // node:test's test()/describe()/it() return promises the runner itself awaits.
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            {
              from: "package",
              package: "node:test",
              name: ["test", "describe", "it", "suite", "before", "after", "beforeEach", "afterEach"],
            },
          ],
        },
      ],
    },
  },
  {
    // Tests and benchmarks read JSON from the wire and poke at responses and internals: `any` there is
    // the point (an assertion checks the shape), not a leak into the typed API.
    files: ["test/**", "bench/**"],
    rules: {
      // Assertion messages and logs stringify whatever they got.
      "@typescript-eslint/no-base-to-string": "off",
      "@typescript-eslint/restrict-template-expressions": "off",
      "@typescript-eslint/restrict-plus-operands": "off",
      // Rejecting with execFile's error (an Error, widened by Object.assign) is fine in a test.
      "@typescript-eslint/prefer-promise-reject-errors": "off",
      // test/helpers/peer-servers.ts replays fastmcp's documented `throw new Response(…)`.
      "@typescript-eslint/only-throw-error": ["error", { allow: [{ from: "lib", name: "Response" }] }],
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      // A failing assert.ok(x) / assert(x) without a message makes node:assert read and parse the
      // test's source to print the expression, which under tsx can spin for minutes: say what failed.
      "no-restricted-syntax": [
        "error",
        {
          selector: "CallExpression[callee.type='Identifier'][callee.name='assert'][arguments.length<2]",
          message: 'Give assert(x) a message: assert(x, "what was expected").',
        },
        {
          selector:
            "CallExpression[callee.type='MemberExpression'][callee.object.name='assert'][callee.property.name='ok'][arguments.length<2]",
          message: 'Give assert.ok(x) a message: assert.ok(x, "what was expected").',
        },
      ],
    },
  },
  {
    // `any` on purpose: a tool definition's input type is erased once collected (`ToolDefinition<any>`),
    // and the v2 `McpServer` comes from an optional peer whose types the root entry must not import.
    files: ["src/server.ts", "src/items/tools.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    // Plain JavaScript files (this config, test fixtures): no type information.
    files: ["**/*.js", "**/*.mjs", "**/*.cjs"],
    ...tseslint.configs.disableTypeChecked,
  },
);
