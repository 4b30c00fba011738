/**
 * Fuzzing what the app reads back from the disk or from a file someone hands over: the vault header,
 * sealed record blobs (moved, damaged), record bodies under the right key (what a backup restores), backup
 * files (outside and inside their encryption, and restored into a vault), the app's own vault records,
 * and the prekey records of the crypto stores. Harness and invariants: support/fuzz.ts.
 */
import { describe, expect } from 'vitest'
import fc from 'fast-check'
import { encode } from 'cborg'
import {
  VAULT_ERROR_CODES,
  VaultError,
  createVaultHeader,
  decodeVaultHeader,
  deriveKek,
  encodeVaultHeader,
  exportBackup,
  importBackup,
  openRecord,
  openVaultHeader,
  recordKey,
  sealRecord,
  type VaultKeys,
} from '@paloma/core/vault/index.ts'
import { DEK_KIND, generateWrappedKey } from '@paloma/core/vault/keys.ts'
import { encodeKdfParams, newKdfParams } from '@paloma/core/vault/kdf.ts'
import { encodeCanonical } from '@paloma/core/cbor.ts'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { APP_ERROR_CODES, AppError } from '../../src/app/errors.ts'
import * as records from '../../src/app/records.ts'
import { MemoryVaultBackend, Vault } from '../../src/storage/vault.ts'
import { VaultProtocolStores } from '../../src/storage/protocol-stores.ts'
import { encodeWith } from './support/cbor.ts'
import { costly, deepEqual, fuzzer, same } from './support/fuzz.ts'
import { byteInputs, treeMutations, byteMutations } from './support/mutations.ts'
import { party, rng } from './support/seeds.ts'

const fuzz = fuzzer('local')

const PASSPHRASE = 'correct horse battery'
/** One PBKDF2 iteration: these runs fuzz formats, not the KDF's cost (mutations may raise it, within caps). */
const CHEAP = { kdf: { alg: 'pbkdf2-sha256', iterations: 1 }, allowWeakKdf: true } as const
/** Randomness as WebCrypto's typings want it (a plain ArrayBuffer). */
const random = (n: number): Uint8Array<ArrayBuffer> => new Uint8Array(rng(n))
const PEER = '12D3KooWCcaXMjm8LxcusnsZLY4JnnMbaJBh5pZJj43KUBca6znG'

// ----------------------------------------------------------------------------------------- the vault

const created = await createVaultHeader(PASSPHRASE, { ...CHEAP, random })
const argonHeader = (
  await createVaultHeader(PASSPHRASE, {
    kdf: { alg: 'argon2id', m: 64, t: 1, p: 1 },
    allowWeakKdf: true,
    random,
  })
).header
const keys: VaultKeys = created.keys
const sealed = await Promise.all(
  [
    ['identity/account', Uint8Array.of(1, 2, 3)],
    ['session/' + PEER, new Uint8Array(900).fill(4)],
    ['history/msg/x/in/1', new Uint8Array(0)],
  ].map(async ([name, data]) => ({
    name: name as string,
    data: data as Uint8Array,
    ...(await sealRecord(keys, name as string, data as Uint8Array, random)),
  })),
)

// Bodies under the right key and storage key: what only Paloma (or a backup it restores) can write.
const dek = await crypto.subtle.importKey('raw', new Uint8Array(32).fill(5), 'AES-GCM', false, [
  'encrypt',
  'decrypt',
])
const bodyKeys: VaultKeys = { dek, nameKey: keys.nameKey }
const storageKey = await recordKey(bodyKeys, 'identity/account')
const AD = new TextEncoder().encode(`Paloma_Vault_Record_v1\u0000${storageKey}`)
const bodies = [
  encode({ n: 'identity/account', d: Uint8Array.of(1) }),
  encode({ n: 'identity/account', d: new Uint8Array(300) }),
]

describe('the vault on disk', () => {
  fuzz({
    name: 'decodeVaultHeader',
    family: 'vault',
    input: byteInputs([created.header, argonHeader]),
    run: decodeVaultHeader,
    error: VaultError,
    codes: VAULT_ERROR_CODES,
    accepted: (h) => same(decodeVaultHeader(encodeVaultHeader(h)), h, 'a header round-trips'),
  })
  fuzz({
    name: 'openVaultHeader (damaged header, right passphrase)',
    family: 'vault',
    input: byteInputs([created.header]),
    run: (header) => openVaultHeader(header, PASSPHRASE),
    error: VaultError,
    codes: VAULT_ERROR_CODES,
    // A header that still opens yields the same keys: every record sealed before still opens.
    accepted: async (opened) => {
      const r = sealed[0]!
      same((await openRecord(opened, r.key, r.blob, r.name)).data, r.data, 'the same keys')
    },
    maxCaseMs: 5000,
    msPerCase: 5,
  })
  fuzz({
    name: 'openRecord (damaged or moved blobs)',
    family: 'vault',
    input: fc.tuple(byteInputs(sealed.map((r) => r.blob)), fc.nat(sealed.length - 1)),
    run: ([blob, i]) => openRecord(keys, sealed[i]!.key, blob, sealed[i]!.name),
    error: VaultError,
    codes: VAULT_ERROR_CODES,
    // Only the blob sealed under that name opens, to its data.
    accepted: ({ name, data }, [, i]) => {
      expect(name).toBe(sealed[i]!.name)
      same(data, sealed[i]!.data, 'the sealed data')
    },
    msPerCase: 4,
  })

  fuzz({
    name: 'openRecord (any body under the right key)',
    family: 'vault',
    input: byteInputs(bodies),
    run: async (body) => {
      const iv = random(12)
      const ct = new Uint8Array(
        await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: AD }, dek, new Uint8Array(body)),
      )
      return openRecord(bodyKeys, storageKey, encodeCanonical({ v: 1, iv, ct }), 'identity/account')
    },
    error: VaultError,
    codes: VAULT_ERROR_CODES,
    accepted: ({ name, data }) => {
      expect(name).toBe('identity/account')
      expect(data).toBeInstanceOf(Uint8Array)
    },
    msPerCase: 4,
  })
})

// ------------------------------------------------------------------------------------------- backups

const inBackup = new Map<string, Uint8Array>([
  ['identity/account', Uint8Array.of(1, 2)],
  ['identity/opk/1', new Uint8Array(100).fill(3)],
  ['history/msg/x/out/m1', new Uint8Array(0)],
])
const backup = await exportBackup(inBackup, PASSPHRASE, { ...CHEAP, random })

const backupKdf = newKdfParams(CHEAP.kdf, random, true)
const backupKey = await generateWrappedKey(await deriveKek(PASSPHRASE, backupKdf), DEK_KIND, random)

/** A backup file around any body, under the passphrase (as whoever made the file could write it). */
async function backupAround(body: Uint8Array): Promise<Uint8Array> {
  const { key, wrapped } = backupKey
  const kdf = backupKdf
  const iv = random(12)
  const ad = new TextEncoder().encode('Paloma_Backup_v1\u0000paloma-backup\u00001')
  const ct = new Uint8Array(
    await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: ad }, key, new Uint8Array(body)),
  )
  return encodeCanonical({ type: 'paloma-backup', v: 1, kdf: encodeKdfParams(kdf), key: wrapped, iv, ct })
}
const backupBodies = [
  encode({ records: [...inBackup] }),
  encode({
    records: [
      ['identity/account', new Uint8Array(68)],
      ['history/msg/a/in/1', Uint8Array.of(1)],
    ],
  }),
]

describe('backup files', () => {
  fuzz({
    name: 'importBackup (damaged files)',
    family: 'backup',
    input: byteInputs([backup], { maxRandom: 256 }),
    run: (file) => importBackup(file, PASSPHRASE),
    error: VaultError,
    codes: VAULT_ERROR_CODES,
    accepted: (got) => expect(deepEqual(got, inBackup)).toBe(true),
    maxCaseMs: 5000,
    msPerCase: 5,
  })
  fuzz({
    name: 'importBackup (any body inside a well-made file)',
    family: 'backup',
    input: byteInputs(backupBodies),
    run: async (body) => importBackup(await backupAround(body), PASSPHRASE),
    error: VaultError,
    codes: VAULT_ERROR_CODES,
    accepted: (got) => {
      for (const [name, data] of got) {
        expect(name.length).toBeGreaterThan(0)
        expect(name.startsWith('identity/') || name.startsWith('history/')).toBe(true)
        expect(data).toBeInstanceOf(Uint8Array)
      }
    },
    msPerCase: 5,
  })
  fuzz({
    name: 'Vault.importBackup (any body, restored into an empty vault)',
    family: 'backup',
    input: fc.oneof(byteInputs(backupBodies), treeMutations(backupBodies)),
    run: async (body) => {
      const backend = new MemoryVaultBackend()
      const vault = await Vault.importBackup(backend, await backupAround(body), PASSPHRASE, PASSPHRASE, {
        ...CHEAP,
        random,
      })
      return { vault, backend }
    },
    error: VaultError,
    codes: VAULT_ERROR_CODES,
    // Everything restored reads back.
    accepted: async ({ vault }) => {
      for (const name of await vault.names()) expect(await vault.get(name)).toBeInstanceOf(Uint8Array)
    },
    // A new vault header (a KDF run and two key wraps) and a sealing per record, every case: a quarter.
    cases: costly(4),
    msPerCase: 8,
  })
})

// ---------------------------------------------------------------------------------- the app's records

const key = privateKeyToProtobuf(await generateKeyPair('Ed25519'))
const appDecoders: Array<{
  name: string
  seeds: Uint8Array[]
  decode: (b: Uint8Array) => unknown
  again: (v: never) => Uint8Array
}> = [
  {
    name: 'decodeAccount',
    seeds: [
      records.entry.account({ name: 'alice', key, created: 1 })[1],
      encode({ name: 'Alice', key, created: 2 ** 40 }),
    ],
    decode: records.decodeAccount,
    again: (a: records.AccountRecord) => records.entry.account(a)[1],
  },
  {
    name: 'decodeSettings',
    seeds: [
      records.entry.settings({ ...records.DEFAULT_SETTINGS, readReceipts: false })[1],
      encode({ readReceipts: true }),
    ],
    decode: records.decodeSettings,
    again: (s: Parameters<typeof records.entry.settings>[0]) => records.entry.settings(s)[1],
  },
  {
    name: 'decodeContact',
    seeds: [
      records.entry.contact({
        peer: PEER,
        name: 'bob',
        relays: ['/ip4/1.2.3.4/tcp/1/ws'],
        added: 5,
        keyChanged: false,
        lastSeen: 9,
      })[1],
      records.entry.contact({ peer: PEER, name: '', relays: [], added: 0, keyChanged: true })[1],
    ],
    decode: (b) => records.decodeContact('identity/contact/x', b),
    again: (c: records.ContactRecord) => records.entry.contact(c)[1],
  },
  {
    name: 'decodeMessage',
    seeds: [
      records.entry.message({
        id: 'm1',
        peer: PEER,
        direction: 'in',
        text: 'hola',
        ts: 3,
        status: 'read',
      })[1],
      records.entry.message({
        id: 'x'.repeat(64),
        peer: PEER,
        direction: 'out',
        text: '',
        ts: 0,
        status: 'pending',
      })[1],
    ],
    decode: (b) => records.decodeMessage('history/msg/x', b),
    again: (m: Parameters<typeof records.entry.message>[0]) => records.entry.message(m)[1],
  },
  {
    name: 'decodeOutboxEntry',
    seeds: [
      records.entry.outbox({
        id: 'm1',
        to: PEER,
        payload: Uint8Array.of(1),
        created: 4,
        env: Uint8Array.of(2),
        envId: 'w1',
      })[1],
      records.entry.outbox({ id: 'm2', to: PEER, payload: new Uint8Array(0), created: 4 })[1],
    ],
    decode: (b) => records.decodeOutboxEntry('outbox/m1', b),
    again: (e: records.OutboxEntry) => records.entry.outbox(e)[1],
  },
  {
    name: 'decodeLearnedRelays',
    seeds: [encode(['/ip4/1.2.3.4/tcp/1/ws/p2p/' + PEER]), encode([])],
    decode: records.decodeLearnedRelays,
    again: (r: string[]) => encode(r),
  },
  {
    name: 'decodeOpkNext',
    seeds: [encode(1), encode(2 ** 32)],
    decode: records.decodeOpkNext,
    again: (n: number) => encode(n),
  },
  {
    name: 'decodeSchema',
    seeds: [encode(1), encode(0)],
    decode: records.decodeSchema,
    again: (n: number) => encode(n),
  },
]

describe("the app's vault records", () => {
  for (const d of appDecoders) {
    fuzz({
      name: `records.${d.name}`,
      family: 'app records',
      input: byteInputs(d.seeds, { maxRandom: 256 }),
      run: d.decode,
      error: AppError,
      codes: APP_ERROR_CODES,
      // What reads is what the app writes again: the same value back.
      accepted: (value) => same(d.decode(d.again(value as never)), value, 'a record round-trips'),
    })
  }
})

// ------------------------------------------------------------------------- the crypto stores' records

const { identity } = await party(0)
const storeVault = await Vault.create(new MemoryVaultBackend(), PASSPHRASE, { ...CHEAP, random })
const stores = new VaultProtocolStores(storeVault, identity)
const spk = { id: 1, pub: new Uint8Array(32).fill(1), priv: new Uint8Array(32).fill(2), t: 5 }
describe('crypto store records', () => {
  fuzz({
    name: 'VaultProtocolStores prekey records (identity/opk, identity/spk)',
    family: 'vault',
    input: fc.tuple(
      fc.oneof(
        byteInputs([encode(spk), encode({ id: 7, pub: spk.pub, priv: spk.priv })]),
        byteMutations([encodeWith(spk)]),
      ),
      fc.boolean(),
    ),
    run: async ([bytes, signed]) => {
      await storeVault.put(signed ? 'identity/spk/1' : 'identity/opk/1', bytes)
      return signed ? stores.direct.signedPreKeys.loadSignedPreKey(1) : stores.direct.preKeys.loadPreKey(1)
    },
    error: VaultError,
    codes: VAULT_ERROR_CODES,
    accepted: (r) => {
      expect(r?.keyPair.publicKey.length).toBe(32)
      expect(r?.keyPair.privateKey.length).toBe(32)
    },
    msPerCase: 4,
  })
})
