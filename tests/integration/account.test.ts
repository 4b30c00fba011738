import { describe, expect, it } from 'vitest'
import { PASSPHRASE, until, useScene } from '../support/people.ts'
import { WrongPassphraseError } from '@paloma/core/vault/index.ts'

const scene = useScene()

describe('the account lifecycle (Node peer, real relay process)', () => {
  it('locks, refuses a wrong passphrase, changes the passphrase, and is deleted everywhere', async () => {
    const relay = await scene.relay()
    const alice = await scene.online('alice', [relay.multiaddr])
    const carol = await scene.online('carol', [relay.multiaddr])
    await until(carol.app, () => true)
    await expect
      .poll(async () => (await carol.app.addContact('alice'))?.length, { timeout: 30_000, interval: 500 })
      .toBe(1)

    await alice.app.lock()
    expect(alice.app.snapshot().phase).toBe('unlock')
    await expect(alice.app.unlock('wrong passphrase')).rejects.toBeInstanceOf(WrongPassphraseError)
    expect(alice.app.snapshot().phase).toBe('unlock')
    await alice.app.unlock(PASSPHRASE)
    expect(alice.app.snapshot().phase).toBe('ready')

    await alice.app.changePassphrase(PASSPHRASE, 'a brand new passphrase')
    await alice.app.lock()
    await expect(alice.app.unlock(PASSPHRASE)).rejects.toBeInstanceOf(WrongPassphraseError)
    await alice.app.unlock('a brand new passphrase')
    await until(alice.app, (s) => s.state === 'online')

    await alice.app.deleteAccount()
    expect(alice.app.snapshot().phase).toBe('create')
    expect(await alice.backend.keys()).toEqual([])
    // The directory no longer lists her under the name.
    await expect
      .poll(async () => (await carol.app.addContact('alice'))?.length, { timeout: 30_000, interval: 500 })
      .toBe(0)
  })
})
