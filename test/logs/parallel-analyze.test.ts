import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Analyzer } from '../../shared/logs/analyzer.js';
import { analyzeParallel, canSplit } from '../../shared/logs/parallel-analyze.js';
import { createParser } from '../../shared/logs/parser.js';
import { readLineChunks } from '../../shared/logs/read-lines.js';
import { REPO_ROOT } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';

const tmp = tempDir('opsfleet-par-');
after(() => tmp.cleanup());
const FIX = join(REPO_ROOT, 'test', 'fixtures');

async function sequential(file: string, maxLineChars: number) {
  const p = createParser(undefined, { timezone: 'UTC' });
  const a = new Analyzer(p, { topTemplates: 10_000 });
  a.beginFile(file, p);
  let truncated = 0;
  for await (const c of readLineChunks(file, { maxLineChars })) {
    a.countBytes(c.bytes);
    truncated += c.truncated;
    for (const l of c.lines) a.add(l);
  }
  a.endFile();
  return { ...a.summary(), truncated };
}

describe('analyze in worker threads over chunks', () => {
  it('gives exactly the single-pass summary: counts, levels, time range, template ids and counts', { timeout: 120_000 }, async () => {
    // Many chunk boundaries (16 KiB chunks), CRLF lines, an empty line, a line longer than the cut.
    const parts = [readFileSync(join(FIX, 'loghub', 'HDFS', 'HDFS_2k.log'), 'utf8')];
    const body = parts[0]!.split('\n').filter(Boolean);
    const lines: string[] = [];
    for (let r = 0; r < 3; r++) for (const [i, l] of body.entries()) lines.push(i % 97 === 0 ? `${l}\r` : l);
    lines.splice(1234, 0, '', `081109 203615 148 INFO dfs.DataNode: ${'x'.repeat(40_000)}`);
    const file = join(tmp.path, 'mixed.log');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const seq = await sequential(file, 10_000);
    const p = createParser(undefined, { timezone: 'UTC' });
    const a = new Analyzer(p, { topTemplates: 10_000 });
    assert.ok(canSplit(file, 1));
    const { format, truncated } = await analyzeParallel(file, undefined, { timezone: 'UTC' }, a, { templates: true, maxLineChars: 10_000, workers: 2, chunkBytes: 16 << 10 });
    a.setFormat(file, format);
    const par = a.summary();
    assert.equal(format, 'log4j');
    assert.deepEqual(par.formats, seq.formats);
    for (const k of ['lines', 'parsed', 'unparsed', 'bytes', 'levels', 'timeRange', 'templates', 'templatesOther'] as const) assert.deepEqual(par[k], seq[k], k);
    assert.deepEqual([seq.truncated, truncated], [1, 1]);
  });

  it('syslog through the byte fast path: message-head levels, non-ASCII and odd lines equal the single pass, in threads and in one', { timeout: 120_000 }, async () => {
    const body = ['Linux/Linux_2k.log', 'OpenSSH/OpenSSH_2k.log'].flatMap((f) => readFileSync(join(FIX, 'loghub', f), 'utf8').split('\n').filter(Boolean));
    const odd = ['Jun  9 06:06:20 combo kernel: error: disk sd\u00e9 failed', 'Jun  9 06:06:20 combo kernel: [warn] 12 ms', 'not syslog at all', '2024-01-02 03:04:05 WARN generic line', 'Jun  9 06:06:20 c\u00f6mbo kernel: host', 'Jun  9 06:06:20 combo kernel: ALERT exited abnormally'];
    const lines: string[] = [];
    for (let r = 0; r < 3; r++) for (const [i, l] of body.entries()) lines.push(i % 50 === 0 ? odd[(i / 50) % odd.length]! : l);
    const file = join(tmp.path, 'syslog.log');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const seq = await sequential(file, 10_000);
    assert.ok(seq.levels.ERROR > 0 && seq.levels.WARN > 0, 'the sample has message-head levels');
    for (const workers of [2, 1]) {
      const a = new Analyzer(createParser(undefined, { timezone: 'UTC' }), { topTemplates: 10_000 });
      const { format } = await analyzeParallel(file, undefined, { timezone: 'UTC' }, a, { templates: true, maxLineChars: 10_000, workers, chunkBytes: 16 << 10 });
      assert.equal(format, 'syslog');
      const par = a.summary();
      for (const k of ['lines', 'parsed', 'unparsed', 'bytes', 'levels', 'timeRange', 'templates', 'templatesOther'] as const) assert.deepEqual(par[k], seq[k], `${k}, ${workers} workers`);
    }
  });

  it('stdin, gzip and small files are not split', () => {
    assert.equal(canSplit('-', 1), false);
    const gz = join(tmp.path, 'x.gz');
    writeFileSync(gz, Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]));
    assert.equal(canSplit(gz, 1), false);
    assert.equal(canSplit(join(FIX, 'formats', 'redis.log')), false);
  });
});
