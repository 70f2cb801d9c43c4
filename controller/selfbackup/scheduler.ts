import { rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { Cron } from 'croner';
import type { ControllerConfig } from '../../shared/config/controller.js';
import { createTarget } from '../../shared/backup/targets/index.js';
import { errorLine } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { backupSources, createBackup, sha256File } from './create-backup.js';

type SelfBackupConfig = ControllerConfig['self_backup'][number];

/** Archive names on the target, under `controller/`: sortable by time. */
export const ARCHIVE_DIR = 'controller/';
const ARCHIVE = /^controller-\d{8}T\d{6}(\d{3})?Z\.tar\.gz$/;

export interface SelfBackupStatus {
  runs: number;
  failures: number;
  last?: { atMs: number; ok: boolean; name?: string; bytes?: number; error?: string };
}

/**
 * The scheduled `opsfleet-controller backup` inside the running controller: the same archive,
 * sent to a dir, S3 or SFTP target with the agents' target code (written under a temporary
 * name, read back and checked against its sha-256, then renamed), then the archives beyond
 * `keep` removed, oldest first. A failed run is logged and reported to `onFailure`; the next
 * slot tries again.
 */
export class SelfBackupScheduler {
  readonly name = 'self-backup';
  private cron: Cron | undefined;
  private running: Promise<void> | undefined;
  private readonly log: Logger;
  readonly status: SelfBackupStatus = { runs: 0, failures: 0 };

  constructor(
    private readonly d: {
      cfg: SelfBackupConfig;
      dataDir: string;
      logger: Logger;
      timezone?: string | undefined;
      /**
       * The controller's config file, carried like `opsfleet-controller backup --to` carries it
       * (required, undefined only when there is none, e.g. a controller built in a test).
       */
      configFile: string | undefined;
      onFailure?: (error: string) => void;
      now?: () => number;
    },
  ) {
    this.log = d.logger.child({ component: 'self-backup', backup: d.cfg.name });
  }

  start(): void {
    this.cron = new Cron(this.d.cfg.schedule, { protect: true, ...(this.d.timezone ? { timezone: this.d.timezone } : {}) }, () => void this.runNow());
    this.log.info({ schedule: this.d.cfg.schedule, next: this.cron.nextRun()?.toISOString() }, 'scheduled controller backup');
  }

  /** One backup now (coalesced with one already running). */
  runNow(): Promise<void> {
    this.running ??= this.once().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async once(): Promise<void> {
    const cfg = this.d.cfg;
    const now = (this.d.now ?? Date.now)();
    const name = `controller-${new Date(now).toISOString().replace(/[-:]/g, '').replace(/\.(\d{3})Z$/, '$1Z')}.tar.gz`;
    const work = resolve(cfg.work_dir ?? join(this.d.dataDir, '.self-backup', cfg.name));
    const file = join(work, name);
    this.status.runs++;
    let target;
    try {
      const r = await createBackup({ ...backupSources(this.d), to: file, method: cfg.method, exclude: [work] });
      target = await createTarget(cfg.target, { host: hostname(), set: cfg.name });
      await target.put(`${ARCHIVE_DIR}${name}`, { file }, await sha256File(file));
      const removed = await this.applyRetention(target);
      this.status.last = { atMs: now, ok: true, name, bytes: r.bytes };
      this.log.info({ name, bytes: r.bytes, where: target.where, snapshotMs: Math.round(r.snapshotMs), removed }, 'controller backup stored');
    } catch (err) {
      this.status.failures++;
      this.status.last = { atMs: now, ok: false, error: errorLine(err) };
      this.log.error({ err, name }, 'scheduled controller backup failed');
      try {
        this.d.onFailure?.(errorLine(err));
      } catch (e) {
        this.log.error({ err: e }, 'reporting the failed backup failed');
      }
    } finally {
      await rm(file, { force: true }).catch(() => undefined);
      await target?.close().catch(() => undefined);
    }
  }

  private async applyRetention(target: Awaited<ReturnType<typeof createTarget>>): Promise<string[]> {
    const names = (await target.list(ARCHIVE_DIR)).filter((n) => ARCHIVE.test(n.slice(n.lastIndexOf('/') + 1))).sort();
    const old = names.slice(0, Math.max(0, names.length - this.d.cfg.keep));
    for (const n of old) await target.remove(n);
    return old;
  }

  async stop(): Promise<void> {
    this.cron?.stop();
    await this.running;
  }
}
