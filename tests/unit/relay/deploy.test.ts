/**
 * The deployment files in deploy/: they parse, they say what docs/operations.md says they do, and every
 * metric the alert rules and the dashboard use is one the relay exports. No container engine runs here,
 * so the Dockerfile and compose file are checked as text; the systemd unit goes through
 * `systemd-analyze verify` where systemd is installed.
 */
import { describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { parse as parseToml } from 'smol-toml'
import { RelayMetrics } from '../../../relay-node/src/metrics.ts'
import { MailboxServiceImpl } from '../../../relay-node/src/mailbox/service.ts'
import { PreKeyServiceImpl } from '../../../relay-node/src/prekeys/service.ts'
import { componentLogger, createLog } from '../../../relay-node/src/log.ts'
import { parseRelayOptions } from '../../../relay-node/src/options.ts'
import type { StreamServiceComponents } from '../../../relay-node/src/stream-service.ts'

const deploy = (file: string) => readFileSync(resolve(import.meta.dirname, '../../../deploy', file), 'utf8')

interface Rule {
  alert: string
  expr: string
  for?: string
  labels: { severity: string }
  annotations: { summary: string }
}

/** Every metric name in a PromQL expression (identifiers followed by `{`, `[` or a space/paren). */
function metricNames(expr: string): string[] {
  const words = expr.replace(/"[^"]*"/g, '').match(/\b[a-z_][a-z0-9_]*(?=\s*[{[)\s]|$)/g) ?? []
  const keywords = new Set([
    'sum',
    'by',
    'rate',
    'increase',
    'changes',
    'and',
    'or',
    'time',
    'instance',
    'kind',
    'reason',
  ])
  return [...new Set(words.filter((w) => !keywords.has(w) && w.includes('_')))]
}

/** The names a relay's registry exports: Paloma's counters and gauges, libp2p's base metrics, Node's. */
async function exportedNames(): Promise<Set<string>> {
  const metrics = new RelayMetrics({ dataDir: '.', limits: { maxReservations: 1, maxConnections: 1 } })
  const logger = componentLogger(createLog('silent'))
  const libp2pMetrics = metrics.libp2pMetrics()({ logger })
  const components = { logger, metrics: libp2pMetrics, registrar: {} } as unknown as StreamServiceComponents
  new MailboxServiceImpl(components, {})
  new PreKeyServiceImpl(components, {})
  return new Set([...(await metrics.registry.getMetricsAsJSON()).map((m) => m.name), 'up'])
}

describe('deploy/', () => {
  it('has the alert rules the operations guide promises, each complete', () => {
    const doc = parseYaml(deploy('prometheus-alerts.yaml')) as { groups: Array<{ rules: Rule[] }> }
    const rules = doc.groups.flatMap((g) => g.rules)
    for (const r of rules) {
      expect(r.alert).toMatch(/^PalomaRelay[A-Za-z]+$/)
      expect(r.expr.length).toBeGreaterThan(5)
      expect(['critical', 'warning']).toContain(r.labels.severity)
      expect(r.annotations.summary.length).toBeGreaterThan(5)
    }
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'PalomaRelayDown',
        'PalomaRelayNotReady',
        'PalomaRelayEventLoopLag',
        'PalomaRelayMailboxRefusalsRising',
        'PalomaRelayDiskNearlyFull',
        'PalomaRelayReservationsNearLimit',
      ]),
    )
  })

  it('uses in alerts and dashboard only metrics the relay exports', async () => {
    const exported = await exportedNames()
    const alerts = (
      parseYaml(deploy('prometheus-alerts.yaml')) as { groups: Array<{ rules: Rule[] }> }
    ).groups
      .flatMap((g) => g.rules)
      .map((r) => r.expr)
    const dashboard = JSON.parse(deploy('grafana-dashboard.json')) as {
      uid: string
      panels: Array<{ id: number; targets: Array<{ expr: string }> }>
    }
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length)
    const exprs = [...alerts, ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr))]
    const used = new Set(exprs.flatMap(metricNames))
    expect(used.size).toBeGreaterThan(20)
    expect([...used].filter((name) => !exported.has(name))).toEqual([])
  })

  it('builds a small, non-root, health-checked image in two stages', () => {
    const file = deploy('Dockerfile')
    expect(file.match(/^FROM /gm)).toHaveLength(2)
    expect(file).toMatch(/^USER node$/m)
    expect(file).toMatch(/^HEALTHCHECK .*\n.*\/healthz/m)
    expect(file).toMatch(/^RUN npm ci --omit=dev/m)
    expect(file).toMatch(/^ENTRYPOINT \["node", "relay-node\/src\/cli\.ts"\]$/m)
    // Every PALOMA_RELAY_* variable it sets is an option the relay knows.
    const env = Object.fromEntries(
      [...file.matchAll(/(PALOMA_RELAY_[A-Z_]+)=(\S+)/g)].map((m) => [m[1], m[2]]),
    )
    expect(Object.keys(env).length).toBeGreaterThan(5)
    expect(() => parseRelayOptions([], env as Record<string, string>)).not.toThrow()
  })

  it('runs five relays that all know each other, and the app with its config.json', () => {
    const compose = parseYaml(deploy('compose.yaml'), { merge: true }) as {
      services: Record<string, { command?: string[]; volumes?: string[]; build?: { dockerfile: string } }>
    }
    const relays = Object.keys(compose.services).filter((s) => s.startsWith('relay'))
    expect(relays).toEqual(['relay1', 'relay2', 'relay3', 'relay4', 'relay5'])
    for (const name of relays) {
      const service = compose.services[name]!
      expect(service.build?.dockerfile).toBe('deploy/Dockerfile')
      const peers = (service.command ?? []).filter((c) => c.startsWith('--peer=')).map((c) => c.split('/')[2])
      expect(peers.sort()).toEqual(relays.filter((r) => r !== name))
      expect(service.volumes?.[0]).toMatch(new RegExp(`^${name}-data:/var/lib/paloma-relay$`))
    }
    expect(compose.services.app?.volumes).toContain('./config.json:/usr/share/nginx/html/config.json:ro')
  })

  it('ships an example config the relay accepts', () => {
    const file = parseToml(deploy('relay.example.toml')) as Record<string, unknown>
    const { config } = parseRelayOptions(['--config', 'relay.toml'], {}, () => deploy('relay.example.toml'))
    expect(config['public-only']).toBe(true)
    expect(Object.keys(file).length).toBeGreaterThan(10)
  })

  const systemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0
  it.skipIf(!systemdAnalyze)('has a hardened systemd unit that systemd accepts', () => {
    const unit = deploy('paloma-relay.service')
    for (const line of [
      'DynamicUser=yes',
      'StateDirectory=paloma-relay',
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
    ]) {
      expect(unit).toContain(line)
    }
    const verify = spawnSync(
      'systemd-analyze',
      ['verify', resolve(import.meta.dirname, '../../../deploy/paloma-relay.service')],
      {
        encoding: 'utf8',
      },
    )
    expect(verify.stderr + verify.stdout).toBe('')
    expect(verify.status).toBe(0)
  })
})
