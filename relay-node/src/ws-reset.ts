/**
 * @libp2p/websockets resets a connection by calling `close(1006)` on its socket. The `ws` package refuses to
 * send 1006 (RFC 6455 §7.4.1 reserves it for a closure without a close frame): it throws, libp2p logs the
 * error and drops it, and the socket stays open. So every abort of a WebSocket connection by the relay (a dead
 * connection found by the keep-alive, a silent one replaced, a stream flood) left the socket, its buffers and
 * its file descriptor behind until the other side went away, and the other side was never told.
 *
 * A reset is an abrupt end, which is what 1006 stands for: here it terminates the socket.
 */
import { WebSocket } from 'ws'

const ABNORMAL_CLOSURE = 1006
let installed = false

export function resetTerminatesWebSockets(): void {
  if (installed) return
  const proto = WebSocket.prototype
  if (typeof proto.close !== 'function' || typeof proto.terminate !== 'function') {
    throw new Error('ws changed: its WebSocket has no close/terminate to end a reset connection')
  }
  const close = proto.close
  proto.close = function (this: WebSocket, code?: number, data?: string | Buffer) {
    if (code === ABNORMAL_CLOSURE) this.terminate()
    else close.call(this, code, data)
  }
  installed = true
}
