// One linter for the whole tree: ESLint with typescript-eslint's type-checked rules. Each file is checked
// against the TypeScript project it is compiled in: the Worker and its tests against workers/tsconfig.json
// (workerd's types), everything else against tsconfig.json (Node's); core/, in both, against the latter.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const MAILAUTH_ONLY_THROUGH_ADAPTER =
  "import mailauth's functions from core/mailauth/internals.ts: the one module that imports mailauth's internals (saying why for each) and patches node:crypto for them first";

export default tseslint.config(
  { ignores: ["node_modules/", ".wrangler/", "dist/", "data/", "workers/src/config.generated.json"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: "module", parserOptions: { project: "./tsconfig.json", tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      // strictTypeChecked's promise rules: a promise returned from a try block is awaited there (or its
      // rejection escapes the catch), and a rejection reason is unknown until it is narrowed.
      "@typescript-eslint/return-await": ["error", "error-handling-correctness-only"],
      "@typescript-eslint/use-unknown-in-catch-callback-variable": "error",
      "no-console": "off",
      eqeqeq: ["error", "always"],
    },
  },
  { files: ["workers/**/*.ts", "test/workers/**/*.ts"], languageOptions: { parserOptions: { project: "./workers/tsconfig.json" } } },
  // The JavaScript configuration files are in no TypeScript project.
  { files: ["**/*.js", "**/*.cjs", "**/*.mjs"], ...tseslint.configs.disableTypeChecked },
  // mailauth's files below its main entry are its internals: one module imports them, and says why for
  // each (core/mailauth/internals.ts). It also applies the node:crypto patches mailauth needs inside
  // workerd before any of mailauth's code can run, so the program's own code takes no mailauth code
  // past it either, not even from the main module (types are free).
  {
    files: ["**/*.ts"],
    // … and its test, which checks those internals themselves.
    ignores: ["core/mailauth/internals.ts", "test/unit/mailauth-adapter.test.ts"],
    rules: {
      "@typescript-eslint/no-restricted-imports": ["error", { patterns: [{ group: ["mailauth/lib/*"], message: MAILAUTH_ONLY_THROUGH_ADAPTER }] }],
    },
  },
  {
    files: ["core/**/*.ts", "workers/**/*.ts", "relay-node/**/*.ts", "scripts/**/*.ts"],
    ignores: ["core/mailauth/internals.ts"],
    rules: {
      "@typescript-eslint/no-restricted-imports": [
        "error",
        {
          paths: [{ name: "mailauth", allowTypeImports: true, message: MAILAUTH_ONLY_THROUGH_ADAPTER }],
          patterns: [{ group: ["mailauth/lib/*"], message: MAILAUTH_ONLY_THROUGH_ADAPTER }],
        },
      ],
    },
  },
  // dependency-cruiser reads its configuration as CommonJS.
  { files: ["**/*.cjs"], languageOptions: { sourceType: "commonjs", globals: { module: "writable" } } },
);
