// One linter for the whole tree. The layer rules keep the architecture visible (docs/architecture.md):
// each layer lists what it must not import or touch, and tests/unit/lint/boundaries.test.ts shows every
// rule firing. The shared packages are imported by name (@paloma/core, @paloma/net, @paloma/node-crypto);
// packages/core also has its own tsconfig without DOM or Node types (packages/core/tsconfig.json).
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import svelte from 'eslint-plugin-svelte'
import globals from 'globals'

/** Packages that do I/O or tie code to one runtime. */
const IO_PACKAGES = ['libp2p', '@libp2p/*', '@multiformats/*', 'idb', 'it-*', 'node:*']
const UI_PACKAGES = ['svelte', 'svelte/*']

/** The workspace packages, by name. */
const CORE = ['@paloma/core', '@paloma/core/*']
const NET = ['@paloma/net', '@paloma/net/*']
const NODE_CRYPTO = ['@paloma/node-crypto', '@paloma/node-crypto/*']
/** Import patterns naming a layer of src/ by relative path (`../storage/x.ts`, `../../src/app/x.ts`). */
const layer = (...names) => names.map((name) => `**/${name}/**`)

/** Globals of the browser page: the DOM, its storage and network APIs. */
const DOM_GLOBALS = [
  'window',
  'self',
  'document',
  'navigator',
  'location',
  'history',
  'localStorage',
  'sessionStorage',
  'indexedDB',
  'caches',
  'fetch',
  'XMLHttpRequest',
  'WebSocket',
  'RTCPeerConnection',
  'Notification',
  'alert',
  'confirm',
  'prompt',
]
/** Globals only Node has. */
const NODE_GLOBALS = [
  'process',
  'Buffer',
  'require',
  'module',
  'exports',
  '__dirname',
  '__filename',
  'global',
  'setImmediate',
  'clearImmediate',
]

/**
 * The rules of one layer: `imports` are `no-restricted-imports` groups, each `[patterns, message]`;
 * `globals` are `[names, message]` for `no-restricted-globals`.
 */
function boundary(files, { imports = [], globals = [] }) {
  const rules = {
    'no-restricted-imports': ['error', { patterns: imports.map(([group, message]) => ({ group, message })) }],
  }
  if (globals.length > 0) {
    rules['no-restricted-globals'] = [
      'error',
      ...globals.flatMap(([names, message]) => names.map((name) => ({ name, message }))),
    ]
  }
  return { files, rules }
}

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
    // Declarations of the few platform APIs core may use (read only by packages/core/tsconfig.json).
    files: ['packages/core/platform.d.ts'],
    rules: { 'no-var': 'off' },
  },

  // The pure core: runs unchanged in Node and the browser, with time and randomness passed in.
  boundary(['packages/core/**/*.ts'], {
    imports: [
      [[...IO_PACKAGES, ...UI_PACKAGES], '@paloma/core is pure: no libp2p, IndexedDB, Node or UI imports.'],
      [[...NET, ...NODE_CRYPTO, '**/src/**'], '@paloma/core must not depend on outer layers.'],
    ],
    globals: [
      [DOM_GLOBALS, '@paloma/core has no DOM: take what you need as a parameter.'],
      [NODE_GLOBALS, '@paloma/core has no Node APIs: take what you need as a parameter.'],
    ],
  }),
  // The network layer: libp2p and Paloma's protocols; it knows nothing of storage or the UI.
  boundary(['packages/net/**/*.ts'], {
    imports: [
      [['**/src/**', ...NODE_CRYPTO], '@paloma/net must not know storage, the app service or the UI.'],
      [UI_PACKAGES, '@paloma/net has no UI.'],
    ],
  }),
  // Storage: the vault and its stores; it knows nothing of the network or the UI.
  boundary(['src/storage/**/*.ts'], {
    imports: [
      [[...NET, ...layer('app', 'ui')], 'src/storage must not know the network, the app service or the UI.'],
      [
        ['libp2p', '@libp2p/*', '@multiformats/*', ...UI_PACKAGES],
        'src/storage does no networking and has no UI.',
      ],
    ],
  }),
  // The app service: composes core, net and storage; runs in Node too (tests, load tools), so no DOM.
  boundary(['src/app/**/*.ts'], {
    imports: [[[...layer('ui'), ...UI_PACKAGES], 'src/app must not know the UI: the UI drives it.']],
    globals: [
      [DOM_GLOBALS, 'src/app has no DOM (it runs in Node too): src/main.svelte.ts injects what it needs.'],
    ],
  }),
  // The UI is a thin layer: it talks to the app service (src/app), never to the layers below.
  boundary(['src/ui/**/*.{ts,svelte}'], {
    imports: [
      [
        [...CORE, ...NET, ...NODE_CRYPTO, ...layer('storage'), ...IO_PACKAGES],
        'src/ui does no I/O and knows no layer below src/app: go through src/app (types, codes.ts).',
      ],
    ],
  }),
  // Platform adapters (the Node crypto provider) implement core's interfaces; nothing above core.
  boundary(['packages/node-crypto/**/*.ts'], {
    imports: [[[...NET, '**/src/**'], '@paloma/node-crypto implements core interfaces only.']],
  }),
  // The relay: the shared packages and its own services; never the browser app.
  boundary(['relay-node/**/*.ts'], {
    imports: [
      [
        ['**/src/**', '**/packages/**'],
        'relay-node uses the shared packages (@paloma/core, @paloma/net, @paloma/node-crypto), never the app, the UI or browser storage.',
      ],
      [UI_PACKAGES, 'relay-node has no UI.'],
    ],
  }),
)
