import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import Database from 'better-sqlite3';
import { errorLine, OpsError } from '../../shared/errors.js';
import { AuditLog } from '../audit/audit-log.js';
import { describeDatabase } from './create-backup.js';
import { BACKUP_FORMAT, MANIFEST_NAME, type BackupManifest } from './manifest.js';
import { readTar } from './tar-stream.js';

const damaged = (msg: string) => new OpsError('OPS_ERR_CTL_BACKUP_DAMAGED', msg);

/**
 * Reads a controller backup from end to end: MANIFEST.json first, then every entry it lists,
 * each checked against its size and sha-256 (entries it does not list, or missing ones, are
 * damage too). `onManifest` may refuse early (a schema newer than this controller); with
 * `extractTo`, entries are written below that folder under their archive path.
 */
export async function readBackup(file: string, o: { extractTo?: string; onManifest?: (m: BackupManifest) => void } = {}): Promise<BackupManifest> {
  let manifest: BackupManifest | undefined;
  const seen = new Set<string>();
  const src = createReadStream(file).pipe(createGunzip());
  const failed = new Promise<never>((_, reject) => {
    const fail = (err: Error) => reject((err as NodeJS.ErrnoException).code === 'ENOENT' ? new OpsError('OPS_ERR_CTL_BACKUP', `backup ${file} not found`) : damaged(`${file}: ${errorLine(err)}`));
    src.once('error', fail);
  });
  failed.catch(() => undefined);
  const read = readTar(
    src as AsyncIterable<Buffer>,
    async (e) => {
      if (!manifest) {
        if (e.name !== MANIFEST_NAME) throw damaged(`${file}: the first entry is ${e.name}, not ${MANIFEST_NAME}: not a controller backup`);
        const parts: Buffer[] = [];
        return {
          data: (c) => void parts.push(Buffer.from(c)),
          end: () => {
            let m: BackupManifest;
            try {
              m = JSON.parse(Buffer.concat(parts).toString('utf8')) as BackupManifest;
            } catch (err) {
              throw damaged(`${file}: ${MANIFEST_NAME} is not JSON (${errorLine(err)})`);
            }
            if (m.format !== BACKUP_FORMAT || !Array.isArray(m.files)) throw damaged(`${file}: ${MANIFEST_NAME} is not a ${BACKUP_FORMAT} manifest`);
            manifest = m;
            o.onManifest?.(m);
          },
        };
      }
      const want = manifest.files.find((f) => f.path === e.name);
      if (!want) throw damaged(`${file}: entry ${e.name} is not in the manifest`);
      if (seen.has(e.name)) throw damaged(`${file}: entry ${e.name} appears twice`);
      if (want.size !== e.size) throw damaged(`${file}: ${e.name} is ${e.size} bytes, the manifest says ${want.size}`);
      if (e.name.split('/').some((p) => p === '..' || p === '') || e.name.startsWith('/')) throw damaged(`${file}: unsafe entry name ${e.name}`);
      seen.add(e.name);
      const h = createHash('sha256');
      let fh: FileHandle | undefined;
      if (o.extractTo) {
        const dest = join(o.extractTo, e.name);
        await mkdir(dirname(dest), { recursive: true });
        fh = await open(dest, 'w', 0o600);
      }
      return {
        data: async (c) => {
          h.update(c);
          if (fh) await fh.write(c);
        },
        end: async () => {
          if (fh) await fh.close();
          const got = h.digest('hex');
          if (got !== want.sha256) throw damaged(`${file}: ${e.name} has sha256 ${got.slice(0, 12)}…, the manifest says ${want.sha256.slice(0, 12)}…`);
        },
      };
    },
    file,
  );
  try {
    await Promise.race([read, failed]);
  } finally {
    src.destroy();
  }
  if (!manifest) throw damaged(`${file}: no ${MANIFEST_NAME}`);
  const missing = manifest.files.filter((f) => !seen.has(f.path)).map((f) => f.path);
  if (missing.length) throw damaged(`${file}: missing from the archive: ${missing.join(', ')}`);
  return manifest;
}

export interface DatabaseCheck {
  integrity: string;
  counts: Record<string, number>;
  audit: { ok: boolean; rows: number; reason?: string };
  problems: string[];
}

/**
 * Checks an extracted snapshot against its manifest: SQLite's full integrity_check, the row
 * count of every table, the audit chain (every row's hash links to the one before) and its
 * head, which must be the head the manifest recorded.
 */
export function checkDatabase(dbFile: string, m: BackupManifest): DatabaseCheck {
  const problems: string[] = [];
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  let integrity: string;
  let audit: DatabaseCheck['audit'];
  try {
    const rows = db.pragma('integrity_check') as Array<{ integrity_check: string }>;
    integrity = rows.map((r) => r.integrity_check).join('; ');
    if (integrity !== 'ok') problems.push(`database integrity_check: ${integrity}`);
    const hasAudit = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_log'").get() !== undefined;
    if (hasAudit) {
      const v = new AuditLog(db).verify();
      audit = v.ok ? { ok: true, rows: v.rows } : { ok: false, rows: v.rows, reason: `row ${v.badRow}: ${v.reason}` };
      if (!v.ok) problems.push(`audit chain broken at row ${v.badRow}: ${v.reason}`);
    } else audit = { ok: true, rows: 0 };
  } finally {
    db.close();
  }
  const d = describeDatabase(dbFile);
  if (d.schemaVersion !== m.schema_version) problems.push(`schema version ${d.schemaVersion}, the manifest says ${m.schema_version}`);
  for (const [t, n] of Object.entries(m.counts)) if (d.counts[t] !== n) problems.push(`table ${t}: ${d.counts[t] ?? 'missing'} rows, the manifest says ${n}`);
  if ((d.audit?.hash ?? null) !== (m.audit?.hash ?? null) || (d.audit?.rows ?? 0) !== (m.audit?.rows ?? 0)) problems.push(`audit head ${d.audit ? `${d.audit.rows}/${d.audit.hash.slice(0, 12)}…` : 'none'}, the manifest says ${m.audit ? `${m.audit.rows}/${m.audit.hash.slice(0, 12)}…` : 'none'}`);
  return { integrity, counts: d.counts, audit, problems };
}
