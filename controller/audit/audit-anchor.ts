import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { OpsError } from '../../shared/errors.js';

/**
 * The audit chain's head kept apart from the table: how many rows there are and the hash of the
 * last one. Deleting the newest rows (after dropping the triggers) leaves a consistent chain,
 * so only something outside the table can tell; this file (and the `audit head` log line each
 * append writes) is that something.
 */
export interface AuditHead {
  rows: number;
  hash: string;
  updatedMs: number;
}

/** Reads the anchor; undefined when the file does not exist. A damaged file is an error naming it. */
export function readAnchor(file: string): AuditHead | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new OpsError('OPS_ERR_AUDIT_ANCHOR', `cannot read audit anchor ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const v = JSON.parse(text) as Partial<AuditHead>;
    if (typeof v.rows !== 'number' || !Number.isInteger(v.rows) || v.rows < 0 || typeof v.hash !== 'string' || !/^[0-9a-f]{64}$/.test(v.hash)) throw new Error('expected {rows, hash, updatedMs}');
    return { rows: v.rows, hash: v.hash, updatedMs: Number(v.updatedMs ?? 0) };
  } catch (err) {
    throw new OpsError('OPS_ERR_AUDIT_ANCHOR', `audit anchor ${file} is damaged: ${(err as Error).message}`, { cause: err });
  }
}

/** Writes the anchor crash-safely: temp file, fsync, rename (a torn write never replaces a good head). */
export function writeAnchor(file: string, head: AuditHead): void {
  const tmp = `${file}.tmp`;
  try {
    const fd = openSync(tmp, 'w', 0o640);
    try {
      writeSync(fd, `${JSON.stringify(head)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    throw new OpsError('OPS_ERR_AUDIT_ANCHOR', `cannot write audit anchor ${file}: ${(err as Error).message}`, { cause: err });
  }
}
