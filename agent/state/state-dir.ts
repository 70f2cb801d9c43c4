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
  /**
   * Random id made when this state dir was first created, and again after every host boot:
   * the outbox's seq counter is durable against a killed process but not against a power loss
   * (WAL, synchronous=NORMAL), so after a boot a rolled-back counter could reuse seqs; under a
   * new instance id those events still get ids never used before. A wiped dir gets a new one.
   */
  instanceId: string;
  createdAt: string;
  /** Why a new identity was made for an existing dir (corrupt file, new boot). */
  replacedCorrupt?: string;
  /** True when the host booted since the identity was made (a new instance id was made). */
  newBoot?: boolean;
  /** True when this open made the instance id (new dir, new boot, unreadable file, renewal). */
  madeNow: boolean;
}

function currentBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

/** Opens (creating when needed) the agent's state dir and its identity file. */
export function openStateDir(path: string, bootId: string = currentBootId()): StateDir {
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new OpsError('OPS_ERR_STATE_DIR', `cannot create state_dir ${path}: ${(err as NodeJS.ErrnoException).code}`, { cause: err });
  }
  const file = join(path, 'instance.json');
  let replacedCorrupt: string | undefined;
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { instance_id?: unknown; created_at?: unknown; boot_id?: unknown };
    if (typeof parsed.instance_id === 'string' && /^[a-f0-9]{16}$/.test(parsed.instance_id)) {
      if (!bootId || parsed.boot_id === undefined || parsed.boot_id === bootId) {
        if (parsed.boot_id === undefined && bootId) writeIdentity(file, parsed.instance_id, String(parsed.created_at ?? ''), bootId);
        return { path, instanceId: parsed.instance_id, createdAt: String(parsed.created_at ?? ''), madeNow: false };
      }
      const instanceId = randomBytes(8).toString('hex');
      const createdAt = new Date().toISOString();
      writeIdentity(file, instanceId, createdAt, bootId);
      return { path, instanceId, createdAt, newBoot: true, madeNow: true };
    }
    replacedCorrupt = 'instance_id missing or malformed';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') replacedCorrupt = (err as Error).message;
  }
  // A fresh random id is always safe: event ids stay unique because no old id is reused.
  const instanceId = randomBytes(8).toString('hex');
  const createdAt = new Date().toISOString();
  writeIdentity(file, instanceId, createdAt, bootId);
  return { path, instanceId, createdAt, madeNow: true, ...(replacedCorrupt ? { replacedCorrupt } : {}) };
}

/**
 * Makes a new instance id for an existing state dir: used when the outbox that counts seqs was
 * lost or reset while instance.json stayed, so seqs restart at 1 and the old id would repeat
 * event ids the controller already holds (and drops as duplicates).
 */
export function renewInstanceId(dir: StateDir, bootId: string = currentBootId()): StateDir {
  const instanceId = randomBytes(8).toString('hex');
  const createdAt = new Date().toISOString();
  writeIdentity(join(dir.path, 'instance.json'), instanceId, createdAt, bootId);
  return { path: dir.path, instanceId, createdAt, madeNow: true };
}

function writeIdentity(file: string, instanceId: string, createdAt: string, bootId: string): void {
  writeFileAtomic(file, `${JSON.stringify({ instance_id: instanceId, created_at: createdAt, boot_id: bootId })}\n`);
}
