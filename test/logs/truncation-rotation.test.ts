import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, renameSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { LogCollector } from '../../agent/logs/collector.js';
import { LogSource } from '../../agent/logs/log-source.js';
import { OutboxStore } from '../../agent/outbox/outbox-store.js';
import { logsSchema } from '../../shared/config/logs.js';
import { Event } from '../../shared/gen/opsfleet/v1/events.js';
import { Child, REPO_ROOT } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Issue 20 items 8 and 9: a truncate-and-rewrite with the same first lines inside one poll lost
 * the rewritten lines; files rotated away and deleted within scan_interval were never read.
 */
const tmp = tempDir('opsfleet-logs-trunc-');
const outboxes: OutboxStore[] = [];
after(() => {
  for (const o of outboxes) o.close();
  tmp.cleanup();
});
const logger = pino({ level: 'silent' });
let n = 0;
const line = (i: number) => `2024-01-02 03:04:05,000 INFO [m] a.B - seq=${i}\n`;
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => line(from + i)).join('');

function rig(source: Record<string, unknown>) {
  const dir = join(tmp.path, `t${++n}`);
  mkdirSync(join(dir, 'state'), { recursive: true });
  const outbox = new OutboxStore(join(dir, 'state'), { hostId: 'h', instanceId: 'i' }, { maxEvents: 1_000_000, maxBytes: 1 << 30 });
  outboxes.push(outbox);
  const config = logsSchema.parse([{ name: 's', start_at: 'beginning', ship_lines: true, parser: { preset: 'log4j' }, ...source, paths: (source.paths as string[]).map((p) => p.replace('$DIR', dir)) }]);
  const collector = new LogCollector({ config, sink: outbox, stateDir: join(dir, 'state'), logger });
  const seqs = () =>
    outbox
      .peek(0, 10_000_000)
      .map((r) => Event.decode(r.data))
      .filter((e) => e.json?.includes('"type":"lines"'))
      .flatMap((e) => (JSON.parse(e.json!) as { lines: Array<{ message: string }> }).lines.map((l) => Number(/seq=(\d+)/.exec(l.message)?.[1])));
  return { dir, collector, seqs };
}

describe('truncation and short-lived rotated files', () => {
  it('a file truncated and rewritten past the read position with the same head is read again from its start (size went down)', () => {
    const dir = join(tmp.path, `t${++n}`);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'app.log');
    writeFileSync(file, range(1, 1000));
    const [cfg] = logsSchema.parse([{ name: 's', paths: [file], start_at: 'beginning', parser: { preset: 'log4j' } }]);
    const src = new LogSource(cfg!, undefined, logger);
    src.scan(Date.now());
    // Read only part of the file (budget), as under backpressure; the size seen is the whole file.
    const first = src.poll(Date.now(), 100);
    assert.equal(first.records.length, 100);
    src.commit(first, Date.now());
    // Truncated and rewritten before the next poll: 500 lines, the same first 100.
    writeFileSync(file, range(1, 500));
    const again = src.poll(Date.now(), 10_000);
    const got = again.records.map((r) => Number(/seq=(\d+)/.exec(r.rec.text)?.[1]));
    assert.equal(got[0], 1, 'read from the start of the rewritten file');
    assert.equal(got.length, 500);
    assert.equal(src.counters.truncations, 1);
    src.close();
  });

  it(': > f, then 200 lines whose first 100 equal the old ones, inside one poll: all 200 are read', async () => {
    const r = rig({ paths: ['$DIR/app.log'], poll_interval: '60s', scan_interval: '60s' });
    const file = join(r.dir, 'app.log');
    writeFileSync(file, range(1, 100));
    await r.collector.start();
    await waitFor(() => r.seqs().length === 100, { what: 'the first 100 lines' });
    truncateSync(file, 0);
    // The folder watch sees the size go down as it happens (the next poll is a minute away).
    await waitFor(() => r.collector.sourceCounters().s!.truncations >= 1, { what: 'the truncation noticed within the poll interval' });
    appendFileSync(file, range(1, 200));
    await waitFor(() => r.seqs().length >= 300, { what: '300 lines', timeout: 15_000 });
    await r.collector.stop();
    const got = r.seqs();
    assert.deepEqual(got, [...Array.from({ length: 100 }, (_, i) => i + 1), ...Array.from({ length: 200 }, (_, i) => i + 1)]);
  });

  it('a rotated file that was never opened at its live name is found by its folder event and read; old rotated files are not', () => {
    const dir = join(tmp.path, `t${++n}`);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'app.log');
    writeFileSync(join(dir, 'app.log.5'), range(900, 910)); // history from before the start: never read
    writeFileSync(file, range(1, 10)); // A
    const [cfg] = logsSchema.parse([{ name: 's', paths: [file], start_at: 'beginning', parser: { preset: 'log4j' }, rotate_wait: '0ms' }]);
    const src = new LogSource(cfg!, undefined, logger);
    src.scan(Date.now());
    // Between two looks of the agent: A rotated, B created, written and rotated too, C created.
    renameSync(file, `${file}.1`);
    writeFileSync(file, range(11, 20)); // B
    renameSync(file, `${file}.2`);
    writeFileSync(file, range(21, 30)); // C
    renameSync(join(dir, 'app.log.5'), join(dir, 'app.log.6')); // logrotate shifting history
    for (const name of ['app.log.1', 'app.log.2', 'app.log.6', 'app.log']) src.onFsEvent(dir, name, 'rename', Date.now());
    unlinkSync(`${file}.2`); // B deleted: its descriptor is still read to the end
    src.scan(Date.now());
    const got: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = src.poll(Date.now(), 10_000);
      got.push(...res.records.map((r) => Number(/seq=(\d+)/.exec(r.rec.text)?.[1])));
      src.commit(res, Date.now());
    }
    assert.deepEqual(got.sort((a, b) => a - b), Array.from({ length: 30 }, (_, i) => i + 1));
    assert.equal(src.counters.lateRotations, 1);
    src.close();
  });

  it('a rotated file deleted before it could be opened is counted and warned about; our own deleted file is not', () => {
    const dir = join(tmp.path, `t${++n}`);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'app.log');
    writeFileSync(file, range(1, 10));
    const [cfg] = logsSchema.parse([{ name: 's', paths: [file], start_at: 'beginning', parser: { preset: 'log4j' } }]);
    const src = new LogSource(cfg!, undefined, logger);
    src.scan(Date.now());
    // Ours: renamed and deleted before the event was handled (still read through its descriptor).
    renameSync(file, `${file}.1`);
    unlinkSync(`${file}.1`);
    writeFileSync(file, range(11, 20));
    src.scan(Date.now());
    src.onFsEvent(dir, 'app.log.1', 'rename', Date.now());
    assert.equal(src.counters.missedFiles, 0);
    // Someone else's generation: created, rotated and deleted between two looks.
    src.onFsEvent(dir, 'app.log.2', 'rename', Date.now());
    src.onFsEvent(dir, 'app.log.2', 'rename', Date.now()); // its delete event: counted once
    assert.equal(src.counters.missedFiles, 1);
    const res = src.poll(Date.now(), 1000);
    assert.equal(res.records.length, 20, 'the deleted file of ours was read to its end');
    src.close();
  });

  it('a rotated file still unread when the source stops is counted and warned about', () => {
    const dir = join(tmp.path, `t${++n}`);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'app.log');
    writeFileSync(file, range(1, 10));
    const [cfg] = logsSchema.parse([{ name: 's', paths: [file], start_at: 'beginning', parser: { preset: 'log4j' } }]);
    const src = new LogSource(cfg!, undefined, logger);
    src.scan(Date.now());
    renameSync(file, `${file}.1`);
    src.scan(Date.now());
    src.close();
    assert.equal(src.counters.undrainedFiles, 1);
    assert.equal(src.counters.undrainedBytes, range(1, 10).length);
  });

  it('rotating every 100 ms and deleting 300 ms later with scan_interval 1s: every line exactly once', async () => {
    const r = rig({ paths: ['$DIR/app.log'], poll_interval: '250ms', scan_interval: '1s', rotate_wait: '500ms' });
    const file = join(r.dir, 'app.log');
    writeFileSync(file, '');
    await r.collector.start();
    const total = 6000;
    const writer = new Child(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test', 'logs', 'rotate-delete-writer.ts'), file, String(total), '2000', '100', '300']);
    try {
      await waitFor(() => writer.stdout.includes('done'), { timeout: 30_000, what: 'writer done' });
      await waitFor(() => r.seqs().length >= total, { timeout: 20_000, what: `all ${total} lines` }).catch(() => undefined);
    } finally {
      await writer.stop();
    }
    await r.collector.stop();
    const counts = new Map<number, number>();
    for (const s of r.seqs()) counts.set(s, (counts.get(s) ?? 0) + 1);
    const c = r.collector.sourceCounters().s!;
    const twice: number[] = [];
    const missing: number[] = [];
    for (let i = 1; i <= total; i++) {
      if ((counts.get(i) ?? 0) > 1) twice.push(i);
      if (!counts.has(i)) missing.push(i);
    }
    const why = `${missing.length} missing, ${twice.length} twice of ${total}; ${writer.stdout}; counters ${JSON.stringify(c)}`;
    assert.deepEqual(twice, [], why);
    // Exact, unless the agent was starved for longer than a file's whole life (400 ms; seen at a
    // load average of 26 on 2 cores): then the loss must have been reported (missedFiles, with a
    // warning) and stay small. The per-file count is a lower bound under such starvation.
    if (c.missedFiles === 0) assert.deepEqual(missing, [], why);
    else assert.ok(missing.length <= total / 5, why);
    assert.match(writer.stdout, /done 6000 \d+/);
    assert.ok(Number(/done \d+ (\d+)/.exec(writer.stdout)![1]) >= 20, 'rotated at least 20 times');
  });
});
