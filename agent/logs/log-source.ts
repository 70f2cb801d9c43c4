import { closeSync, fstatSync, lstatSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { LogSourceConfig } from '../../shared/config/logs.js';
import type { Logger } from '../../shared/logger.js';
import type { SafeRegex } from '../../shared/regex.js';
import { createParser } from '../../shared/logs/parser.js';
import { fastScannerFor, type FastScanner, type ScanResult } from '../../shared/logs/fast-scan.js';
import { LEVELS, type Level } from '../../shared/logs/levels.js';
import { createAutoParser, levelFromMessageHead, type AutoParser } from '../../shared/logs/presets/auto.js';
import type { LineParser, LogRecord, ParserOptions } from '../../shared/logs/record.js';
import { compileLogRegex } from '../../shared/logs/user-regex.js';
import type { StatePut } from '../events/sink.js';
import { rows, type FileCheckpoint, type SourceState } from './checkpoint-store.js';
import { FileDiscovery } from './file-discovery.js';
import { prefixHash } from './fingerprint.js';
import { openRegularFile } from './safe-open.js';
import { COMPRESSED, findSibling } from './siblings.js';
import { LevelStats } from './level-stats.js';
import { MultilineJoiner, type JoinedRecord } from './multiline.js';
import { TailedFile, type LineVisitor } from './tailed-file.js';
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
  /** Lines counted without a record (poll's countOnly): all parsed and whole, by level index (LEVELS, then no level). */
  counted?: number[];
}

const MAX_RETIRED = 256;
/** The matched rules of every record of a source without rules: one frozen array, not a filter per line. */
const NO_RULES: WindowRule[] = Object.freeze([]) as unknown as WindowRule[];
const BIRTH_SLACK_MS = 20;
const MAX_BYTES_PER_POLL = 16 << 20;
/** The slot of lines without a level in PollResult.counted. */
const NONE = LEVELS.length;

/**
 * One configured log source: finds its files, follows them through rename and copytruncate
 * rotation by fingerprint, reads complete lines, joins multiline records and parses them.
 * Counting (stats, rules) and checkpoint moves happen in commit(), after the outbox write.
 */
export class LogSource {
  readonly name: string;
  private readonly discovery: FileDiscovery;
  private readonly parser: LineParser;
  private readonly parserOpts: ParserOptions;
  /** No preset or regex: each file gets its own auto parser, which detects that file's format. */
  private readonly auto: boolean;
  private readonly autoParsers = new WeakMap<TailedFile, { parser: AutoParser; logged: string | undefined; fast?: FastScanner | undefined; fastFormat?: string }>();
  /** The configured preset's byte scanner, if it has one (fast-scan.ts). */
  private readonly presetFast: FastScanner | undefined;
  /**
   * Per level index (LEVELS, then no level): 1 where a rule watches that level. Undefined when
   * every line is needed as a record anyway (every line shipped, or a rule without a level).
   */
  private readonly ruleLevels: Uint8Array | undefined;
  private readonly scanned: ScanResult = { level: -1, ts: NaN, ms: 0, me: 0 };
  /** Bytes of line text the last visitor was handed (the poll's byte budget). */
  private visitedBytes = 0;
  readonly rules: WindowRule[];
  readonly stats: LevelStats;
  /** Open files by "dev:ino". */
  private readonly files = new Map<string, TailedFile>();
  private readonly joiners = new Map<TailedFile, MultilineJoiner>();
  /** Checkpoints from the last run not yet matched to a file. */
  private orphans: FileCheckpoint[];
  private retired: FileCheckpoint[];
  private initialized: boolean;
  /** The checkpoints were lost: the first scan reads the files it finds from their end. */
  private uncertain: boolean;
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
  /**
   * lateRotations: rotated files found by a folder event that were never opened at their live
   * name (they lived less than scan_interval there); missedFiles: rotated files deleted before
   * the agent could open them (their lines are lost); undrained: rotated files still holding
   * unread bytes when the source stopped, and those bytes (they may be gone by the next start).
   */
  readonly counters = { lines: 0, parsed: 0, unparsed: 0, truncated: 0, rotations: 0, truncations: 0, openErrors: 0, filesOpen: 0, lateRotations: 0, missedFiles: 0, undrainedFiles: 0, undrainedBytes: 0, shrinksSeen: 0 };
  /** When this source first scanned: a rotated file born later that it does not know was missed. */
  private startedMs: number | undefined;
  /** Paths the globs matched since the start (bounded): rotated siblings are named after them. */
  private readonly liveNames = new Set<string>();
  /** Inodes of rotated siblings present at the first scan (bounded by what the folders held then). */
  private readonly preexisting = new Set<string>();
  /** Rotated names this source has seen exist (bounded): their disappearance is no loss. */
  private readonly siblingNames = new Set<string>();
  private lastMissWarnMs = 0;
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
    this.parserOpts = { timezone: p.timezone, ...(p.year ? { year: p.year } : {}) };
    this.auto = p.regex === undefined && p.preset === undefined;
    this.parser = createParser(p.regex !== undefined ? { regex: p.regex } : p.preset !== undefined ? { preset: p.preset } : undefined, this.parserOpts);
    this.rules = cfg.rules.map((r) => new WindowRule(r));
    this.presetFast = p.regex === undefined && p.preset !== undefined ? fastScannerFor(p.preset, this.parserOpts, false, false) : undefined;
    if (cfg.ship_lines !== true && cfg.rules.every((r) => r.level !== undefined)) {
      this.ruleLevels = new Uint8Array(NONE + 1);
      for (const r of cfg.rules) for (const l of Array.isArray(r.level) ? r.level : [r.level]) this.ruleLevels[LEVELS.indexOf(l as Level)] = 1;
    }
    this.stats = new LevelStats(state?.pending ?? []);
    this.orphans = state ? [...state.files] : [];
    this.retired = state ? [...state.retired] : [];
    this.initialized = state?.initialized ?? false;
    this.uncertain = state?.uncertain ?? false;
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

  /**
   * Parses a record of file `f`. With auto, per file: a rotated-in file may be another program's
   * log. The format chosen is logged when first decided and whenever it changes (auto looks at
   * the file again after a run of lines its format misses), so "why are my levels NONE" can be
   * answered from the agent's log.
   */
  private parse(f: TailedFile, text: string): LogRecord | undefined {
    if (!this.auto) return this.parser.parse(text);
    let a = this.autoParsers.get(f);
    if (!a) this.autoParsers.set(f, (a = { parser: createAutoParser(this.parserOpts), logged: undefined }));
    const rec = a.parser.parse(text);
    const format = a.parser.decided;
    if (format !== undefined && format !== a.logged) {
      if (a.logged === undefined) this.log.info({ path: f.cp.path, format }, 'log format detected');
      else this.log.info({ path: f.cp.path, format, previous: a.logged }, 'log format changed');
      a.logged = format;
    }
    return rec;
  }

  /** Expands the globs: opens new files, notices files rotated away. */
  scan(nowMs: number): void {
    this.startedMs ??= Date.now();
    const { files: paths, errors } = this.discovery.scan();
    for (const e of errors) this.reportOnce(`list:${e.path}:${e.code}`, { path: e.path, code: e.code }, 'cannot list log path; skipped');
    const seen = new Set<string>();
    // Cumulative: a scan that runs while the writer is between its rename and its create must not
    // forget the live name (the rotated siblings' events would be ignored). Bounded.
    if (this.liveNames.size > 4 * paths.length + 1024) this.liveNames.clear();
    for (const path of paths) {
      this.liveNames.add(path);
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
      this.notePreexisting();
      this.recoverOrphans(nowMs);
      // Checkpoints that matched nothing had their chance: keep them (bounded) among the retired,
      // in case the file shows up again later, instead of carrying them forever.
      this.retired.push(...this.orphans);
      this.orphans = [];
      if (this.retired.length > MAX_RETIRED) this.retired.splice(0, this.retired.length - MAX_RETIRED);
      this.firstScan = false;
      this.initialized = true;
      this.uncertain = false;
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

  /**
   * Rotated siblings already there at the first scan are history (logrotate renames them on
   * every run): never taken for files that were missed.
   */
  private notePreexisting(): void {
    const dirs = new Set([...this.liveNames].map((p) => dirname(p)));
    for (const dir of dirs) {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      for (const name of names) {
        if (!this.isSiblingName(dir, name)) continue;
        try {
          const st = lstatSync(join(dir, name));
          this.preexisting.add(`${st.dev}:${st.ino}:${st.birthtimeMs}`);
          this.rememberName(name);
        } catch {
          // gone
        }
      }
    }
  }

  private isSiblingName(dir: string, base: string): boolean {
    return !COMPRESSED.test(base) && [...this.liveNames].some((p) => dirname(p) === dir && base !== basename(p) && base.startsWith(basename(p)));
  }

  /** Folders whose events matter: where new files can appear, and where followed files live. */
  watchDirs(): string[] {
    const dirs = new Set(this.discovery.baseDirs());
    for (const f of this.files.values()) if (f.rotatedAtMs === undefined) dirs.add(dirname(f.cp.path));
    return [...dirs];
  }

  /**
   * A folder event (inotify): records the size of the followed file it names (a truncation is
   * seen when it happens, not only at the next poll) and asks for a poll (`urgent` when the file
   * shrank: the rewrite may follow at once); for a name change, says whether a scan is needed
   * (a file appeared at a matched path) or a rotated file nobody opened was adopted.
   */
  onFsEvent(dir: string, name: string | null, type: 'rename' | 'change', nowMs: number): { scan?: boolean; poll?: boolean; urgent?: boolean } {
    if (name === null) return { scan: true };
    const path = join(dir, name);
    const out: { scan?: boolean; poll?: boolean; urgent?: boolean } = {};
    for (const f of this.files.values()) {
      if (f.cp.path !== path) continue;
      out.poll = true;
      try {
        const st = f.stat();
        if (st && f.noteSize(st.size)) {
          this.counters.shrinksSeen++;
          out.urgent = true;
        }
      } catch {
        // closed meanwhile: the poll notices
      }
    }
    if (type !== 'rename') return out;
    if (this.discovery.matches(path)) out.scan = out.urgent = true;
    else if (this.adoptLateRotated(path, nowMs)) out.poll = out.urgent = true;
    return out;
  }

  /**
   * A name beside a live file (app.log → app.log.1) appeared. When it is a file this source never
   * opened and that was born after the source started, it lived at the live name for less than
   * a scan: read it to its end through the descriptor (it may be deleted soon). Old rotated
   * files renamed by logrotate (born before, or retired), and copytruncate copies (the head of
   * a live file, or a live file caught truncated), are left alone.
   */
  private adoptLateRotated(path: string, nowMs: number): boolean {
    const dir = dirname(path);
    const base = basename(path);
    if (!this.isSiblingName(dir, base)) return false;
    const live = [...this.files.values()].filter((f) => f.rotatedAtMs === undefined && dirname(f.cp.path) === dir);
    let o;
    try {
      o = openRegularFile(path, false);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') this.siblingGone(path);
      return false;
    }
    if ('skip' in o) return false;
    this.rememberName(base);
    const { fd, st } = o;
    const known = this.files.get(`${st.dev}:${st.ino}`);
    const skip = (): false => {
      closeSync(fd);
      return false;
    };
    if (known) {
      // Our followed file, renamed beside its live name: rotated away (it is read to its end).
      known.cp.path = path;
      if (known.rotatedAtMs === undefined) {
        known.rotatedAtMs = nowMs;
        this.counters.rotations++;
      }
      return skip();
    }
    // Inode numbers of deleted files are reused at once: an inode match alone proves nothing.
    if (this.preexisting.has(`${st.dev}:${st.ino}:${st.birthtimeMs}`)) return skip();
    if (this.retired.some((cp) => cp.dev === st.dev && cp.ino === st.ino && cp.fpLen <= st.size && prefixHash(fd, cp.fpLen) === cp.fp)) return skip();
    // File times come from the kernel's coarse clock (a tick behind Date.now()): allow for it.
    if (!(st.birthtimeMs > 0) || this.startedMs === undefined || st.birthtimeMs < this.startedMs - BIRTH_SLACK_MS) return skip();
    const len = Math.min(st.size, this.cfg.fingerprint_bytes);
    const head = prefixHash(fd, len);
    for (const f of live) if (this.isTruncated(f) || (f.fd !== undefined && prefixHash(f.fd, len) === head)) return skip();
    const f = TailedFile.fresh(fd, path, st, 'start', this.cfg.fingerprint_bytes, this.cfg.max_line_bytes);
    f.cp.seenMs = nowMs;
    f.rotatedAtMs = nowMs;
    this.files.set(`${st.dev}:${st.ino}`, f);
    this.identityChanged = true;
    this.counters.lateRotations++;
    this.log.warn({ path, bytes: st.size }, 'rotated log file was never opened at its live name (it lived less than scan_interval); reading it now');
    return true;
  }

  /**
   * A rotated name was already gone when its event was handled. A name seen before (history,
   * one of ours) or explained by a followed file that was deleted meanwhile is no loss; any other
   * is a file created, rotated and deleted before the agent could open it: counted and warned.
   */
  private siblingGone(path: string): void {
    const base = basename(path);
    if (this.siblingNames.has(base)) return;
    this.rememberName(base);
    for (const f of this.files.values()) {
      if (f.goneExplained || f.rotatedAtMs === undefined) continue;
      try {
        if (f.stat()!.nlink === 0) {
          f.goneExplained = true;
          return;
        }
      } catch {
        // closed meanwhile
      }
    }
    this.counters.missedFiles++;
    const now = Date.now();
    if (now - this.lastMissWarnMs >= 10_000) {
      this.lastMissWarnMs = now;
      this.log.warn({ path, missedFiles: this.counters.missedFiles }, 'rotated log file was deleted before it could be opened; its lines were not read');
    }
  }

  private rememberName(base: string): void {
    if (this.siblingNames.size >= 4096) this.siblingNames.clear();
    this.siblingNames.add(base);
  }

  /** Starts following a file not followed yet; returns its "dev:ino" when it is followed now. */
  private openNew(path: string, nowMs: number): string | undefined {
    let fd: number;
    try {
      // Never a blocking open: the path may have become a FIFO or a device since the scan.
      const o = openRegularFile(path, true);
      if ('skip' in o) {
        this.reportOnce(`type:${path}:${o.skip}`, { path, type: o.skip }, 'log path is not a regular file; skipped');
        return undefined;
      }
      fd = o.fd;
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
        // Its checkpoint moved lists (orphan/retired → live): rewrite the source's rows.
        this.identityChanged = true;
        return k;
      }
    }
    // (b) A copy of a file being tailed (copytruncate's), complete or still being written: taken
    // over once the tailed file is truncated, left alone for up to rotate_wait until then.
    for (const twin of this.files.values()) {
      if (!this.mayBeCopyOf(twin, fd, path, st.size, fullFp)) continue;
      if (this.isTruncated(twin) && this.holdsReadPart(fd, twin)) {
        this.copySeen.delete(path);
        this.takeOverCopy(twin, fd, path, nowMs);
        return k;
      }
      const since = this.copySeen.get(path) ?? nowMs;
      this.copySeen.set(path, since);
      if (nowMs - since < this.cfg.rotate_wait) return undefined;
    }
    this.copySeen.delete(path);
    // (c) A new stream.
    const fromEnd = this.firstScan && ((!this.initialized && this.cfg.start_at === 'end') || this.uncertain);
    const f = TailedFile.fresh(fd, path, st, fromEnd ? 'end' : 'start', N, this.cfg.max_line_bytes);
    f.cp.seenMs = nowMs;
    this.files.set(k, f);
    this.identityChanged = true;
    if (this.firstScan && this.uncertain && st.size > 0) this.log.warn({ path, skippedBytes: st.size }, 'no checkpoint for this file (checkpoints lost); reading it from its end');
    else this.log.info({ path, offset: f.cp.offset }, 'tailing log file');
    return k;
  }

  /**
   * Whether an unknown file (`size` bytes, `fullFp` its head when it has fingerprint_bytes) may
   * be a copy of the live file `twin`. With a full head, the same head. Shorter, it may be a
   * copy still being written: copytruncate creates the copy empty and fills it (copyFileSync,
   * cp, logrotate alike), so a scan can see it with 0 bytes or a few; taken for a new stream it
   * was read from its start and its lines were stored twice. A short file is taken for a copy
   * only when it is named after the tailed file (app.log → app.log.1) and everything it holds
   * is the start of it, as it is now or as fingerprinted (the copy of a short file).
   */
  private mayBeCopyOf(twin: TailedFile, fd: number, path: string, size: number, fullFp: string | undefined): boolean {
    if (twin.rotatedAtMs !== undefined || twin.fd === undefined) return false;
    const N = this.cfg.fingerprint_bytes;
    if (fullFp) return twin.cp.fpLen === N && twin.cp.fp === fullFp;
    if (dirname(path) !== dirname(twin.cp.path)) return false;
    const base = basename(path);
    const live = basename(twin.cp.path);
    if (base === live || !base.startsWith(live)) return false;
    if (twin.cp.fpLen <= size && prefixHash(fd, twin.cp.fpLen) === twin.cp.fp) return true;
    const mine = prefixHash(fd, size);
    return mine !== undefined && prefixHash(twin.fd, size) === mine;
  }

  /**
   * Whether the file open at `fd` holds everything of `twin` that was read (its fingerprinted
   * head, and at least readPos bytes), so it can carry on under twin's key and offsets. A copy
   * is complete before the original is truncated; stat now, not when the scan listed it.
   */
  private holdsReadPart(fd: number, twin: TailedFile): boolean {
    const size = fstatSync(fd).size;
    return size >= twin.readPos && twin.cp.fpLen <= size && prefixHash(fd, twin.cp.fpLen) === twin.cp.fp;
  }

  /**
   * Truncated: smaller than what was read or than it was last seen (a truncate-and-rewrite that
   * grew past the read position again), a shrink seen by a watch event between polls, or a head
   * that no longer hashes to the fingerprint.
   */
  private isTruncated(f: TailedFile, st = f.stat()): boolean {
    if (!st) return false;
    return f.sawShrink || st.size < f.readPos || st.size < f.seenSize || (f.cp.fpLen > 0 && !f.headMatches());
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

  /** Parses a record and finds the rules it matches. */
  private record(f: TailedFile, rec: JoinedRecord, result: PollResult): void {
    const parsed = this.parse(f, rec.text);
    result.records.push({ file: f, rec, parsed, rules: this.rules.length === 0 ? NO_RULES : this.rules.filter((r) => r.matches(parsed, rec.text)) });
  }

  /** Every line becomes a record (decoded, joined when multiline, parsed after the read). */
  private recordVisitor(f: TailedFile, j: MultilineJoiner | undefined, nowMs: number, joined: JoinedRecord[]): LineVisitor {
    this.visitedBytes = 0;
    return (buf, s, e, start, end, truncated) => {
      this.visitedBytes += e - s;
      const text = f.decode(buf, s, e);
      if (j) j.push({ text, start, end, truncated }, nowMs, joined);
      else joined.push({ text, start, end, lines: 1, truncated });
    };
  }

  /**
   * The tail's hot path (poll with countOnly): a line the format's byte scanner takes
   * (fast-scan.ts: it answers only where it agrees with the parser) and no rule can match (by
   * its level) is counted by level from its bytes; no string, no record. Any other line (cut,
   * UTF-16, declined by the scanner, at a level a rule watches, auto still sampling) is decoded
   * and parsed in place, in order, exactly as the record path would.
   */
  private leanVisitor(f: TailedFile, counted: number[], result: PollResult): LineVisitor {
    this.visitedBytes = 0;
    const sr = this.scanned;
    const wanted = this.ruleLevels!;
    let fast = this.fastFor(f);
    let auto = this.auto ? this.autoParsers.get(f)?.parser : undefined;
    return (buf, s, e, start, end, truncated) => {
      this.visitedBytes += e - s;
      if (fast !== undefined && !truncated && f.utf8 && fast(buf, s, e, sr)) {
        const lv = sr.level < 0 ? NONE : sr.level;
        if (wanted[lv] === 0) {
          counted[lv]!++;
          // The format's parser would have taken it: auto's run of misses ends here too.
          auto?.hit();
          return;
        }
      }
      this.record(f, { text: f.decode(buf, s, e), start, end, lines: 1, truncated }, result);
      // Parsing may have decided (or dropped) auto's format for this file.
      fast = this.fastFor(f);
      if (this.auto) auto = this.autoParsers.get(f)?.parser;
    };
  }

  /**
   * The byte scanner that stands for this file's parser: the preset's, or the one of the format
   * auto decided for the file (once that decision is logged); none while auto samples, for a
   * user regex, or for formats without one.
   */
  private fastFor(f: TailedFile): FastScanner | undefined {
    if (!this.auto) return this.presetFast;
    const a = this.autoParsers.get(f);
    const format = a?.parser.decided;
    if (!a || format === undefined || format !== a.logged) return undefined;
    if (a.fastFormat !== format) {
      a.fastFormat = format;
      a.fast = fastScannerFor(format, this.parserOpts, levelFromMessageHead(format), false);
    }
    return a.fast;
  }

  /**
   * Reads up to maxLines new records across the files. Nothing is counted or committed here.
   * With `countOnly` (the collector), lines nobody needs as records (not shipped, at a level no
   * rule watches) are only counted by level in `counted` when the format has a byte scanner.
   */
  poll(nowMs: number, maxLines: number, countOnly = false): PollResult {
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
      if (f.rotatedAtMs === undefined && this.isTruncated(f, st)) {
        this.handleTruncation(f, nowMs);
        st = f.stat()!;
      }
      f.seenSize = st.size;
      f.refreshFingerprint(st.size);
      const j = this.joinerFor(f);
      const joined: JoinedRecord[] = [];
      const lean = countOnly && j === undefined && this.ruleLevels !== undefined;
      const take = lean ? this.leanVisitor(f, (result.counted ??= new Array<number>(NONE + 1).fill(0)), result) : this.recordVisitor(f, j, nowMs, joined);
      const taken = f.visit(st.size, budget, false, byteBudget, take);
      budget -= taken;
      byteBudget -= this.visitedBytes;
      let drop = false;
      if (f.rotatedAtMs !== undefined && f.readPos >= st.size) {
        f.eofSinceMs ??= nowMs;
        if (nowMs - f.eofSinceMs >= this.cfg.rotate_wait) {
          // The writer has moved on: take an unterminated last line as it is, then drop the file.
          f.visit(st.size, Infinity, true, 8 << 20, take);
          j?.flushIfIdle(nowMs, joined, true);
          drop = true;
        }
      } else if (taken > 0) f.eofSinceMs = undefined;
      j?.flushIfIdle(nowMs, joined);
      for (const rec of joined) this.record(f, rec, result);
      result.commits.set(f, j?.pendingStart() ?? f.readPos);
      if (drop) result.drops.push(f);
    }
    result.more = budget <= 0 || byteBudget <= 0;
    return result;
  }

  /**
   * The state rows describing this source once `result` is committed, computed without changing
   * anything: they go into the same outbox transaction as the poll's events.
   */
  commitRows(result: PollResult, nowMs: number): StatePut[] {
    const puts: StatePut[] = [];
    const dropped = new Set(result.drops);
    for (const [f, off] of result.commits) {
      if (!dropped.has(f) && off !== f.cp.offset) puts.push(rows.file(this.name, f.committedCp(off, nowMs)));
    }
    if (result.drops.length > 0) {
      const retired = [...this.retired];
      for (const f of result.drops) {
        const cp = f.committedCp(result.commits.get(f) ?? f.cp.offset, nowMs);
        puts.push(rows.fileGone(this.name, f.cp.key), rows.retired(this.name, cp));
        retired.push(cp);
      }
      for (const cp of retired.slice(0, Math.max(0, retired.length - MAX_RETIRED))) puts.push(rows.retiredGone(this.name, cp.key));
    }
    const stats = new LevelStats(this.stats.snapshot());
    for (const r of result.records) stats.add(nowMs, r.parsed?.level, r.parsed !== undefined, r.rec.truncated);
    if (result.counted) stats.addCounts(nowMs, result.counted);
    puts.push(rows.meta(this.name, { initialized: this.initialized, pending: stats.snapshot(), flushSeq: this.flushSeq }));
    return puts;
  }

  /** The meta row once the pending counts are shipped under flush number `flushSeq`. */
  flushedRows(flushSeq: number): StatePut[] {
    return [rows.meta(this.name, { initialized: this.initialized, pending: [], flushSeq })];
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
    if (result.counted) {
      let n = 0;
      for (const c of result.counted) n += c;
      this.counters.lines += n;
      this.counters.parsed += n;
      this.stats.addCounts(nowMs, result.counted);
    }
    for (const [f, off] of result.commits) {
      f.commit(off, nowMs);
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
      ...(this.uncertain ? { uncertain: true } : {}),
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
      for (const rec of joined) this.record(f, rec, result);
      result.commits.set(f, f.readPos);
    }
    return result;
  }

  close(): void {
    for (const f of this.files.values()) {
      if (f.rotatedAtMs === undefined || f.fd === undefined) continue;
      try {
        const left = f.stat()!.size - f.cp.offset;
        if (left > 0) {
          this.counters.undrainedFiles++;
          this.counters.undrainedBytes += left;
          this.log.warn({ path: f.cp.path, unreadBytes: left }, 'rotated log file not read to its end at stop; if it is deleted before the next start, these bytes are lost');
        }
      } catch {
        // descriptor already unusable
      }
    }
    for (const f of this.files.values()) f.close();
    this.files.clear();
  }
}
