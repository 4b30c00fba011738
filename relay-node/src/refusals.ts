/**
 * Refusal counters: one counter group per service, labelled by the refusal's code.
 * @module
 */
import type { CounterGroup, Metrics } from '@libp2p/interface'

/**
 * Registers `name`, a counter group labelled `reason`, with every reason exported at 0 from the start
 * (so `rate()` and alerts see each series before its first refusal).
 */
export function refusalCounter(
  metrics: Metrics | undefined,
  name: string,
  help: string,
  reasons: readonly string[],
): CounterGroup | undefined {
  const group = metrics?.registerCounterGroup(name, { label: 'reason', help })
  group?.increment(Object.fromEntries(reasons.map((reason) => [reason, 0])))
  return group
}
