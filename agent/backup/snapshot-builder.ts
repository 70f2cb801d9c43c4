import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeArchive } from './archive-writer.js';
import type { LocalState } from './local-state.js';
import { writeManifestFile } from './manifest-file.js';
import { collectChanges, Excluder, walk } from './scan.js';
import { archiveName, MANIFEST_FORMAT, type Manifest, type ManifestEntry } from './types.js';

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
  skipped: Array<{ path: string; error: string }>;
}

/**
 * Builds one snapshot into the staging folder: decides what changed, writes the archive and the
 * manifest file, and stages the index update in the state db (committed by the caller only
 * after the upload). Returns null when nothing changed. Runs in-process for a few watched paths
 * and in a worker thread for whole-tree work, whose garbage then never lands in the agent's heap.
 */
export async function buildSnapshot(input: BuildInput, state: LocalState, signal?: AbortSignal): Promise<BuildResult | null> {
  const ex = new Excluder(input.roots, input.exclude);
  const skipped: BuildResult['skipped'] = [];
  const onError = (path: string, err: Error) => {
    if (skipped.length < 50) skipped.push({ path, error: err.message });
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
  if (input.mode !== 'full') deleted = [...deleted, ...ar.vanished].sort();
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
  };
}
