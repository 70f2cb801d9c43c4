import { createHash } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import { errorLine } from '../../shared/errors.js';
import { chainOf, listSnapshots } from './catalog.js';
import { safeRelPath } from './safe-path.js';
import { TarReader } from './tar.js';
import { archiveName, type BackupTarget, type Manifest } from './types.js';

export interface VerifyProblem {
  snapshot: string;
  problem: string;
}

export interface VerifyResult {
  snapshots: number;
  archivesRead: number;
  filesChecked: number;
  problems: VerifyProblem[];
}

/**
 * Checks a set on its target: every manifest parses and has safe paths, its chain is complete,
 * its archive exists; with `readData` every archive is downloaded and checked against its
 * sha256, and every file in it against the manifest's sha256.
 */
export async function verifySet(target: BackupTarget, o: { readData?: boolean } = {}): Promise<VerifyResult> {
  const all = await listSnapshots(target);
  const byId = new Map(all.map((m) => [m.id, m]));
  const names = new Set(await target.list('snapshots/'));
  const res: VerifyResult = { snapshots: all.length, archivesRead: 0, filesChecked: 0, problems: [] };
  for (const m of all) {
    const add = (problem: string) => res.problems.push({ snapshot: m.id, problem });
    try {
      chainOf(m, byId);
    } catch (err) {
      add(errorLine(err));
    }
    try {
      for (const e of m.entries) safeRelPath(e.path, `manifest ${m.id}`);
      for (const d of m.deleted) safeRelPath(d, `manifest ${m.id}`);
    } catch (err) {
      add(errorLine(err));
    }
    if (!names.has(archiveName(m.id))) {
      add(`archive ${archiveName(m.id)} is missing`);
      continue;
    }
    if (o.readData) {
      try {
        res.filesChecked += await readArchive(target, m, add);
        res.archivesRead++;
      } catch (err) {
        // gunzip and tar errors do not say which object they read: name it for the operator.
        add(`archive ${archiveName(m.id)}: ${errorLine(err)}`);
      }
    }
  }
  return res;
}

async function readArchive(target: BackupTarget, m: Manifest, add: (p: string) => void): Promise<number> {
  const want = new Map(m.entries.filter((e) => e.type === 'file').map((e) => [e.path, e.sha256]));
  const last = new Map<string, string>();
  const reader = new TarReader(async (h) => {
    // A hard link has the content of the member it links to (always earlier in the archive).
    if (h.type === 'link') {
      const target = last.get(h.linkname ?? '');
      if (target !== undefined) last.set(h.path, target);
      return null;
    }
    if (h.type !== 'file') return null;
    const hash = createHash('sha256');
    return {
      write: (c) => void hash.update(c),
      end: async () => void last.set(h.path, hash.digest('hex')),
    };
  });
  const archiveHash = createHash('sha256');
  const s = await target.get(archiveName(m.id));
  const gunzip = createGunzip();
  s.on('data', (c: Buffer) => archiveHash.update(c));
  s.on('error', (err) => gunzip.destroy(err));
  s.pipe(gunzip);
  for await (const c of gunzip as AsyncIterable<Buffer>) await reader.push(c);
  await reader.end();
  const sha = archiveHash.digest('hex');
  if (sha !== m.archive.sha256) add(`archive ${archiveName(m.id)} has sha256 ${sha.slice(0, 12)}…, its manifest says ${m.archive.sha256.slice(0, 12)}…`);
  for (const [p, s256] of want) {
    const got = last.get(p);
    if (got === undefined) add(`${p} is listed in the manifest but not in the archive`);
    else if (got !== s256) add(`${p}: content sha256 ${got.slice(0, 12)}… does not match the manifest`);
  }
  return want.size;
}
