/**
 * `npm run bench`: builds the app and runs every benchmark in bench/, each printing JSON lines.
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'

const root = resolve(import.meta.dirname, '..')
const run = (args: string[]) => {
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] })
  if (r.status !== 0) process.exitCode = 1
}
run([resolve(root, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'error'])
run([
  resolve(root, 'node_modules/vite/bin/vite.js'),
  'build',
  '--mode',
  'test',
  '--outDir',
  'dist-test',
  '--logLevel',
  'error',
])
for (const name of [
  'foundation',
  'roundtrip',
  'messaging',
  'crypto',
  'group',
  'group-delivery',
  'vault',
  'directory',
  'mailbox',
]) {
  const file = resolve(root, `bench/${name}.ts`)
  if (existsSync(file)) run([file])
}
