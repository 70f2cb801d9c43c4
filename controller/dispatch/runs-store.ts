import type Database from 'better-sqlite3';

export type HostRunStatus = 'pending' | 'running' | 'ok' | 'failed' | 'timeout' | 'refused' | 'unreachable' | 'skipped' | 'cancelled';

export interface StepRecord {
  index: number;
  name: string;
  status: string;
  exitCode: number;
  durationMs: number;
  data?: unknown;
  error?: string;
  outputTruncated: boolean;
  outputBytes: number;
}

export interface HostRunRecord {
  hostId: string;
  status: HostRunStatus;
  error: string;
  startedAt: string | null;
  endedAt: string | null;
  agentStartedMs: number | null;
  agentEndedMs: number | null;
  steps: StepRecord[];
  output: string;
  outputTruncated: boolean;
}

export interface RunRecord {
  id: string;
  actor: string;
  playbook: string;
  target: string;
  matched: string[];
  options: Record<string, unknown>;
  status: string;
  startedAt: string;
  endedAt: string | null;
  counts: Record<string, number>;
}

interface RunRow {
  id: string;
  actor: string;
  playbook: string;
  target: string;
  matched: string;
  options: string;
  status: string;
  started_ms: number;
  ended_ms: number | null;
  counts: string;
}

interface HostRow {
  run_id: string;
  host_id: string;
  status: HostRunStatus;
  error: string;
  started_ms: number | null;
  ended_ms: number | null;
  agent_started_ms: number | null;
  agent_ended_ms: number | null;
  steps: string;
  output: string;
  output_truncated: number;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Stored runs (the job cache): one row per run, one per host in it. */
/** A host's final row of a run. */
export interface HostFinish {
  hostId: string;
  status: HostRunStatus;
  error: string;
  endedMs: number;
  agentStartedMs: number | null;
  agentEndedMs: number | null;
  steps: StepRecord[];
  output: string;
  outputTruncated: boolean;
}

/** One queued run_hosts write (RunsStore.writeHosts). */
export type RunHostWrite = { kind: 'start'; hostId: string; startedMs: number } | { kind: 'finish'; result: HostFinish };

export class RunsStore {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    this.stmts = {
      insertRun: db.prepare('INSERT INTO runs (id, actor, playbook, target, matched, options, status, started_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      insertHost: db.prepare("INSERT INTO run_hosts (run_id, host_id, status) VALUES (?, ?, 'pending')"),
      startHost: db.prepare("UPDATE run_hosts SET status = 'running', started_ms = ? WHERE run_id = ? AND host_id = ?"),
      finishHost: db.prepare(
        'UPDATE run_hosts SET status = ?, error = ?, ended_ms = ?, agent_started_ms = ?, agent_ended_ms = ?, steps = ?, output = ?, output_truncated = ? WHERE run_id = ? AND host_id = ?',
      ),
      finishRun: db.prepare('UPDATE runs SET status = ?, ended_ms = ?, counts = ? WHERE id = ?'),
      get: db.prepare<[string], RunRow>('SELECT * FROM runs WHERE id = ?'),
      list: db.prepare<[number], RunRow>('SELECT * FROM runs ORDER BY started_ms DESC LIMIT ?'),
      hosts: db.prepare<[string], HostRow>('SELECT * FROM run_hosts WHERE run_id = ? ORDER BY host_id'),
      interrupted: db.prepare("UPDATE runs SET status = 'interrupted', ended_ms = ? WHERE ended_ms IS NULL"),
      interruptedHosts: db.prepare("UPDATE run_hosts SET status = 'cancelled', error = 'controller stopped during the run' WHERE status IN ('pending', 'running')"),
      prune: db.prepare('DELETE FROM runs WHERE started_ms < ?'),
      pruneHosts: db.prepare('DELETE FROM run_hosts WHERE run_id NOT IN (SELECT id FROM runs)'),
    };
  }

  create(r: { id: string; actor: string; playbook: string; target: string; matched: string[]; options: Record<string, unknown>; startedMs: number }): void {
    this.db.transaction(() => {
      this.stmts.insertRun.run(r.id, r.actor, r.playbook, r.target, JSON.stringify(r.matched), JSON.stringify(r.options), 'running', r.startedMs);
      for (const h of r.matched) this.stmts.insertHost.run(r.id, h);
    })();
  }

  /**
   * Several hosts' start and finish rows in one transaction, in order: a fleet-wide run wrote two
   * autocommits per host (10,000 commits at 5,000 hosts) on the event loop that also ingests.
   */
  writeHosts(runId: string, writes: readonly RunHostWrite[]): void {
    if (writes.length === 0) return;
    this.db.transaction(() => {
      for (const w of writes) {
        if (w.kind === 'start') this.startHost(runId, w.hostId, w.startedMs);
        else this.finishHost(runId, w.result);
      }
    })();
  }

  startHost(runId: string, hostId: string, nowMs: number): void {
    this.stmts.startHost.run(nowMs, runId, hostId);
  }

  finishHost(runId: string, h: HostFinish): void {
    this.stmts.finishHost.run(h.status, h.error, h.endedMs, h.agentStartedMs, h.agentEndedMs, JSON.stringify(h.steps), h.output, h.outputTruncated ? 1 : 0, runId, h.hostId);
  }

  finishRun(runId: string, status: string, endedMs: number, counts: Record<string, number>): void {
    this.stmts.finishRun.run(status, endedMs, JSON.stringify(counts), runId);
  }

  /** Runs still open when the controller starts were cut by a stop or a crash. */
  markInterrupted(nowMs: number): number {
    return this.db.transaction(() => {
      this.stmts.interruptedHosts.run();
      return this.stmts.interrupted.run(nowMs).changes;
    })();
  }

  prune(beforeMs: number): number {
    return this.db.transaction(() => {
      const n = this.stmts.prune.run(beforeMs).changes;
      this.stmts.pruneHosts.run();
      return n;
    })();
  }

  private toRecord(r: RunRow): RunRecord {
    return {
      id: r.id,
      actor: r.actor,
      playbook: r.playbook,
      target: r.target,
      matched: JSON.parse(r.matched) as string[],
      options: JSON.parse(r.options) as Record<string, unknown>,
      status: r.status,
      startedAt: iso(r.started_ms)!,
      endedAt: iso(r.ended_ms),
      counts: JSON.parse(r.counts) as Record<string, number>,
    };
  }

  get(id: string): (RunRecord & { hosts: HostRunRecord[] }) | undefined {
    const r = this.stmts.get.get(id);
    if (!r) return undefined;
    return {
      ...this.toRecord(r),
      hosts: this.stmts.hosts.all(id).map((h) => ({
        hostId: h.host_id,
        status: h.status,
        error: h.error,
        startedAt: iso(h.started_ms),
        endedAt: iso(h.ended_ms),
        agentStartedMs: h.agent_started_ms,
        agentEndedMs: h.agent_ended_ms,
        steps: JSON.parse(h.steps) as StepRecord[],
        output: h.output,
        outputTruncated: h.output_truncated === 1,
      })),
    };
  }

  list(limit: number): RunRecord[] {
    return this.stmts.list.all(limit).map((r) => this.toRecord(r));
  }
}
