/**
 * The alerts and the dashboard against a real Prometheus (Debian's `prometheus`, started
 * here on loopback with its own configuration and a temporary data directory): it scrapes
 * two Parley nodes (server processes on one PostgreSQL database and Redis, behind nginx)
 * during a short, bounded load. Then:
 *
 * - `promtool check rules` and `promtool test rules` pass, and Prometheus loaded every rule
 *   and evaluates each without error;
 * - every PromQL expression of the dashboard and every recording rule returns data (a series
 *   with a number; only the media panels may be NaN, nothing is processed here);
 * - every alert expression evaluates, and every metric it refers to has series (an alert's
 *   condition is false on a healthy cluster, so its result is empty by design).
 *
 * Runs when the suite has PostgreSQL and REDIS_URL, like the other multi-node tests, and
 * nginx and prometheus are installed (.ci/run installs both; under CI a missing one fails).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { Cluster, findNginx, freePort } from '../support/cluster.js';
import { testDbMode } from '../support/database.js';
import { createGroup, registerUsers, type TestUser } from '../support/factories.js';
import { connectAs, type WsClient } from '../support/ws.js';
import { waitUntil } from '../support/wait.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const opsDir = path.join(repoRoot, 'ops');
const WAIT = 120_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function findBinary(name: string): string | undefined {
  for (const candidate of [name, `/usr/bin/${name}`]) {
    const probe = spawnSync(candidate, ['--version'], { stdio: 'ignore' });
    if (!probe.error && probe.status === 0) return candidate;
  }
  return undefined;
}

const prometheusBin = findBinary('prometheus');
const promtoolBin = findBinary('promtool');
const nginx = findNginx();
const shared = Boolean(process.env.REDIS_URL) && testDbMode() === 'postgres';
const installed = Boolean(prometheusBin && promtoolBin && nginx);

if (!installed) {
  if (process.env.CI && shared) {
    test('prometheus, promtool and nginx are installed', () => {
      throw new Error('.ci/run installs prometheus and nginx with apt-get');
    });
  } else {
    console.warn('prometheus.test.ts: prometheus/promtool or nginx not installed; parts skipped');
  }
}

// ---------------------------------------------------------------------------------------
// The queries

interface RuleFile {
  groups: { name: string; rules: { record?: string; alert?: string; expr: string }[] }[];
}
interface Dashboard {
  panels: { id: number; type: string; title: string; targets?: { expr: string; refId: string }[] }[];
  templating: { list: { name: string }[] };
}

const rules = (
  parseYaml(readFileSync(path.join(opsDir, 'prometheus/alerts.yml'), 'utf8')) as RuleFile
).groups.flatMap((g) => g.rules);
const dashboard = JSON.parse(readFileSync(path.join(opsDir, 'grafana/parley.json'), 'utf8')) as Dashboard;

/** Grafana's variables as a dashboard user with "All" selected has them. */
function expand(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('${instance}', '.*')
    .replaceAll('$instance', '.*');
}

const panelQueries = dashboard.panels.flatMap((panel) =>
  (panel.targets ?? []).map((t) => ({ name: `${panel.title} [${t.refId}]`, expr: expand(t.expr) })),
);

/** Metric names (and recording rules) an expression refers to. */
function metricNames(expr: string): string[] {
  const names = expr.match(/\b(?:parley[_:][a-z0-9_:]+|up)\b(?=\s*[{[)]|\s*$|\s*[><=!])/g) ?? [];
  return [...new Set(names)];
}

test('the dashboard is a Grafana dashboard over a datasource variable, each panel with queries', () => {
  const ids = dashboard.panels.map((p) => p.id);
  expect(new Set(ids).size).toBe(ids.length);
  expect(dashboard.templating.list.map((v) => v.name)).toEqual(
    expect.arrayContaining(['datasource', 'instance']),
  );
  for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
    expect({ panel: panel.title, queries: panel.targets?.length ?? 0 }).toMatchObject({
      queries: expect.any(Number),
    });
    expect(panel.targets!.length).toBeGreaterThan(0);
    expect(JSON.stringify(panel)).toContain('${datasource}');
  }
  expect(panelQueries.length).toBeGreaterThan(20);
  // Every metric the dashboard and the alerts use is one Parley exports (or Prometheus's `up`).
  const documented = readFileSync(path.join(repoRoot, 'specs/operations.md'), 'utf8');
  const used = new Set([...panelQueries, ...rules].flatMap((q) => metricNames(q.expr)));
  for (const name of used) {
    if (name === 'up' || name.startsWith('parley:')) continue;
    const base = name.replace(/_(bucket|count|sum)$/, '');
    expect({ name, documented: documented.includes(base) }).toEqual({ name, documented: true });
  }
});

(promtoolBin ? test : test.skip)('promtool: the rules are valid and their unit tests pass', () => {
  const check = spawnSync(promtoolBin!, ['check', 'rules', 'alerts.yml'], {
    cwd: path.join(opsDir, 'prometheus'),
    encoding: 'utf8',
  });
  expect({ status: check.status, out: check.stdout + check.stderr }).toMatchObject({ status: 0 });
  expect(check.stdout).toContain(`SUCCESS: ${rules.length} rules found`);
  const unit = spawnSync(promtoolBin!, ['test', 'rules', 'alerts.test.yml'], {
    cwd: path.join(opsDir, 'prometheus'),
    encoding: 'utf8',
  });
  expect({ status: unit.status, out: unit.stdout + unit.stderr }).toMatchObject({ status: 0 });
  const example = spawnSync(promtoolBin!, ['check', 'config', 'prometheus.example.yml'], {
    cwd: path.join(opsDir, 'prometheus'),
    encoding: 'utf8',
  });
  expect({ status: example.status, out: example.stdout + example.stderr }).toMatchObject({ status: 0 });
});

// ---------------------------------------------------------------------------------------
// A real Prometheus scraping two nodes

interface QueryResult {
  status: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

(shared && installed ? describe : describe.skip)('a real Prometheus scraping two nodes under load', () => {
  let cluster: Cluster;
  let prometheus: ChildProcess | undefined;
  let promUrl: string;
  let dir: string;
  let promLog = '';
  const sockets: WsClient[] = [];

  async function query(expr: string): Promise<QueryResult> {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    return (await res.json()) as QueryResult;
  }

  beforeAll(async () => {
    cluster = await Cluster.start({
      nginx: nginx!,
      nodes: 2,
      redisUrl: process.env.REDIS_URL!,
      dropRedisKeys: true,
    });
    dir = mkdtempSync(path.join(os.tmpdir(), 'parley-prometheus-'));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    writeFileSync(
      path.join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        `rule_files: ['${path.join(opsDir, 'prometheus/alerts.yml')}']`,
        'scrape_configs:',
        '  - job_name: parley',
        '    static_configs:',
        `      - targets: [${cluster.ports.map((p) => `'127.0.0.1:${p}'`).join(', ')}]`,
        '',
      ].join('\n'),
    );
    prometheus = spawn(
      prometheusBin!,
      [
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const record = (chunk: Buffer) => (promLog = (promLog + chunk.toString()).slice(-100_000));
    prometheus.stdout!.on('data', record);
    prometheus.stderr!.on('data', record);
    await waitUntil(
      'Prometheus to scrape both nodes',
      async () => {
        if (prometheus!.exitCode !== null) throw new Error(`prometheus exited: ${promLog}`);
        try {
          const up = await query('up{job="parley"} == 1');
          return up.data?.result.length === 2;
        } catch {
          return false;
        }
      },
      WAIT,
      250,
    );

    // The load: 12 users in one group, each with a socket through nginx (so on either
    // node), 10 messages a second for 25 s, a search every 2 s.
    const users = (await registerUsers(cluster.api, 12)) as TestUser[];
    const group = await createGroup(cluster.api, users[0]!, users.slice(1));
    for (const user of users) sockets.push(await connectAs(cluster.url, user.accessToken));
    const until = Date.now() + 25_000;
    const pending: Promise<unknown>[] = [];
    let n = 0;
    while (Date.now() < until) {
      const i = n % users.length;
      pending.push(
        sockets[i]!.command('message:send', {
          chatId: group.id,
          clientMsgId: randomUUID(),
          body: `load ${n}`,
        }),
      );
      if (n % 20 === 0) {
        pending.push(cluster.api.get('/api/search?q=load', { token: users[i]!.accessToken }));
        pending.push(cluster.api.get('/api/search?q=user&type=users', { token: users[i]!.accessToken }));
      }
      n += 1;
      await sleep(100);
    }
    const acks = (await Promise.all(pending)) as { ok?: boolean; status?: number }[];
    expect(acks.filter((a) => a.ok === false || (a.status !== undefined && a.status !== 200))).toEqual([]);
    // Two more scrapes and rule evaluations after the last send.
    await sleep(3_000);
  }, 6 * 60_000);

  afterAll(async () => {
    await Promise.all(sockets.map((ws) => ws.close()));
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
      prometheus.kill('SIGTERM');
      const timer = setTimeout(() => prometheus!.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await cluster?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 2 * 60_000);

  test('both nodes are scraped and ready', async () => {
    const ready = await query('parley_ready{job="parley"}');
    expect(ready.data!.result.map((r) => r.value[1])).toEqual(['1', '1']);
    // Each node delivered to the sockets it holds.
    const delivered = await query(
      'sum by (instance) (parley_events_delivered_total{type="message:new"}) > 0',
    );
    expect(delivered.data!.result).toHaveLength(2);
  });

  test('Prometheus loaded every rule and evaluates each without error', async () => {
    const res = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as {
      data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
    };
    const loaded = res.data.groups.flatMap((g) => g.rules);
    expect(loaded.map((r) => r.name).sort()).toEqual(rules.map((r) => r.record ?? r.alert).sort());
    expect(loaded.filter((r) => r.health !== 'ok')).toEqual([]);
  });

  test('every dashboard query and recording rule returns data', async () => {
    const queries = [
      ...panelQueries,
      ...rules.filter((r) => r.record).map((r) => ({ name: r.record!, expr: r.expr })),
    ];
    const problems: string[] = [];
    for (const { name, expr } of queries) {
      const res = await query(expr);
      if (res.status !== 'success') {
        problems.push(`${name}: ${res.error}`);
        continue;
      }
      const values = res.data!.result.map((r) => Number(r.value[1]));
      if (values.length === 0) problems.push(`${name}: no series (${expr})`);
      // Nothing is processed here: a quantile of the media histograms has no samples to rank.
      else if (!values.some(Number.isFinite) && !expr.includes('parley_media_'))
        problems.push(`${name}: only NaN (${expr})`);
    }
    expect(problems).toEqual([]);
  });

  test('the per-node panels show both nodes', async () => {
    for (const expr of [
      'sum by (instance) (parley_ws_connections)',
      'sum by (instance) (rate(parley_db_statements_total[1m]))',
      'parley_nodejs_eventloop_lag_p99_seconds',
    ]) {
      expect({ expr, series: (await query(expr)).data!.result.length }).toEqual({ expr, series: 2 });
    }
  });

  test('every alert evaluates, and every metric it refers to has series', async () => {
    const problems: string[] = [];
    for (const rule of rules.filter((r) => r.alert)) {
      const res = await query(rule.expr);
      if (res.status !== 'success') problems.push(`${rule.alert}: ${res.error}`);
      const names = metricNames(rule.expr);
      if (names.length === 0) problems.push(`${rule.alert}: refers to no metric`);
      for (const name of names) {
        const found = await query(`count({__name__="${name}"})`);
        if (!found.data?.result.length) problems.push(`${rule.alert}: ${name} has no series`);
      }
    }
    expect(problems).toEqual([]);
    // A healthy cluster under a light load fires nothing.
    const alerts = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as {
      data: { alerts: { labels: { alertname: string }; state: string }[] };
    };
    expect(alerts.data.alerts.filter((a) => a.state === 'firing').map((a) => a.labels.alertname)).toEqual([]);
  });
});
