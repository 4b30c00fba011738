import { describe, expect, it } from 'vitest'
import type { Connection } from '@libp2p/interface'
import { TooManyOutboundProtocolStreamsError } from '@libp2p/interface'
import { answers } from '@paloma/net/liveness.ts'

/** A stream that echoes what it is sent, as the ping protocol does, or stays silent. */
class FakeStream extends EventTarget {
  readonly echo: boolean
  constructor(echo: boolean) {
    super()
    this.echo = echo
  }
  send(data: Uint8Array): boolean {
    if (this.echo)
      queueMicrotask(() => this.dispatchEvent(Object.assign(new Event('message'), { data: data.slice() })))
    return true
  }
  close = async (): Promise<void> => {}
  abort(): void {}
}

/** A connection whose ping protocol is busy (another ping holds its one stream) for the first `busy` asks. */
function connection(busy: number, echo = true): Connection & { asked: number } {
  const c = {
    asked: 0,
    async newStream() {
      c.asked++
      if (c.asked <= busy) throw new TooManyOutboundProtocolStreamsError('Too many outbound protocol streams')
      return new FakeStream(echo)
    },
  }
  return c as unknown as Connection & { asked: number }
}

describe('answers', () => {
  it('a connection that echoes answers', async () => {
    expect(await answers(connection(0), 1000)).toBe(true)
  })

  it('waits while another ping holds the connection’s ping stream, instead of taking it for silence', async () => {
    const c = connection(3)
    expect(await answers(c, 1000)).toBe(true)
    expect(c.asked).toBe(4)
  })

  it('a connection that stays busy or silent past the timeout does not answer', async () => {
    expect(await answers(connection(Infinity), 200)).toBe(false)
    expect(await answers(connection(0, false), 200)).toBe(false)
  })
})
