import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Analyzer } from '../../shared/logs/analyzer.js';
import { headerLevel, LEVEL_TABLE } from '../../shared/logs/levels.js';
import { createParser } from '../../shared/logs/parser.js';
import { createAutoParser } from '../../shared/logs/presets/auto.js';
import { REPO_ROOT } from '../helpers/process.js';

/**
 * Ground truth for every format of issue 15, on the sample files in test/fixtures/formats
 * (how each was made: SOURCE.md there). The expected counts come from what the programs were
 * made to log (e.g. the Python script logs one DEBUG, four INFO, one WARNING, two ERROR, one
 * CRITICAL, and a 5-line traceback), not from running the parser. Every file goes through
 * `auto`: the format must be detected from the sample, and the level must come from the
 * header, never from a word of the message ("ERROR budget …" is INFO).
 */
const DIR = join(REPO_ROOT, 'test', 'fixtures', 'formats');
// Formats without a year (klog, logcat) infer it from "now".
const NOW = Date.UTC(2026, 11, 2, 13, 0, 0);

interface Expect {
  format: string;
  lines: number;
  parsed: number;
  levels: Partial<Record<string, number>>;
  /** [line number (1-based), level or null, message, ISO time or undefined] */
  check?: Array<[number, string | null, string, string?]>;
}

const TRUTH: Record<string, Expect> = {
  'nats-server-var-log.log': { format: 'nats_server', lines: 21, parsed: 21, levels: { INFO: 21 }, check: [[1, 'INFO', 'Starting nats-server', '2026-12-02T12:02:34.699Z']] },
  'nats-server.log': { format: 'nats_server', lines: 44, parsed: 44, levels: { DEBUG: 17, INFO: 25, ERROR: 2 }, check: [[4, 'DEBUG', '  Go build: go1.19.8']] },
  'python-basic.log': { format: 'python', lines: 14, parsed: 9, levels: { DEBUG: 1, INFO: 4, WARN: 1, ERROR: 2, FATAL: 1 }, check: [[13, 'INFO', 'ERROR count reset to 0'], [6, 'FATAL', 'disk full on /var/lib/app']] },
  'python-asctime.log': { format: 'python', lines: 14, parsed: 9, levels: { DEBUG: 1, INFO: 4, WARN: 1, ERROR: 2, FATAL: 1 }, check: [[1, 'DEBUG', 'connecting to db host=db1 port=5432', '2026-12-02T12:27:49.181Z']] },
  'redis.log': { format: 'redis', lines: 27, parsed: 26, levels: { DEBUG: 10, INFO: 7, WARN: 9 }, check: [[8, 'INFO', 'Ready to accept connections', '2026-12-02T12:28:02.143Z']] },
  'klog.log': { format: 'klog', lines: 19, parsed: 18, levels: { INFO: 13, ERROR: 5 }, check: [[1, 'INFO', 'Config loaded from file:  kubeconfig', '2026-12-02T12:28:39.973Z']] },
  'postgres.log': {
    format: 'postgres',
    lines: 43,
    parsed: 43,
    // STATEMENT and CONTEXT lines belong to the entry above them: no level of their own.
    levels: { DEBUG: 24, INFO: 12, WARN: 1, ERROR: 2, FATAL: 1, NONE: 3 },
    check: [[24, 'ERROR', 'division by zero', '2026-12-02T12:28:58.038Z'], [25, null, 'select 1/0'], [29, 'FATAL', 'database "nodb" does not exist']],
  },
  'mariadb.err': { format: 'mysql', lines: 31, parsed: 30, levels: { INFO: 29, WARN: 1 }, check: [[23, 'WARN', "Access denied for user 'root'@'localhost' (using password: YES)"]] },
  'haproxy.log': { format: 'haproxy', lines: 8, parsed: 6, levels: { INFO: 1, WARN: 2, ERROR: 2, FATAL: 1 }, check: [[2, 'WARN', 'GET /missing HTTP/1.1', '2026-12-02T12:41:15.216Z'], [6, 'FATAL', "backend 'app' has no server available!"]] },
  'logcat-threadtime.log': { format: 'logcat', lines: 19, parsed: 19, levels: { TRACE: 2, DEBUG: 6, INFO: 7, WARN: 4 }, check: [[7, 'WARN', 'getRunningAppProcesses: caller 10113 does not hold REAL_GET_TASKS; limiting output', '2026-03-17T16:13:38.935Z']] },
  'logcat-brief.log': { format: 'logcat', lines: 5, parsed: 5, levels: { DEBUG: 1, INFO: 1, WARN: 1, ERROR: 1, FATAL: 1 }, check: [[3, 'ERROR', 'FATAL EXCEPTION: main']] },
  'windows-cbs.log': { format: 'windows_cbs', lines: 11, parsed: 11, levels: { INFO: 11 }, check: [[8, 'INFO', 'Warning: Unrecognized packageExtended attribute.', '2016-09-28T04:30:31.000Z']] },
  'windows-cbs-levels.log': { format: 'windows_cbs', lines: 5, parsed: 5, levels: { INFO: 3, WARN: 1, ERROR: 1 } },
  'go-log.log': { format: 'go_log', lines: 6, parsed: 6, levels: { NONE: 2, INFO: 1, WARN: 1, ERROR: 1, DEBUG: 1 }, check: [[1, null, 'server listening on :8080'], [6, null, 'error count is 0, all good']] },
  'go-slog-text.log': { format: 'logfmt', lines: 6, parsed: 6, levels: { INFO: 2, DEBUG: 1, WARN: 2, ERROR: 1 }, check: [[5, 'INFO', 'ERROR budget at 0.1%', '2026-12-02T12:00:04.000Z']] },
  'rust.log': { format: 'rust', lines: 11, parsed: 11, levels: { TRACE: 2, DEBUG: 2, INFO: 3, WARN: 2, ERROR: 2 }, check: [[6, 'INFO', 'ERROR budget is 0.1%'], [9, 'WARN', 'slow request took 1532 ms', '2026-12-02T12:00:08.000Z']] },
  'journald-short-iso.log': { format: 'journald', lines: 5, parsed: 5, levels: { ERROR: 1, NONE: 4 }, check: [[3, 'ERROR', 'error: kex_exchange_identification: Connection closed by remote host'], [4, null, 'ALERT exited abnormally is not a level here']] },
  'journald.json': { format: 'json', lines: 6, parsed: 6, levels: { DEBUG: 1, INFO: 2, WARN: 1, ERROR: 1, FATAL: 1 }, check: [[5, 'FATAL', 'Out of memory: Killed process 4242 (java)', '2025-12-02T12:00:04.000Z']] },
  'docker-json.log': { format: 'docker_json', lines: 14, parsed: 14, levels: { DEBUG: 8, INFO: 4, ERROR: 2 }, check: [[1, 'DEBUG', 'maxprocs: Leaving GOMAXPROCS=2: CPU quota undefined', '2026-12-02T12:00:00.137Z']] },
  'kubernetes-cri.log': { format: 'cri', lines: 8, parsed: 8, levels: { DEBUG: 1, INFO: 2, WARN: 1, ERROR: 2, FATAL: 1, NONE: 1 }, check: [[2, 'INFO', 'worker 3 started', '2026-12-02T12:00:02.192Z']] },
};

function lines(name: string): string[] {
  const l = readFileSync(join(DIR, name), 'utf8').split('\n');
  if (l.at(-1) === '') l.pop();
  return l;
}

describe('formats of issue 15: ground truth through auto detection', () => {
  for (const [name, want] of Object.entries(TRUTH)) {
    it(`${name}: detected as ${want.format}, levels from the header`, () => {
      const text = lines(name);
      const p = createAutoParser({ timezone: 'UTC', now: () => NOW });
      const a = new Analyzer(p);
      a.beginFile(name, p);
      const recs = text.map((l) => a.add(l));
      a.endFile();
      const s = a.summary();
      assert.equal(s.formats[name], want.format, 'format chosen from the sample');
      assert.equal(s.lines, want.lines);
      assert.equal(s.parsed, want.parsed, `parsed; unparsed samples: ${JSON.stringify(s.unparsedSamples)}`);
      const got = Object.fromEntries(Object.entries(s.levels).filter(([, v]) => v > 0));
      assert.deepEqual(got, want.levels);
      for (const [n, level, message, iso] of want.check ?? []) {
        const r = recs[n - 1];
        assert.ok(r, `line ${n} parses`);
        assert.equal(r.level ?? null, level, `line ${n} level`);
        assert.equal(r.message, message, `line ${n} message`);
        if (iso) assert.equal(new Date(r.tsMs!).toISOString(), iso, `line ${n} time`);
      }
    });
  }

  it('each format also works as an explicit preset, line by line', () => {
    for (const [name, want] of Object.entries(TRUTH)) {
      const p = createParser({ preset: want.format }, { timezone: 'UTC', now: () => NOW });
      const parsed = lines(name).filter((l) => p.parse(l) !== undefined).length;
      assert.equal(parsed, want.parsed, `${name} with --preset ${want.format}`);
    }
  });
});

describe('level detection rules', () => {
  it('one table maps every spelling of issue 15 to TRACE..FATAL', () => {
    const want: Record<string, string> = {
      V: 'TRACE', D: 'DEBUG', I: 'INFO', W: 'WARN', E: 'ERROR', F: 'FATAL', A: 'FATAL',
      INF: 'INFO', WRN: 'WARN', ERR: 'ERROR', DBG: 'DEBUG', TRC: 'TRACE', FTL: 'FATAL',
      NOTICE: 'INFO', NOTE: 'INFO', CRIT: 'FATAL', ALERT: 'FATAL', EMERG: 'FATAL', PANIC: 'FATAL', LOG: 'INFO',
    };
    for (const [raw, level] of Object.entries(want)) assert.equal(LEVEL_TABLE[raw], level, raw);
  });

  it('a level at the start of a message counts only when marked as a header', () => {
    assert.equal(headerLevel('[warn] disk 91% full')?.level, 'WARN');
    assert.equal(headerLevel('<E> boom')?.level, 'ERROR');
    assert.equal(headerLevel('error: kex_exchange_identification')?.level, 'ERROR');
    assert.equal(headerLevel('ALERT exited abnormally with [1]'), undefined);
    assert.equal(headerLevel('Error budget is fine'), undefined);
    assert.equal(headerLevel('A: single letters need brackets'), undefined);
  });

  it('logrotate\'s "ALERT exited abnormally" in syslog is not FATAL (the issue\'s case)', () => {
    const p = createAutoParser({ timezone: 'UTC', now: () => NOW });
    const file = lines('../loghub/Linux/Linux_2k.log');
    const recs = file.map((l) => p.parse(l));
    const alert = file.findIndex((l) => l.includes('logrotate: ALERT exited abnormally'));
    assert.ok(alert >= 0);
    assert.equal(recs[alert]!.level, undefined);
    assert.equal(p.format, 'syslog');
  });

  it('a file that changes format is looked at again instead of staying unparsed', () => {
    const p = createAutoParser({ timezone: 'UTC', now: () => NOW });
    const nats = lines('nats-server.log');
    const redis = lines('redis.log');
    for (const l of nats) p.parse(l);
    assert.equal(p.format, 'nats_server');
    let parsed = 0;
    for (let i = 0; i < 20; i++) for (const l of redis) if (p.parse(l)) parsed++;
    assert.equal(p.format, 'redis');
    assert.ok(parsed > 20 * 26 * 0.5, `${parsed} redis lines parsed after the switch`);
  });
});
