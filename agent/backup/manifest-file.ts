import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { Manifest } from './types.js';

const BATCH = 2000;

/**
 * Writes a manifest as JSON to `file` (fsync'd) a slice of entries at a time, hashing as it
 * goes: one JSON.stringify of a 100,000-entry manifest plus its Buffer held ~35 MB at once.
 * Entries come last, one per line, so the file stays readable with `jq` and `head`.
 */
export async function writeManifestFile(file: string, m: Manifest): Promise<{ sha256: string; size: number }> {
  const { entries, ...head } = m;
  const hash = createHash('sha256');
  let size = 0;
  const fh = await open(file, 'w', 0o600);
  try {
    const put = async (text: string) => {
      const b = Buffer.from(text);
      hash.update(b);
      size += b.length;
      await fh.write(b);
    };
    await put(`${JSON.stringify(head).slice(0, -1)},"entries":[`);
    for (let i = 0; i < entries.length; i += BATCH) {
      const slice = entries.slice(i, i + BATCH).map((e) => JSON.stringify(e));
      await put(`${i === 0 ? '' : ','}\n${slice.join(',\n')}`);
    }
    await put('\n]}\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { sha256: hash.digest('hex'), size };
}
