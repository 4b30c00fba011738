// The session suite and a short interaction-fuzzer run again with Node's OpenSSL provider installed, so
// both providers go through every entry point (the files under tests/unit/core/crypto run the portable
// default). Fuzzer steps here: env PALOMA_FUZZ_STEPS_NODE (default 2 000).
import { expect, it } from 'vitest'
import { getCryptoProvider, setCryptoProvider } from '@paloma/core/crypto/primitives.ts'
import { nodeCryptoProvider } from '@paloma/node-crypto'

setCryptoProvider(nodeCryptoProvider)

it('runs with the Node provider installed', () => {
  expect(getCryptoProvider()).toBe(nodeCryptoProvider)
})

const saved = process.env.PALOMA_FUZZ_STEPS
process.env.PALOMA_FUZZ_STEPS = process.env.PALOMA_FUZZ_STEPS_NODE ?? '2000'
try {
  await import('../core/crypto/session.test.ts')
  await import('../core/crypto/interaction.fuzz.test.ts')
} finally {
  if (saved === undefined) delete process.env.PALOMA_FUZZ_STEPS
  else process.env.PALOMA_FUZZ_STEPS = saved
}
