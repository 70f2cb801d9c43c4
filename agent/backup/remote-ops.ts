import { isAbsolute } from 'node:path';
import { OpsError } from '../../shared/errors.js';
import type { BackupNowResponse, BackupRestoreRequest, BackupRestoreResponse, BackupVerifyResponse } from '../../shared/gen/opsfleet/v1/agent.js';
import type { Logger } from '../../shared/logger.js';
import type { BackupManager } from './backup-manager.js';
import { OVERWRITE_POLICIES, restoreSnapshot, type OverwritePolicy } from './restore.js';
import { safeRelPath } from './safe-path.js';
import { toArchivePath } from './scan.js';
import { createTarget } from '../../shared/backup/targets/index.js';
import type { BackupTarget } from './types.js';
import { verifySet } from './verify.js';

/**
 * The operator's backup actions arriving over gRPC (`opsctl backup now|verify|restore`). They
 * reuse the same snapshot, verify and restore code as the agent's own CLI; failures are
 * OpsErrors whose code the RPC layer turns into a gRPC status (NOT_FOUND, FAILED_PRECONDITION,
 * INVALID_ARGUMENT...). Verify and restore open their own connection to the set's target, so
 * they also work for a set that could not start (its watched folder is gone: restore it).
 */
export class BackupRemoteOps {
  /** Restores in progress, by set: one at a time per set (two into one folder would race). */
  private readonly restoring = new Set<string>();
  private readonly log: Logger;

  constructor(
    private readonly manager: () => BackupManager | undefined,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'backup.remote' });
  }

  private mgr(): BackupManager {
    const m = this.manager();
    if (!m) throw new OpsError('OPS_ERR_BACKUP_NOT_RUNNING', 'the agent is still starting its backup sets; try again');
    return m;
  }

  private configOf(set: string) {
    const m = this.mgr();
    const cfg = m.config(set);
    if (!cfg) throw new OpsError('OPS_ERR_BACKUP_NO_SET', `this agent has no backup set "${set}" (sets: ${m.names.join(', ') || 'none'})`);
    return { m, cfg };
  }

  private async withTarget<T>(set: string, fn: (t: BackupTarget) => Promise<T>): Promise<T> {
    const { m, cfg } = this.configOf(set);
    const target = await createTarget(cfg.target, { host: m.hostId, set: cfg.name });
    try {
      return await fn(target);
    } finally {
      await target.close().catch(() => undefined);
    }
  }

  async now(set: string): Promise<BackupNowResponse> {
    const { m } = this.configOf(set);
    const s = m.get(set);
    if (!s) throw new OpsError('OPS_ERR_BACKUP_NOT_RUNNING', `backup set ${set} is not running: ${m.startError(set) ?? 'not started'}`);
    const before = s.lastSnapshotId();
    this.log.info({ set }, 'snapshot requested by the operator');
    const man = await s.snapshotNow({ rethrow: true });
    if (!man) return { taken: false, id: '', type: '', parent: '', files: 0, bytes: 0, archiveBytes: 0, durationMs: 0, lastId: before };
    return { taken: true, id: man.id, type: man.type, parent: man.parent ?? '', files: man.files, bytes: man.bytes, archiveBytes: man.archive.size, durationMs: man.duration_ms, lastId: before };
  }

  async verify(set: string, readData: boolean): Promise<BackupVerifyResponse> {
    return this.withTarget(set, async (t) => {
      const r = await verifySet(t, { readData });
      if (r.problems.length) this.log.warn({ set, problems: r.problems.length }, 'verify found problems');
      return { snapshots: r.snapshots, archivesRead: r.archivesRead, filesChecked: r.filesChecked, problems: r.problems, where: t.where };
    });
  }

  async restore(req: BackupRestoreRequest, signal: AbortSignal): Promise<BackupRestoreResponse> {
    // Checked before anything is opened: a relative folder would land in the agent's cwd.
    if (!req.to || !isAbsolute(req.to)) throw new OpsError('OPS_ERR_USAGE', `--to must be an absolute folder on the agent's host, got ${JSON.stringify(req.to)}`);
    const sub = req.path ? toArchivePath(req.path) : '';
    if (sub) safeRelPath(sub, '--path');
    if (req.snapshot && req.atMs) throw new OpsError('OPS_ERR_USAGE', 'give --snapshot or --at, not both');
    const overwrite = (req.overwrite || 'never') as OverwritePolicy;
    if (!OVERWRITE_POLICIES.includes(overwrite)) throw new OpsError('OPS_ERR_USAGE', `--overwrite must be one of ${OVERWRITE_POLICIES.join(', ')}, got ${JSON.stringify(req.overwrite)}`);
    this.configOf(req.set);
    if (this.restoring.has(req.set)) throw new OpsError('OPS_ERR_BACKUP_BUSY', `a restore of backup set ${req.set} is already running on this agent`);
    this.restoring.add(req.set);
    try {
      this.log.info({ set: req.set, snapshot: req.snapshot || null, atMs: req.atMs || null, to: req.to, path: req.path || null, overwrite, actor: req.actor || null }, 'restore requested by the operator');
      const r = await this.withTarget(req.set, (t) =>
        restoreSnapshot(t, { to: req.to, signal, overwrite, ...(req.snapshot ? { snapshot: req.snapshot } : {}), ...(req.atMs ? { atMs: req.atMs } : {}), ...(req.path ? { path: req.path } : {}) }),
      );
      const { keptPaths, failures, ...counts } = r;
      if (r.failed > 0) this.log.warn({ set: req.set, ...counts, first: failures.slice(0, 5) }, 'restore done; some paths not restored');
      else this.log.info({ set: req.set, ...counts }, 'restore done');
      return { ...counts, to: req.to, keptPaths: keptPaths.map(wireName), failures: failures.map((f) => ({ ...f, path: wireName(f.path) })) };
    } finally {
      this.restoring.delete(req.set);
    }
  }
}

/** Proto strings are UTF-8: a byte of a name that is not (a surrogate escape) travels as \xNN. */
function wireName(p: string): string {
  return p.replace(/[\udc80-\udcff]/g, (c) => `\\x${(c.charCodeAt(0) - 0xdc00).toString(16)}`);
}
