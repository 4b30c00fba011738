// One linter for the whole tree. The layer rules keep the architecture visible:
// src/core is pure (no DOM, no libp2p, no IndexedDB), src/ui does no I/O.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import svelte from 'eslint-plugin-svelte'
import globals from 'globals'

const IO_PACKAGES = ['libp2p', '@libp2p/*', '@multiformats/*', 'idb', 'it-*', 'node:*', 'svelte', 'svelte/*']

export default tseslint.config(
  { ignores: ['dist/**', 'dist-test/**', 'node_modules/**', 'test-results/**', 'playwright-report/**', '.data/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...svelte.configs.recommended,
  {
    languageOptions: { globals: { ...globals.browser, ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: { parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.svelte'] } },
  },
  {
    // The pure core: runs unchanged in Node and the browser, with time and randomness passed in.
    files: ['src/core/**/*.ts'],
    languageOptions: { globals: { ...globals['shared-node-browser'], crypto: 'readonly' } },
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: IO_PACKAGES, message: 'src/core is pure: no libp2p, IndexedDB, Node or UI imports.' },
          { group: ['**/net/**', '**/storage/**', '**/app/**', '**/ui/**'], message: 'src/core must not depend on outer layers.' },
        ],
      }],
      'no-restricted-globals': ['error',
        { name: 'window', message: 'src/core has no DOM.' },
        { name: 'document', message: 'src/core has no DOM.' },
        { name: 'indexedDB', message: 'src/core has no storage.' },
        { name: 'localStorage', message: 'src/core has no storage.' },
      ],
    },
  },
  {
    // The UI is a thin layer: it talks to the messenger service, never to the network or storage.
    files: ['src/ui/**/*.{ts,svelte}'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ group: ['libp2p', '@libp2p/*', 'idb', '**/net/**', '**/storage/**'], message: 'src/ui does no I/O: go through src/app.' }],
      }],
    },
  },
)
