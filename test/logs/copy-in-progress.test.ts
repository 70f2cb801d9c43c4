import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { LogSource } from '../../agent/logs/log-source.js';
import { logsSchema } from '../../shared/config/logs.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * copytruncate with a glob that also matches the rotated names (`app.log*`): the copy is created
 * empty and grows while it is written (libuv's copyFileSync, cp, logrotate itself). A scan that
 * ran in that moment took the copy, shorter than fingerprint_bytes and so without a head to
 * compare, for a new stream and read it from its start; the truncation then found "no copy" and
 * the whole rotated segment was stored twice (the flaky e2e-tail failure: lines 4001-8000 twice,
 * agent log "tailing log file app.log.2 offset 0" then "truncated and no copy found").
 */
const tmp = tempDir('opsfleet-logs-copy-');
after(() => tmp.cleanup());
const logger = pino({ level: 'silent' });
let n = 0;
const line = (i: number) => `2024-01-02 03:04:05,000 INFO [m] a.B - seq=${i}\n`;
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => line(from + i)).join('');

function rig() {
  const dir = join(tmp.path, `t${++n}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'app.log');
  const [cfg] = logsSchema.parse([{ name: 's', paths: [`${dir}/app.log*`], start_at: 'beginning', parser: { preset: 'log4j' }, rotate_wait: '5s' }]);
  const src = new LogSource(cfg!, undefined, logger);
  const got: number[] = [];
  let now = 1_000_000;
  /** One turn of the collector's loop: scan, then read and commit until nothing is left. */
  const turn = (ms = 100) => {
    now += ms;
    src.scan(now);
    for (let i = 0; i < 5; i++) {
      const res = src.poll(now, 100_000);
      got.push(...res.records.map((r) => Number(/seq=(\d+)/.exec(r.rec.text)?.[1])));
      src.commit(res, now);
    }
  };
  return { dir, file, src, got, turn };
}

const seqs = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('copytruncate copy caught while it is being written', () => {
  for (const [what, partial] of [
    ['empty (just created)', 0],
    ['shorter than fingerprint_bytes', 100],
  ] as const) {
    it(`a copy seen ${what} is not a new stream: every line exactly once`, () => {
      const r = rig();
      writeFileSync(r.file, range(1, 100));
      r.turn();
      assert.deepEqual(r.got, seqs(1, 100));
      // The copy exists but holds only its first bytes when the scan runs.
      writeFileSync(`${r.file}.1`, readFileSync(r.file).subarray(0, partial));
      r.turn();
      r.turn();
      // The copy is complete, then the live file is emptied and written again.
      writeFileSync(`${r.file}.1`, readFileSync(r.file));
      truncateSync(r.file, 0);
      appendFileSync(r.file, range(101, 150));
      for (let i = 0; i < 4; i++) r.turn();
      r.turn(6000); // past rotate_wait: the copy is read to its end and dropped
      r.turn();
      assert.deepEqual([...r.got].sort((a, b) => a - b), seqs(1, 150));
      assert.equal(r.src.counters.truncations, 1);
      r.src.close();
    });
  }

  it('the copy of a live file shorter than fingerprint_bytes, complete, is taken over at the truncation', () => {
    const r = rig();
    writeFileSync(r.file, range(1, 3)); // ~150 bytes: under the 256-byte fingerprint
    r.turn();
    assert.deepEqual(r.got, seqs(1, 3));
    writeFileSync(`${r.file}.1`, readFileSync(r.file));
    r.turn();
    truncateSync(r.file, 0);
    appendFileSync(r.file, range(4, 6));
    for (let i = 0; i < 3; i++) r.turn();
    r.turn(6000);
    assert.deepEqual([...r.got].sort((a, b) => a - b), seqs(1, 6));
    r.src.close();
  });

  it('a new short file beside the live one that is no copy is tailed once rotate_wait has passed', () => {
    const r = rig();
    writeFileSync(r.file, range(1, 100));
    r.turn();
    writeFileSync(`${r.file}.bak`, ''); // empty: could be a copy starting, so it waits
    r.turn();
    appendFileSync(`${r.file}.bak`, range(500, 501)); // no longer the start of app.log: a stream of its own
    r.turn();
    r.turn();
    assert.deepEqual([...r.got].sort((a, b) => a - b), [...seqs(1, 100), 500, 501]);
    // Empty for longer than rotate_wait (a copy would have been written by then): tailed as it is.
    writeFileSync(`${r.file}.old`, '');
    r.turn();
    r.turn(6000);
    appendFileSync(`${r.file}.old`, range(600, 600));
    r.turn();
    assert.deepEqual([...r.got].sort((a, b) => a - b), [...seqs(1, 100), 500, 501, 600]);
    r.src.close();
  });
});
