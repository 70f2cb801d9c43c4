import assert from 'node:assert/strict';
import { appendFileSync, chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
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

const tmp = tempDir('opsfleet-logs-');
const outboxes: OutboxStore[] = [];
after(() => {
  for (const o of outboxes) o.close();
  tmp.cleanup();
});
const logger = pino({ level: 'silent' });
let n = 0;

interface Rig {
  dir: string;
  outbox: OutboxStore;
  collector: LogCollector;
  events: () => Array<Record<string, unknown> & { kind: string }>;
  lines: () => Array<{ message: string; level: string | null; file: string; offset: number; truncated?: boolean; fields: Record<string, string> }>;
  alerts: () => Array<{ state: number; labels: Record<string, string>; annotations: Record<string, string> }>;
  stop: () => Promise<void>;
}

/** A collector over a real outbox (SQLite) in a temp state dir; events are read back from it. */
function rig(sources: unknown[], opts: { stateDir?: string; maxEvents?: number } = {}): Rig {
  const dir = join(tmp.path, `r${++n}`);
  mkdirSync(dir, { recursive: true });
  const stateDir = opts.stateDir ?? join(dir, 'state');
  mkdirSync(stateDir, { recursive: true });
  const outbox = new OutboxStore(stateDir, { hostId: 'h1', instanceId: 'i1' }, { maxEvents: opts.maxEvents ?? 1_000_000, maxBytes: 1 << 30 });
  outboxes.push(outbox);
  const config = logsSchema.parse(JSON.parse(JSON.stringify(sources).replaceAll('$DIR', dir)));
  const collector = new LogCollector({ config, sink: outbox, stateDir, logger });
  const all = () => outbox.peek(0, 10_000_000).map((r) => Event.decode(r.data));
  return {
    dir,
    outbox,
    collector,
    events: () => all().map((e) => ({ kind: e.kind, ...(e.json ? (JSON.parse(e.json) as Record<string, unknown>) : {}) })),
    lines: () =>
      all()
        .filter((e) => e.kind === 'log' && e.json && JSON.parse(e.json).type === 'lines')
        .flatMap((e) => {
          const b = JSON.parse(e.json!) as { file: string; lines: Array<Record<string, unknown>> };
          return b.lines.map((l) => ({ ...l, file: b.file, fields: l.fields ?? {} })) as ReturnType<Rig['lines']>;
        }),
    alerts: () => all().filter((e) => e.kind === 'alert').map((e) => e.alert! as unknown as { state: number; labels: Record<string, string>; annotations: Record<string, string> }),
    stop: () => collector.stop(),
  };
}

const fast = { poll_interval: '20ms', scan_interval: '50ms', rotate_wait: '300ms' };

describe('log collector', () => {
  it('start_at end skips existing content, new files are read from the start, globs with ** and exclude', async () => {
    const r = rig([{ name: 'app', paths: ['$DIR/logs/*.log', '$DIR/logs/**/*.log'], exclude: ['*.gz', 'skip-*'], start_at: 'end', ship_lines: true, parser: { preset: 'log4j' }, ...fast }]);
    mkdirSync(join(r.dir, 'logs', 'sub'), { recursive: true });
    writeFileSync(join(r.dir, 'logs', 'old.log'), '2024-01-02 03:04:05,000 INFO [m] a.B - before start\n');
    await r.collector.start();
    appendFileSync(join(r.dir, 'logs', 'old.log'), '2024-01-02 03:04:06,000 ERROR [m] a.B - after start\n');
    writeFileSync(join(r.dir, 'logs', 'sub', 'new.log'), '2024-01-02 03:04:07,000 WARN [m] a.B - new file\n');
    writeFileSync(join(r.dir, 'logs', 'skip-me.log'), '2024-01-02 03:04:07,000 WARN [m] a.B - excluded\n');
    writeFileSync(join(r.dir, 'logs', 'x.log.gz'), 'not read\n');
    await waitFor(() => r.lines().length >= 2, { what: 'two lines' });
    await r.stop();
    const msgs = r.lines().map((l) => l.message).sort();
    assert.deepEqual(msgs, ['after start', 'new file']);
    assert.deepEqual(r.lines().map((l) => l.level).sort(), ['ERROR', 'WARN']);
  });

  it('a glob matching nothing, an unreadable file and binary garbage do not stop the source', async () => {
    const r = rig([
      { name: 'none', paths: ['$DIR/nothing/*.log'], ...fast },
      { name: 'mixed', paths: ['$DIR/m/*.log'], start_at: 'beginning', ship_lines: true, max_line_bytes: 1024, ...fast },
    ]);
    mkdirSync(join(r.dir, 'm'));
    const locked = join(r.dir, 'm', 'locked.log');
    writeFileSync(locked, 'secret ERROR\n');
    chmodSync(locked, 0o000);
    const garbage = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 37 + 11) % 256).filter((b) => b !== 10));
    writeFileSync(join(r.dir, 'm', 'bin.log'), Buffer.concat([garbage, Buffer.from('\nERROR after garbage \xff\n', 'latin1'), Buffer.alloc(10 * 1024 * 1024, 0x61), Buffer.from('\nWARN after the long line\n')]));
    await r.collector.start();
    await waitFor(() => r.lines().some((l) => l.message.includes('after the long line')), { what: 'line after the 10 MB line', timeout: 20_000 });
    const counters = r.collector.sourceCounters();
    await r.stop();
    const lines = r.lines();
    const isRoot = process.getuid?.() === 0;
    if (!isRoot) assert.equal(counters.mixed!.openErrors, 1);
    const bin = lines.filter((l) => !l.message.includes('secret'));
    assert.equal(bin.length, 4, JSON.stringify(bin.map((l) => l.message.slice(0, 40))));
    assert.equal(bin[0]!.truncated, true); // the 5000-byte garbage line is over 1024 bytes
    assert.ok(bin[1]!.message.includes('after garbage \uFFFD'));
    assert.equal(bin[2]!.truncated, true);
    assert.equal(bin[2]!.message.length, 1024);
    assert.equal(bin[3]!.level, 'WARN');
  });

  it('multiline: a stack trace joins its start line; a lone last record is emitted after the timeout', async () => {
    const r = rig([{ name: 'java', paths: ['$DIR/j.log'], start_at: 'beginning', ship_lines: true, parser: { preset: 'log4j' }, multiline: { start: '^\\d{4}-\\d{2}-\\d{2}', timeout: '200ms' }, ...fast }]);
    writeFileSync(join(r.dir, 'j.log'), ['2024-01-02 03:04:05,000 ERROR [m] a.B - boom', 'java.lang.IllegalStateException: x', '\tat a.B.c(B.java:1)', '\tat a.B.d(B.java:2)', '2024-01-02 03:04:06,000 INFO [m] a.B - next', ''].join('\n'));
    await r.collector.start();
    await waitFor(() => r.lines().length >= 2, { what: 'two records' });
    await r.stop();
    const [a, b] = r.lines();
    assert.equal(a!.level, 'ERROR');
    assert.equal(a!.message, 'boom\njava.lang.IllegalStateException: x\n\tat a.B.c(B.java:1)\n\tat a.B.d(B.java:2)');
    assert.equal(b!.message, 'next');
  });

  it('rename and copytruncate rotation under 5,000 lines/s: every line exactly once', async () => {
    const r = rig([{ name: 'rot', paths: ['$DIR/app.log'], start_at: 'beginning', ship_lines: true, parser: { preset: 'log4j' }, ...fast }]);
    writeFileSync(join(r.dir, 'app.log'), '');
    await r.collector.start();
    const total = 20_000;
    const writer = new Child(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test', 'logs', 'log-writer.ts'), join(r.dir, 'app.log'), String(total), '5000', '3000']);
    try {
      await waitFor(() => writer.stdout.includes('done'), { timeout: 30_000, what: 'writer done' });
      await waitFor(() => r.lines().length >= total, { timeout: 20_000, what: `all ${total} lines` });
      await new Promise((res) => setTimeout(res, 400)); // anything extra would show up now
    } finally {
      await writer.stop();
    }
    await r.stop();
    const seqs = r.lines().map((l) => Number(/seq=(\d+)/.exec(l.message)?.[1]));
    const counts = new Map<number, number>();
    for (const s of seqs) counts.set(s, (counts.get(s) ?? 0) + 1);
    const missing = [];
    for (let i = 1; i <= total; i++) if (counts.get(i) !== 1) missing.push(`${i}:${counts.get(i) ?? 0}`);
    assert.deepEqual(missing.slice(0, 20), [], `${missing.length} seqs not exactly once`);
    assert.equal(seqs.length, total);
    assert.match(writer.stdout, /done 20000 6/);
  });

  it('restart resumes from the checkpoint: no loss, no repeat; a rotation while stopped is caught up', async () => {
    const dir = join(tmp.path, 'restart');
    mkdirSync(dir);
    const stateDir = join(dir, 'state');
    const src = [{ name: 's', paths: [join(dir, 'a.log')], start_at: 'end', ship_lines: true, ...fast }];
    writeFileSync(join(dir, 'a.log'), 'ignored INFO old\n');
    let r = rig(src, { stateDir });
    await r.collector.start();
    appendFileSync(join(dir, 'a.log'), 'l1 INFO\nl2 INFO\n');
    await waitFor(() => r.lines().length === 2);
    await r.collector.stop();
    // While stopped: more lines, then the file is renamed away and a new one created.
    appendFileSync(join(dir, 'a.log'), 'l3 INFO\n');
    renameSync(join(dir, 'a.log'), join(dir, 'a.log.1'));
    writeFileSync(join(dir, 'a.log'), 'l4 INFO\n');
    r.outbox.close();
    outboxes.splice(outboxes.indexOf(r.outbox), 1);
    r = rig(src, { stateDir });
    await r.collector.start();
    await waitFor(() => r.lines().length >= 4, { what: 'l3 and l4 after restart' });
    await new Promise((res) => setTimeout(res, 300));
    await r.stop();
    assert.deepEqual(r.lines().map((l) => l.message.split(' ')[0]).sort(), ['l1', 'l2', 'l3', 'l4']);
  });

  it('backpressure: a full outbox pauses reading, nothing is dropped', async () => {
    const r = rig([{ name: 'bp', paths: ['$DIR/b.log'], start_at: 'beginning', ship_lines: true, ...fast }], { maxEvents: 300 });
    writeFileSync(join(r.dir, 'b.log'), Array.from({ length: 1000 }, (_, i) => `n=${i + 1} INFO`).join('\n') + '\n');
    // The outbox is full (NATS down for a while, say): the source must wait, not evict.
    r.outbox.appendMany(Array.from({ length: 300 }, () => ({ kind: 'metric', payload: { json: '{"filler":true}' } })));
    await r.collector.start();
    await waitFor(() => r.collector.counters.paused > 3, { what: 'paused ticks' });
    assert.equal(r.outbox.stats().depth, 300);
    assert.equal(r.outbox.stats().evictedTotal, 0);
    assert.equal(r.collector.sourceCounters().bp!.lines, 0);
    // Drain the outbox like the publisher would, and the lines flow.
    const got: number[] = [];
    await waitFor(() => {
      const rows = r.outbox.peek(0, 50);
      for (const row of rows) {
        const e = Event.decode(row.data);
        for (const m of (e.json ?? '').matchAll(/n=(\d+)/g)) got.push(Number(m[1]));
      }
      if (rows.length) r.outbox.ack(rows[0]!.seq, rows.at(-1)!.seq);
      return got.length >= 1000;
    }, { timeout: 15_000, what: 'all 1000 lines through the full outbox' });
    await r.stop();
    assert.deepEqual(got, Array.from({ length: 1000 }, (_, i) => i + 1));
    assert.equal(r.outbox.stats().evictedTotal, 0);
  });

  it('level stats per minute and a window rule: fires at 10 ERRORs not 9, resolves after a quiet window', async () => {
    const r = rig([{ name: 'web', paths: ['$DIR/w.log'], start_at: 'beginning', parser: { preset: 'log4j' }, stats_interval: '300ms', rules: [{ name: 'error-burst', level: 'ERROR', threshold: 10, window: '1500ms', severity: 'critical', samples: 2 }], ...fast }]);
    const line = (lvl: string, i: number) => `2024-01-02 03:04:05,000 ${lvl} [m] a.B - msg ${i}\n`;
    writeFileSync(join(r.dir, 'w.log'), '');
    await r.collector.start();
    appendFileSync(join(r.dir, 'w.log'), Array.from({ length: 9 }, (_, i) => line('ERROR', i)).join('') + line('INFO', 99));
    await waitFor(() => r.events().some((e) => e.type === 'stats'), { what: 'a stats event' });
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(r.alerts().length, 0, 'no alert at 9 errors');
    appendFileSync(join(r.dir, 'w.log'), line('ERROR', 10));
    const fired = await waitFor(() => r.alerts()[0], { what: 'alert fired' });
    assert.equal(fired.state, 1);
    assert.deepEqual(fired.labels, { alertname: 'LogRule', rule: 'error-burst', source: 'web', severity: 'critical' });
    assert.equal(fired.annotations.count, '10');
    assert.equal(fired.annotations.samples!.split('\n').length, 2);
    const resolved = await waitFor(() => r.alerts().find((a) => a.state === 2), { timeout: 8000, what: 'alert resolved' });
    assert.equal(resolved.labels.rule, 'error-burst');
    await r.stop();
    assert.equal(r.alerts().filter((a) => a.state === 1).length, 1, 'fired once');
    const stats = r.events().filter((e) => e.type === 'stats') as unknown as Array<{ levels: Record<string, number>; lines: number }>;
    const sum = (k: string) => stats.reduce((n2, s) => n2 + (s.levels[k] ?? 0), 0);
    assert.equal(sum('ERROR'), 10);
    assert.equal(sum('INFO'), 1);
    assert.equal(stats.reduce((n2, s) => n2 + s.lines, 0), 11);
    assert.equal(r.lines().length, 0, 'ship_lines false by default');
  });

  it('ship_lines: matched ships only the lines a rule matched, with the rule names', async () => {
    const r = rig([{ name: 'm', paths: ['$DIR/m.log'], start_at: 'beginning', ship_lines: 'matched', parser: { preset: 'json' }, rules: [{ name: 'slow', match: { message: '^slow' }, threshold: 100, window: '1m' }], ...fast }]);
    writeFileSync(join(r.dir, 'm.log'), ['{"level":"info","msg":"fast 1"}', '{"level":"warn","msg":"slow 2","ms":900}', '{"level":"info","msg":"fast 3"}', 'not json at all', ''].join('\n'));
    await r.collector.start();
    await waitFor(() => r.collector.sourceCounters().m!.lines === 4, { what: 'four lines read' });
    await r.stop();
    const lines = r.lines() as unknown as Array<{ message: string; level: string; rules: string[]; fields: Record<string, string> }>;
    assert.deepEqual(lines.map((l) => [l.message, l.level, l.rules, l.fields.ms]), [['slow 2', 'WARN', ['slow'], '900']]);
    assert.deepEqual(r.collector.sourceCounters().m!.unparsed, 1);
  });

  it('config: a bad regex is an error naming the field', () => {
    const res = logsSchema.safeParse([{ name: 'x', paths: ['/x/*.log'], parser: { regex: '(?<ts>' }, multiline: { start: '[' }, rules: [{ name: 'r', threshold: 1, window: '1m' }] }]);
    assert.equal(res.success, false);
    const issues = res.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    assert.ok(issues.some((i) => /^0\.parser\.regex: invalid regex/.test(i)), issues.join('\n'));
    assert.ok(issues.some((i) => /^0\.multiline\.start: invalid regex/.test(i)), issues.join('\n'));
    assert.ok(issues.some((i) => /^0\.rules\.0\.level: a rule needs level, match, or both/.test(i)), issues.join('\n'));
  });
});
