import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { runCommand } from '../helpers/daemons.js';
import { REPO_ROOT } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';

const FIX = join(REPO_ROOT, 'test', 'fixtures', 'loghub');
const tmp = tempDir('opsfleet-analyze-');
after(() => tmp.cleanup());

function runWithStdin(args: string[], input: Buffer): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'opsctl.js'), ...args], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.once('error', reject);
    p.once('exit', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(input);
  });
}

interface Summary {
  lines: number;
  parsed: number;
  unparsed: number;
  levels: Record<string, number>;
  templates: Array<{ template: string; count: number }>;
  timeRange: { first: string; last: string } | null;
  truncated: number;
}

describe('opsctl logs analyze', () => {
  it('--json on a file: lines, parsed, levels, templates, time range', async () => {
    const r = await runCommand('opsctl', ['logs', 'analyze', '--preset', 'apache_error', '--json', join(FIX, 'Apache', 'Apache_2k.log')]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as Summary;
    assert.equal(s.lines, 2000);
    assert.equal(s.parsed, 2000);
    assert.equal(s.levels.ERROR, 595);
    assert.equal(s.levels.INFO, 1405);
    assert.ok(s.templates.length > 0 && s.templates[0]!.count > 100);
    assert.deepEqual(s.timeRange, { first: '2005-12-04T04:47:44.000Z', last: '2005-12-05T19:15:57.000Z' });
  });

  it('reads stdin with "-" and gzip (by magic bytes), summing several inputs', async () => {
    const gz = join(tmp.path, 'hdfs.log.gz');
    writeFileSync(gz, gzipSync(readFileSync(join(FIX, 'HDFS', 'HDFS_2k.log'))));
    const r = await runWithStdin(['logs', 'analyze', '--preset', 'log4j', '--json', '-', gz], readFileSync(join(FIX, 'HDFS', 'HDFS_2k.log')));
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as Summary;
    assert.equal(s.lines, 4000);
    assert.deepEqual([s.levels.INFO, s.levels.WARN], [3840, 160]);
  });

  it('--records prints one JSON object per parsed line', async () => {
    const r = await runCommand('opsctl', ['logs', 'analyze', '--preset', 'syslog', '--year', '2005', '--records', join(FIX, 'OpenSSH', 'OpenSSH_2k.log')]);
    assert.equal(r.code, 0, r.stderr);
    const recs = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { line: number; ts: string; fields: Record<string, string>; message: string });
    assert.equal(recs.length, 2000);
    assert.equal(recs[0]!.line, 1);
    assert.equal(recs[0]!.ts, '2005-12-10T06:55:46.000Z');
    assert.equal(recs[0]!.fields.pid, '24200');
  });

  it('human output names the parser and the top templates', async () => {
    const r = await runCommand('opsctl', ['logs', 'analyze', join(FIX, 'HDFS', 'HDFS_2k.log')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /parser: +auto/);
    assert.match(r.stdout, /INFO 1920, WARN 80/);
    assert.match(r.stdout, /PacketResponder <\*> for block blk_<\*> terminating/);
    // The detected format and each template's id (the template_id of --records) are shown.
    assert.match(r.stdout, /format: +log4j \(detected from the first lines\)/);
    assert.match(r.stdout, /│ T[0-9a-f]{8} +│ PacketResponder/);
  });

  it('binary garbage, invalid UTF-8 and a 10 MB line are counted, not fatal', async () => {
    const f = join(tmp.path, 'bad.log');
    const garbage = Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 31 + 7) % 256).filter((b) => b !== 10));
    writeFileSync(f, Buffer.concat([garbage, Buffer.from('\n2024-01-02 03:04:05,000 ERROR [m] a.B - after garbage \xff\xfe\n', 'latin1'), Buffer.alloc(10 * 1024 * 1024, 0x41), Buffer.from('\n2024-01-02 03:04:06,000 WARN [m] a.B - after the long line\n')]));
    const r = await runCommand('opsctl', ['logs', 'analyze', '--preset', 'log4j', '--json', '--max-line', '65536', f]);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as Summary;
    assert.equal(s.lines, 4);
    assert.equal(s.truncated, 1);
    assert.deepEqual([s.levels.ERROR, s.levels.WARN, s.parsed], [1, 1, 2]);
  });

  it('usage errors exit 2 with the reason; unreadable input exits 1', async () => {
    const bad = await runCommand('opsctl', ['logs', 'analyze', '--regex', '(?<ts>\\S+', join(FIX, 'HDFS', 'HDFS_2k.log')]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /OPS_ERR_LOGS_REGEX: invalid regex/);
    const preset = await runCommand('opsctl', ['logs', 'analyze', '--preset', 'nope', join(FIX, 'HDFS', 'HDFS_2k.log')]);
    assert.equal(preset.code, 2);
    assert.match(preset.stderr, /unknown preset "nope"/);
    const missing = await runCommand('opsctl', ['logs', 'analyze', join(tmp.path, 'missing.log')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /OPS_ERR_LOGS_READ: cannot read .*missing\.log: ENOENT/);
  });
});
