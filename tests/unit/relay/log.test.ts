import { describe, expect, it } from 'vitest'
import { Writable } from 'node:stream'
import { componentLogger, createLog, formatLogArgs } from '../../../relay-node/src/log.ts'

function capture(level: Parameters<typeof createLog>[0]) {
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    },
  })
  return { log: createLog(level, sink), lines }
}

describe('relay logs', () => {
  it('formats libp2p-style directives and keeps the error', () => {
    const err = new Error('boom')
    expect(formatLogArgs('dial %p failed - %e (%d%%)', ['12D3KooW', err, 5])).toEqual({
      msg: 'dial 12D3KooW failed - boom (5%)',
      err,
    })
    expect(formatLogArgs('bytes %b', [Uint8Array.of(1, 255)]).msg).toBe('bytes 01ff')
    expect(formatLogArgs('extra', [1, { a: 1 }]).msg).toBe('extra 1 {"a":1}')
  })

  it("writes one JSON object per line: Paloma's components at info, libp2p's one step down", () => {
    const { log, lines } = capture('info')
    const logger = componentLogger(log)
    logger.forComponent('paloma:mailbox')('stored %d envelopes', 3)
    logger.forComponent('paloma:mailbox').error('sweep failed - %e', new Error('disk'))
    logger.forComponent('libp2p:websockets').error('upgrade failed - %e', new Error('reset'))
    logger.forComponent('libp2p:dialer')('dialing')
    expect(lines).toEqual([
      expect.objectContaining({ level: 'info', component: 'paloma:mailbox', msg: 'stored 3 envelopes' }),
      expect.objectContaining({
        level: 'error',
        component: 'paloma:mailbox',
        msg: 'sweep failed - disk',
        err: expect.objectContaining({ type: 'Error', message: 'disk' }),
      }),
    ])
    expect(typeof lines[0]?.time).toBe('string')
    expect(logger.forComponent('libp2p:dialer').enabled).toBe(false)
  })

  it('shows libp2p errors at debug and everything at trace', () => {
    const debug = capture('debug')
    componentLogger(debug.log).forComponent('libp2p:websockets').error('upgrade failed')
    componentLogger(debug.log).forComponent('libp2p:dialer')('dialing')
    expect(debug.lines.map((l) => l.level)).toEqual(['debug'])
    const trace = capture('trace')
    componentLogger(trace.log).forComponent('libp2p:dialer').newScope('queue')('dialing')
    expect(trace.lines).toEqual([
      expect.objectContaining({ level: 'trace', component: 'libp2p:dialer:queue' }),
    ])
  })
})
