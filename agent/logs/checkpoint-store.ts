import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../shared/logger.js';
import type { StatefulSink, StatePut } from '../events/sink.js';
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
  /**
   * The checkpoints were lost (garbled legacy file, outbox reset): files found at the first scan
   * are read from their end, so nothing is counted twice (lines written while the agent was
   * down may be missed; that is warned about).
   */
  uncertain?: boolean;
  files: FileCheckpoint[];
  /** Files read to the end and closed; kept to recognize them if they show up again. */
  retired: FileCheckpoint[];
  /** Level counts not shipped yet: they persist with the offsets so a restart neither loses nor repeats them. */
  pending: PendingStats[];
  flushSeq: number;
}

/** The small part of a source's state that changes with every commit. */
export interface SourceMeta {
  initialized: boolean;
  uncertain?: boolean;
  pending: PendingStats[];
  flushSeq: number;
}

interface LegacyFile {
  version: 1;
  sources: Record<string, SourceState>;
}

const MARKER_SCOPE = 'logs';
const MARKER_KEY = 'checkpoints';
/** Written beside the legacy file once checkpoints live in the outbox: a later outbox without them was reset. */
const MARKER_FILE = 'CHECKPOINTS-IN-OUTBOX';

/** The state scope of one source in the outbox's component_state table. */
export function sourceScope(source: string): string {
  return `logs/${source}`;
}

/** Rows of one changed file checkpoint (live or retired) and of the source meta. */
export const rows = {
  file: (source: string, cp: FileCheckpoint): StatePut => ({ scope: sourceScope(source), key: `f:${cp.key}`, value: JSON.stringify(cp) }),
  fileGone: (source: string, key: string): StatePut => ({ scope: sourceScope(source), key: `f:${key}`, value: null }),
  retired: (source: string, cp: FileCheckpoint): StatePut => ({ scope: sourceScope(source), key: `r:${cp.key}`, value: JSON.stringify(cp) }),
  retiredGone: (source: string, key: string): StatePut => ({ scope: sourceScope(source), key: `r:${key}`, value: null }),
  meta: (source: string, m: SourceMeta): StatePut => ({ scope: sourceScope(source), key: 'meta', value: JSON.stringify(m) }),
};

/**
 * Log checkpoints in the agent outbox's SQLite (`component_state`, one scope per source: a
 * `meta` row with the pending level counts and flush number, one row per file and per retired
 * file). Offsets and pending counts are written in the same transaction as the events they
 * produced (LogCollector passes the rows to `appendMany`), so after a kill -9 the checkpoints
 * describe exactly what is in the outbox: no re-counted lines, no re-used stats flush number.
 *
 * Earlier versions kept `<state_dir>/logs/checkpoints.json`; it is imported once. A legacy file
 * that cannot be parsed is not "start over" (that counted every line twice): the sources are
 * marked uncertain and their existing files are read from their end.
 */
export class CheckpointStore {
  readonly legacyFile: string;
  private readonly states = new Map<string, SourceState>();

  constructor(
    private readonly sink: StatefulSink,
    stateDir: string,
    sources: readonly string[],
    private readonly log: Logger,
  ) {
    const dir = join(stateDir, 'logs');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.legacyFile = join(dir, 'checkpoints.json');
    const migrated = sink.readState(MARKER_SCOPE).some((r) => r.key === MARKER_KEY);
    if (!migrated) this.migrate(dir, sources);
    else if (existsSync(this.legacyFile)) this.retireLegacy('.migrated'); // a crash between import and rename
    for (const s of sources) {
      const st = this.read(s);
      if (st) this.states.set(s, st);
    }
  }

  /** The state saved for a source, if any. */
  get(source: string): SourceState | undefined {
    return this.states.get(source);
  }

  /** Replaces the given sources' states entirely (one transaction). */
  save(states: Record<string, SourceState>): void {
    const puts: StatePut[] = [];
    for (const [name, st] of Object.entries(states)) puts.push(...fullRows(name, st));
    this.sink.writeState(puts, Object.keys(states).map(sourceScope));
  }

  private read(source: string): SourceState | undefined {
    const list = this.sink.readState(sourceScope(source));
    if (list.length === 0) return undefined;
    const st: SourceState = { initialized: true, files: [], retired: [], pending: [], flushSeq: 0 };
    const live = new Set<string>();
    let damaged = 0;
    for (const r of list) {
      try {
        const v = JSON.parse(r.value) as unknown;
        if (r.key === 'meta') Object.assign(st, v as SourceMeta);
        else if (r.key.startsWith('f:')) {
          st.files.push(v as FileCheckpoint);
          live.add(r.key.slice(2));
        } else if (r.key.startsWith('r:')) st.retired.push(v as FileCheckpoint);
      } catch {
        damaged++;
      }
    }
    // A file re-adopted from the retired list keeps one row of each until the next full save.
    st.retired = st.retired.filter((cp) => !live.has(cp.key)).sort((a, b) => a.seenMs - b.seenMs);
    if (damaged > 0) {
      this.log.warn({ source, damaged }, 'log checkpoint rows unreadable; existing files are read from their end');
      st.uncertain = true;
    }
    return st;
  }

  private migrate(dir: string, sources: readonly string[]): void {
    const marker = join(dir, MARKER_FILE);
    const puts: StatePut[] = [{ scope: MARKER_SCOPE, key: MARKER_KEY, value: JSON.stringify({ since: new Date().toISOString() }) }];
    let retireAs: string | undefined;
    let uncertain: string | undefined;
    if (existsSync(this.legacyFile)) {
      try {
        const parsed = JSON.parse(readFileSync(this.legacyFile, 'utf8')) as LegacyFile;
        if (!parsed || parsed.version !== 1 || typeof parsed.sources !== 'object' || parsed.sources === null) throw new Error('unknown checkpoint file version');
        for (const [name, st] of Object.entries(parsed.sources)) puts.push(...fullRows(name, st));
        retireAs = '.migrated';
        this.log.info({ file: this.legacyFile, sources: Object.keys(parsed.sources).length }, 'log checkpoints moved into the outbox');
      } catch (err) {
        uncertain = `${this.legacyFile} unreadable: ${(err as Error).message}`;
        retireAs = '.corrupt';
      }
    } else if (existsSync(marker)) {
      uncertain = 'the outbox was reset (its log checkpoints are gone)';
    }
    if (uncertain) {
      for (const s of sources) puts.push(rows.meta(s, { initialized: true, uncertain: true, pending: [], flushSeq: 0 }));
      this.log.warn({ reason: uncertain, sources }, 'log checkpoints lost; existing files are read from their end so no line is counted twice (lines written while the agent was stopped may be missed)');
    }
    this.sink.writeState(puts, uncertain ? sources.map(sourceScope) : []);
    writeFileAtomic(marker, 'Log checkpoints live in ../outbox.db (table component_state) since this file was written.\n');
    if (retireAs) this.retireLegacy(retireAs);
  }

  private retireLegacy(suffix: string): void {
    try {
      renameSync(this.legacyFile, this.legacyFile + suffix);
    } catch (err) {
      this.log.warn({ err, file: this.legacyFile }, 'cannot rename the old log checkpoint file');
    }
  }
}

function fullRows(source: string, st: SourceState): StatePut[] {
  const out: StatePut[] = [rows.meta(source, { initialized: st.initialized, ...(st.uncertain ? { uncertain: true } : {}), pending: st.pending ?? [], flushSeq: st.flushSeq ?? 0 })];
  for (const cp of st.files ?? []) out.push(rows.file(source, cp));
  for (const cp of st.retired ?? []) out.push(rows.retired(source, cp));
  return out;
}
