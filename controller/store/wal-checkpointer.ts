import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { Logger } from '../../shared/logger.js';

/**
 * SQLite's default (1,000 pages) for the fallback when the checkpointer is gone: the main
 * connection checkpoints for itself again, blocking but bounded.
 */
const FALLBACK_AUTOCHECKPOINT_PAGES = 1000;

export interface WalCheckpointerOptions {
  /** The database file (the main connection's). */
  file: string;
  /** The main connection: its automatic checkpoints are switched off while the worker runs. */
  db: Database.Database;
  logger: Logger;
  /** How often the worker checkpoints (PASSIVE) what the WAL holds. */
  intervalMs?: number;
  /** Past this many frames (4 KiB pages) in the WAL a RESTART checkpoint makes it start over (default 4,096: 16 MiB). */
  restartAboveFrames?: number;
  /** A WAL file larger than this is truncated once the writers are idle (a tick without new frames). */
  truncateAboveBytes?: number;
}

export interface WalCheckpointerStats {
  /** PASSIVE checkpoints that copied at least one frame. */
  checkpoints: number;
  /** Frames copied into the database file. */
  frames: number;
  /** RESTART checkpoints (a writer that never paused kept the WAL from starting over by itself). */
  restarts: number;
  /** TRUNCATE checkpoints (the WAL file shrunk to zero while idle). */
  truncates: number;
  /** The WAL's frame count after the last checkpoint (what it could not copy: pinned by readers or written meanwhile). */
  walFrames: number;
  /** Checkpoints that failed (busy, I/O): the next tick tries again. */
  errors: number;
  /** Longest PASSIVE pass, ms (in the worker: time the main thread did NOT spend; writers go on meanwhile). */
  maxMs: number;
  /** Longest RESTART or TRUNCATE, ms: these hold new writers (ingest's commits) back while they run. */
  maxBlockingMs: number;
  running: boolean;
}

// The worker (eval'd CommonJS, as integrity.ts: works from the sources under tsx and from the
// bundle alike). Its own connection, busy_timeout short: a TRUNCATE that finds a writer gives up
// and comes back next tick instead of holding the write lock it waits for.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const fs = require('node:fs');
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 50');
db.pragma('wal_autocheckpoint = 0');
const walFile = workerData.file + '-wal';
let lastLog = -1;
let lastCopied = 0;
let stopped = false;
const stats = { checkpoints: 0, frames: 0, restarts: 0, truncates: 0, walFrames: 0, errors: 0, maxMs: 0, maxBlockingMs: 0 };
function blocking(mode) {
  const t0 = performance.now();
  const r = db.pragma('wal_checkpoint(' + mode + ')')[0];
  const ms = performance.now() - t0;
  if (ms > stats.maxBlockingMs) stats.maxBlockingMs = ms;
  return r;
}
function walBytes() { try { return fs.statSync(walFile).size; } catch { return 0; } }
function tick() {
  if (stopped) return;
  try {
    // A pass copies the frames the WAL held when it began; a writer appending meanwhile leaves
    // a tail, and SQLite restarts the WAL from its start only when a write transaction begins
    // with every frame copied. Passes repeat (each copying the shorter tail the previous one
    // left) until one finds nothing new: then the next commit starts the WAL over.
    let r;
    let prevLog = -1;
    for (let pass = 0; pass < workerData.maxPasses; pass++) {
      const t0 = performance.now();
      r = db.pragma('wal_checkpoint(PASSIVE)')[0];
      const ms = performance.now() - t0;
      if (ms > stats.maxMs) stats.maxMs = ms;
      if (r.log < lastCopied) lastCopied = 0; // the WAL was restarted
      if (r.checkpointed > lastCopied) { stats.checkpoints++; stats.frames += r.checkpointed - lastCopied; lastCopied = r.checkpointed; }
      if (r.log === prevLog || r.log === 0 || r.checkpointed < r.log) break;
      prevLog = r.log;
    }
    // A writer that never pauses keeps a tail ahead of every pass: past restartAboveFrames a
    // RESTART copies that tail (small now) with new writers held back for that long only, and
    // the next commit starts the WAL over. The main thread waits those few ms, not a full checkpoint.
    if (r.log > workerData.restartAboveFrames) {
      const t = blocking('RESTART');
      if (t.busy === 0) { stats.restarts++; lastCopied = 0; r = { log: 0, checkpointed: 0 }; }
    }
    stats.walFrames = r.log - r.checkpointed;
    // Idle (nothing written since the last tick) and fully copied: give the file's space back.
    if (r.log === lastLog && r.log === r.checkpointed && walBytes() > workerData.truncateAboveBytes) {
      const t = blocking('TRUNCATE');
      if (t.busy === 0) { stats.truncates++; lastCopied = 0; }
    }
    lastLog = r.log;
  } catch (err) {
    stats.errors++;
    parentPort.postMessage({ type: 'error', message: String(err && err.message || err), code: err && err.code });
  }
  parentPort.postMessage({ type: 'stats', stats });
  setTimeout(tick, workerData.intervalMs);
}
parentPort.on('message', (m) => {
  if (m === 'stop') { stopped = true; try { db.close(); } catch {} parentPort.close(); }
});
parentPort.postMessage({ type: 'ready' });
tick();
`;

/**
 * Checkpoints the controller database's WAL from a worker thread with its own connection, so
 * the main connection never does: an automatic checkpoint runs inside the COMMIT that crosses
 * 1,000 pages and copies and fsyncs megabytes on the event loop (at 10,000 agents the main
 * thread was blocked in SQLite while only half a core busy). The main connection's
 * `wal_autocheckpoint` is 0 while the worker runs; the worker copies what the WAL holds every
 * `intervalMs` (PASSIVE: it never waits for or blocks a writer) and truncates the file when
 * writes pause. If the worker dies, the main connection checkpoints for itself again.
 */
export class WalCheckpointer {
  readonly name = 'wal-checkpointer';
  private worker: Worker | undefined;
  private readonly log: Logger;
  private stopping: Promise<void> | undefined;
  private last: WalCheckpointerStats = { checkpoints: 0, frames: 0, restarts: 0, truncates: 0, walFrames: 0, errors: 0, maxMs: 0, maxBlockingMs: 0, running: false };
  private lastErrorLogMs = 0;

  constructor(private readonly o: WalCheckpointerOptions) {
    this.log = o.logger.child({ component: 'wal-checkpointer' });
  }

  /** Starts the worker; resolves once its connection is open (then the main connection stops checkpointing). */
  async start(): Promise<void> {
    const module = createRequire(import.meta.url).resolve('better-sqlite3');
    const w = new Worker(WORKER, { eval: true, workerData: { file: this.o.file, module, intervalMs: this.o.intervalMs ?? 200, maxPasses: 8, restartAboveFrames: this.o.restartAboveFrames ?? 4096, truncateAboveBytes: this.o.truncateAboveBytes ?? 64 * 2 ** 20 } });
    this.worker = w;
    // Referenced while start() and stop() wait on it; unref'd in between so it never holds the process.
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      w.once('error', onError);
      w.once('message', (m: { type: string }) => {
        w.off('error', onError);
        if (m.type === 'ready') resolve();
        else reject(new Error(`wal checkpointer: unexpected first message ${m.type}`));
      });
    });
    w.unref();
    this.o.db.pragma('wal_autocheckpoint = 0');
    this.last.running = true;
    w.on('message', (m: { type: 'stats'; stats: Omit<WalCheckpointerStats, 'running'> } | { type: 'error'; message: string; code?: string }) => {
      if (m.type === 'stats') this.last = { ...m.stats, running: true };
      else if (Date.now() - this.lastErrorLogMs > 60_000) {
        this.lastErrorLogMs = Date.now();
        this.log.warn({ err: { message: m.message, code: m.code } }, 'WAL checkpoint failed; retrying');
      }
    });
    w.on('error', (err) => this.fallBack(err));
    w.on('exit', (code) => {
      if (!this.stopping) this.fallBack(new Error(`checkpoint worker exited with code ${code}`));
    });
    this.log.info({ intervalMs: this.o.intervalMs ?? 200 }, 'WAL checkpoints run in a worker thread');
  }

  /** The worker is gone: the main connection checkpoints for itself again (blocking, but the WAL stays bounded). */
  private fallBack(err: Error): void {
    if (!this.last.running) return;
    this.last = { ...this.last, running: false };
    this.worker = undefined;
    try {
      if (this.o.db.open) this.o.db.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
    } catch {
      /* closing */
    }
    this.log.error({ err }, 'WAL checkpoint worker failed; the main connection checkpoints again');
  }

  stats(): WalCheckpointerStats {
    return { ...this.last };
  }

  /** Stops the worker (idempotent); the main connection checkpoints for itself again (and at close). */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const w = this.worker;
      this.worker = undefined;
      if (this.last.running && this.o.db.open) this.o.db.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT_PAGES}`);
      this.last = { ...this.last, running: false };
      if (!w) return;
      w.ref();
      const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
      w.postMessage('stop');
      const t = setTimeout(() => void w.terminate(), 2000);
      t.unref();
      await exited;
      clearTimeout(t);
    })();
    return this.stopping;
  }
}
