// One linter for the whole tree: ESLint with typescript-eslint's recommended rules.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const MAILAUTH_ONLY_THROUGH_ADAPTER =
  "import mailauth's functions from core/mailauth/internals.ts: the one module that imports mailauth's internals (saying why for each) and patches node:crypto for them first";

export default tseslint.config(
  { ignores: ["node_modules/", ".wrangler/", "dist/", "data/", "workers/src/config.generated.json"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: "module" },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-console": "off",
      eqeqeq: ["error", "always"],
    },
  },
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
