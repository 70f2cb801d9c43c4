import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, startAgent, startController, type AgentProc, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { Child, REPO_ROOT } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

interface LineRow {
  message: string;
}
interface StatsRow {
  host: string;
  lines: number;
}

/**
 * The fault run of issue 12, kept as a test: agents write log lines at a steady rate while
 * nats-server, then the controller, then one agent are killed with SIGKILL and restarted.
 * Every line must be stored exactly once (shipped lines and the per-minute line counts). Sized
 * for CI on a shared machine: 2 agents at 150 lines/s for ~40 s.
 */
describe('chaos: kill -9 of nats-server, controller and an agent while agents write logs', () => {
  const dir = tempDir('opsfleet-chaos-');
  const RATE = 150;
  const TOTAL = 6000;
  const ids = ['chaos-1', 'chaos-2'];
  let nats: NatsServer;
  let ctl: ControllerProc;
  const agents = new Map<string, AgentProc>();
  const writers: Child[] = [];

  const logFile = (id: string) => join(dir.path, `logs-${id}`, 'app.log');
  const startOne = (id: string) =>
    startAgent({
      natsUrl: nats.url,
      dir: dir.path,
      id,
      heartbeat: '1s',
      rpc: false,
      stateDir: join(dir.path, `state-${id}`),
      extraYaml: ['logs:', '  - name: app', `    paths: ["${logFile(id)}"]`, '    start_at: beginning', '    ship_lines: true', '    parser: { preset: log4j }', '    poll_interval: 100ms', '    stats_interval: 1s'].join('\n'),
    });
  const startCtl = () => startController({ natsUrl: nats.url, dir: dir.path, offlineAfter: '60s', configName: 'controller.yaml' });
  const linesOf = async (id: string) => api<LineRow[]>(ctl.url, `/api/v1/logs/lines?host=${id}&source=app&limit=100000`);
  /** Waits until the controller holds more lines of every agent than it did. */
  const progress = async (what: string) => {
    const before = await Promise.all(ids.map(async (id) => (await linesOf(id)).length));
    await waitFor(async () => (await Promise.all(ids.map(async (id) => (await linesOf(id)).length))).every((n, i) => n > before[i]! + RATE), { timeout: 60_000, interval: 250, what });
  };

  before(async () => {
    nats = await NatsServer.start();
    ctl = await startCtl();
    for (const id of ids) {
      mkdirSync(join(dir.path, `logs-${id}`), { recursive: true });
      writeFileSync(logFile(id), '');
      agents.set(id, await startOne(id));
    }
  });

  after(async () => {
    for (const w of writers) await w.stop();
    for (const a of agents.values()) await a.child.stop();
    await ctl?.child.stop();
    await nats?.dispose();
    dir.cleanup();
  });

  it('every line stored exactly once', async (t) => {
    // No rotation (every > total): this test is about the kills, rotation has its own.
    for (const id of ids) writers.push(new Child(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test', 'logs', 'log-writer.ts'), logFile(id), String(TOTAL), String(RATE), String(TOTAL + 1), 'line']));
    await progress('lines flowing');

    await nats.kill();
    await waitFor(() => agents.get(ids[0]!)!.child.logs().some((l) => l.msg === 'nats disconnected'), { timeout: 20_000, what: 'agent saw nats go' });
    await nats.restart();
    await progress('lines flowing after nats-server kill -9');

    ctl.child.kill('SIGKILL');
    await ctl.child.exited;
    ctl = await startCtl();
    await progress('lines flowing after controller kill -9');

    const victim = agents.get(ids[1]!)!;
    victim.child.kill('SIGKILL');
    await victim.child.exited;
    agents.set(ids[1]!, await startOne(ids[1]!));
    await progress('lines flowing after agent kill -9');

    for (const w of writers) await waitFor(() => w.stdout.includes('done'), { timeout: 120_000, what: 'writers done' });
    for (const id of ids) {
      const rows = await waitFor(async () => {
        const r = await linesOf(id);
        return r.length >= TOTAL ? r : undefined;
      }, { timeout: 60_000, interval: 500, what: `${TOTAL} lines of ${id}` }).catch(() => linesOf(id));
      const counts = new Map<number, number>();
      for (const r of rows) {
        const n = Number(/line=(\d+)/.exec(r.message)?.[1]);
        counts.set(n, (counts.get(n) ?? 0) + 1);
      }
      const bad: string[] = [];
      for (let i = 1; i <= TOTAL; i++) if (counts.get(i) !== 1) bad.push(`${i}:${counts.get(i) ?? 0}`);
      assert.deepEqual(bad.slice(0, 20), [], `${id}: ${bad.length} lines not exactly once (${rows.length} rows)`);
      assert.equal(rows.length, TOTAL, `${id}: rows`);
      // The per-minute statistics count each line once too.
      const stats = await waitFor(async () => {
        const s = await api<{ rows: StatsRow[] }>(ctl.url, `/api/v1/logs/stats?host=${id}&source=app&since=1h`);
        const lines = s.rows.reduce((a, r) => a + r.lines, 0);
        return lines >= TOTAL ? lines : undefined;
      }, { timeout: 30_000, interval: 500, what: `stats of ${id}` }).catch(async () => (await api<{ rows: StatsRow[] }>(ctl.url, `/api/v1/logs/stats?host=${id}&source=app&since=1h`)).rows.reduce((a, r) => a + r.lines, 0));
      // Exact for the SIGKILLed agent too: a stats flush commits its flush number in the same
      // outbox transaction as the events it produced, so a kill can neither lose nor repeat one.
      assert.equal(stats, TOTAL, `${id}${id === victim.id ? ' (killed)' : ''}: lines counted in the statistics`);
    }
  });
});
