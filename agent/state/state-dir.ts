import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { OpsError } from '../../shared/errors.js';

/** Writes a file crash-safely: temp file, fsync, rename. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export interface StateDir {
  path: string;
  /** Random id made when this state dir was first created; a wiped dir gets a new one. */
  instanceId: string;
  createdAt: string;
  /** Set when instance.json was unreadable and a new identity was made (old ids are never reused). */
  replacedCorrupt?: string;
}

/** Opens (creating when needed) the agent's state dir and its identity file. */
export function openStateDir(path: string): StateDir {
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new OpsError('OPS_ERR_STATE_DIR', `cannot create state_dir ${path}: ${(err as NodeJS.ErrnoException).code}`, { cause: err });
  }
  const file = join(path, 'instance.json');
  let replacedCorrupt: string | undefined;
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { instance_id?: unknown; created_at?: unknown };
    if (typeof parsed.instance_id === 'string' && /^[a-f0-9]{16}$/.test(parsed.instance_id)) {
      return { path, instanceId: parsed.instance_id, createdAt: String(parsed.created_at ?? '') };
    }
    replacedCorrupt = 'instance_id missing or malformed';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') replacedCorrupt = (err as Error).message;
  }
  // A fresh random id is always safe: event ids stay unique because no old id is reused.
  const instanceId = randomBytes(8).toString('hex');
  const createdAt = new Date().toISOString();
  writeFileAtomic(file, `${JSON.stringify({ instance_id: instanceId, created_at: createdAt })}\n`);
  return { path, instanceId, createdAt, ...(replacedCorrupt ? { replacedCorrupt } : {}) };
}
