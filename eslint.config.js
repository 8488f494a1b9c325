// One linter for the whole tree: ESLint with typescript-eslint's type-checked rules. Each file is checked
// against the TypeScript project it is compiled in: the Worker and its tests against workers/tsconfig.json
// (workerd's types), everything else against tsconfig.json (Node's); core/, in both, against the latter.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

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
  // dependency-cruiser reads its configuration as CommonJS.
  { files: ["**/*.cjs"], languageOptions: { sourceType: "commonjs", globals: { module: "writable" } } },
);
