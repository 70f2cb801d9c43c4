import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../state/state-dir.js';

/** What identifies a file and how far it has been read, durably. */
export interface FileCheckpoint {
  /** Stable id of the file's content stream, kept across renames and restarts (dedupe key of its lines). */
  key: string;
  /** Hash of the first fpLen bytes (sha1 hex); fpLen grows up to fingerprint_bytes as the file grows. */
  fp: string;
  fpLen: number;
  dev: number;
  ino: number;
  path: string;
  /** Bytes before this offset are in the outbox (or were deliberately skipped). */
  offset: number;
  /** The line at `offset` is the tail of a truncated over-long line: skip to the next newline. */
  skipping?: boolean;
  /** When the file was last seen (ms), for pruning retired entries. */
  seenMs: number;
}

export interface PendingStats {
  minuteMs: number;
  levels: Record<string, number>;
  lines: number;
  unparsed: number;
  truncated: number;
}

export interface SourceState {
  /** The source ran before: files it does not know appeared since, so they are read from their start. */
  initialized: boolean;
  files: FileCheckpoint[];
  /** Files read to the end and closed; kept to recognize them if they show up again. */
  retired: FileCheckpoint[];
  /** Level counts not shipped yet: they persist with the offsets so a restart neither loses nor repeats them. */
  pending: PendingStats[];
  flushSeq: number;
}

interface StoreFile {
  version: 1;
  sources: Record<string, SourceState>;
}

/**
 * Log checkpoints in `<state_dir>/logs/checkpoints.json`, written crash-safely (temp file,
 * fsync, rename) after the lines they cover are durable in the outbox.
 */
export class CheckpointStore {
  readonly file: string;
  private data: StoreFile = { version: 1, sources: {} };
  /** Set when the file existed but could not be parsed (it is then replaced on the next save). */
  loadError: string | undefined;

  constructor(stateDir: string) {
    const dir = join(stateDir, 'logs');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.file = join(dir, 'checkpoints.json');
    try {
      const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as StoreFile;
      if (parsed && parsed.version === 1 && typeof parsed.sources === 'object') this.data = parsed;
      else this.loadError = 'unknown checkpoint file version';
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.loadError = (err as Error).message;
    }
  }

  get(source: string): SourceState | undefined {
    return this.data.sources[source];
  }

  /** Replaces the given sources' states and writes the file atomically. */
  save(states: Record<string, SourceState>): void {
    Object.assign(this.data.sources, states);
    writeFileAtomic(this.file, JSON.stringify(this.data));
  }
}
