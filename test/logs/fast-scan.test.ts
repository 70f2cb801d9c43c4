import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { KEY_BUF_BYTES, MAX_KEY_BYTES, maskKeyBytes } from '../../shared/logs/byte-keys.js';
import { fastScannerFor, type ScanResult } from '../../shared/logs/fast-scan.js';
import { LEVELS } from '../../shared/logs/levels.js';
import { createParser } from '../../shared/logs/parser.js';
import { createLockedParser } from '../../shared/logs/presets/auto.js';
import { maskedKey } from '../../shared/logs/template-miner.js';
import { REPO_ROOT } from '../helpers/process.js';

/**
 * The byte fast path of `opsctl logs analyze` (fast-scan.ts, byte-keys.ts) must agree with the
 * regex parsers and `maskedKey`, which stay the reference: line by line, on every line of the
 * loghub samples and the format fixtures, and on edge cases written to trip a hand-written
 * scanner. A scanner may decline a line (the caller then parses it with the parser); when it
 * answers, level, time, message and template key must be the parser's.
 */
const FIX = join(REPO_ROOT, 'test', 'fixtures');

function fixtureLines(): string[] {
  const out: string[] = [];
  for (const d of readdirSync(join(FIX, 'loghub'))) {
    if (!/^[A-Z][A-Za-z]+$/.test(d) || d === 'LICENSE') continue;
    out.push(...readFileSync(join(FIX, 'loghub', d, `${d}_2k.log`), 'utf8').split('\n'));
  }
  for (const f of readdirSync(join(FIX, 'formats'))) if (!f.endsWith('.md')) out.push(...readFileSync(join(FIX, 'formats', f), 'utf8').split('\n'));
  return out.map((l) => l.replace(/\r$/, ''));
}

const EDGE = [
  '',
  '081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating',
  '081109 203615 148 INFO dfs.DataNode$PacketResponder:',
  '081109 203615 148 INFO dfs.DataNode$PacketResponder:x',
  '081109 203615 148 INFO dfs.DataNode$PacketResponder:  two spaces ',
  '081109 203615 INFO dfs.FSNamesystem: no pid',
  '081109 203615.5 148 WARN dfs.X: fraction',
  '081109 203615.5555 148 WARN dfs.X: long fraction',
  '081109 203615 148 INFO dfs.X[1]: bracket after logger',
  '081109 203615 148 INFO [main] dfs.X: thread after level',
  '081109 203615 148 INFO [main]dfs.X: thread glued',
  '081109 203615 148 [main] INFO dfs.X - dash',
  '081109 203615 148 [main] INFO dfs.X -dash glued',
  '081109 203615 148 [main INFO unclosed',
  '081109 203615 148 NOTALEVEL dfs.X: x',
  '081109 203615 148 INFO',
  '081109 203615 148 INFO ',
  '081109 203615 148 INFO2 x',
  '081109\t203615 148 INFO x',
  '081109 203615\t148\tINFO\tdfs.X:\tmsg\t',
  '081109 203615 148 INFO dfs.X: caf\u00e9 non-ascii',
  '081109 203615 148 INFO dfs.X: msg\u00a0',
  '081109 203615 148 INFO dfs.X: \u00a0lead',
  '081109 203615 148 INFO dfs.X: msg\v',
  '081109 203615 148 INFO\fdfs.X: x',
  '2024-01-02 03:04:05,123 ERROR [main] com.acme.Foo - message 42',
  '2024-01-02T03:04:05.123456789 WARN x.Y: nine fraction digits',
  '2024-01-02T03:04:05.1234567890 WARN x.Y: ten',
  '2024-01-02 03:04:05Z INFO x.Y: zone',
  '2024-01-02 03:04:05+02:00 INFO x.Y: offset',
  '[2024-01-02 03:04:05,123] INFO message (kafka.Log)',
  '[2024-01-02 03:04:05,123 INFO half bracket',
  '2024-13-02 03:04:05 INFO x: bad month',
  '2024-01-32 03:04:05 INFO x: bad day',
  '2024/01/02 03:04:05 INFO slash form',
  'Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4',
  'Jun  9 06:06:20 combo syslogd 1.4.1: restart.',
  'Jun  9 06:06:20 combo kernel: error: something broke',
  'Jun  9 06:06:20 combo kernel: [warn] bracketed',
  'Jun  9 06:06:20 combo kernel: <E> angle',
  'Jun  9 06:06:20 combo kernel: Log: postgres word',
  'Jun  9 06:06:20 combo kernel: [LOG] bracketed log',
  'Jun  9 06:06:20 combo kernel: WARNING| piped',
  'Jun  9 06:06:20 combo kernel: WARNING  | spaced pipe',
  'Jun  9 06:06:20 combo kernel: ALERT exited abnormally',
  'Jun  9 06:06:20 combo kernel: error:\u00a0nbsp',
  'Jun  9 06:06:20 combo kernel: error:',
  'Jun  9 06:06:20 combo kernel:',
  'Jun  9 06:06:20 combo kernel',
  'Jun  9 06:06:20 combo kernel[x]: not a pid',
  'Jun  9 06:06:20 combo kernel[12]x: glued',
  'Jun  9 06:06:20 combo  kernel: two spaces',
  'Jun  9 06:06:20 combo\tkernel: tab',
  'Jun  9 06:06:20 c\u00f6mbo kernel: host',
  'Jun 9 06:06:20 combo kernel: one space one digit',
  'Jun 19 06:06:20 combo kernel: one space',
  'Jun  19 06:06:20 combo kernel: two spaces two digits',
  'Foo  9 06:06:20 combo kernel: not a month',
  '<13>Jun  9 06:06:20 combo kernel: pri',
  'Jun  9 06:06:20 combo kernel:   \t padded  \t',
  'Jun  9 06:06:20 combo kernel: /var/log/x.log 0x1F 12.5ms 3rd blk_-123 deadbeef0123 user=root  a\tb',
];

function decode(b: Buffer, r: ScanResult) {
  return { level: r.level < 0 ? undefined : LEVELS[r.level], ts: Number.isNaN(r.ts) ? undefined : r.ts, message: b.toString('utf8', r.ms, r.me) };
}

describe('fast scanners agree with the parsers', () => {
  const lines = [...fixtureLines(), ...EDGE];
  for (const format of ['log4j', 'syslog'] as const) {
    // UTC and fixed offsets take the per-hour time cache; an IANA zone converts every distinct second.
    for (const [auto, timezone] of [[true, 'UTC'], [false, 'UTC'], [false, '-05:30'], [true, 'Europe/Berlin']] as const) {
      it(`${format} (${auto ? 'auto' : 'preset'}, ${timezone}): every line it takes parses to the same level, time, message and key`, () => {
        const opts = { timezone, year: 2024 };
        const parser = auto ? createLockedParser(format, opts) : createParser({ preset: format }, opts);
        const fast = fastScannerFor(format, opts, auto)!;
        const r: ScanResult = { level: -1, ts: NaN, ms: 0, me: 0 };
        const kbuf = Buffer.alloc(KEY_BUF_BYTES);
        let taken = 0;
        for (const line of lines) {
          const b = Buffer.from(`${line}\nnext`);
          if (!fast(b, 0, b.length - 5, r)) continue;
          taken++;
          const rec = parser.parse(line);
          assert.ok(rec, `parser refuses a line the scanner took: ${line}`);
          const got = decode(b, r);
          assert.deepEqual(got, { level: rec.level, ts: rec.tsMs, message: rec.message }, line);
          const n = maskKeyBytes(b, r.ms, Math.min(r.me, r.ms + MAX_KEY_BYTES), kbuf);
          if (n >= 0) assert.equal(kbuf.toString('latin1', 0, n), maskedKey(rec.message), line);
        }
        assert.ok(taken > 0);
      });
    }
  }

  it('takes nearly every line of the formats it serves (else the fast path would be idle)', () => {
    const opts = { timezone: 'UTC', year: 2024 };
    const r: ScanResult = { level: -1, ts: NaN, ms: 0, me: 0 };
    for (const [format, file] of [['log4j', 'HDFS/HDFS_2k.log'], ['syslog', 'Linux/Linux_2k.log'], ['syslog', 'OpenSSH/OpenSSH_2k.log']] as const) {
      const fast = fastScannerFor(format, opts, true)!;
      const ls = readFileSync(join(FIX, 'loghub', file), 'utf8').split('\n').filter(Boolean);
      const taken = ls.filter((l) => {
        const b = Buffer.from(l);
        return fast(b, 0, b.length, r);
      }).length;
      assert.ok(taken / ls.length > 0.99, `${file}: ${taken} of ${ls.length}`);
    }
  });
});

describe('maskKeyBytes equals maskedKey', () => {
  it('on every loghub and format-fixture line, whole, and on tricky messages', () => {
    const kbuf = Buffer.alloc(KEY_BUF_BYTES);
    const tricky = ['', ' ', '  lead and trail  ', 'a\t\tb', '1', '/', '//', '/a', '/a/b', 'x/a/b', './/a/b', 'blk_-1', 'a-1', '_-1', '-1', '0x', '0xZZ', '0x1f2e', 'deadbeef', 'deadbeef01', 'abcdef012345', 'abcdef01234', 'sha256', 'workers2', '12.5ms', '1.2.3.4:22', '10:20:30,', 'port 22.', 'id 7:', '3rd', '1,2', '1, 2', 'x=1;y=2', "'7'", '"8"', '(9)', '[10]', `${'7 '.repeat(1500)}`, `${'a'.repeat(2500)} 1`];
    const msgs = [...fixtureLines(), ...EDGE, ...tricky];
    let compared = 0;
    for (const m of msgs) {
      const cut = m.length > MAX_KEY_BYTES ? m.slice(0, MAX_KEY_BYTES) : m;
      const b = Buffer.from(`${cut}9/x`);
      const n = maskKeyBytes(b, 0, b.length - 3, kbuf);
      if (/[^\x00-\x7f]/.test(cut)) {
        assert.equal(n, -1, m);
        continue;
      }
      assert.equal(kbuf.toString('latin1', 0, n), maskedKey(m), JSON.stringify(m));
      compared++;
    }
    assert.ok(compared > 8000);
  });
});
