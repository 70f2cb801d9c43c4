import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { OpsError } from '../../errors.js';

/** sha256 (hex) and length of a stream. */
export async function hashStream(s: Readable): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of s as AsyncIterable<Buffer>) {
    h.update(c);
    size += c.length;
  }
  return { sha256: h.digest('hex'), size };
}

/** Throws a retryable checksum error when what the target stored differs from what was sent. */
export function expectSha(name: string, where: string, want: string, got: string): void {
  if (want !== got) throw new OpsError('OPS_ERR_BACKUP_CHECKSUM', `${where}: ${name} stored with sha256 ${got.slice(0, 12)}…, expected ${want.slice(0, 12)}…`, { retryable: true });
}
