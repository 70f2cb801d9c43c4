import { OpsError } from '../../shared/errors.js';
import { MANIFEST_FORMAT, manifestName, type BackupTarget, type Manifest } from './types.js';

async function readAll(s: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c);
  return Buffer.concat(chunks);
}

/** Reads and shape-checks one manifest (the commit marker of a snapshot). */
export async function readManifest(target: BackupTarget, id: string): Promise<Manifest> {
  const text = (await readAll((await target.get(manifestName(id))) as AsyncIterable<Buffer>)).toString('utf8');
  let m: Manifest;
  try {
    m = JSON.parse(text) as Manifest;
  } catch (err) {
    throw new OpsError('OPS_ERR_BACKUP_MANIFEST', `${target.where}: manifest ${id} is not JSON: ${(err as Error).message}`);
  }
  if (m?.format !== MANIFEST_FORMAT || m.id !== id || !Array.isArray(m.entries) || !Array.isArray(m.deleted) || !m.archive || typeof m.archive.sha256 !== 'string') {
    throw new OpsError('OPS_ERR_BACKUP_MANIFEST', `${target.where}: manifest ${id} is not an ${MANIFEST_FORMAT} manifest`);
  }
  return m;
}

/** Every committed snapshot (those with a manifest), oldest first. */
export async function listSnapshots(target: BackupTarget): Promise<Manifest[]> {
  const names = await target.list('snapshots/');
  const ids = names.map((n) => /^snapshots\/([^/]+)\.json$/.exec(n)?.[1]).filter((x): x is string => !!x);
  const out: Manifest[] = [];
  for (const id of ids) out.push(await readManifest(target, id));
  return out.sort((a, b) => a.time_ms - b.time_ms || (a.id < b.id ? -1 : 1));
}

/** The chain that rebuilds `m`: its full first, then each incremental up to `m`. */
export function chainOf(m: Manifest, byId: ReadonlyMap<string, Manifest>): Manifest[] {
  const chain = [m];
  let cur = m;
  while (cur.type !== 'full') {
    const p = cur.parent ? byId.get(cur.parent) : undefined;
    if (!p) throw new OpsError('OPS_ERR_BACKUP_CHAIN', `snapshot ${cur.id} needs parent ${cur.parent ?? '(none)'}, which is not on the target`);
    if (chain.length > 100_000) throw new OpsError('OPS_ERR_BACKUP_CHAIN', `snapshot chain of ${m.id} loops`);
    chain.push(p);
    cur = p;
  }
  return chain.reverse();
}
