/**
 * The layer rules of eslint.config.js fire: small snippets linted as if they were files of each layer.
 * Every forbidden dependency gets its rule's error; one allowed snippet per layer gets no message at all.
 */
import { fileURLToPath } from 'node:url'
import { ESLint } from 'eslint'
import { beforeAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../../', import.meta.url))
let eslint: ESLint

beforeAll(() => {
  eslint = new ESLint({ cwd: root, overrideConfigFile: `${root}eslint.config.js` })
})

async function lint(
  filePath: string,
  code: string,
): Promise<Array<{ ruleId: string | null; message: string }>> {
  const [result] = await eslint.lintText(code, { filePath: `${root}${filePath}` })
  return (result?.messages ?? []).map(({ ruleId, message }) => ({ ruleId, message }))
}

const svelte = (script: string): string => `<script lang="ts">\n${script}\n</script>\n\n<p>{x}</p>\n`

// [what, file in the layer, code, the rule that must fire]
const forbidden: Array<[string, string, string, 'no-restricted-imports' | 'no-restricted-globals']> = [
  [
    'net imports storage',
    'packages/net/probe.ts',
    `export { Vault } from '../../src/storage/vault.ts'`,
    'no-restricted-imports',
  ],
  [
    'net imports the app',
    'packages/net/probe.ts',
    `export { Paloma } from '../../src/app/paloma.ts'`,
    'no-restricted-imports',
  ],
  [
    'ui imports core',
    'src/ui/probe.ts',
    `export { decodeStrict } from '@paloma/core/cbor.ts'`,
    'no-restricted-imports',
  ],
  [
    'ui (a component) imports net',
    'src/ui/Probe.svelte',
    svelte(`  import { deposit } from '@paloma/net/mailbox-client.ts'\n  const x = deposit`),
    'no-restricted-imports',
  ],
  [
    'ui imports storage',
    'src/ui/probe.ts',
    `export { Vault } from '../storage/vault.ts'`,
    'no-restricted-imports',
  ],
  [
    'ui imports libp2p',
    'src/ui/probe.ts',
    `export { peerIdFromString } from '@libp2p/peer-id'`,
    'no-restricted-imports',
  ],
  ['ui imports idb', 'src/ui/probe.ts', `export { openDB } from 'idb'`, 'no-restricted-imports'],
  [
    'core uses window',
    'packages/core/probe.ts',
    `export const here = window.location.href`,
    'no-restricted-globals',
  ],
  [
    'core uses fetch',
    'packages/core/probe.ts',
    `export const get = () => fetch('/config.json')`,
    'no-restricted-globals',
  ],
  [
    'core uses process',
    'packages/core/probe.ts',
    `export const home = process.env.HOME`,
    'no-restricted-globals',
  ],
  [
    'core uses Buffer',
    'packages/core/probe.ts',
    `export const b = Buffer.from('x')`,
    'no-restricted-globals',
  ],
  [
    'core imports net',
    'packages/core/protocol/probe.ts',
    `export { ChatService } from '@paloma/net/chat.ts'`,
    'no-restricted-imports',
  ],
  [
    'core imports libp2p',
    'packages/core/probe.ts',
    `export { multiaddr } from '@multiformats/multiaddr'`,
    'no-restricted-imports',
  ],
  [
    'core imports node:*',
    'packages/core/probe.ts',
    `export { randomBytes } from 'node:crypto'`,
    'no-restricted-imports',
  ],
  [
    'storage imports net',
    'src/storage/probe.ts',
    `export { deposit } from '@paloma/net/mailbox-client.ts'`,
    'no-restricted-imports',
  ],
  [
    'app imports ui',
    'src/app/probe.ts',
    `export { errorText } from '../ui/i18n.ts'`,
    'no-restricted-imports',
  ],
  [
    'app uses the DOM',
    'src/app/probe.ts',
    `export const title = () => document.title`,
    'no-restricted-globals',
  ],
  [
    'node-crypto imports the app',
    'packages/node-crypto/probe.ts',
    `export { Paloma } from '../../src/app/paloma.ts'`,
    'no-restricted-imports',
  ],
  [
    'relay-node imports the app',
    'relay-node/src/probe.ts',
    `export { Paloma } from '../../src/app/paloma.ts'`,
    'no-restricted-imports',
  ],
  [
    'relay-node imports browser storage',
    'relay-node/src/mailbox/probe.ts',
    `export { Vault } from '../../../src/storage/vault.ts'`,
    'no-restricted-imports',
  ],
  [
    'relay-node reaches into a package by path instead of by name',
    'relay-node/src/probe.ts',
    `export { FrameReader } from '../../packages/core/protocol/mailbox.ts'`,
    'no-restricted-imports',
  ],
  [
    'relay-node imports the ui',
    'relay-node/src/probe.ts',
    `export { pickStrings } from '../../src/ui/i18n.ts'`,
    'no-restricted-imports',
  ],
]

// [layer, file in the layer, code that only uses what the layer may]
const allowed: Array<[string, string, string]> = [
  [
    'core',
    'packages/core/protocol/probe.ts',
    `import { encode } from 'cborg'\nimport { PalomaError } from '../errors.ts'\nexport const x = [encode, PalomaError, crypto.subtle, new TextEncoder()]`,
  ],
  [
    'net',
    'packages/net/probe.ts',
    `export { decodeChatFrame } from '@paloma/core/protocol/chat.ts'\nexport { relayTarget } from './addresses.ts'\nexport { peerIdFromString } from '@libp2p/peer-id'`,
  ],
  [
    'storage',
    'src/storage/probe.ts',
    `export { sealRecord } from '@paloma/core/vault/index.ts'\nexport { openDB } from 'idb'`,
  ],
  [
    'app',
    'src/app/probe.ts',
    `export { ChatService } from '@paloma/net/chat.ts'\nexport { Vault } from '../storage/vault.ts'\nexport const id = () => crypto.randomUUID()`,
  ],
  [
    'ui',
    'src/ui/Probe.svelte',
    svelte(
      `  import QRCode from 'qrcode'\n  import { passphraseProblem } from '../app/codes.ts'\n  const x = [QRCode, passphraseProblem, document.title]`,
    ),
  ],
  [
    'node-crypto',
    'packages/node-crypto/probe.ts',
    `export { setCryptoProvider } from '@paloma/core/crypto/primitives.ts'\nexport { randomBytes } from 'node:crypto'\nexport const b = Buffer.alloc(1)`,
  ],
  [
    'relay-node',
    'relay-node/src/probe.ts',
    `export { FrameReader } from '@paloma/core/protocol/mailbox.ts'\nexport { relayTarget } from '@paloma/net/addresses.ts'\nexport { nodeCryptoProvider } from '@paloma/node-crypto'\nexport { DatabaseSync } from 'node:sqlite'\nexport const cwd = process.cwd()`,
  ],
]

describe('layer boundaries (eslint.config.js)', { timeout: 60_000 }, () => {
  it.each(forbidden)('%s: an error', async (_what, file, code, rule) => {
    const messages = await lint(file, code)
    expect(messages.length).toBeGreaterThan(0)
    expect(messages.map((m) => m.ruleId)).toEqual(messages.map(() => rule))
  })

  it.each(allowed)('%s: what the layer may use lints clean', async (_layer, file, code) => {
    expect(await lint(file, code)).toEqual([])
  })
})
