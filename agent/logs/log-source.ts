import { closeSync, fstatSync, openSync, statSync } from 'node:fs';
import type { LogSourceConfig } from '../../shared/config/logs.js';
import type { Logger } from '../../shared/logger.js';
import { createParser } from '../../shared/logs/parser.js';
import type { LineParser, LogRecord } from '../../shared/logs/record.js';
import { compileLogRegex } from '../../shared/logs/user-regex.js';
import type { SafeRegex } from '../../shared/regex.js';
import type { FileCheckpoint, SourceState } from './checkpoint-store.js';
import { FileDiscovery } from './file-discovery.js';
import { prefixHash } from './fingerprint.js';
import { findSibling } from './siblings.js';
import { LevelStats } from './level-stats.js';
import { MultilineJoiner, type JoinedRecord } from './multiline.js';
import { TailedFile } from './tailed-file.js';
import { WindowRule } from './window-rule.js';

/** One record read from a file, parsed, with the rules it matches (nothing is counted yet). */
export interface PolledRecord {
  file: TailedFile;
  rec: JoinedRecord;
  parsed: LogRecord | undefined;
  rules: WindowRule[];
}

export interface PollResult {
  records: PolledRecord[];
  /** Per file, the offset that becomes durable once the records are in the outbox. */
  commits: Map<TailedFile, number>;
  /** Files read to their end after rotation: closed and retired at commit. */
  drops: TailedFile[];
  /** The line or byte budget ran out: more may be waiting. */
  more?: boolean;
}

const MAX_RETIRED = 256;
const MAX_BYTES_PER_POLL = 16 << 20;

/**
 * One configured log source: finds its files, follows them through rename and copytruncate
 * rotation by fingerprint, reads complete lines, joins multiline records and parses them.
 * Counting (stats, rules) and checkpoint moves happen in commit(), after the outbox write.
 */
export class LogSource {
  readonly name: string;
  private readonly discovery: FileDiscovery;
  private readonly parser: LineParser;
  readonly rules: WindowRule[];
  readonly stats: LevelStats;
  /** Open files by "dev:ino". */
  private readonly files = new Map<string, TailedFile>();
  private readonly joiners = new Map<TailedFile, MultilineJoiner>();
  /** Checkpoints from the last run not yet matched to a file. */
  private orphans: FileCheckpoint[];
  private retired: FileCheckpoint[];
  private initialized: boolean;
  private firstScan = true;
  flushSeq: number;
  /**
   * A file got a new identity (new file, truncated file restarting, copy taking over). The
   * checkpoint must be written before lines read under it reach the outbox: after a kill -9 the
   * restart then re-reads them under the same key, and the controller drops the repeats.
   */
  identityChanged = false;
  private readonly reported = new Set<string>();
  private readonly copySeen = new Map<string, number>();
  private readonly startRe: SafeRegex | undefined;
  readonly counters = { lines: 0, parsed: 0, unparsed: 0, truncated: 0, rotations: 0, truncations: 0, openErrors: 0, filesOpen: 0 };
  private readonly log: Logger;

  constructor(
    readonly cfg: LogSourceConfig,
    state: SourceState | undefined,
    logger: Logger,
  ) {
    this.name = cfg.name;
    this.log = logger.child({ component: 'logs.source', source: cfg.name });
    this.discovery = new FileDiscovery(cfg.paths, cfg.exclude);
    const p = cfg.parser;
    this.parser = createParser(p.regex !== undefined ? { regex: p.regex } : p.preset !== undefined ? { preset: p.preset } : undefined, { timezone: p.timezone, ...(p.year ? { year: p.year } : {}) });
    this.rules = cfg.rules.map((r) => new WindowRule(r));
    this.stats = new LevelStats(state?.pending ?? []);
    this.orphans = state ? [...state.files] : [];
    this.retired = state ? [...state.retired] : [];
    this.initialized = state?.initialized ?? false;
    this.flushSeq = state?.flushSeq ?? 0;
    this.startRe = cfg.multiline ? compileLogRegex(cfg.multiline.start) : undefined;
  }

  private joinerFor(f: TailedFile): MultilineJoiner | undefined {
    if (!this.startRe || !this.cfg.multiline) return undefined;
    let j = this.joiners.get(f);
    if (!j) {
      j = new MultilineJoiner(this.startRe, this.cfg.multiline.max_lines, this.cfg.multiline.timeout, this.cfg.max_line_bytes);
      this.joiners.set(f, j);
    }
    return j;
  }

  private reportOnce(key: string, fields: Record<string, unknown>, msg: string): void {
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.log.warn(fields, msg);
  }

  /** Expands the globs: opens new files, notices files rotated away. */
  scan(nowMs: number): void {
    const { files: paths, errors } = this.discovery.scan();
    for (const e of errors) this.reportOnce(`list:${e.path}:${e.code}`, { path: e.path, code: e.code }, 'cannot list log path; skipped');
    const seen = new Set<string>();
    for (const path of paths) {
      let st;
      try {
        st = statSync(path);
      } catch {
        continue;
      }
      const k = `${st.dev}:${st.ino}`;
      seen.add(k);
      const known = this.files.get(k);
      if (known) {
        known.cp.path = path;
        continue;
      }
      const opened = this.openNew(path, nowMs);
      if (opened) seen.add(opened);
    }
    for (const [k, f] of this.files) {
      if (seen.has(k)) {
        if (f.rotatedAtMs !== undefined && !f.isCopy) f.rotatedAtMs = undefined;
      } else if (f.rotatedAtMs === undefined) {
        f.rotatedAtMs = nowMs;
        this.counters.rotations++;
        this.log.info({ path: f.cp.path }, 'log file rotated away; reading it to the end');
      }
    }
    if (this.firstScan) {
      this.recoverOrphans(nowMs);
      // Checkpoints that matched nothing had their chance: keep them (bounded) among the retired,
      // in case the file shows up again later, instead of carrying them forever.
      this.retired.push(...this.orphans);
      this.orphans = [];
      if (this.retired.length > MAX_RETIRED) this.retired.splice(0, this.retired.length - MAX_RETIRED);
      this.firstScan = false;
      this.initialized = true;
    }
  }

  /**
   * After a restart, a file that was rotated away (renamed to a name the globs do not match)
   * while the agent was down may still hold unread lines: find it beside its old path by inode
   * and head, and read it to the end.
   */
  private recoverOrphans(nowMs: number): void {
    for (const cp of [...this.orphans]) {
      const found = findSibling(cp.path, cp.fp, cp.fpLen, (st) => st.dev === cp.dev && st.ino === cp.ino && st.size >= cp.offset && !this.files.has(`${st.dev}:${st.ino}`), true);
      if (!found) continue;
      this.orphans.splice(this.orphans.indexOf(cp), 1);
      const f = new TailedFile({ ...cp, path: found.path, seenMs: nowMs }, found.fd, this.cfg.fingerprint_bytes, this.cfg.max_line_bytes);
      f.rotatedAtMs = nowMs;
      f.isCopy = true;
      this.files.set(`${found.st.dev}:${found.st.ino}`, f);
      this.log.info({ path: found.path, offset: cp.offset }, 'found a rotated log file from before the restart; reading it to the end');
    }
  }

  /** Starts following a file not followed yet; returns its "dev:ino" when it is followed now. */
  private openNew(path: string, nowMs: number): string | undefined {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      this.openFailed(path, err);
      return undefined;
    }
    try {
      const k = this.adopt(fd, path, nowMs);
      if (k === undefined) closeSync(fd);
      return k;
    } catch (err) {
      closeSync(fd);
      this.openFailed(path, err);
      return undefined;
    }
  }

  private openFailed(path: string, err: unknown): void {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    this.counters.openErrors++;
    this.reportOnce(`open:${path}:${code}`, { path, code }, 'cannot open log file; skipped');
  }

  /** Decides what an open file is: a known stream, a copy of a tailed file, or a new stream. */
  private adopt(fd: number, path: string, nowMs: number): string | undefined {
    // fstat, not stat: the path may have been replaced since the scan listed it.
    const st = fstatSync(fd);
    const k = `${st.dev}:${st.ino}`;
    const known = this.files.get(k);
    if (known) {
      known.cp.path = path;
      return undefined;
    }
    const N = this.cfg.fingerprint_bytes;
    const fullFp = st.size >= N ? prefixHash(fd, N) : undefined;
    const sameInode = (cp: FileCheckpoint) => cp.dev === st.dev && cp.ino === st.ino;
    const sameHead = (cp: FileCheckpoint) => cp.fpLen <= st.size && (cp.fpLen === N && fullFp ? fullFp === cp.fp : prefixHash(fd, cp.fpLen) === cp.fp);
    // (a) A checkpoint of the last run: same head, and for short heads the same inode too (a
    // full head on another inode is a copy made while the agent was down: copytruncate). A
    // retired file must also keep its inode: a new file merely starting with the same banner
    // must not inherit an old offset.
    const candidates: Array<[FileCheckpoint[], (cp: FileCheckpoint) => boolean]> = [
      [this.orphans, (cp) => (cp.fpLen === N || sameInode(cp)) && sameHead(cp)],
      [this.retired, (cp) => sameInode(cp) && sameHead(cp)],
    ];
    for (const [list, ok] of candidates) {
      const i = list.findIndex(ok);
      if (i >= 0) {
        const cp = list.splice(i, 1)[0]!;
        Object.assign(cp, { dev: st.dev, ino: st.ino, path, seenMs: nowMs });
        const f = new TailedFile(cp, fd, N, this.cfg.max_line_bytes);
        if (st.size < cp.offset) this.resetTruncated(f);
        this.files.set(k, f);
        return k;
      }
    }
    // (b) The same head as a file being tailed: a copy (copytruncate's, or a copy in progress).
    if (fullFp) {
      for (const twin of this.files.values()) {
        if (twin.cp.fpLen !== N || twin.cp.fp !== fullFp || twin.rotatedAtMs !== undefined) continue;
        if (this.isTruncated(twin)) {
          this.takeOverCopy(twin, fd, path, nowMs);
          return k;
        }
        const since = this.copySeen.get(path) ?? nowMs;
        this.copySeen.set(path, since);
        if (nowMs - since < this.cfg.rotate_wait) return undefined;
      }
    }
    this.copySeen.delete(path);
    // (c) A new stream.
    const fromEnd = this.firstScan && !this.initialized && this.cfg.start_at === 'end';
    const f = TailedFile.fresh(fd, path, st, fromEnd ? 'end' : 'start', N, this.cfg.max_line_bytes);
    f.cp.seenMs = nowMs;
    this.files.set(k, f);
    this.identityChanged = true;
    this.log.info({ path, offset: f.cp.offset }, 'tailing log file');
    return k;
  }

  private isTruncated(f: TailedFile): boolean {
    const st = f.stat();
    if (!st) return false;
    return st.size < f.readPos || (f.cp.fpLen > 0 && !f.headMatches());
  }

  /**
   * copytruncate: the tailed file was copied then emptied. The copy carries what was not read
   * yet, under the same key and offsets, so nothing is lost or repeated; the emptied file starts
   * over as a new stream.
   */
  private takeOverCopy(orig: TailedFile, fd: number, path: string, nowMs: number): void {
    const st = fstatSync(fd);
    const k = `${st.dev}:${st.ino}`;
    const cp: FileCheckpoint = { ...orig.cp, dev: st.dev, ino: st.ino, path, seenMs: nowMs };
    const copy = new TailedFile(cp, fd, this.cfg.fingerprint_bytes, this.cfg.max_line_bytes);
    copy.readPos = orig.readPos;
    copy.rotatedAtMs = nowMs;
    copy.isCopy = true;
    const j = this.joiners.get(orig);
    if (j) {
      this.joiners.delete(orig);
      this.joiners.set(copy, j);
    }
    this.files.set(k, copy);
    this.identityChanged = true;
    this.resetTruncated(orig);
    this.log.info({ path: orig.cp.path, copy: path }, 'log file truncated after copy; reading the rest from the copy');
  }

  private resetTruncated(f: TailedFile): void {
    f.resetAfterTruncate();
    this.identityChanged = true;
    this.joiners.get(f)?.reset();
    this.counters.truncations++;
  }

  /** A truncated file whose copy the scan has not found: look for it beside the file. */
  private handleTruncation(f: TailedFile, nowMs: number): void {
    const copy = findSibling(f.cp.path, f.cp.fp, f.cp.fpLen, (st) => !this.files.has(`${st.dev}:${st.ino}`) && st.size >= f.readPos);
    if (copy) {
      this.takeOverCopy(f, copy.fd, copy.path, nowMs);
      return;
    }
    this.log.warn({ path: f.cp.path, lostFrom: f.readPos }, 'log file truncated and no copy found; reading it from the start');
    this.resetTruncated(f);
  }

  /** Reads up to maxLines new records across the files. Nothing is counted or committed here. */
  poll(nowMs: number, maxLines: number): PollResult {
    const result: PollResult = { records: [], commits: new Map(), drops: [] };
    let budget = maxLines;
    // Bounds one round's memory whatever the line lengths (5000 lines of 64 KiB would be 320 MB).
    let byteBudget = MAX_BYTES_PER_POLL;
    for (const [k, f] of this.files) {
      if (budget <= 0 || byteBudget <= 0) break;
      let st;
      try {
        st = f.stat()!;
      } catch {
        this.files.delete(k);
        f.close();
        continue;
      }
      if (f.rotatedAtMs === undefined && st.nlink === 0) f.rotatedAtMs = nowMs;
      if (f.rotatedAtMs === undefined && this.isTruncated(f)) {
        this.handleTruncation(f, nowMs);
        st = f.stat()!;
      }
      f.refreshFingerprint(st.size);
      const j = this.joinerFor(f);
      const joined: JoinedRecord[] = [];
      const lines = f.read(st.size, budget, false, byteBudget);
      budget -= lines.length;
      for (const l of lines) byteBudget -= l.text.length;
      for (const l of lines) {
        if (j) j.push(l, nowMs, joined);
        else joined.push({ text: l.text, start: l.start, end: l.end, lines: 1, truncated: l.truncated });
      }
      let drop = false;
      if (f.rotatedAtMs !== undefined && f.readPos >= st.size) {
        f.eofSinceMs ??= nowMs;
        if (nowMs - f.eofSinceMs >= this.cfg.rotate_wait) {
          // The writer has moved on: take an unterminated last line as it is, then drop the file.
          for (const l of f.read(st.size, Infinity, true)) {
            if (j) j.push(l, nowMs, joined);
            else joined.push({ text: l.text, start: l.start, end: l.end, lines: 1, truncated: l.truncated });
          }
          j?.flushIfIdle(nowMs, joined, true);
          drop = true;
        }
      } else if (lines.length > 0) f.eofSinceMs = undefined;
      j?.flushIfIdle(nowMs, joined);
      for (const rec of joined) {
        const parsed = this.parser.parse(rec.text);
        result.records.push({ file: f, rec, parsed, rules: this.rules.filter((r) => r.matches(parsed, rec.text)) });
      }
      result.commits.set(f, j?.pendingStart() ?? f.readPos);
      if (drop) result.drops.push(f);
    }
    result.more = budget <= 0 || byteBudget <= 0;
    return result;
  }

  /** The poll's records are durable in the outbox: count them and move the checkpoints. */
  commit(result: PollResult, nowMs: number): void {
    for (const r of result.records) {
      this.counters.lines++;
      if (r.parsed) this.counters.parsed++;
      else this.counters.unparsed++;
      if (r.rec.truncated) this.counters.truncated++;
      this.stats.add(nowMs, r.parsed?.level, r.parsed !== undefined, r.rec.truncated);
      for (const rule of r.rules) rule.hit(nowMs, r.rec.text);
    }
    for (const [f, off] of result.commits) {
      f.commit(off);
      f.cp.seenMs = nowMs;
    }
    for (const f of result.drops) {
      f.close();
      this.joiners.delete(f);
      for (const [k, g] of this.files) if (g === f) this.files.delete(k);
      this.retired.push({ ...f.cp });
      if (this.retired.length > MAX_RETIRED) this.retired.splice(0, this.retired.length - MAX_RETIRED);
      this.log.info({ path: f.cp.path, offset: f.cp.offset }, 'rotated log file read to the end; closed');
    }
    this.counters.filesOpen = this.files.size;
  }

  /** The outbox write failed: forget what the poll read, it will be read again. */
  rewind(result: PollResult): void {
    for (const f of result.commits.keys()) {
      f.rewind();
      this.joiners.get(f)?.reset();
      f.eofSinceMs = undefined;
    }
  }

  /** Everything the checkpoint file keeps for this source. */
  state(): SourceState {
    return {
      initialized: this.initialized,
      files: [...[...this.files.values()].map((f) => ({ ...f.cp })), ...this.orphans],
      retired: this.retired,
      pending: this.stats.snapshot(),
      flushSeq: this.flushSeq,
    };
  }

  /** Emits pending multiline records regardless of their timeout (at stop). */
  flushAll(nowMs: number): PollResult {
    const result: PollResult = { records: [], commits: new Map(), drops: [] };
    for (const f of this.files.values()) {
      const j = this.joiners.get(f);
      if (!j) continue;
      const joined: JoinedRecord[] = [];
      j.flushIfIdle(nowMs, joined, true);
      for (const rec of joined) {
        const parsed = this.parser.parse(rec.text);
        result.records.push({ file: f, rec, parsed, rules: this.rules.filter((r) => r.matches(parsed, rec.text)) });
      }
      result.commits.set(f, f.readPos);
    }
    return result;
  }

  close(): void {
    for (const f of this.files.values()) f.close();
    this.files.clear();
  }
}
