/** Assertions shared by the unit tests of the relay frame codecs (mailbox, one-time prekeys). */
import { expect } from 'vitest'
import type { FrameError } from '@paloma/core/protocol/frames.ts'

/**
 * `rejects(fn, code, message)` asserts that `fn` throws an `ErrorClass` (the protocol's frame error) with
 * this `code` and a message matching `message`.
 */
export function frameRejects(
  ErrorClass: abstract new (...args: never[]) => FrameError,
): (fn: () => unknown, code: string, message: RegExp) => void {
  return (fn, code, message) => {
    let caught: unknown
    try {
      fn()
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(ErrorClass)
    expect((caught as FrameError).code).toBe(code)
    expect((caught as FrameError).message).toMatch(message)
  }
}
