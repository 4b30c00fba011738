/**
 * The relay's logs: one JSON object per line on stderr (pino), so stdout stays free for the `listening`
 * line scripts read. libp2p's own component loggers are routed into the same stream through
 * {@link componentLogger}: Paloma's services (`paloma:*`) log at info/error/trace, libp2p's components
 * one step down (their errors are mostly remote peers misbehaving: debug; the rest: trace).
 *
 * Knows pino and the libp2p logger interface; nothing about the relay's services.
 */
import { pino, type DestinationStream, type Level, type Logger as Pino } from 'pino'
import type { ComponentLogger, Logger } from '@libp2p/interface'

export type RelayLog = Pino

/**
 * A logger writing JSON lines to `destination` (default: stderr, synchronously, so the last lines before
 * an exit are not lost).
 */
export function createLog(level: Level | 'silent', destination?: DestinationStream): RelayLog {
  return pino(
    {
      level,
      base: { service: 'paloma-relay' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ fd: 2, sync: true }),
  )
}

function show(value: unknown): string {
  if (value instanceof Error) return value.message
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex')
  if (typeof value === 'string') return value
  if (value === null || value === undefined) return String(value)
  if (typeof value === 'object') {
    const text = String(value)
    if (text !== '[object Object]') return text // PeerId, Multiaddr, CID, Key
    try {
      return JSON.stringify(value)
    } catch {
      return text
    }
  }
  return String(value)
}

/**
 * printf-style formatting as libp2p's logger does it (`%s %d %o %p %a %b %e %%`...): every directive
 * shows its argument as text; extra arguments are appended.
 */
export function formatLogArgs(formatter: unknown, args: readonly unknown[]): { msg: string; err?: Error } {
  let err: Error | undefined
  const rest = [...args]
  const take = (): unknown => {
    const v = rest.shift()
    if (v instanceof Error && err === undefined) err = v
    return v
  }
  if (formatter instanceof Error) {
    err = formatter
    formatter = formatter.message
  }
  let msg =
    typeof formatter === 'string'
      ? formatter.replace(/%([a-zA-Z%])/g, (_m, d: string) => (d === '%' ? '%' : show(take())))
      : show(formatter)
  for (const v of rest) {
    if (v instanceof Error && err === undefined) err = v
    msg += ` ${show(v)}`
  }
  return err === undefined ? { msg } : { msg, err }
}

type Method = 'info' | 'error' | 'debug' | 'trace'

/** A logger that logs nothing, and whose scopes are itself. */
function silentLogger(): Logger {
  const noop = (): void => {}
  const logger: Logger = Object.assign(noop, {
    error: noop,
    trace: noop,
    enabled: false,
    newScope: () => logger,
  })
  return logger
}

/**
 * libp2p makes a logger for every connection, stream and scope (`newScope`), thousands at a time on a busy
 * relay: a component whose levels are all off gets one shared silent logger, and pino's child (which copies
 * its bindings) is made only when a line is first written.
 */
function makeLogger(log: RelayLog, name: string, silent: Logger): Logger {
  const own = name.startsWith('paloma')
  const levels: Record<'log' | 'error' | 'trace', Method> = own
    ? { log: 'info', error: 'error', trace: 'trace' }
    : { log: 'trace', error: 'debug', trace: 'trace' }
  if (!Object.values(levels).some((method) => log.isLevelEnabled(method))) return silent
  let child: RelayLog | undefined
  const emit =
    (method: Method) =>
    (formatter: unknown, ...args: unknown[]) => {
      if (!log.isLevelEnabled(method)) return
      child ??= log.child({ component: name })
      const { msg, err } = formatLogArgs(formatter, args)
      if (err === undefined) child[method](msg)
      else child[method]({ err }, msg)
    }
  const logger = Object.assign(emit(levels.log), {
    error: emit(levels.error),
    trace: emit(levels.trace),
    enabled: log.isLevelEnabled(levels.log),
    newScope: (scope: string) => makeLogger(log, `${name}:${scope}`, silent),
  })
  return logger
}

/** libp2p's `logger` component on top of `log`. */
export function componentLogger(log: RelayLog): ComponentLogger {
  const silent = silentLogger()
  return { forComponent: (name: string) => makeLogger(log, name, silent) }
}
