/**
 * The mailbox's writer thread (see writer.ts): its own connection to the database file, one transaction per
 * batch it is sent, the results (or the error, with SQLite's codes) posted back. Nothing else runs here, so
 * the fsync of each commit and SQLite's WAL checkpoints never block the relay's event loop.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { MailboxStore } from './store.ts'
import { errorShape, type FromWriter, type ToWriter } from './writer.ts'

const port = parentPort
if (port === null) throw new Error('writer-thread.ts runs as a worker thread')
const post = (m: FromWriter): void => port.postMessage(m)

let store: MailboxStore | undefined
try {
  store = new MailboxStore((workerData as { path: string }).path)
  post({ id: 0, ready: true })
} catch (err) {
  post({ id: 0, fatal: errorShape(err) })
}

port.on('message', (m: ToWriter) => {
  if ('close' in m) {
    store?.close()
    port.close()
    return
  }
  if (store === undefined) {
    post({ id: m.id, error: { name: 'Error', message: 'the mailbox database could not be opened' } })
    return
  }
  try {
    post({ id: m.id, results: store.applyBatch(m.ops) })
  } catch (err) {
    post({ id: m.id, error: errorShape(err) })
  }
})
