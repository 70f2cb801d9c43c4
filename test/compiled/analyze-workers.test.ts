// `opsctl logs analyze` from the bundle on a file large enough to split: the worker threads
// must start from dist/analyze-worker.js (no tsx) and give the one-thread summary.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { useCompiledPrograms } from './build.js';

useCompiledPrograms();

const { REPO_ROOT } = await import('../helpers/process.js');
const { tempDir } = await import('../helpers/tmp.js');

const dir = tempDir('opsfleet-analyze-dist-');
after(() => dir.cleanup());

test('analyze --json with worker threads on the bundle equals --workers 1', { timeout: 300_000 }, () => {
  const sample = readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'loghub', 'HDFS', 'HDFS_2k.log'));
  const block = Buffer.concat([sample, sample.at(-1) === 10 ? Buffer.alloc(0) : Buffer.from('\n')]);
  const perBlock = block.toString('latin1').split('\n').length - 1;
  const file = join(dir.path, 'big.log');
  const fd = openSync(file, 'w');
  let blocks = 0;
  try {
    // Just over the 32 MiB split size: several 8 MiB chunks for two workers.
    for (let size = 0; size < 34 << 20; size += block.length, blocks++) writeSync(fd, block);
  } finally {
    closeSync(fd);
  }
  const run = (...extra: string[]) => {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'opsctl.js'), 'logs', 'analyze', '--json', ...extra, file], { env: { ...process.env, OPSFLEET_RUNTIME: 'dist' }, encoding: 'utf8', maxBuffer: 64 << 20 });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { lines: number; parsed: number; formats: Record<string, string>; levels: Record<string, number>; templates: unknown[]; timeRange: unknown };
  };
  const threads = run('--workers', '2');
  const one = run('--workers', '1');
  assert.equal(threads.lines, blocks * perBlock);
  assert.equal(threads.parsed, threads.lines);
  assert.deepEqual(Object.values(threads.formats), ['log4j']);
  for (const k of ['lines', 'parsed', 'levels', 'templates', 'timeRange'] as const) assert.deepEqual(threads[k], one[k], k);
});
