import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../shared/logger.js';
import { listPids, readProcStat } from '../proc/proc.js';
import { writeFileAtomic } from '../state/state-dir.js';

/** One process group a shell step runs in: its leader's PID (= PGID) and start time (clock ticks since boot). */
export interface GroupRecord {
  pgid: number;
  startTicks: number;
  what: string;
}

/** PIDs of every live process in process group `pgid`. */
function members(pgid: number): number[] {
  return listPids().filter((pid) => readProcStat(pid)?.pgrp === pgid);
}

/**
 * A record, in the state dir, of the process groups shell steps are running in. A step runs in
 * its own group and is killed with it on timeout or cancel; but when the agent itself is killed
 * (SIGKILL, OOM, crash) nothing kills the group, and its processes live on with parent 1. At the
 * next start `reapLeftovers()` kills every recorded group that still exists. (A systemd scope or
 * cgroup would contain them without a record; a process group works on every Linux.)
 *
 * PID reuse: while any process is in a group, Linux does not hand its number out again, so a
 * group found under a recorded PGID is ours, unless its leader is alive with another start time
 * (the group died and the number came back as a new process's own group): then it is left alone.
 */
export class ProcessGroupRecord {
  private readonly file: string;
  private readonly groups = new Map<number, GroupRecord>();

  constructor(stateDir: string) {
    this.file = join(stateDir, 'running-steps.json');
  }

  /** Notes a group as running (durable on return). */
  add(pgid: number, what: string): void {
    const info = readProcStat(pgid);
    this.groups.set(pgid, { pgid, startTicks: info?.startTicks ?? 0, what: what.slice(0, 200) });
    this.save();
  }

  /** Forgets a group that ended. */
  remove(pgid: number): void {
    if (this.groups.delete(pgid)) this.save();
  }

  private save(): void {
    if (this.groups.size === 0) rmSync(this.file, { force: true });
    else writeFileAtomic(this.file, `${JSON.stringify([...this.groups.values()])}\n`);
  }

  /** Kills what the previous run of the agent left running; returns the groups it killed. */
  reapLeftovers(log: Logger): GroupRecord[] {
    let recorded: GroupRecord[];
    try {
      recorded = JSON.parse(readFileSync(this.file, 'utf8')) as GroupRecord[];
      if (!Array.isArray(recorded)) recorded = [];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ err, file: this.file }, 'record of running shell steps unreadable; nothing reaped');
      rmSync(this.file, { force: true });
      return [];
    }
    const killed: GroupRecord[] = [];
    for (const g of recorded) {
      if (!Number.isInteger(g.pgid) || g.pgid <= 1) continue;
      const leader = readProcStat(g.pgid);
      if (leader && leader.startTicks !== g.startTicks) continue;
      const pids = members(g.pgid);
      if (pids.length === 0) continue;
      try {
        process.kill(-g.pgid, 'SIGKILL');
        killed.push(g);
        log.warn({ pgid: g.pgid, processes: pids.length, step: g.what }, 'killed processes a shell step left running when the agent stopped abruptly');
      } catch (err) {
        log.warn({ err, pgid: g.pgid }, 'cannot kill a leftover shell step process group');
      }
    }
    rmSync(this.file, { force: true });
    return killed;
  }
}
