import type { LogsConfig } from '../../shared/config/logs.js';
import { OpsError } from '../../shared/errors.js';
import type { EventKind } from '../../shared/nats/subjects.js';
import type { ComponentStateName } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/logger.js';
import { fireAlert, resolveAlert, type EventPayload, type StatefulSink } from '../events/sink.js';
import { CheckpointStore, type SourceState } from './checkpoint-store.js';
import { DirWatchers } from './dir-watcher.js';
import { LogSource, type PollResult } from './log-source.js';
import type { WindowRule } from './window-rule.js';

export interface LogCollectorDeps {
  config: LogsConfig;
  /** The outbox: events and the checkpoints that produced them are committed together. */
  sink: StatefulSink;
  stateDir: string;
  logger: Logger;
  /** Lines read per source per tick at most: bounds memory and the size of one outbox transaction. */
  maxLinesPerTick?: number;
  now?: () => number;
}

/**
 * Tails every configured log source and feeds the outbox. Each tick: read new lines → one
 * appendMany carrying the events and the source's new checkpoint rows (one SQLite
 * transaction, durable when it returns) → count and move the in-memory checkpoints. A kill -9
 * at any point keeps both or neither, so lines and level counts are never counted twice nor
 * lost; the same holds for a stats flush and its flush number. When the outbox is full the
 * tick reads nothing (backpressure) and counts the pause.
 */
export class LogCollector {
  private st: ComponentStateName = 'new';
  private readonly sources: LogSource[] = [];
  private readonly store: CheckpointStore;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly ac = new AbortController();
  private loops: Array<Promise<void>> = [];
  private stopping: Promise<void> | undefined;
  readonly counters = { ticks: 0, paused: 0, appendErrors: 0, events: 0, alerts: 0 };
  private lastError: string | undefined;
  private readonly watchers = new Map<LogSource, DirWatchers>();
  /** Sources a folder event asked to scan at their next loop turn. */
  private readonly scanWanted = new Set<LogSource>();
  /** Ends a source's current pause early (a folder event wants it to look now). */
  private readonly wakers = new Map<LogSource, () => void>();
  /** When each source's loop last started a turn, and its deferred wake (events closer than EVENT_GAP_MS). */
  private readonly lastTurn = new Map<LogSource, number>();
  private readonly deferred = new Map<LogSource, NodeJS.Timeout>();
  /** A wake that came while the source was busy: its next pause ends at once. */
  private readonly wakePending = new Set<LogSource>();

  constructor(private readonly d: LogCollectorDeps) {
    this.log = d.logger.child({ component: 'logs' });
    this.now = d.now ?? Date.now;
    this.store = new CheckpointStore(d.sink, d.stateDir, d.config.map((c) => c.name), this.log);
    for (const cfg of d.config) this.sources.push(new LogSource(cfg, this.store.get(cfg.name), d.logger));
  }

  async start(): Promise<void> {
    this.st = 'starting';
    for (const s of this.sources) {
      const w = new DirWatchers((dir, name, type) => this.onFsEvent(s, dir, name, type), this.log);
      this.watchers.set(s, w);
      s.scan(this.now());
      w.sync(s.watchDirs());
      this.loops.push(this.run(s));
    }
    this.save();
    this.st = 'running';
    if (this.sources.length) this.log.info({ sources: this.sources.map((s) => s.name) }, 'log collector started');
  }

  private async run(s: LogSource): Promise<void> {
    const cfg = s.cfg;
    let nextScan = this.now() + cfg.scan_interval;
    let nextStats = this.now() + cfg.stats_interval;
    while (!this.ac.signal.aborted) {
      this.lastTurn.set(s, Date.now());
      try {
        const now = this.now();
        if (now >= nextScan || this.scanWanted.has(s)) {
          this.scanWanted.delete(s);
          s.scan(now);
          this.watchers.get(s)?.sync(s.watchDirs());
          nextScan = now + cfg.scan_interval;
          this.saveIfIdentityChanged(s);
        }
        // Drain what is there in several rounds before sleeping, so a burst is not limited to one batch per poll.
        let more = true;
        for (let round = 0; more && round < 20 && !this.ac.signal.aborted; round++) more = this.tick(s);
        this.evaluateRules(s, this.now());
        if (this.now() >= nextStats) {
          this.flushStats(s);
          nextStats = this.now() + cfg.stats_interval;
        }
      } catch (err) {
        this.lastError = (err as Error).message;
        this.log.error({ err }, 'log source tick failed');
      }
      await this.pause(s, cfg.poll_interval);
    }
  }

  /** Sleeps until the next poll, the stop, or a folder event that wants the source to look now. */
  private pause(s: LogSource, ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.ac.signal.aborted) return resolve();
      if (this.wakePending.delete(s)) return void setImmediate(resolve);
      const done = () => {
        clearTimeout(t);
        this.ac.signal.removeEventListener('abort', done);
        if (this.wakers.get(s) === done) this.wakers.delete(s);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.ac.signal.addEventListener('abort', done, { once: true });
      this.wakers.set(s, done);
    });
  }

  /**
   * Appends wake the source at most every EVENT_GAP_MS (a busy file would otherwise cost a poll,
   * and an outbox transaction, per write); the last event of a burst is never left for poll_interval.
   */
  private wakeSoon(s: LogSource): void {
    if (this.deferred.has(s)) return;
    const wait = EVENT_GAP_MS - (Date.now() - (this.lastTurn.get(s) ?? 0));
    if (wait <= 0) {
      this.wake(s);
      return;
    }
    const t = setTimeout(() => {
      this.deferred.delete(s);
      this.wake(s);
    }, wait);
    t.unref();
    this.deferred.set(s, t);
  }

  private wake(s: LogSource): void {
    const w = this.wakers.get(s);
    if (w) w();
    else this.wakePending.add(s);
  }

  private onFsEvent(s: LogSource, dir: string, name: string | null, type: 'rename' | 'change'): void {
    if (this.st !== 'running' && this.st !== 'starting') return;
    try {
      const want = s.onFsEvent(dir, name, type, this.now());
      if (want.scan) this.scanWanted.add(s);
      if (want.urgent) this.wake(s);
      else if (want.poll) this.wakeSoon(s);
    } catch (err) {
      this.lastError = (err as Error).message;
      this.log.error({ err, dir }, 'log folder event failed');
    }
  }

  /** One read → append → commit round; returns whether the budget was used up (more may be waiting). */
  private tick(s: LogSource): boolean {
    this.counters.ticks++;
    const full = this.d.maxLinesPerTick ?? 5000;
    // Read only what the outbox can take (a margin stays for stats and alert events).
    let budget = full;
    while (budget >= 1 && !this.d.sink.hasRoom(budget + 16)) budget = Math.floor(budget / 4);
    if (budget < 1) {
      this.counters.paused++;
      return false;
    }
    const now = this.now();
    // countOnly: lines that are neither shipped nor watched by a rule are only counted (no records).
    const res = s.poll(now, budget, true);
    this.saveIfIdentityChanged(s);
    this.commit(s, res, now);
    return res.more === true;
  }

  private commit(s: LogSource, res: PollResult, now: number): void {
    const ship = s.cfg.ship_lines;
    const items: Array<{ kind: EventKind; payload: EventPayload; tsMs?: number }> = [];
    if (ship !== false) {
      // Consecutive lines of one file travel together in one event (one outbox row, one
      // message), each keeping its own byte offset: the controller's dedupe key per line.
      let batch: { file: string; path: string; tsMs: number; recs: string[]; size: number } | undefined;
      const close = () => {
        if (!batch) return;
        const json = `{"type":"lines","source":${JSON.stringify(s.name)},"file":${JSON.stringify(batch.file)},"path":${JSON.stringify(batch.path)},"lines":[${batch.recs.join(',')}]}`;
        items.push({ kind: 'log', payload: { json }, tsMs: batch.tsMs });
        batch = undefined;
      };
      for (const r of res.records) {
        if (ship === 'matched' && r.rules.length === 0) continue;
        const fields = r.parsed ? { ...r.parsed.fields } : {};
        delete fields.message;
        const rec = JSON.stringify({
          offset: r.rec.start,
          ...(r.parsed?.tsMs !== undefined ? { ts_ms: r.parsed.tsMs } : {}),
          level: r.parsed?.level ?? null,
          message: r.parsed?.message ?? r.rec.text,
          fields,
          ...(r.parsed ? {} : { unparsed: true }),
          ...(r.rec.truncated ? { truncated: true } : {}),
          ...(r.rec.lines > 1 ? { lines: r.rec.lines } : {}),
          ...(r.rules.length ? { rules: r.rules.map((x) => x.cfg.name) } : {}),
        });
        if (batch && (batch.file !== r.file.cp.key || batch.recs.length >= LINES_PER_EVENT || batch.size + rec.length > BYTES_PER_EVENT)) close();
        batch ??= { file: r.file.cp.key, path: r.file.cp.path, tsMs: r.parsed?.tsMs ?? now, recs: [], size: 0 };
        batch.recs.push(rec);
        batch.size += rec.length;
      }
      close();
    }
    if (items.length === 0 && res.records.length === 0 && res.drops.length === 0 && !movedAny(res)) return;
    try {
      // Events and checkpoint rows in one transaction: after a crash the checkpoint is exactly
      // where the events in the outbox end.
      this.d.sink.appendMany(items, s.commitRows(res, now));
      this.counters.events += items.length;
    } catch (err) {
      this.counters.appendErrors++;
      this.lastError = (err as Error).message;
      s.rewind(res);
      throw new OpsError('OPS_ERR_LOGS_APPEND', `outbox append failed; lines will be read again: ${(err as Error).message}`, { cause: err, retryable: true });
    }
    s.commit(res, now);
  }

  private evaluateRules(s: LogSource, now: number): void {
    for (const rule of s.rules) {
      const t = rule.evaluate(now);
      if (!t) continue;
      const spec = alertSpec(s, rule, t.count, t.kind === 'resolve' ? [] : t.samples);
      if (t.kind === 'resolve') resolveAlert(this.d.sink, spec, now);
      else fireAlert(this.d.sink, spec, rule.firedAt);
      this.counters.alerts++;
      if (t.kind !== 'refire') this.log.info({ source: s.name, rule: rule.cfg.name, count: t.count, state: t.kind }, t.kind === 'fire' ? 'log rule fired' : 'log rule resolved');
    }
  }

  /** Ships the per-minute level counts as `log` stat events, then persists that they are gone. */
  private flushStats(s: LogSource): void {
    if (s.stats.empty) return;
    const buckets = s.stats.snapshot();
    s.flushSeq++;
    const items = buckets.map((b) => ({
      kind: 'log' as const,
      payload: { json: JSON.stringify({ type: 'stats', source: s.name, flush: s.flushSeq, minute_ms: b.minuteMs, levels: b.levels, lines: b.lines, unparsed: b.unparsed, truncated: b.truncated }) },
      tsMs: b.minuteMs,
    }));
    try {
      // The flush number and the drained counts are saved with the stats events: a crash can no
      // longer re-ship a flush number the controller already has (it would drop the new counts).
      this.d.sink.appendMany(items, s.flushedRows(s.flushSeq));
    } catch (err) {
      s.flushSeq--;
      this.counters.appendErrors++;
      this.log.warn({ err }, 'log stats not shipped; kept for the next flush');
      return;
    }
    s.stats.drain();
  }

  private saveIfIdentityChanged(s: LogSource): void {
    if (!s.identityChanged) return;
    this.save();
    s.identityChanged = false;
  }

  private save(): void {
    const states: Record<string, SourceState> = {};
    for (const s of this.sources) states[s.name] = s.state();
    try {
      this.store.save(states);
    } catch (err) {
      this.lastError = (err as Error).message;
      this.log.error({ err }, 'cannot write log checkpoints');
    }
  }

  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.st = 'stopping';
    for (const w of this.watchers.values()) w.close();
    for (const t of this.deferred.values()) clearTimeout(t);
    this.deferred.clear();
    this.ac.abort();
    await Promise.all(this.loops);
    const now = this.now();
    for (const s of this.sources) {
      try {
        this.commit(s, s.flushAll(now), now);
        this.flushStats(s);
      } catch (err) {
        this.log.warn({ err, source: s.name }, 'final log flush failed; checkpoints keep the unread part');
      }
    }
    // Save while the files are still known (close() forgets them).
    this.save();
    for (const s of this.sources) s.close();
    this.st = 'stopped';
  }

  state(): { state: ComponentStateName; detail: string } {
    const files = this.sources.reduce((n, s) => n + s.counters.filesOpen, 0);
    const lines = this.sources.reduce((n, s) => n + s.counters.lines, 0);
    const missed = this.sources.reduce((n, s) => n + s.counters.missedFiles, 0);
    const st = this.st === 'running' && this.lastError ? 'degraded' : this.st;
    return { state: st, detail: `${this.sources.length} sources, ${files} files, ${lines} lines, ${this.counters.paused} paused ticks${missed ? `, ${missed} rotated files deleted unread` : ''}${this.lastError ? `, last error: ${this.lastError}` : ''}` };
  }

  /** Per-source counters (tests, status). */
  sourceCounters(): Record<string, LogSource['counters']> {
    return Object.fromEntries(this.sources.map((s) => [s.name, { ...s.counters }]));
  }
}

/** Least time between two polls woken by appends (truncations and new files wake at once). */
const EVENT_GAP_MS = 50;

/** Bounds of one shipped `lines` event (well under the outbox's batch_max_bytes default). */
const LINES_PER_EVENT = 500;
const BYTES_PER_EVENT = 128 * 1024;

function movedAny(res: PollResult): boolean {
  for (const [f, off] of res.commits) if (off !== f.cp.offset) return true;
  return false;
}

function alertSpec(s: LogSource, rule: WindowRule, count: number, samples: string[]) {
  const c = rule.cfg;
  return {
    labels: { alertname: 'LogRule', rule: c.name, source: s.name, severity: c.severity },
    annotations: {
      summary: `${count} matching lines in ${Math.round(c.window / 1000)}s (threshold ${c.threshold}) in log source ${s.name}`,
      count: String(count),
      threshold: String(c.threshold),
      window_s: String(c.window / 1000),
      ...(samples.length ? { samples: samples.join('\n') } : {}),
    },
  };
}
