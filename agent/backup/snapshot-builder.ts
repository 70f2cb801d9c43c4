import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeArchive } from './archive-writer.js';
import type { LocalState } from './local-state.js';
import { writeManifestFile } from './manifest-file.js';
import { collectChanges, Excluder, toArchivePath, walk } from './scan.js';
import { archiveName, MANIFEST_FORMAT, SKIPPED_LISTED, type Manifest, type ManifestEntry } from './types.js';

/** Everything a snapshot build needs; plain data so it can cross into a worker thread. */
export interface BuildInput {
  /** full: archive the whole tree; all: compare the whole tree with the index; paths: compare only `paths`. */
  mode: 'full' | 'all' | 'paths';
  paths: string[];
  roots: string[];
  exclude: string[];
  stagingDir: string;
  id: string;
  parent: string | null;
  host: string;
  set: string;
  timeMs: number;
  level: number;
  /** Manifests with more entries than this come back without their entries (they are on disk). */
  inlineMax: number;
}

export interface BuildResult {
  manifest: Manifest;
  /** False when `manifest.entries`/`deleted` were left out (large); the manifest file has them. */
  inline: boolean;
  entries: number;
  deleted: number;
  archiveFile: string;
  manifestFile: string;
  manifestSha256: string;
  manifestSize: number;
  /** Paths left out because they could not be read (at most SKIPPED_LISTED) and how many in all. */
  skipped: Array<{ path: string; error: string }>;
  skippedTotal: number;
}

/** Something changed, but all of it was unreadable: no snapshot, only the report. */
export interface BuildNothing {
  nothing: true;
  skipped: Array<{ path: string; error: string }>;
  skippedTotal: number;
}

/**
 * Builds one snapshot into the staging folder: decides what changed, writes the archive and the
 * manifest file, and stages the index update in the state db (committed by the caller only
 * after the upload). Returns null when nothing changed. Runs in-process for a few watched paths
 * and in a worker thread for whole-tree work, whose garbage then never lands in the agent's heap.
 */
export async function buildSnapshot(input: BuildInput, state: LocalState, signal?: AbortSignal): Promise<BuildResult | BuildNothing | null> {
  const ex = new Excluder(input.roots, input.exclude);
  const skipped: BuildResult['skipped'] = [];
  let skippedTotal = 0;
  const onError = (path: string, err: Error) => {
    skippedTotal++;
    if (skipped.length < SKIPPED_LISTED) skipped.push({ path: toArchivePath(path), error: err.message });
  };
  const started = Date.now();
  let entries: ManifestEntry[];
  let deleted: string[] = [];
  if (input.mode === 'full') {
    entries = [];
    for (const r of input.roots) for (const e of await walk(r, ex, onError)) entries.push(e);
    entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  } else {
    const ch = await collectChanges(state, input.roots, ex, input.mode === 'all' ? 'all' : input.paths, onError);
    entries = ch.changed;
    deleted = ch.deleted;
    if (entries.length === 0 && deleted.length === 0) return null;
  }
  await mkdir(input.stagingDir, { recursive: true, mode: 0o700 });
  const archiveFile = join(input.stagingDir, `${input.id}.tar.gz`);
  const ar = await writeArchive(archiveFile, entries, input.level, signal);
  for (const u of ar.unreadable) onError(`/${u.path}`, new Error(u.error));
  if (input.mode !== 'full') deleted = [...deleted, ...ar.vanished].sort();
  if (input.mode !== 'full' && ar.entries.length === 0 && deleted.length === 0) return { nothing: true, skipped, skippedTotal };
  let files = 0;
  for (const e of ar.entries) if (e.type === 'file') files++;
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    id: input.id,
    set: input.set,
    host: input.host,
    type: input.mode === 'full' ? 'full' : 'incremental',
    parent: input.mode === 'full' ? null : input.parent,
    time: new Date(input.timeMs).toISOString(),
    time_ms: input.timeMs,
    roots: [...input.roots],
    archive: { name: archiveName(input.id).slice('snapshots/'.length), size: ar.size, sha256: ar.sha256 },
    entries: ar.entries,
    deleted,
    files,
    bytes: ar.bytes,
    duration_ms: Date.now() - started,
    ...(skippedTotal ? { skipped, skipped_total: skippedTotal } : {}),
  };
  const manifestFile = join(input.stagingDir, `${input.id}.json`);
  const mf = await writeManifestFile(manifestFile, manifest);
  state.stage(input.id, ar.entries, deleted);
  const inline = ar.entries.length + deleted.length <= input.inlineMax;
  return {
    manifest: inline ? manifest : { ...manifest, entries: [], deleted: [] },
    inline,
    entries: ar.entries.length,
    deleted: deleted.length,
    archiveFile,
    manifestFile,
    manifestSha256: mf.sha256,
    manifestSize: mf.size,
    skipped,
    skippedTotal,
  };
}
