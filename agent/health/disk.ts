import type { CheckOf } from '../../shared/config/health.js';
import { readFsUsage } from '../proc/proc.js';
import { fail, ok, since, type CheckKind, type ProbeResult } from './types.js';

/** Filesystem usage (space and inodes) of the filesystem holding `path`. */
export const diskCheck: CheckKind<'disk'> = {
  type: 'disk',
  probe(cfg: CheckOf<'disk'>): Promise<ProbeResult> {
    const start = performance.now();
    let u;
    try {
      u = readFsUsage(cfg.path);
    } catch (err) {
      return Promise.resolve(fail(`cannot stat ${cfg.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, since(start)));
    }
    if (u.usedPercent > cfg.max_used_percent) return Promise.resolve(fail(`${cfg.path} ${u.usedPercent}% used, over ${cfg.max_used_percent}%`, since(start)));
    if (cfg.max_inodes_used_percent !== undefined && u.inodesUsedPercent > cfg.max_inodes_used_percent) {
      return Promise.resolve(fail(`${cfg.path} inodes ${u.inodesUsedPercent}% used, over ${cfg.max_inodes_used_percent}%`, since(start)));
    }
    return Promise.resolve(ok(`${cfg.path} ${u.usedPercent}% used, inodes ${u.inodesUsedPercent}%`, since(start)));
  },
};
