import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import { importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    ignores: [
      'node_modules/**',
      'coverage/**',
      'artifacts/**',
      '.conveyor/**',
      '.scratch/**',
      'web/dist/**',
      'dist/**',
      // Guest code for the WebAssembly sandbox (no Node, no project types): `conveyor tool build`
      // compiles it and runs its tests.json, as test/tool-cli.test.ts does.
      'examples/tools/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', 'bin/*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { 'import-x': importX },
    rules: {
      'import-x/no-cycle': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/explicit-module-boundary-types': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }],
      '@typescript-eslint/no-extraneous-class': 'off',
    },
  },
  {
    // The dashboard: browser code, type-checked against web/tsconfig.json (found by the project service).
    files: ['web/**/*.{ts,tsx}'],
    rules: {
      // Event handlers in JSX return nothing on purpose; React ignores what they return.
      '@typescript-eslint/no-confusing-void-expression': 'off',
    },
  },
  {
    // import-x's resolver cannot load Vite's ESM-only packages; a config file has no local imports to cycle through.
    files: ['web/vite.config.ts'],
    rules: { 'import-x/no-cycle': 'off' },
  },
  {
    // The launcher runs as plain JavaScript on Node before anything is compiled: no type annotations.
    files: ['bin/*.js'],
    languageOptions: { globals: { URL: 'readonly' } },
    rules: { '@typescript-eslint/explicit-module-boundary-types': 'off' },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    // Tests inspect JSON answers whose shape is what they assert.
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/explicit-module-boundary-types': 'off',
    },
  },
);
