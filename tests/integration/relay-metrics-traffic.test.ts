/**
 * `/metrics` of a real relay process after known traffic from real libp2p clients: every Paloma counter
 * moves by exactly what the clients saw happen (deposits stored, duplicated, refused by reason,
 * delivered, expired; prekeys uploaded, served, exhausted, refused; DHT records stored and refused;
 * reservations granted and refused), next to libp2p's own metrics and the process metrics.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p } from 'libp2p'
import type { MailboxError } from '@paloma/net/mailbox-client.ts'
import { deposit, depositAll, openMailbox } from '@paloma/net/mailbox-client.ts'
import type { PreKeysError } from '@paloma/net/prekeys-client.ts'
import { takeOneTimePreKey, uploadOneTimePreKeys } from '@paloma/net/prekeys-client.ts'
import { createPalomaNode, type PalomaNode } from '@paloma/net/node.ts'
import { Directory } from '@paloma/net/directory.ts'
import {
  decodeProfileRecord,
  encodeProfileRecord,
  profileKey,
  signProfileRecord,
} from '@paloma/core/protocol/directory.ts'
import { identityFromEd25519Private } from '@paloma/core/crypto/keys.ts'
import { generateOneTimePreKeys } from '@paloma/core/crypto/prekeys.ts'
import { signOneTimePreKey } from '@paloma/core/protocol/prekeys.ts'
import { secureRandom, setCryptoProvider } from '@paloma/core/crypto/primitives.ts'
import { nodeCryptoProvider } from '@paloma/node-crypto'
import { keyFromSeed, startClient } from './fixtures/nodes.ts'
import {
  sample,
  scrape,
  startRelay,
  untilMetric,
  type RelayProcess,
  type Samples,
} from '../support/relays.ts'

setCryptoProvider(nodeCryptoProvider)

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => {})
})

async function relay(args: string[]): Promise<RelayProcess & { metricsUrl: string }> {
  const r = await startRelay({ args: ['--metrics-port', '0', ...args] })
  cleanups.push(() => r.stop())
  return r as RelayProcess & { metricsUrl: string }
}

async function client(seed: number): Promise<Libp2p> {
  const node = await startClient(await keyFromSeed(seed))
  cleanups.push(() => node.stop())
  return node
}

async function palomaNode(
  relayAddr: string,
): Promise<PalomaNode & { privateKey: Awaited<ReturnType<typeof generateKeyPair>> }> {
  const privateKey = await generateKeyPair('Ed25519')
  const node = await createPalomaNode({ privateKey, relays: [relayAddr], allowPrivateAddresses: true })
  await node.libp2p.start()
  cleanups.push(() => node.libp2p.stop())
  return { ...node, privateKey }
}

/** How much each series moved between two scrapes. */
const delta = (before: Samples, after: Samples) => (series: string) =>
  sample(after, series) - sample(before, series)

const codeOf = (err: unknown): string | undefined => (err as MailboxError | PreKeysError | undefined)?.code

describe('relay metrics after known traffic', () => {
  it('counts mailbox, prekey, DHT and reservation events exactly', async () => {
    const r = await relay([
      '--max-reservations',
      '1',
      '--mailbox-rate-burst',
      '6',
      '--mailbox-rate',
      '1',
      '--mailbox-max-envelope',
      '1KiB',
    ])
    const [alice, bob, carol, eve] = await Promise.all([client(21), client(22), client(23), client(24)])
    const to = bob.peerId.toString()
    const before = await scrape(r.metricsUrl)

    // Mailbox: 3 stored, 1 duplicate, 1 too large, 1 bad recipient (alice); a burst past the rate limit (carol).
    for (const id of ['m1', 'm2', 'm3', 'm1'])
      await deposit(alice, r.multiaddr, { to, id, envelope: Uint8Array.of(1) })
    const refusals = await Promise.all([
      deposit(alice, r.multiaddr, { to, id: 'big', envelope: new Uint8Array(2048) }).catch(codeOf),
      deposit(alice, r.multiaddr, { to: '1111', id: 'nobody', envelope: Uint8Array.of(1) }).catch(codeOf),
    ])
    expect(refusals).toEqual(['TOO_LARGE', 'BAD_RECIPIENT'])
    const burst = await depositAll(
      carol,
      r.multiaddr,
      Array.from({ length: 12 }, (_, i) => ({ to, id: `c${i}`, envelope: Uint8Array.of(i) })),
    )
    const carolOk = burst.filter((b) => b.error === undefined).length
    const carolLimited = burst.filter((b) => b.error?.code === 'RATE_LIMITED').length
    expect(carolOk + carolLimited).toBe(12)
    expect(carolLimited).toBeGreaterThanOrEqual(5)

    // Delivery: Bob fetches and acknowledges everything stored.
    const got: string[] = []
    const sub = await openMailbox(bob, r.multiaddr, (e) => void got.push(e.id))
    await sub.synced
    expect(got).toHaveLength(3 + carolOk)
    await untilMetric(
      r.metricsUrl,
      'paloma_relay_mailbox_delivered_total',
      (v) => v - sample(before, 'paloma_relay_mailbox_delivered_total') === got.length,
    )
    await sub.close()

    // Prekeys: Bob uploads 3; Alice takes 4 (3 served, then none); Eve uploads Bob's keys (bad signature).
    const bobId = await identityFromEd25519Private((await keyFromSeed(22)).raw)
    const opks = await generateOneTimePreKeys(1, 3, secureRandom)
    const records = await Promise.all(
      opks.map((k) => signOneTimePreKey(bobId.seed, bobId.publicKey, k.id, k.keyPair.publicKey)),
    )
    expect(await uploadOneTimePreKeys(bob, r.multiaddr, records)).toEqual({ stored: 3, total: 3 })
    const taken = []
    for (let i = 0; i < 4; i++) taken.push(await takeOneTimePreKey(alice, r.multiaddr, bob.peerId))
    expect(taken.filter((t) => t !== undefined)).toHaveLength(3)
    expect(await uploadOneTimePreKeys(eve, r.multiaddr, records).catch(codeOf)).toBe('BAD_SIGNATURE')

    // DHT and reservations: a Paloma node reserves (the only slot), joins the DHT, publishes its profile and
    // puts a forged copy; a second one is refused a reservation.
    const dave = await palomaNode(r.multiaddr)
    await untilMetric(r.metricsUrl, 'paloma_relay_relay_reservations', (v) => v === 1)
    const table = (dave.libp2p.services.dht as unknown as { routingTable: { size: number } }).routingTable
    for (const end = Date.now() + 20_000; table.size < 1; await new Promise((res) => setTimeout(res, 50))) {
      if (Date.now() > end) throw new Error('relay never entered the routing table')
    }
    const directory = new Directory(dave.libp2p, dave.privateKey, { timeoutMs: 20_000 })
    const published = await directory.publish({ bundle: Uint8Array.of(1, 2, 3), relays: [] })
    expect(published.replicas).toBe(1)
    const signed = await signProfileRecord(
      dave.privateKey.publicKey.raw,
      { seq: published.seq + 1, issued: Date.now(), relays: [], bundle: Uint8Array.of(1) },
      (data) => dave.privateKey.sign(data),
    )
    // A valid record altered after signing: the relay's validator refuses it (bad signature).
    const forged = encodeProfileRecord({ ...decodeProfileRecord(signed.bytes), bundle: Uint8Array.of(9) })
    let forgedStored = 0
    for await (const e of dave.libp2p.services.dht.put(profileKey(dave.libp2p.peerId.toString()), forged, {
      signal: AbortSignal.timeout(15_000),
    })) {
      if (e.name === 'PEER_RESPONSE' && e.messageName === 'PUT_VALUE') forgedStored++
    }
    expect(forgedStored).toBe(0)
    await palomaNode(r.multiaddr)
    const after = await untilMetric(
      r.metricsUrl,
      'paloma_relay_reservations_refused_total{reason="limit"}',
      (v) => v > 0,
    )

    const d = delta(before, after)
    expect({
      stored: d('paloma_relay_mailbox_stored_total'),
      duplicates: d('paloma_relay_mailbox_duplicates_total'),
      tooLarge: d('paloma_relay_mailbox_refused_total{reason="TOO_LARGE"}'),
      badRecipient: d('paloma_relay_mailbox_refused_total{reason="BAD_RECIPIENT"}'),
      rateLimited: d('paloma_relay_mailbox_refused_total{reason="RATE_LIMITED"}'),
      delivered: d('paloma_relay_mailbox_delivered_total'),
      expired: d('paloma_relay_mailbox_expired_total'),
      uploaded: d('paloma_relay_prekeys_uploaded_total'),
      served: d('paloma_relay_prekeys_served_total'),
      exhausted: d('paloma_relay_prekeys_exhausted_total'),
      badSignature: d('paloma_relay_prekeys_refused_total{reason="BAD_SIGNATURE"}'),
      dhtStored: d('paloma_relay_dht_records_stored_total{namespace="paloma-profile"}'),
      dhtRefused: d('paloma_relay_dht_puts_refused_total{reason="BadSignatureError"}'),
      granted: d('paloma_relay_reservations_granted_total{kind="new"}'),
    }).toEqual({
      stored: 3 + carolOk,
      duplicates: 1,
      tooLarge: 1,
      badRecipient: 1,
      rateLimited: carolLimited,
      delivered: 3 + carolOk,
      expired: 0,
      uploaded: 3,
      served: 3,
      exhausted: 1,
      badSignature: 1,
      dhtStored: 1,
      dhtRefused: 1,
      granted: 1,
    })
    expect(d('paloma_relay_reservations_refused_total{reason="limit"}')).toBeGreaterThanOrEqual(1)
    // Gauges: nothing waits any more; one reservation held, at the configured limit.
    expect(sample(after, 'paloma_relay_mailbox_envelopes')).toBe(0)
    expect(sample(after, 'paloma_relay_prekeys_stored')).toBe(0)
    expect(sample(after, 'paloma_relay_relay_reservations')).toBe(1)
    expect(sample(after, 'paloma_relay_max_reservations')).toBe(1)
    expect(sample(after, 'paloma_relay_ready')).toBe(1)
    // libp2p's own metrics and the process metrics are on the same page.
    expect(sample(after, 'libp2p_circuit_relay_server_reservations_total')).toBe(1)
    expect(after.has('nodejs_eventloop_lag_p99_seconds')).toBe(true)
    expect(sample(after, 'nodejs_fs_usage_bytes{filesystem="available"}')).toBeGreaterThan(0)
    expect([...after.keys()].some((k) => k.startsWith('libp2p_kad_dht_inbound_rpc_requests_total'))).toBe(
      true,
    )
  })

  it('counts envelopes that expire undelivered', async () => {
    const r = await relay(['--mailbox-ttl', '1s', '--mailbox-sweep-interval', '100ms'])
    const alice = await client(31)
    const before = await scrape(r.metricsUrl)
    const results = await depositAll(alice, r.multiaddr, [
      { to: alice.peerId.toString(), id: 'e1', envelope: Uint8Array.of(1) },
      { to: alice.peerId.toString(), id: 'e2', envelope: Uint8Array.of(2) },
    ])
    expect(results.every((x) => x.error === undefined)).toBe(true)
    const after = await untilMetric(r.metricsUrl, 'paloma_relay_mailbox_expired_total', (v) => v >= 2)
    expect(delta(before, after)('paloma_relay_mailbox_expired_total')).toBe(2)
    expect(sample(after, 'paloma_relay_mailbox_envelopes')).toBe(0)
  })
})
