import { closeSync, fsyncSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../shared/logger.js';
import { fireAlert, resolveAlert, type AlertSpec } from '../events/sink.js';
import type { OutboxStore } from './outbox-store.js';

/** Kinds still written while the disk is full: liveness and alerts (AgentDiskFull among them). */
export const PRIORITY_KINDS: ReadonlySet<string> = new Set(['hb', 'alert']);

export interface DiskFullOptions {
  outbox: OutboxStore;
  stateDir: string;
  hostId: string;
  logger: Logger;
  /** Space kept in reserve (a ballast file) and freed when the disk fills. */
  reserveBytes?: number;
  /** How often, while full, free space is looked at and the alert re-asserted. */
  checkIntervalMs?: number;
}

/**
 * Keeps a full disk from making the host look dead. A reserve file (`outbox.reserve`) holds a few
 * MiB in the state dir; when an outbox write fails with ENOSPC the reserve is deleted, the outbox
 * accepts only heartbeats and alerts (log tailing pauses through hasRoom(), other events fail
 * fast), and an `AgentDiskFull` alert is written, so liveness and the alert reach the controller
 * through the same durable path as every other event. Published events are acked and deleted,
 * and the WAL is checkpointed, so the freed space is reused. When space is back the reserve is
 * made again, the alert resolved and every kind written again.
 */
export class DiskFullGuard {
  readonly name = 'disk-full';
  private readonly reserveFile: string;
  private readonly reserveBytes: number;
  private readonly checkMs: number;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private lastFiredMs = 0;
  full = false;
  since = 0;

  constructor(private readonly o: DiskFullOptions) {
    this.reserveFile = join(o.stateDir, 'outbox.reserve');
    this.reserveBytes = o.reserveBytes ?? 8 * 1024 * 1024;
    this.checkMs = o.checkIntervalMs ?? 5000;
    this.log = o.logger.child({ component: 'outbox.disk-full' });
  }

  private get alert(): AlertSpec {
    return {
      labels: { alertname: 'AgentDiskFull', severity: 'critical', path: this.o.stateDir },
      annotations: { summary: `the file system of ${this.o.stateDir} is full: only heartbeats and alerts are recorded; logs wait, metrics and check results are dropped` },
    };
  }

  start(): void {
    if (!this.makeReserve()) this.log.warn({ file: this.reserveFile, bytes: this.reserveBytes }, 'cannot make the disk-full reserve; a full disk will stop heartbeats');
    this.unsubscribe = this.o.outbox.onDiskFull(() => this.enter());
    this.timer = setInterval(() => this.tick(), this.checkMs);
    this.timer.unref();
  }

  private makeReserve(): boolean {
    let fd: number | undefined;
    try {
      fd = openSync(this.reserveFile, 'w', 0o600);
      const chunk = Buffer.alloc(1024 * 1024, 0x5a);
      for (let left = this.reserveBytes; left > 0; left -= chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, left));
      fsyncSync(fd);
      return true;
    } catch {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
      rmSync(this.reserveFile, { force: true });
      return false;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /** Runs inside the failing append: frees the reserve and restricts the outbox before anything else writes. */
  private enter(): void {
    if (this.full) return;
    this.full = true;
    this.since = Date.now();
    rmSync(this.reserveFile, { force: true });
    this.o.outbox.setPriorityOnly(PRIORITY_KINDS);
    this.log.error({ path: this.o.stateDir, freedBytes: this.reserveBytes }, 'disk full: reserve freed; only heartbeats and alerts are recorded until space is back');
    // Deferred: the append that failed is still unwinding.
    setImmediate(() => this.fire());
  }

  private fire(): void {
    try {
      fireAlert(this.o.outbox, this.alert, this.since);
      this.lastFiredMs = Date.now();
    } catch (err) {
      this.log.error({ err }, 'AgentDiskFull alert not written');
    }
  }

  private freeBytes(): number {
    const s = statfsSync(this.o.stateDir);
    return Number(s.bavail) * Number(s.bsize);
  }

  private tick(): void {
    if (!this.full) return;
    this.o.outbox.checkpoint();
    let free = 0;
    try {
      free = this.freeBytes();
    } catch (err) {
      this.log.warn({ err }, 'cannot read free space');
    }
    // Room for the reserve and as much again: otherwise stay restricted and keep the alert firing.
    if (free >= this.reserveBytes * 2 && this.makeReserve()) {
      this.full = false;
      this.o.outbox.setPriorityOnly(undefined);
      try {
        resolveAlert(this.o.outbox, this.alert);
      } catch (err) {
        this.log.error({ err }, 'AgentDiskFull resolution not written');
      }
      this.log.info({ path: this.o.stateDir, freeBytes: free, fullForMs: Date.now() - this.since }, 'disk space is back; every event is recorded again');
      return;
    }
    if (Date.now() - this.lastFiredMs >= 60_000) this.fire();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.unsubscribe?.();
  }

  state(): { state: 'running' | 'degraded'; detail: string } {
    return this.full ? { state: 'degraded', detail: `disk full since ${new Date(this.since).toISOString()}` } : { state: 'running', detail: 'reserve kept' };
  }
}
