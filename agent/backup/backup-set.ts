import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BackupSetConfig } from '../../shared/config/backup.js';
import { errorLine, OpsError } from '../../shared/errors.js';
import type { ComponentStateName } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/logger.js';
import { emitJson, fireAlert, resolveAlert, type EventSink } from '../events/sink.js';
import { LocalState, RESCAN_ALL } from './local-state.js';
import { collectGarbage } from './release-memory.js';
import { selectRetention } from './retention.js';
import { buildInChild, type ChildBuild } from './build-in-child.js';
import { Excluder } from './scan.js';
import { buildSnapshot, type BuildInput } from './snapshot-builder.js';
import { createTarget } from '../../shared/backup/targets/index.js';
import { archiveName, manifestName, snapshotId, type BackupTarget, type Manifest } from './types.js';
import { verifySet, type VerifyResult } from './verify.js';
import { withRetry } from './uploader.js';
import { createWatcher, type TreeWatcher } from './watcher.js';

/** Entries in a snapshot past which its garbage is worth a forced collection. */
const LARGE_SNAPSHOT = 10_000;
const LARGE_BYTES = 16 * 1024 * 1024;

export interface BackupSetDeps {
  cfg: BackupSetConfig;
  hostId: string;
  /** The agent's state dir; this set keeps `backup/<name>.db` and a staging folder there. */
  stateDir: string;
  sink: EventSink;
  logger: Logger;
  /** Build whole-tree snapshots in-process instead of a worker thread (benchmarks comparing both). */
  inProcess?: boolean;
}

/**
 * One backup set: watcher → pending paths (durable) → debounce / max_delay → snapshot
 * (archive + manifest) → upload with retries → local commit → retention. Snapshots of a set
 * never overlap. Failures keep the changes pending, raise BackupFailed and retry later.
 */
export class BackupSet {
  readonly name: string;
  private st: ComponentStateName = 'new';
  private detail = '';
  private state: LocalState | undefined;
  private target: BackupTarget | undefined;
  private watcher: TreeWatcher | undefined;
  private readonly ex: Excluder;
  private debounceTimer: NodeJS.Timeout | undefined;
  private maxTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  private verifyTimer: NodeJS.Timeout | undefined;
  private verifying: Promise<VerifyResult | null> | undefined;
  /** Set when a verify found the newest chain damaged: the next snapshot is a full. */
  private forceFull = '';
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private failing = false;
  private readonly abort = new AbortController();
  private readonly log: Logger;
  private stopping: Promise<void> | undefined;
  readonly stats = { snapshots: 0, failures: 0, retries: 0, watcherEvents: 0, lastSnapshotId: '', lastError: '', skipped: 0, chainBreaks: 0, verifies: 0 };

  constructor(private readonly d: BackupSetDeps) {
    this.name = d.cfg.name;
    this.ex = new Excluder(d.cfg.paths, d.cfg.exclude);
    this.log = d.logger.child({ component: 'backup', set: d.cfg.name });
  }

  get watcherKind(): string {
    return this.watcher?.kind ?? '';
  }

  async start(): Promise<void> {
    this.st = 'starting';
    const cfg = this.d.cfg;
    for (const p of cfg.paths) {
      try {
        const s = await stat(p);
        if (!s.isDirectory()) throw new OpsError('OPS_ERR_BACKUP_PATH', `backup set ${cfg.name}: ${p} is not a folder`);
        await access(p, constants.R_OK | constants.X_OK);
      } catch (err) {
        if (err instanceof OpsError) throw err;
        throw new OpsError('OPS_ERR_BACKUP_PATH', `backup set ${cfg.name}: cannot read watched path ${p}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
      }
    }
    this.state = new LocalState(join(this.d.stateDir, 'backup', `${cfg.name}.db`));
    await BackupSet.cleanStaging(this.d.stateDir, cfg.name);
    this.state.dropStaged();
    this.target = await createTarget(cfg.target, { host: this.d.hostId, set: cfg.name });
    this.watcher = await createWatcher(cfg.watcher, cfg.paths, this.ex, { onPaths: (p) => this.onPaths(p), onOverflow: (r) => this.onOverflow(r) }, this.log);
    await this.watcher.start();
    // Changes made while the agent was down (or lost in a crash) are found by a full compare.
    this.state.addPending([RESCAN_ALL]);
    this.touch();
    this.rescanTimer = setInterval(() => {
      this.state?.addPending([RESCAN_ALL]);
      this.touch();
    }, cfg.rescan_interval);
    this.rescanTimer.unref();
    this.scheduleVerify();
    this.st = 'running';
    this.log.info({ paths: cfg.paths, target: this.target.where, watcher: this.watcher.kind, pending: this.state.pendingCount() }, 'backup set started');
  }

  private onPaths(paths: string[]): void {
    if (this.stopped || !this.state) return;
    this.stats.watcherEvents += paths.length;
    // Watchers hand names over as UTF-8 strings: a name that is not valid UTF-8 arrives with
    // U+FFFD and names no file. Its folder is compared instead (the walk reads names as bytes).
    paths = paths.map((p) => {
      const bad = p.indexOf('\uFFFD');
      return bad === -1 ? p : p.slice(0, Math.max(1, p.lastIndexOf('/', bad)));
    });
    try {
      this.state.addPending(paths);
    } catch (err) {
      this.log.error({ err }, 'cannot record pending changes; the next rescan will find them');
    }
    this.touch();
  }

  private onOverflow(reason: string): void {
    this.log.warn({ reason }, 'watcher lost events; rescanning the whole tree');
    this.onPaths([RESCAN_ALL]);
  }

  /** A change: restart the quiet-period timer; the max_delay timer runs from the first change. */
  private touch(): void {
    if (this.stopped) return;
    if (!this.maxTimer) {
      this.maxTimer = setTimeout(() => this.fire(), this.d.cfg.max_delay);
      this.maxTimer.unref();
    }
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => this.fire(), this.d.cfg.debounce);
    this.debounceTimer.unref();
  }

  private fire(): void {
    clearTimeout(this.debounceTimer);
    clearTimeout(this.maxTimer);
    this.debounceTimer = this.maxTimer = undefined;
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.snapshot()
      .then(() => undefined)
      .catch((err: unknown) => {
        if (this.stopped) this.log.info({ err: errorLine(err) }, 'snapshot interrupted by stop; its changes stay pending');
        else this.log.error({ err }, 'snapshot failed');
      })
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          this.touch();
        }
      });
  }

  /**
   * Takes a snapshot of what is pending now (tests and `backup now`); null when nothing changed.
   * A failure is handled as usual (alert, changes stay pending) and, with `rethrow`, also thrown
   * to the caller (the operator asked and waits for the outcome).
   */
  async snapshotNow(o: { rethrow?: boolean } = {}): Promise<Manifest | null> {
    if (this.stopped) throw new OpsError('OPS_ERR_BACKUP_NOT_RUNNING', `backup set ${this.name} is stopping`);
    while (this.running) await this.running;
    this.state?.addPending([RESCAN_ALL]);
    let out: Manifest | null = null;
    this.running = this.snapshot(o.rethrow).then((m) => {
      out = m;
    });
    try {
      await this.running;
    } finally {
      this.running = undefined;
    }
    return out;
  }

  /** Id of the newest committed snapshot of this set ('' before the first). */
  lastSnapshotId(): string {
    return this.state?.lastSnapshot()?.id ?? '';
  }

  private async snapshot(rethrow = false): Promise<Manifest | null> {
    const state = this.state!;
    const target = this.target!;
    const cfg = this.d.cfg;
    const started = Date.now();
    const { paths, gen } = state.takePending();
    if (paths.length === 0) return null;
    const last = state.lastSnapshot();
    const lastFull = state.lastFull();
    let full = !last || !lastFull || started - lastFull.time_ms >= cfg.full_every || state.incrementalsSince(lastFull.id) >= cfg.full_after;
    const id = snapshotId(started, randomBytes(2).toString('hex'));
    const stagingDir = join(this.d.stateDir, 'backup', `${cfg.name}.staging`);
    let attempts = 0;
    const policy = cfg.retry;
    const onRetry = (op: string) => (err: unknown, attempt: number, delayMs: number) => {
      attempts = attempt;
      this.stats.retries++;
      this.log.warn({ err: errorLine(err), op, attempt, delayMs, snapshot: id }, 'target call failed; retrying');
    };
    let child: ChildBuild | undefined;
    try {
      // An incremental is only restorable with its parent: confirm the parent is still on the
      // target (one listing) before building on it. A wiped or pruned-by-hand target gets a full.
      let chainBroken = '';
      if (!full && this.forceFull) {
        chainBroken = this.forceFull;
        full = true;
      } else if (!full && last) {
        const names = new Set(await withRetry(() => target.list('snapshots/'), policy, { signal: this.abort.signal, onRetry: onRetry('list') }));
        if (!names.has(manifestName(last.id)) || !names.has(archiveName(last.id))) {
          chainBroken = `snapshot ${last.id}, the parent the next incremental needs, is not on ${target.where}`;
          full = true;
          // The local list must not keep counting snapshots that are gone (retention, chains).
          state.forgetSnapshots(state.snapshots().filter((s) => !names.has(manifestName(s.id))).map((s) => s.id));
        }
      }
      const input: BuildInput = {
        mode: full ? 'full' : paths.includes(RESCAN_ALL) ? 'all' : 'paths',
        paths: full || paths.includes(RESCAN_ALL) ? [] : paths,
        roots: [...cfg.paths],
        exclude: [...cfg.exclude],
        stagingDir,
        id,
        parent: last?.id ?? null,
        host: this.d.hostId,
        set: cfg.name,
        timeMs: started,
        level: cfg.compression.level,
        inlineMax: LARGE_SNAPSHOT,
      };
      // Whole-tree work runs in a child process (build-in-child.ts: the agent's idle memory
      // stays at its baseline). A handful of watched paths is cheaper in-process.
      if (input.mode === 'paths' || this.d.inProcess) {
        const b = await buildSnapshot(input, state, this.abort.signal);
        child = { result: b, commit: async (row, g) => state.commitStaged(row, g), close: () => undefined };
      } else child = await buildInChild(input, state.file, this.abort.signal);
      const built = child.result;
      if (!built || 'nothing' in built) {
        state.commitNothing(gen);
        if (built) this.partial(built.skipped, built.skippedTotal, null);
        else this.log.debug({ pending: paths.length }, 'no changes since the last snapshot');
        return null;
      }
      for (const sk of built.skipped.slice(0, 20)) this.log.warn(sk, 'cannot read path; skipped');
      const manifest = built.manifest;
      await withRetry(() => target.put(archiveName(id), { file: built.archiveFile }, manifest.archive.sha256, this.abort.signal), policy, { signal: this.abort.signal, onRetry: onRetry('upload') });
      // The manifest goes last: its presence is what makes the snapshot exist.
      await withRetry(() => target.put(manifestName(id), { file: built.manifestFile }, built.manifestSha256, this.abort.signal), policy, { signal: this.abort.signal, onRetry: onRetry('upload') });
      await child.commit({ id, type: manifest.type, parent: manifest.parent, time_ms: started, files: manifest.files, bytes: manifest.bytes }, gen);
      const durationMs = Date.now() - started;
      const deleted = built.deleted;
      this.stats.snapshots++;
      this.stats.lastSnapshotId = id;
      this.detail = `last snapshot ${id}`;
      this.st = 'running';
      emitJson(this.d.sink, 'backup', {
        event: 'snapshot',
        set: cfg.name,
        id,
        type: manifest.type,
        parent: manifest.parent,
        time: manifest.time,
        files: manifest.files,
        entries: built.entries,
        deleted,
        bytes: manifest.bytes,
        archive_bytes: manifest.archive.size,
        duration_ms: durationMs,
        attempts: attempts + 1,
        target: target.type,
        skipped: built.skippedTotal,
      });
      this.log.info({ snapshot: id, type: manifest.type, files: manifest.files, deleted, bytes: manifest.bytes, archiveBytes: manifest.archive.size, durationMs, skipped: built.skippedTotal }, 'snapshot stored');
      if (this.failing) {
        this.failing = false;
        resolveAlert(this.d.sink, { labels: this.alertLabels() });
      }
      this.partial(built.skipped, built.skippedTotal, id);
      if (chainBroken) this.chainBroken(chainBroken, id);
      await this.applyRetention().catch((err: unknown) => this.log.warn({ err: errorLine(err) }, 'retention pass failed; will retry after the next snapshot'));
      // Uploading streams the archive and manifest through Buffers that only a GC frees, and an
      // idle agent gives V8 no reason to collect: after big snapshots, ask for one.
      if (built.entries >= LARGE_SNAPSHOT || manifest.archive.size + built.manifestSize > LARGE_BYTES) this.scheduleCollect();
      return manifest;
    } catch (err) {
      child?.close();
      child = undefined;
      state.dropStaged(id);
      if (this.stopped) throw err;
      this.failed(err);
      if (rethrow) throw err;
      return null;
    } finally {
      child?.close();
      await rm(join(stagingDir, `${id}.tar.gz`), { force: true }).catch(() => undefined);
      await rm(join(stagingDir, `${id}.json`), { force: true }).catch(() => undefined);
    }
  }

  /** After a large snapshot its garbage is collected once it is unreachable (see release-memory.ts). */
  private scheduleCollect(): void {
    const t = setTimeout(() => {
      collectGarbage();
      const t2 = setTimeout(() => {
        collectGarbage();
        const m = process.memoryUsage();
        this.log.debug({ rssMb: Math.round(m.rss / 2 ** 20), heapMb: Math.round(m.heapUsed / 2 ** 20), externalMb: Math.round(m.external / 2 ** 20) }, 'memory after a large snapshot');
      }, 1000);
      t2.unref();
    }, 500);
    t.unref();
  }

  /**
   * Unreadable paths were left out (and will be tried again): a BackupPartial warning names
   * them; the first snapshot with none resolves it.
   */
  private partial(skipped: Array<{ path: string; error: string }>, total: number, id: string | null): void {
    const labels = { alertname: 'BackupPartial', set: this.d.cfg.name, severity: 'warning' };
    // Kept in the state db: the snapshot that finally reads everything may come after a restart.
    const firing = this.state?.getMeta('partial_firing') === '1';
    if (total === 0) {
      if (firing && id) {
        this.state?.setMeta('partial_firing', '0');
        resolveAlert(this.d.sink, { labels });
      }
      return;
    }
    this.stats.skipped += total;
    this.state?.setMeta('partial_firing', '1');
    const paths = skipped.slice(0, 20).map((s) => `/${s.path}: ${s.error}`);
    this.log.warn({ snapshot: id, skipped: total, first: paths.slice(0, 5) }, 'snapshot left out unreadable paths');
    emitJson(this.d.sink, 'backup', { event: 'partial', set: this.d.cfg.name, id, skipped: total, paths: skipped.slice(0, 20) });
    fireAlert(this.d.sink, {
      labels,
      annotations: {
        summary: `backup set ${this.d.cfg.name}: ${total} path(s) could not be read and are not in ${id ? `snapshot ${id}` : 'any snapshot'}`,
        paths: paths.join('\n'),
      },
    });
  }

  /** The chain the next incremental needed was gone from the target: a full was taken; say so. */
  private chainBroken(why: string, fullId: string): void {
    this.forceFull = '';
    this.stats.chainBreaks++;
    this.log.error({ why, full: fullId }, 'snapshot chain broken on the target; took a full snapshot');
    emitJson(this.d.sink, 'backup', { event: 'chain_broken', set: this.d.cfg.name, reason: why, full: fullId });
    fireAlert(this.d.sink, {
      labels: { alertname: 'BackupChainBroken', set: this.d.cfg.name, severity: 'critical' },
      annotations: { summary: `backup set ${this.d.cfg.name}: ${why}; older snapshots may be lost; full snapshot ${fullId} taken`, target: this.target?.where ?? '' },
    });
  }

  /** Runs verify at `verify.interval` (counted from the last one, kept across restarts). */
  private scheduleVerify(): void {
    const every = this.d.cfg.verify.interval;
    if (!every || this.stopped) return;
    const last = Number(this.state?.getMeta('last_verify_ms') ?? 0);
    const delay = Math.min(Math.max(last + every - Date.now(), 0), 2 ** 31 - 1);
    clearTimeout(this.verifyTimer);
    this.verifyTimer = setTimeout(() => {
      void this.verifyNow().finally(() => this.scheduleVerify());
    }, delay);
    this.verifyTimer.unref();
  }

  /**
   * Checks the set on its target (read_data as configured): problems fire BackupVerifyFailed,
   * and a damaged newest chain makes the next snapshot a full; a clean run resolves
   * BackupVerifyFailed and BackupChainBroken. Null when stopped or already running.
   */
  async verifyNow(): Promise<VerifyResult | null> {
    if (this.stopped || !this.target || !this.state) return null;
    if (this.verifying) return this.verifying;
    this.verifying = this.doVerify().finally(() => (this.verifying = undefined));
    return this.verifying;
  }

  private async doVerify(): Promise<VerifyResult | null> {
    const state = this.state!;
    const name = this.d.cfg.name;
    // Not while a snapshot runs: its retention pass may delete what the verify is reading.
    while (this.running) await this.running.catch(() => undefined);
    let r: VerifyResult;
    try {
      r = await verifySet(this.target!, { readData: this.d.cfg.verify.read_data });
    } catch (err) {
      if (this.stopped) return null;
      this.log.warn({ err: errorLine(err) }, 'scheduled verify could not run; next at the usual interval');
      r = { snapshots: 0, archivesRead: 0, filesChecked: 0, problems: [{ snapshot: '-', problem: `verify could not run: ${errorLine(err)}` }] };
    }
    if (this.stopped) return null;
    this.stats.verifies++;
    state.setMeta('last_verify_ms', String(Date.now()));
    emitJson(this.d.sink, 'backup', { event: 'verified', set: name, snapshots: r.snapshots, archives_read: r.archivesRead, files_checked: r.filesChecked, problems: r.problems.slice(0, 20), problems_total: r.problems.length });
    const labels = { alertname: 'BackupVerifyFailed', set: name, severity: 'critical' };
    if (r.problems.length === 0) {
      this.log.info({ snapshots: r.snapshots, archivesRead: r.archivesRead }, 'scheduled verify ok');
      resolveAlert(this.d.sink, { labels });
      resolveAlert(this.d.sink, { labels: { alertname: 'BackupChainBroken', set: name, severity: 'critical' } });
      return r;
    }
    this.log.error({ problems: r.problems.length, first: r.problems.slice(0, 5) }, 'scheduled verify found problems');
    fireAlert(this.d.sink, {
      labels,
      annotations: { summary: `backup set ${name}: verify found ${r.problems.length} problem(s) on ${this.target!.where}`, problems: r.problems.slice(0, 10).map((p) => `${p.snapshot}: ${p.problem}`).join('\n') },
    });
    // The newest snapshot's chain (on the local record) damaged: build the next one from scratch.
    const byId = new Map(state.snapshots().map((s) => [s.id, s]));
    const chain = new Set<string>();
    for (let cur = state.lastSnapshot(); cur && !chain.has(cur.id); cur = cur.parent ? byId.get(cur.parent) : undefined) chain.add(cur.id);
    const hit = r.problems.find((p) => chain.has(p.snapshot) || p.snapshot === '-');
    if (hit && hit.snapshot !== '-') this.forceFull = `verify found snapshot ${hit.snapshot} of the newest chain damaged (${hit.problem})`;
    return r;
  }

  private alertLabels(): Record<string, string> {
    return { alertname: 'BackupFailed', set: this.d.cfg.name };
  }

  /** Retries exhausted: alert, keep the changes pending, and try again after retry.max. */
  private failed(err: unknown): void {
    this.stats.failures++;
    this.stats.lastError = errorLine(err);
    this.st = 'degraded';
    this.detail = `failing: ${this.stats.lastError}`;
    this.log.error({ err: errorLine(err), code: (err as OpsError).code }, 'snapshot failed; changes stay pending');
    emitJson(this.d.sink, 'backup', { event: 'failed', set: this.d.cfg.name, error: errorLine(err), code: (err as OpsError).code ?? 'OPS_ERR_BACKUP_FAILED', target: this.target?.type });
    this.failing = true;
    fireAlert(this.d.sink, {
      labels: this.alertLabels(),
      annotations: { summary: `backup set ${this.d.cfg.name} failed`, error: this.stats.lastError, target: this.target?.where ?? '' },
    });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.touch(), Math.max(this.d.cfg.retry.max, this.d.cfg.debounce));
    this.retryTimer.unref();
  }

  /** Deletes snapshots the policy no longer keeps (manifest first: uncommit, then archive) and leftovers of killed uploads. */
  private async applyRetention(): Promise<void> {
    const state = this.state!;
    const target = this.target!;
    const { remove } = selectRetention(state.snapshots(), this.d.cfg.retention);
    for (const id of remove) {
      await target.remove(manifestName(id));
      await target.remove(archiveName(id));
      state.forgetSnapshots([id]);
    }
    if (remove.length) {
      emitJson(this.d.sink, 'backup', { event: 'pruned', set: this.d.cfg.name, ids: remove });
      this.log.info({ removed: remove }, 'retention removed snapshots');
    }
    const known = new Set(state.snapshots().map((s) => s.id));
    for (const n of await target.list('snapshots/')) {
      const m = /^snapshots\/([^/]+?)\.(tar\.gz|json)(\.part-.*)?$/.exec(n);
      if (!m) continue;
      if (m[3] || (m[2] === 'tar.gz' && !known.has(m[1]!) && !(await this.hasManifest(m[1]!)))) await target.remove(n);
    }
  }

  private async hasManifest(id: string): Promise<boolean> {
    const names = await this.target!.list('snapshots/');
    return names.includes(manifestName(id));
  }

  status(): { state: ComponentStateName; detail: string } {
    return { state: this.st, detail: this.detail || `pending ${this.state?.pendingCount() ?? 0}` };
  }

  stop(graceMs = 5000): Promise<void> {
    this.stopping ??= this.doStop(graceMs);
    return this.stopping;
  }

  private async doStop(graceMs: number): Promise<void> {
    this.stopped = true;
    this.st = 'stopping';
    for (const t of [this.debounceTimer, this.maxTimer, this.retryTimer, this.verifyTimer]) clearTimeout(t);
    clearInterval(this.rescanTimer);
    await this.watcher?.stop().catch(() => undefined);
    if (this.running) {
      // A snapshot in progress gets the grace period, then is aborted: its changes stay pending.
      const t = setTimeout(() => this.abort.abort(), graceMs);
      t.unref();
      await this.running.catch(() => undefined);
      clearTimeout(t);
    }
    // A verify in progress is not waited for (--read-data can take hours): closing the target ends it.
    this.abort.abort();
    await this.target?.close().catch(() => undefined);
    this.state?.close();
    this.st = 'stopped';
  }

  /** Staging leftovers of a killed process are removed at start. */
  static async cleanStaging(stateDir: string, name: string): Promise<void> {
    const dir = join(stateDir, 'backup', `${name}.staging`);
    for (const f of await readdir(dir).catch(() => [] as string[])) await rm(join(dir, f), { force: true });
  }
}
