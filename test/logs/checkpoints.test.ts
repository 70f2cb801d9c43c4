import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { LogCollector } from '../../agent/logs/collector.js';
import { OutboxStore } from '../../agent/outbox/outbox-store.js';
import { logsSchema } from '../../shared/config/logs.js';
import { Event } from '../../shared/gen/opsfleet/v1/events.js';
import { Child, REPO_ROOT } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Issue 12 item 11: log checkpoints live in the outbox's SQLite and move in the same transaction
 * as the events they produced; the old checkpoints.json is imported once, and a garbled one
 * never makes the agent count lines twice.
 */
const tmp = tempDir('opsfleet-logs-cp-');
const open: OutboxStore[] = [];
after(() => {
  for (const o of open) o.close();
  tmp.cleanup();
});
const logger = pino({ level: 'silent' });
let n = 0;

function outbox(stateDir: string): OutboxStore {
  const o = new OutboxStore(stateDir, { hostId: 'h1', instanceId: 'i1' }, { maxEvents: 1_000_000, maxBytes: 1 << 30 });
  open.push(o);
  return o;
}

interface StatsEvent {
  type: 'stats';
  flush: number;
  minute_ms: number;
  lines: number;
  levels: Record<string, number>;
}

/** Stats events as the controller keeps them: the first of each (flush, minute), later repeats ignored. */
function controllerStats(o: OutboxStore): StatsEvent[] {
  const seen = new Map<string, StatsEvent>();
  for (const r of o.peek(0, 10_000_000)) {
    const e = Event.decode(r.data);
    if (!e.json) continue;
    const b = JSON.parse(e.json) as StatsEvent;
    if (b.type !== 'stats') continue;
    const k = `${b.flush}/${b.minute_ms}`;
    if (!seen.has(k)) seen.set(k, b);
  }
  return [...seen.values()];
}
const sumLines = (s: StatsEvent[]) => s.reduce((a, b) => a + b.lines, 0);

const lines = (from: number, count: number) => Array.from({ length: count }, (_, i) => `2024-01-02 03:04:05,000 ${i % 2 ? 'ERROR' : 'INFO'} [m] a.B - n=${from + i}\n`).join('');
const source = (file: string) => logsSchema.parse([{ name: 'src', paths: [file], start_at: 'beginning', parser: { preset: 'log4j' }, poll_interval: '20ms', scan_interval: '50ms', stats_interval: '100ms' }]);

function setup(): { dir: string; stateDir: string; log: string } {
  const dir = join(tmp.path, `c${++n}`);
  const stateDir = join(dir, 'state');
  mkdirSync(join(stateDir, 'logs'), { recursive: true });
  return { dir, stateDir, log: join(dir, 'app.log') };
}

describe('log checkpoints in the outbox', () => {
  it('a garbled legacy checkpoints.json does not count the existing lines again', async () => {
    const { stateDir, log } = setup();
    writeFileSync(log, lines(1, 100)); // already counted by the agent before the checkpoint file got garbled
    writeFileSync(join(stateDir, 'logs', 'checkpoints.json'), '{"version":1,"sources":{"src":{"initialized":true,"files":[{"key":"ab');
    const o = outbox(stateDir);
    const c = new LogCollector({ config: source(log), sink: o, stateDir, logger });
    await c.start();
    appendFileSync(log, lines(101, 10));
    await waitFor(() => c.sourceCounters().src!.lines >= 10, { what: 'the 10 new lines read' });
    await waitFor(() => sumLines(controllerStats(o)) >= 10, { what: 'stats for the new lines' });
    await c.stop();
    assert.equal(sumLines(controllerStats(o)), 10, 'only the lines written after the start are counted');
    assert.equal(c.sourceCounters().src!.lines, 10);
    assert.ok(existsSync(join(stateDir, 'logs', 'checkpoints.json.corrupt')), 'the garbled file is kept aside');
    assert.ok(!existsSync(join(stateDir, 'logs', 'checkpoints.json')));
  });

  it('a valid legacy checkpoints.json is imported once: offsets and pending counts carry over', async () => {
    const { stateDir, log } = setup();
    const head = lines(1, 100);
    writeFileSync(log, head);
    const st = statSync(log);
    const fp = createHash('sha1').update(Buffer.from(head).subarray(0, 256)).digest('hex');
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    const legacy = {
      version: 1,
      sources: {
        src: {
          initialized: true,
          files: [{ key: 'legacykey001', fp, fpLen: 256, dev: st.dev, ino: st.ino, path: log, offset: st.size, seenMs: Date.now() }],
          retired: [],
          pending: [{ minuteMs: minute - 60_000, levels: { INFO: 7 }, lines: 7, unparsed: 0, truncated: 0 }],
          flushSeq: 4,
        },
      },
    };
    writeFileSync(join(stateDir, 'logs', 'checkpoints.json'), JSON.stringify(legacy));
    let o = outbox(stateDir);
    let c = new LogCollector({ config: source(log), sink: o, stateDir, logger });
    await c.start();
    appendFileSync(log, lines(101, 10));
    await waitFor(() => sumLines(controllerStats(o)) >= 17, { what: 'pending 7 + 10 new lines shipped' });
    await c.stop();
    const first = controllerStats(o);
    assert.equal(sumLines(first), 17);
    assert.ok(first.every((s) => s.flush > 4), 'flush numbers continue after the imported one');
    assert.ok(existsSync(join(stateDir, 'logs', 'checkpoints.json.migrated')));
    o.close();
    // A second start reads the outbox, not a legacy file (even one put back by hand).
    writeFileSync(join(stateDir, 'logs', 'checkpoints.json'), JSON.stringify(legacy));
    o = outbox(stateDir);
    c = new LogCollector({ config: source(log), sink: o, stateDir, logger });
    await c.start();
    appendFileSync(log, lines(111, 3));
    await waitFor(() => c.sourceCounters().src!.lines >= 3, { what: 'the 3 new lines read' });
    await c.stop();
    assert.equal(c.sourceCounters().src!.lines, 3);
    const all = controllerStats(o);
    assert.equal(sumLines(all), 17 + 3);
  });

  it('SIGKILL right after a stats flush commits: the next run neither re-ships nor loses counts', async () => {
    const { stateDir, log } = setup();
    writeFileSync(log, lines(1, 20));
    const base = Math.floor(Date.now() / 60_000) * 60_000 + 1000;
    const run = (env: NodeJS.ProcessEnv) => new Child(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test', 'logs', 'crash-collector.ts'), stateDir, log, String(base)], { env });
    const a = run({ KILL_ON_STATS: '1' });
    const ex = await a.exited;
    assert.equal(ex.signal, 'SIGKILL', a.tail());
    appendFileSync(log, lines(21, 20));
    const b = run({});
    try {
      await waitFor(() => /read 20\n/.test(b.stdout), { timeout: 20_000, what: `the second run read the 20 new lines\n${b.tail()}` });
    } finally {
      await b.stop();
    }
    assert.match(b.stdout, /stopped/);
    const o = outbox(stateDir);
    const stats = controllerStats(o);
    assert.equal(sumLines(stats), 40, JSON.stringify(stats));
    const levels = stats.reduce<Record<string, number>>((acc, s) => {
      for (const [k, v] of Object.entries(s.levels)) acc[k] = (acc[k] ?? 0) + v;
      return acc;
    }, {});
    assert.deepEqual(levels, { INFO: 20, ERROR: 20 });
  });

  it('an outbox reset after the import is not "start over": existing lines are not counted again', async () => {
    const { stateDir, log } = setup();
    writeFileSync(log, lines(1, 30));
    let o = outbox(stateDir);
    let c = new LogCollector({ config: source(log), sink: o, stateDir, logger });
    await c.start();
    await waitFor(() => c.sourceCounters().src!.lines >= 30, { what: 'first 30 lines' });
    await c.stop();
    o.close();
    for (const f of ['outbox.db', 'outbox.db-wal', 'outbox.db-shm']) rmSync(join(stateDir, f), { force: true });
    o = outbox(stateDir);
    c = new LogCollector({ config: source(log), sink: o, stateDir, logger });
    await c.start();
    appendFileSync(log, lines(31, 4));
    await waitFor(() => c.sourceCounters().src!.lines >= 4, { what: 'the 4 new lines' });
    await c.stop();
    assert.equal(c.sourceCounters().src!.lines, 4);
    assert.equal(sumLines(controllerStats(o)), 4);
  });

  it('checkpoints are rows of the outbox, not a file', async () => {
    const { stateDir, log } = setup();
    writeFileSync(log, lines(1, 5));
    const o = outbox(stateDir);
    const c = new LogCollector({ config: source(log), sink: o, stateDir, logger });
    await c.start();
    await waitFor(() => c.sourceCounters().src!.lines >= 5, { what: 'lines read' });
    await c.stop();
    const rows = o.readState('logs/src');
    const file = rows.find((r) => r.key.startsWith('f:'));
    assert.ok(file, JSON.stringify(rows));
    assert.equal((JSON.parse(file.value) as { offset: number }).offset, readFileSync(log).length);
    assert.ok(!existsSync(join(stateDir, 'logs', 'checkpoints.json')));
  });
});
