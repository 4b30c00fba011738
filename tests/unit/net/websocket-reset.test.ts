import { describe, expect, it } from 'vitest'
import { resetEndsWebSockets } from '@paloma/net/websocket-reset.ts'

/** A WebSocket class that, like every real one, refuses to send the reserved code 1006. */
function socketClass(withTerminate: boolean) {
  class Socket {
    calls: string[] = []
    close(code?: number, reason?: string): void {
      if (code === 1006) throw new TypeError('First argument must be a valid error code number')
      this.calls.push(`close(${code ?? ''}${reason === undefined ? '' : `, ${reason}`})`)
    }
  }
  if (withTerminate)
    (Socket.prototype as Socket & { terminate(): void }).terminate = function (this: Socket) {
      this.calls.push('terminate()')
    }
  return Socket
}

describe('resetEndsWebSockets', () => {
  it('a reset closes the socket without a code, and other closes are left as they were', () => {
    const Socket = socketClass(true)
    expect(() => new Socket().close(1006)).toThrow(TypeError)
    resetEndsWebSockets(Socket.prototype)
    const s = new Socket()
    s.close(1006)
    s.close(1000, 'bye')
    s.close()
    expect(s.calls).toEqual(['close()', 'close(1000, bye)', 'close()'])
  })

  it('the same where there is no terminate (browsers, Node’s own WebSocket)', () => {
    const Socket = socketClass(false)
    resetEndsWebSockets(Socket.prototype)
    const s = new Socket()
    s.close(1006)
    expect(s.calls).toEqual(['close()'])
  })

  it('patches once, and does nothing where there is no WebSocket', () => {
    const Socket = socketClass(true)
    resetEndsWebSockets(Socket.prototype)
    const once = Socket.prototype.close
    resetEndsWebSockets(Socket.prototype)
    expect(Socket.prototype.close).toBe(once)
    expect(() => resetEndsWebSockets(undefined)).not.toThrow()
  })
})
