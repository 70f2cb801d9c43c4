import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, runCommand, startAgent, startController, type AgentProc, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { Child, REPO_ROOT } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

interface LineRow {
  source: string;
  message: string;
  level: string | null;
}

describe('log tailing end to end (agent → NATS → controller)', () => {
  const dir = tempDir('opsfleet-logs-e2e-');
  let nats: NatsServer;
  let ctl: ControllerProc;
  let agent: AgentProc | undefined;
  let writer: Child | undefined;
  const logDir = join(dir.path, 'applogs');
  const stateDir = join(dir.path, 'agent-state');
  const logsYaml = [
    'logs:',
    '  - name: app',
    // Rotated names are matched too: files rotated while the agent is down are then found
    // (a rotated file that matches no glob can only be followed while the agent runs).
    `    paths: ["${logDir}/app.log*"]`,
    '    start_at: beginning',
    '    ship_lines: true',
    '    parser: { preset: log4j }',
    '    poll_interval: 50ms',
    '    scan_interval: 100ms',
    '    rotate_wait: 500ms',
    '    stats_interval: 500ms',
    '    rules:',
    '      - { name: error-burst, level: ERROR, threshold: 10, window: 60s, severity: critical }',
  ].join('\n');
  const start = () => startAgent({ natsUrl: nats.url, dir: dir.path, id: 'tailer', heartbeat: '500ms', stateDir, extraYaml: logsYaml });

  before(async () => {
    mkdirSync(logDir, { recursive: true });
    writeFileSync(join(logDir, 'app.log'), '');
    nats = await NatsServer.start();
    ctl = await startController({ natsUrl: nats.url, dir: dir.path, offlineAfter: '60s' });
  });

  after(async () => {
    await writer?.stop();
    await agent?.child.stop();
    await ctl?.child.stop();
    await nats?.dispose();
    dir.cleanup();
  });

  it('5,000 lines/s with rename and copytruncate rotations, agent SIGKILLed twice mid-stream: every line exactly once at the controller', async () => {
    agent = await start();
    const total = 25_000;
    writer = new Child(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test', 'logs', 'log-writer.ts'), join(logDir, 'app.log'), String(total), '5000', '4000']);
    for (const atLine of [6000, 15000]) {
      await waitFor(async () => (await api<LineRow[]>(ctl.url, '/api/v1/logs/lines?source=app&limit=100000')).length >= atLine, { timeout: 30_000, what: `${atLine} lines at the controller` });
      agent.child.kill('SIGKILL');
      await agent.child.exited;
      agent = await start();
    }
    await waitFor(() => writer!.stdout.includes('done'), { timeout: 30_000, what: 'writer done' });
    const fetchRows = () => api<LineRow[]>(ctl.url, '/api/v1/logs/lines?source=app&limit=100000');
    const rows = await waitFor(async () => {
      const r = await fetchRows();
      return r.length >= total ? r : undefined;
    }, { timeout: 40_000, what: `all ${total} lines at the controller` }).catch(() => fetchRows());
    const counts = new Map<number, number>();
    for (const r of rows) {
      const seq = Number(/seq=(\d+)/.exec(r.message)?.[1]);
      counts.set(seq, (counts.get(seq) ?? 0) + 1);
    }
    const bad: string[] = [];
    for (let i = 1; i <= total; i++) if (counts.get(i) !== 1) bad.push(`${i}:${counts.get(i) ?? 0}`);
    assert.deepEqual(bad.slice(0, 20), [], `${bad.length} sequence numbers not exactly once (${rows.length} rows)\n${agent.child.tail(15)}`);
    assert.equal(rows.length, total);
    assert.match(writer.stdout, /done 25000 6/);

    // Per-minute level stats reached the controller, and opsctl shows them; counts are exact
    // although the agent was killed twice (they persist with the checkpoints, flushes dedupe).
    const want = { ERROR: total / 5, WARN: total / 5, INFO: (total * 3) / 5 };
    let lastRow: unknown;
    const stats = await waitFor(async () => {
      const r = await runCommand('opsctl', ['--controller', ctl.url, 'logs', 'stats', '--host', 'tailer', '--json']);
      const body = JSON.parse(r.stdout) as { rows: Array<{ source: string; levels: Record<string, number>; lines: number }> };
      const row = body.rows.find((x) => x.source === 'app');
      lastRow = row;
      return row && row.lines >= total ? row : undefined;
    }, { timeout: 60_000, what: 'stats for all lines' }).catch((err: Error) => {
      throw new Error(`${err.message}; last stats row ${JSON.stringify(lastRow)}\n${agent?.child.tail(20) ?? ""}`);
    });
    assert.deepEqual({ ERROR: stats.levels.ERROR, WARN: stats.levels.WARN, INFO: stats.levels.INFO }, want);
    assert.equal(stats.lines, total);
    const perMinute = await runCommand('opsctl', ['--controller', ctl.url, 'logs', 'stats', '--source', 'app', '--since', '10m', '--by-minute', '--json']);
    const pm = JSON.parse(perMinute.stdout) as { rows: Array<{ minute: string; lines: number }> };
    assert.ok(pm.rows.length >= 1 && pm.rows.every((r) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00\.000Z$/.test(r.minute)));
    assert.equal(pm.rows.reduce((n, r) => n + r.lines, 0), total);
    const table = await runCommand('opsctl', ['--controller', ctl.url, 'logs', 'stats']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /tailer.*app/);

    // The error-burst rule fired as a LogRule alert at the controller.
    const alerts = await api<Array<{ payload: string }>>(ctl.url, '/api/v1/events?host=tailer&kind=alert&limit=100');
    assert.ok(JSON.stringify(alerts).includes('LogRule'), 'a LogRule alert event was stored');
  });
});
