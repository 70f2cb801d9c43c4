import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync, createReadStream } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createGunzip } from 'node:zlib';
import { tempDir } from '../../test/helpers/tmp.js';
import { writeArchive } from './archive-writer.js';
import { Excluder, walk } from './scan.js';
import { TarReader, type TarHeader } from './tar.js';

const LONG = `${'dir-with-a-long-name-'.repeat(6)}/${'ü'.repeat(70)}-file.txt`;

describe('tar format', () => {
  it('GNU tar extracts what we write: long and non-ASCII names, symlinks, empty files, modes', async () => {
    const tmp = tempDir('opsfleet-tar-');
    try {
      const src = join(tmp.path, 'src');
      mkdirSync(join(src, LONG, '..'), { recursive: true });
      writeFileSync(join(src, LONG), 'long name\n');
      writeFileSync(join(src, 'empty'), '');
      writeFileSync(join(src, 'exec.sh'), '#!/bin/sh\n', { mode: 0o750 });
      symlinkSync(`../${'x'.repeat(120)}/target`, join(src, 'long-link'));
      const entries = (await walk(src, new Excluder([src], []))).sort((a, b) => (a.path < b.path ? -1 : 1));
      const ar = await writeArchive(join(tmp.path, 'a.tar.gz'), entries, 6);
      assert.equal(ar.vanished.length, 0);
      const out = join(tmp.path, 'out');
      mkdirSync(out);
      execFileSync('tar', ['-xzf', join(tmp.path, 'a.tar.gz'), '-C', out]);
      const base = join(out, src.slice(1));
      assert.equal(readFileSync(join(base, LONG), 'utf8'), 'long name\n');
      assert.equal(readFileSync(join(base, 'empty'), 'utf8'), '');
      assert.equal(readlinkSync(join(base, 'long-link')), `../${'x'.repeat(120)}/target`);
      assert.equal(execFileSync('stat', ['-c', '%a', join(base, 'exec.sh')], { encoding: 'utf8' }).trim(), '750');
    } finally {
      tmp.cleanup();
    }
  });

  it('our reader reads what GNU tar writes (GNU long names) and what we write (pax)', async () => {
    const tmp = tempDir('opsfleet-tar-read-');
    try {
      const src = join(tmp.path, 'src');
      mkdirSync(join(src, LONG, '..'), { recursive: true });
      writeFileSync(join(src, LONG), 'content\n');
      symlinkSync(`../${'y'.repeat(130)}`, join(src, 'lnk'));
      execFileSync('tar', ['-czf', join(tmp.path, 'gnu.tar.gz'), '-C', tmp.path, 'src']);
      const entries = (await walk(src, new Excluder([src], []))).sort((a, b) => (a.path < b.path ? -1 : 1));
      await writeArchive(join(tmp.path, 'ours.tar.gz'), entries, 1);
      for (const [file, prefix] of [['gnu.tar.gz', 'src'], ['ours.tar.gz', src.slice(1)]] as const) {
        const seen: Array<TarHeader & { body: string }> = [];
        const reader = new TarReader(async (h) => {
          const rec = { ...h, body: '' };
          seen.push(rec);
          return { write: (c) => void (rec.body += c.toString('utf8')), end: async () => undefined };
        });
        for await (const c of createReadStream(join(tmp.path, file)).pipe(createGunzip()) as AsyncIterable<Buffer>) await reader.push(c);
        await reader.end();
        const f = seen.find((s) => s.path === `${prefix}/${LONG}`);
        assert.ok(f, `${file}: long name read back (${seen.map((s) => s.path).join(', ')})`);
        assert.equal(f.body, 'content\n');
        assert.equal(seen.find((s) => s.path === `${prefix}/lnk`)?.linkname, `../${'y'.repeat(130)}`);
      }
    } finally {
      tmp.cleanup();
    }
  });

  it('our reader reads GNU tar\'s pax sparse 1.0 and hard-link members: holes come as hole(), links as link entries', async () => {
    const tmp = tempDir('opsfleet-tar-sparse-');
    try {
      const src = join(tmp.path, 'src');
      mkdirSync(src);
      execFileSync('sh', ['-c', 'printf abc | dd of=s.img bs=1 seek=3000000 conv=notrunc 2>/dev/null; truncate -s 8000000 s.img; echo hi > a; ln a b'], { cwd: src });
      execFileSync('tar', ['--format=pax', '--sparse-version=1.0', '-cSzf', join(tmp.path, 'g.tar.gz'), '-C', tmp.path, 'src']);
      const seen = new Map<string, { type: string; size: number; data: Buffer[]; holes: number; linkname?: string }>();
      const reader = new TarReader(async (h) => {
        const rec = { type: h.type, size: h.size, data: [] as Buffer[], holes: 0, ...(h.linkname ? { linkname: h.linkname } : {}) };
        seen.set(h.path, rec);
        return { write: (c) => void rec.data.push(Buffer.from(c)), hole: (n) => void (rec.holes += n), end: async () => undefined };
      });
      for await (const c of createReadStream(join(tmp.path, 'g.tar.gz')).pipe(createGunzip()) as AsyncIterable<Buffer>) await reader.push(c);
      await reader.end();
      const s = seen.get('src/s.img')!;
      assert.equal(s.size, 8_000_000);
      const data = Buffer.concat(s.data);
      assert.equal(data.length + s.holes, 8_000_000, 'data and holes add up to the real size');
      assert.ok(s.holes > 7_000_000, `holes reported, not zeros: ${s.holes}`);
      assert.ok(data.includes('abc'));
      // Whichever of a and b GNU tar met first holds the content; the other links to it.
      const [first, second] = seen.get('src/a')?.type === 'link' ? ['src/b', 'src/a'] : ['src/a', 'src/b'];
      assert.equal(seen.get(first)?.type, 'file');
      assert.equal(seen.get(second)?.type, 'link');
      assert.equal(seen.get(second)?.linkname, first);
    } finally {
      tmp.cleanup();
    }
  });
});
