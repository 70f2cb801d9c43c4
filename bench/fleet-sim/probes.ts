/** What the fleet-scale bench reads from outside the controller: its process (/proc), its database (read-only), a webhook sink. */
import { readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Database from 'better-sqlite3';

/**
 * Seconds the process's main thread ran and waited on a run queue (/proc/PID/schedstat): on a
 * shared machine, a wait far above the run time says the process was starved, not idle.
 */
export function schedStat(pid: number): { runS: number; waitS: number } {
  const [run, wait] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
  return { runS: (run ?? 0) / 1e9, waitS: (wait ?? 0) / 1e9 };
}

/** CPU seconds (user + system) and RSS of a process, from /proc. */
export function procUsage(pid: number): { cpuS: number; rssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the ")" that closes the command name: utime is the 12th, stime the 13th.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]);
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuS: ticks / 100, rssMb: rss ? Number(rss[1]) / 1024 : NaN };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Read-only view of the controller's SQLite (WAL: reading never blocks its writer). */
export class DbProbe {
  private readonly db: Database.Database;

  constructor(private readonly file: string) {
    this.db = new Database(file, { readonly: true, fileMustExist: true });
    this.db.pragma('busy_timeout = 5000');
  }

  /** Bytes on disk: the database plus its WAL. */
  bytes(): number {
    let n = 0;
    for (const f of [this.file, `${this.file}-wal`]) {
      try {
        n += statSync(f).size;
      } catch {
        /* no WAL yet */
      }
    }
    return n;
  }

  online(ids?: readonly string[]): number {
    if (!ids) return (this.db.prepare("SELECT count(*) AS n FROM hosts WHERE status = 'online'").get() as { n: number }).n;
    return this.countStatus(ids, 'online');
  }

  countStatus(ids: readonly string[], status: string): number {
    let n = 0;
    const stmt = this.db.prepare('SELECT status FROM hosts WHERE id = ?');
    for (const id of ids) if ((stmt.get(id) as { status: string } | undefined)?.status === status) n++;
    return n;
  }

  /** Latest status change time among the hosts (when the last of them went offline). */
  maxStatusSince(ids: readonly string[]): number {
    const stmt = this.db.prepare('SELECT status_since_ms AS t FROM hosts WHERE id = ?');
    let max = 0;
    for (const id of ids) max = Math.max(max, (stmt.get(id) as { t: number } | undefined)?.t ?? 0);
    return max;
  }

  /** received_ms − ts_ms of every agent event the controller stored between the two instants, sorted. */
  /** Lag of one host's newest stored event (agent ts → stored), or undefined before its first. */
  lastLag(hostId: string): number | undefined {
    const r = this.db.prepare('SELECT received_ms - ts_ms AS lag FROM events WHERE host_id = ? ORDER BY received_ms DESC LIMIT 1').get(hostId) as { lag: number } | undefined;
    return r?.lag;
  }

  ingestLags(fromMs: number, toMs: number, hostId?: string): number[] {
    const rows = (
      hostId === undefined
        ? this.db.prepare("SELECT received_ms - ts_ms AS lag FROM events WHERE received_ms >= ? AND received_ms < ? AND kind IN ('hb','metric','check','log')").all(fromMs, toMs)
        : this.db.prepare("SELECT received_ms - ts_ms AS lag FROM events WHERE received_ms >= ? AND received_ms < ? AND kind IN ('hb','metric','check','log') AND host_id = ?").all(fromMs, toMs, hostId)
    ) as Array<{ lag: number }>;
    return rows.map((r) => r.lag).sort((a, b) => a - b);
  }

  /** Where a run's time went, per host: launch (run start → host start), connect+call (→ agent start), whole host. */
  runBreakdown(runId: string, runStartMs: number): { launchP50: number; launchMax: number; toAgentP50: number; toAgentP99: number; hostP50: number; hostP99: number } {
    const rows = this.db.prepare('SELECT started_ms AS s, ended_ms AS e, agent_started_ms AS a FROM run_hosts WHERE run_id = ?').all(runId) as Array<{ s: number | null; e: number | null; a: number | null }>;
    const sorted = (xs: number[]) => xs.sort((x, y) => x - y);
    const launch = sorted(rows.filter((r) => r.s !== null).map((r) => r.s! - runStartMs));
    const toAgent = sorted(rows.filter((r) => r.s !== null && r.a !== null).map((r) => r.a! - r.s!));
    const host = sorted(rows.filter((r) => r.s !== null && r.e !== null).map((r) => r.e! - r.s!));
    return { launchP50: percentile(launch, 50), launchMax: launch.at(-1) ?? NaN, toAgentP50: percentile(toAgent, 50), toAgentP99: percentile(toAgent, 99), hostP50: percentile(host, 50), hostP99: percentile(host, 99) };
  }

  eventCounts(): Record<string, number> {
    const rows = this.db.prepare('SELECT kind, count(*) AS n FROM events GROUP BY kind').all() as Array<{ kind: string; n: number }>;
    return Object.fromEntries(rows.map((r) => [r.kind, r.n]));
  }

  /** Bytes per table and index (dbstat), largest first; empty when SQLite lacks dbstat. */
  tableBytes(): Array<{ name: string; bytes: number }> {
    try {
      return this.db.prepare('SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC').all() as Array<{ name: string; bytes: number }>;
    } catch {
      return [];
    }
  }

  close(): void {
    this.db.close();
  }
}

/** A webhook receiver that counts deliveries and the alerts each carried. */
export class WebhookSink {
  readonly messages: Array<{ atMs: number; bytes: number; body: string }> = [];
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        this.messages.push({ atMs: Date.now(), bytes: body.length, body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  since(ms: number): Array<{ atMs: number; bytes: number; body: string }> {
    return this.messages.filter((m) => m.atMs >= ms);
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
