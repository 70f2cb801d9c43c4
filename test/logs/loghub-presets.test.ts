import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Analyzer } from '../../shared/logs/analyzer.js';
import { createParser } from '../../shared/logs/parser.js';
import { REPO_ROOT } from '../helpers/process.js';
import { readCsv } from './csv.js';

const FIX = join(REPO_ROOT, 'test', 'fixtures', 'loghub');
// The samples are from 2005-2008: pin "now" and the zone so year inference is deterministic.
const NOW = Date.UTC(2005, 11, 31);

function load(system: string) {
  const lines = readFileSync(join(FIX, system, `${system}_2k.log`), 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  const truth = readCsv(join(FIX, system, `${system}_2k.log_structured.csv`));
  assert.equal(lines.length, truth.length, `${system}: one CSV row per line`);
  return { lines, truth };
}

describe('loghub ground truth', () => {
  it('Linux syslog (RFC 3164): host, program, pid, message on all 2000 lines', () => {
    const { lines, truth } = load('Linux');
    const p = createParser({ preset: 'syslog' }, { timezone: 'UTC', now: () => NOW });
    lines.forEach((line, i) => {
      const r = p.parse(line);
      const t = truth[i]!;
      assert.ok(r, `line ${i + 1} parses: ${line}`);
      // The dataset names the host column "Level" (see SOURCE.md).
      assert.equal(r.fields.host, t.Level, `line ${i + 1} host`);
      assert.equal(r.fields.program, t.Component, `line ${i + 1} program`);
      assert.equal(r.fields.pid ?? '', t.PID, `line ${i + 1} pid`);
      assert.equal(r.message, t.Content.trimEnd(), `line ${i + 1} content`);
      const d = new Date(r.tsMs!);
      const [hh, mm, ss] = t.Time.split(':').map(Number);
      assert.deepEqual([d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()], [Number(t.Date), hh, mm, ss], `line ${i + 1} time`);
      assert.equal(r.level, undefined, 'BSD syslog files carry no severity');
    });
  });

  it('OpenSSH syslog: host, pid, message, timestamps in year 2005', () => {
    const { lines, truth } = load('OpenSSH');
    const p = createParser({ preset: 'syslog' }, { timezone: 'UTC', now: () => NOW });
    lines.forEach((line, i) => {
      const r = p.parse(line);
      const t = truth[i]!;
      assert.ok(r, `line ${i + 1} parses`);
      assert.equal(r.fields.host, t.Component);
      assert.equal(r.fields.program, 'sshd');
      assert.equal(r.fields.pid, t.Pid);
      assert.equal(r.message, t.Content.trimEnd(), `line ${i + 1} content`);
      const d = new Date(r.tsMs!);
      assert.equal(d.getUTCFullYear(), 2005);
      assert.equal(d.toISOString().slice(11, 19), t.Time);
      assert.equal(d.getUTCDate(), Number(t.Day));
    });
  });

  it('Apache error log: level and message per line, level counts match the CSV', () => {
    const { lines, truth } = load('Apache');
    const p = createParser({ preset: 'apache_error' }, { timezone: 'UTC' });
    const a = new Analyzer(p);
    const want: Record<string, number> = {};
    lines.forEach((line, i) => {
      const r = a.add(line);
      const t = truth[i]!;
      assert.ok(r, `line ${i + 1} parses`);
      assert.equal(r.fields.level_raw, t.Level);
      // The client address becomes a field of its own; the message is what follows it.
      const cm = /^\[client ([^\]]+)\] (.*)$/s.exec(t.Content);
      assert.equal(r.fields.client, cm?.[1], `line ${i + 1} client`);
      assert.equal(r.message, (cm ? cm[2]! : t.Content).trimEnd(), `line ${i + 1} content`);
      assert.equal(new Date(r.tsMs!).toUTCString().replace(',', '').replace(' GMT', ''), reorderApache(t.Time));
      const norm = t.Level === 'notice' ? 'INFO' : t.Level.toUpperCase();
      want[norm] = (want[norm] ?? 0) + 1;
    });
    const s = a.summary();
    assert.equal(s.parsed, 2000);
    assert.equal(s.levels.ERROR, want.ERROR);
    assert.equal(s.levels.INFO, want.INFO);
    assert.equal(s.levels.ERROR + s.levels.INFO, 2000);
  });

  it('HDFS (log4j-style): pid, level, logger, message; level counts match the CSV', () => {
    const { lines, truth } = load('HDFS');
    const p = createParser({ preset: 'log4j' }, { timezone: 'UTC' });
    const a = new Analyzer(p);
    const want: Record<string, number> = {};
    lines.forEach((line, i) => {
      const r = a.add(line);
      const t = truth[i]!;
      assert.ok(r, `line ${i + 1} parses`);
      assert.equal(r.fields.pid, t.Pid);
      assert.equal(r.fields.level_raw, t.Level);
      assert.equal(r.fields.logger, t.Component, `line ${i + 1} logger`);
      assert.equal(r.message, t.Content.trimEnd(), `line ${i + 1} content`);
      const iso = new Date(r.tsMs!).toISOString();
      assert.equal(iso.slice(2, 10).replaceAll('-', '') + ' ' + iso.slice(11, 19).replaceAll(':', ''), `${t.Date.padStart(6, '0')} ${t.Time.padStart(6, '0')}`);
      want[t.Level] = (want[t.Level] ?? 0) + 1;
    });
    const s = a.summary();
    assert.equal(s.levels.INFO, want.INFO);
    assert.equal(s.levels.WARN, want.WARN);
  });

  it('auto detects the same levels as the explicit presets', () => {
    for (const [system, preset] of [['Apache', 'apache_error'], ['HDFS', 'log4j']] as const) {
      const { lines } = load(system);
      const auto = new Analyzer(createParser(undefined, { timezone: 'UTC' }));
      const exact = new Analyzer(createParser({ preset }, { timezone: 'UTC' }));
      for (const l of lines) {
        auto.add(l);
        exact.add(l);
      }
      assert.deepEqual(auto.summary().levels, exact.summary().levels, system);
    }
  });

  it('templates mask variable parts (loghub EventTemplate groups collapse)', () => {
    const { lines, truth } = load('HDFS');
    const a = new Analyzer(createParser({ preset: 'log4j' }));
    for (const l of lines) a.add(l);
    const top = a.summary().templates;
    // The CSV has a few dozen event templates; masking must not leave thousands of distinct ones.
    const distinctTruth = new Set(truth.map((t) => t.EventId)).size;
    assert.ok(top.length <= 20);
    assert.ok(top[0]!.count > 200, `top template count ${top[0]!.count}`);
    assert.ok(top.some((t) => t.template.includes('PacketResponder <*> for block blk_<*> terminating')), JSON.stringify(top.slice(0, 5)));
    assert.ok(distinctTruth < 60);
  });
});

/** "Sun Dec 04 04:47:44 2005" → "Sun 04 Dec 2005 04:47:44" (toUTCString order). */
function reorderApache(t: string): string {
  const [dow, mon, day, time, year] = t.split(/\s+/);
  return `${dow} ${day!.padStart(2, '0')} ${mon} ${year} ${time}`;
}
