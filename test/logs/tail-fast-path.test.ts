import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { LogCollector } from '../../agent/logs/collector.js';
import { LogSource, type PollResult } from '../../agent/logs/log-source.js';
import { OutboxStore } from '../../agent/outbox/outbox-store.js';
import { logsSchema } from '../../shared/config/logs.js';
import { Event } from '../../shared/gen/opsfleet/v1/events.js';
import { Analyzer } from '../../shared/logs/analyzer.js';
import { createParser } from '../../shared/logs/parser.js';
import { REPO_ROOT } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The agent's tail counts most lines from their bytes with the format's scanner (poll's
 * countOnly, what the collector asks for) instead of building a record per line. Its results
 * must be the record path's and the offline analyzer's: level counts, unparsed lines, window
 * rule transitions and samples, lines shipped for rules, and auto's format changes, on the real
 * loghub and format fixtures.
 */
const tmp = tempDir('opsfleet-tailfast-');
const outboxes: OutboxStore[] = [];
after(() => {
  for (const o of outboxes) o.close();
  tmp.cleanup();
});
const logger = pino({ level: 'silent' });
const LOGHUB = join(REPO_ROOT, 'test', 'fixtures', 'loghub');
const FORMATS = join(REPO_ROOT, 'test', 'fixtures', 'formats');
const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);
let n = 0;

function fixture(...parts: string[]): string {
  const t = readFileSync(join(...parts), 'utf8');
  return t.endsWith('\n') ? t : `${t}\n`;
}

function writeLog(text: string | Buffer): string {
  const dir = join(tmp.path, `f${++n}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'app.log');
  writeFileSync(file, text);
  return file;
}

/** `opsctl logs analyze`'s single pass over the file's lines: one parser for the file (auto decides per file too). */
function offline(file: string, parser: Record<string, unknown>) {
  const spec = parser.preset !== undefined ? { preset: parser.preset as string } : undefined;
  const a = new Analyzer(createParser(spec, { year: parser.year as number | undefined }), { templates: false });
  const lines = readFileSync(file, 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  for (const l of lines) a.add(l.endsWith('\r') ? l.slice(0, -1) : l);
  const s = a.summary();
  const levels = Object.fromEntries(Object.entries(s.levels).filter(([, v]) => v > 0));
  // The agent counts an unparsed line under NONE as well.
  if (s.lines - s.parsed > 0) levels.NONE = (levels.NONE ?? 0) + s.lines - s.parsed;
  return { lines: s.lines, unparsed: s.lines - s.parsed, levels };
}

/**
 * Reads the whole file through one LogSource in small polls (budgets cut reads mid-buffer),
 * committing each, and evaluates the rules at the end: everything the tail produces.
 */
function tailWith(file: string, source: Record<string, unknown>, countOnly: boolean) {
  const [cfg] = logsSchema.parse([{ name: 's', paths: [file], start_at: 'beginning', ...source }]);
  const src = new LogSource(cfg!, undefined, logger);
  src.scan(NOW);
  const records: Array<{ offset: number; level: string | undefined; message: string | undefined; rules: string[] }> = [];
  let counted = 0;
  for (let round = 0; round < 10_000; round++) {
    const res: PollResult = src.poll(NOW, 700, countOnly);
    for (const r of res.records) records.push({ offset: r.rec.start, level: r.parsed?.level, message: r.parsed?.message, rules: r.rules.map((x) => x.cfg.name) });
    counted += (res.counted ?? []).reduce((a, b) => a + b, 0);
    src.commit(res, NOW);
    if (!res.more) break;
  }
  src.commit(src.flushAll(NOW), NOW);
  const rules = src.rules.map((r) => r.evaluate(NOW));
  const [stats] = src.stats.snapshot();
  const { lines, parsed, unparsed, truncated } = src.counters;
  src.close();
  return { stats, counters: { lines, parsed, unparsed, truncated }, rules, records, counted };
}

/** Both paths agree with each other, and with the offline analyzer where it applies; returns the fast path's run. */
function agree(file: string, source: Record<string, unknown>, opts: { offline?: boolean } = {}) {
  const slow = tailWith(file, source, false);
  const fast = tailWith(file, source, true);
  assert.equal(slow.counted, 0, 'the record path counts nothing without a record');
  assert.deepEqual(fast.stats, slow.stats, 'per-minute level counts');
  assert.deepEqual(fast.counters, slow.counters, 'source counters');
  assert.deepEqual(fast.rules, slow.rules, 'window rule transitions (count and samples)');
  // The lines a rule matched are records on both paths (they are shipped with ship_lines: matched).
  assert.deepEqual(
    fast.records.filter((r) => r.rules.length > 0),
    slow.records.filter((r) => r.rules.length > 0),
  );
  assert.equal(fast.counted + fast.records.length, slow.records.length, 'every line is either counted or a record');
  if (opts.offline !== false) {
    const off = offline(file, (source.parser as Record<string, unknown> | undefined) ?? {});
    assert.equal(fast.counters.lines, off.lines, 'lines');
    assert.equal(fast.counters.unparsed, off.unparsed, 'unparsed');
    assert.deepEqual(fast.stats!.levels, off.levels, 'levels vs opsctl logs analyze');
  }
  return fast;
}

describe('tail byte path = record path = offline analyze', () => {
  const cases: Array<[string, string, Record<string, unknown>, number]> = [
    ['HDFS, preset log4j', 'HDFS/HDFS_2k.log', { preset: 'log4j' }, 0.99],
    ['HDFS, auto', 'HDFS/HDFS_2k.log', {}, 0.95],
    ['Linux, preset syslog', 'Linux/Linux_2k.log', { preset: 'syslog', year: 2005 }, 0.99],
    ['Linux, auto', 'Linux/Linux_2k.log', {}, 0.95],
    ['OpenSSH, auto', 'OpenSSH/OpenSSH_2k.log', {}, 0.95],
    // No byte scanner for Apache's format: every line takes the record path, same results.
    ['Apache, auto (no scanner)', 'Apache/Apache_2k.log', {}, 0],
  ];
  for (const [label, path, parser, share] of cases) {
    it(`${label}: the same level counts and unparsed lines; the scanner takes ≥ ${share * 100}% of them`, () => {
      const file = writeLog(fixture(LOGHUB, path));
      const fast = agree(file, { parser });
      assert.ok(fast.counted >= share * fast.counters.lines, `counted from bytes: ${fast.counted} of ${fast.counters.lines}`);
      if (share === 0) assert.equal(fast.counted, 0);
    });
  }

  it('format fixtures under auto (nats-server, klog, python, …): the same counts', () => {
    for (const f of ['nats-server.log', 'klog.log', 'python-basic.log', 'redis.log', 'postgres.log', 'journald-short-iso.log', 'go-log.log']) {
      agree(writeLog(fixture(FORMATS, f)), { parser: {} });
    }
  });

  it("a file that turns into another format: auto's misses and its second look happen at the same lines", () => {
    // 2,000 log4j lines then 2,000 syslog lines: auto relearns after 256 misses in both paths.
    const file = writeLog(fixture(LOGHUB, 'HDFS/HDFS_2k.log') + fixture(LOGHUB, 'Linux/Linux_2k.log') + fixture(LOGHUB, 'HDFS/HDFS_2k.log'));
    const fast = agree(file, { parser: {} });
    assert.ok(fast.counted > 5000, `counted from bytes: ${fast.counted}`);
    // Runs of 100 lines it misses between runs it fits: a line it fits ends the run (no second look),
    // whether the parser or the scanner took it.
    const hdfs = fixture(LOGHUB, 'HDFS/HDFS_2k.log').split('\n');
    const linux = fixture(LOGHUB, 'Linux/Linux_2k.log').split('\n');
    const mixed: string[] = [];
    for (let i = 0; i < 10; i++) mixed.push(...hdfs.slice(i * 150, i * 150 + 150), ...linux.slice(i * 100, i * 100 + 100));
    const m = agree(writeLog(`${mixed.join('\n')}\n`), { parser: {} });
    assert.ok(m.counted >= 1400, `counted from bytes: ${m.counted}`);
  });

  it('rules: lines at a watched level are records on both paths; alerts, samples and matched lines are equal', () => {
    const file = writeLog(fixture(LOGHUB, 'HDFS/HDFS_2k.log'));
    const rules = [
      { name: 'warns', level: 'WARN', threshold: 5, window: '1m', samples: 3 },
      { name: 'served', level: ['INFO', 'WARN'], match: { message: 'Served block' }, threshold: 1, window: '1m' },
    ];
    const fast = agree(file, { parser: { preset: 'log4j' }, rules, ship_lines: 'matched' });
    assert.equal(fast.rules[0]?.kind, 'fire');
    assert.ok(fast.records.some((r) => r.rules.includes('served')));
    // A rule without a level may match any line: every line is a record.
    const all = agree(file, { parser: { preset: 'log4j' }, rules: [{ name: 'm', match: { message: 'Served block' }, threshold: 1, window: '1m' }] });
    assert.equal(all.counted, 0);
  });

  it('ship_lines: true and multiline sources build every record (same results)', () => {
    const file = writeLog(fixture(LOGHUB, 'HDFS/HDFS_2k.log'));
    assert.equal(agree(file, { parser: { preset: 'log4j' }, ship_lines: true }).counted, 0);
    assert.equal(agree(file, { parser: { preset: 'log4j' }, multiline: { start: '^\\d{6} ' } }).counted, 0);
  });

  it('CRLF, blank, cut, non-ASCII and unterminated lines: the byte path declines what it cannot be sure of', () => {
    const hdfs = fixture(LOGHUB, 'HDFS/HDFS_2k.log').split('\n').slice(0, 300);
    const odd = [
      ...hdfs.slice(0, 100).map((l) => `${l}\r`),
      '',
      `081109 203615 148 ERROR dfs.X: ${'x'.repeat(3000)}`,
      '081109 203615 148 WARN dfs.X: café',
      '081109 203615 148 INFO dfs.X: trailing blanks \t ',
      'not a log4j line at all',
      ...hdfs.slice(100, 300),
    ];
    const file = writeLog(`${odd.join('\n')}\n081109 203615 148 ERROR dfs.X: unterminated`);
    // The long line is cut at max_line_bytes (the offline analyzer does not cut the same way).
    const fast = agree(file, { parser: { preset: 'log4j' }, max_line_bytes: 1024 }, { offline: false });
    assert.equal(fast.counters.truncated, 1);
    // The unterminated last line waits for its newline (the file is live).
    assert.equal(fast.counters.lines, odd.length);
    const bom = writeLog(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(hdfs.join('\n'))]));
    agree(bom, { parser: { preset: 'log4j' } }, { offline: false });
    const utf16 = writeLog(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${hdfs.join('\n')}\n`, 'utf16le')]));
    assert.equal(agree(utf16, { parser: { preset: 'log4j' } }, { offline: false }).counted, 0);
  });
});

describe('collector (countOnly) into a real outbox', () => {
  it('the stats events add up to the offline analyzer on the same fixture lines', async () => {
    const dir = join(tmp.path, `c${++n}`);
    mkdirSync(join(dir, 'state'), { recursive: true });
    const text = fixture(LOGHUB, 'HDFS/HDFS_2k.log') + fixture(LOGHUB, 'OpenSSH/OpenSSH_2k.log');
    writeFileSync(join(dir, 'a.log'), fixture(LOGHUB, 'HDFS/HDFS_2k.log'));
    writeFileSync(join(dir, 'b.log'), fixture(LOGHUB, 'OpenSSH/OpenSSH_2k.log'));
    const outbox = new OutboxStore(join(dir, 'state'), { hostId: 'h', instanceId: 'i' }, { maxEvents: 1_000_000, maxBytes: 1 << 30 });
    outboxes.push(outbox);
    const config = logsSchema.parse([{ name: 's', paths: [join(dir, '*.log')], start_at: 'beginning', poll_interval: '20ms', stats_interval: '100ms' }]);
    const c = new LogCollector({ config, sink: outbox, stateDir: join(dir, 'state'), logger, maxLinesPerTick: 500 });
    await c.start();
    const expected = text.split('\n').length - 1;
    await waitFor(() => c.sourceCounters().s!.lines >= expected, { what: 'every line tailed' });
    await c.stop();
    const stats = outbox
      .peek(0, 1_000_000)
      .map((r) => Event.decode(r.data))
      .filter((e) => e.json?.includes('"type":"stats"'))
      .map((e) => JSON.parse(e.json!) as { levels: Record<string, number>; lines: number; unparsed: number });
    const levels: Record<string, number> = {};
    for (const s of stats) for (const [k, v] of Object.entries(s.levels)) levels[k] = (levels[k] ?? 0) + v;
    const a = offline(join(dir, 'a.log'), {});
    const b = offline(join(dir, 'b.log'), {});
    const want: Record<string, number> = { ...a.levels };
    for (const [k, v] of Object.entries(b.levels)) want[k] = (want[k] ?? 0) + v;
    assert.equal(
      stats.reduce((x, s) => x + s.lines, 0),
      expected,
    );
    assert.equal(
      stats.reduce((x, s) => x + s.unparsed, 0),
      a.unparsed + b.unparsed,
    );
    assert.deepEqual(levels, want);
  });
});
