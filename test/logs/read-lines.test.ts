import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { readLineChunks } from '../../shared/logs/read-lines.js';

async function collect(chunks: Buffer[], maxLineChars?: number): Promise<{ lines: string[]; truncated: number; bytes: number }> {
  const out = { lines: [] as string[], truncated: 0, bytes: 0 };
  for await (const c of readLineChunks('-', { stdin: Readable.from(chunks), ...(maxLineChars ? { maxLineChars } : {}) })) {
    out.lines.push(...c.lines);
    out.truncated += c.truncated;
    out.bytes += c.bytes;
  }
  return out;
}

function split(buf: Buffer, cuts: number[]): Buffer[] {
  const pos = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of pos) {
    if (p > last) out.push(buf.subarray(last, p));
    last = Math.max(last, p);
  }
  if (last < buf.length) out.push(buf.subarray(last));
  return out;
}

describe('readLineChunks', () => {
  it('yields the same lines whatever the chunk boundaries (multi-byte characters included)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.string({ unit: fc.constantFrom('a', 'é', '€', '𝄞', ' ', '\r') , maxLength: 30 }), { minLength: 1, maxLength: 30 }), fc.array(fc.nat(), { maxLength: 10 }), async (lines, cuts) => {
        const text = lines.map((l) => `${l}\n`).join('');
        const buf = Buffer.from(text);
        const got = await collect(split(buf, cuts));
        assert.deepEqual(got.lines, lines.map((l) => l.replace(/\r$/, '')));
        assert.equal(got.bytes, buf.length);
      }),
      { numRuns: 200 },
    );
  });

  it('cuts over-long lines once and counts them; keeps a last line without newline; gunzips', async () => {
    const long = 'x'.repeat(5000);
    const got = await collect(split(Buffer.from(`a\n${long}\nb\n${long}`), [3, 700, 2500, 4999, 5004]), 1000);
    assert.deepEqual(got.lines.map((l) => l.length), [1, 1000, 1, 1000]);
    assert.equal(got.truncated, 2);
    const gz = await collect([gzipSync(Buffer.from('one\ntwo\nthree'))]);
    assert.deepEqual(gz.lines, ['one', 'two', 'three']);
  });
});
