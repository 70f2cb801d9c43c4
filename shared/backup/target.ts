import type { Readable } from 'node:stream';

export type PutSource = { file: string } | { data: Buffer };

/**
 * Where snapshots go. Names are relative to the set's prefix (`snapshots/<id>.json`). `put`
 * writes under a temporary name, verifies the stored bytes against `sha256`, and only then
 * gives the object its final name, so a reader never sees a partial object.
 */
export interface BackupTarget {
  readonly type: string;
  /** Human description without secrets, for logs and errors. */
  readonly where: string;
  put(name: string, src: PutSource, sha256: string, signal?: AbortSignal): Promise<void>;
  get(name: string): Promise<Readable>;
  /** Names (relative to the prefix) of the objects directly under `dir` (e.g. "snapshots/"). */
  list(dir: string): Promise<string[]>;
  /** Removes an object; a missing object is not an error. */
  remove(name: string): Promise<void>;
  close(): Promise<void>;
}
