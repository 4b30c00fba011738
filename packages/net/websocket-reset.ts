/**
 * @libp2p/websockets resets a connection by calling `close(1006)` on its socket. No WebSocket will send 1006
 * (RFC 6455 §7.4.1 reserves it for a closure without a close frame): browsers and Node's own WebSocket throw
 * an InvalidAccessError, the `ws` package a TypeError. libp2p logs the error and drops it, and the socket
 * stays open: every abort of a WebSocket connection (a dead one found by a keep-alive, a silent one after a
 * network change, a stream flood) left the socket, its buffers and its file descriptor behind, and the other
 * side was never told.
 *
 * After {@link resetEndsWebSockets}, a reset closes the socket without a code (the other side sees 1005, "no
 * status"): what was already queued goes out first, and a peer that does
 * not answer the close is cut off by the WebSocket's own close timeout.
 */

const ABNORMAL_CLOSURE = 1006

interface WebSocketPrototype {
  close(code?: number, reason?: string): void
}

const patched = new WeakSet<object>()

/** Makes `close(1006)` on sockets of this prototype close them instead of throwing; idempotent. */
export function resetEndsWebSockets(proto: WebSocketPrototype | undefined): void {
  if (proto === undefined || patched.has(proto)) return
  const close = proto.close
  if (typeof close !== 'function') throw new Error('this WebSocket class has no close() to end a reset')
  proto.close = function (this: WebSocketPrototype, code?: number, reason?: string) {
    if (code === ABNORMAL_CLOSURE) close.call(this)
    else close.call(this, code, reason)
  }
  patched.add(proto)
}
