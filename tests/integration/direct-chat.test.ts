import { afterEach, describe, expect, it } from 'vitest'
import { Messenger, type MessengerSnapshot } from '../../src/app/messenger.ts'
import { MemoryKeyStore } from '../../src/storage/key-store.ts'
import { MemoryMessageStore } from '../../src/storage/message-store.ts'
import { startRelay, type RelayProcess } from '../helpers/relay-process.ts'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {})
})

async function person(relay: string): Promise<Messenger> {
  const m = new Messenger({
    config: { relays: [relay], iceServers: [], allowPrivateAddresses: true },
    keys: new MemoryKeyStore(),
    messages: new MemoryMessageStore(),
  })
  await m.start()
  cleanups.push(() => m.stop())
  return m
}

async function until<T>(
  m: Messenger,
  pred: (s: MessengerSnapshot) => T | undefined | false,
  ms = 30_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off()
      reject(new Error(`timed out; last snapshot: ${JSON.stringify(m.snapshot())}`))
    }, ms)
    const off = m.subscribe((s) => {
      const v = pred(s)
      if (v != null && v !== false) {
        clearTimeout(t)
        queueMicrotask(() => off())
        resolve(v)
      }
    })
  })
}

async function relay(): Promise<RelayProcess> {
  const r = await startRelay()
  cleanups.push(() => r.stop())
  return r
}

describe('two peers through a relay process', () => {
  it('talk over a direct WebRTC connection that survives the relay stopping', async () => {
    const r = await relay()
    const alice = await person(r.multiaddr)
    const bob = await person(r.multiaddr)
    const bobAddr = await until(bob, (s) => s.state === 'online' && s.addresses[0])
    expect(bobAddr).toContain('/webrtc/')

    await alice.connect(bobAddr)
    expect(alice.snapshot().contact).toEqual({ peerId: bob.peerId.toString(), direct: true })

    await alice.send('hola Bob')
    const got = await until(bob, (s) => s.messages.find((m) => m.text === 'hola Bob'))
    expect(got.direction).toBe('in')
    await until(alice, (s) => s.messages.find((m) => m.status === 'delivered'))

    await bob.send('hi Alice')
    await until(alice, (s) => s.messages.find((m) => m.text === 'hi Alice' && m.direction === 'in'))

    await r.stop()
    await alice.send('still here?')
    await until(bob, (s) => s.messages.find((m) => m.text === 'still here?'))
    await bob.send('yes, without the relay')
    await until(alice, (s) => s.messages.find((m) => m.text === 'yes, without the relay'))
    expect(alice.snapshot().messages.map((m) => m.text)).toEqual([
      'hola Bob',
      'hi Alice',
      'still here?',
      'yes, without the relay',
    ])
  })

  it('reserve again after the relay restarts and can be reached again', async () => {
    const r = await relay()
    const alice = await person(r.multiaddr)
    const bob = await person(r.multiaddr)
    await until(alice, (s) => s.state === 'online')
    await until(bob, (s) => s.state === 'online')

    await r.stop()
    await until(bob, (s) => s.state !== 'online')
    const r2 = await startRelay({ port: r.port, dataDir: r.dataDir })
    cleanups.push(() => r2.stop())
    expect(r2.peerId).toBe(r.peerId)

    const bobAddr = await until(bob, (s) => s.state === 'online' && s.addresses[0], 45_000)
    await until(alice, (s) => s.state === 'online', 45_000)
    await alice.connect(bobAddr)
    await alice.send('after the restart')
    await until(bob, (s) => s.messages.find((m) => m.text === 'after the restart'))
  })
})
