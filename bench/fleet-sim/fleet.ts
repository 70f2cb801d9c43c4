/**
 * The simulated fleet: a few worker processes (fork + IPC), each holding a slice of the virtual
 * agents. Groups are workers: stopping or SIGKILLing a group takes all its agents' NATS
 * connections and gRPC ports down at the same instant, as when hosts lose power.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { ParentMessage, WorkerMessage, WorkerSpec } from './protocol.js';
import type { SimCounters } from './virtual-agent.js';

const WORKER = join(new URL('.', import.meta.url).pathname, 'worker.ts');

export interface GroupSpec extends Omit<WorkerSpec, 'first'> {
  name: string;
}

interface Worker {
  group: string;
  spec: WorkerSpec;
  proc: ChildProcess;
  exited: Promise<void>;
  ready: Promise<{ connectMs: number }>;
  running: boolean;
}

export interface WorkerStats {
  group: string;
  counters: SimCounters;
  rpcCalls: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  rssMb: number;
  /** The worker's event-loop delay since the previous stats() (a stalled worker sends late what it stamped on time). */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

export class SimFleet {
  private readonly workers: Worker[] = [];

  /** Forks one worker per group and waits until every agent is connected. */
  async start(groups: GroupSpec[], timeoutMs: number, onProgress?: (line: string) => void): Promise<void> {
    let first = 0;
    for (const g of groups) {
      const { name, ...rest } = g;
      const spec: WorkerSpec = { ...rest, first };
      first += g.count;
      // OPSFLEET_SIM_CPU_PROF=<dir>: a V8 CPU profile per worker (where the simulator's own CPU goes).
      const prof = process.env.OPSFLEET_SIM_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.OPSFLEET_SIM_CPU_PROF] : [];
      const proc = fork(WORKER, [JSON.stringify(spec)], { execArgv: ['--import', 'tsx', ...prof], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const w: Worker = { group: name, spec, proc, running: true, exited: new Promise((r) => proc.once('exit', () => r())), ready: Promise.resolve({ connectMs: 0 }) };
      void w.exited.then(() => (w.running = false));
      w.ready = new Promise((resolve, reject) => {
        proc.on('message', (m: WorkerMessage) => {
          if (m.type === 'ready') resolve({ connectMs: m.connectMs });
          else if (m.type === 'progress') onProgress?.(`${name}: ${m.connected}/${spec.count} connected`);
          else if (m.type === 'error') reject(new Error(`simulator worker ${name}: ${m.message}`));
        });
        void w.exited.then(() => reject(new Error(`simulator worker ${name} exited before it was ready`)));
      });
      this.workers.push(w);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`simulated fleet not connected within ${timeoutMs} ms`)), timeoutMs)));
    try {
      await Promise.race([Promise.all(this.workers.map((w) => w.ready)), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The host ids the groups will get, in order (before start: per-host credentials are issued for them). */
  static plannedHostIds(groups: GroupSpec[]): string[] {
    const out: string[] = [];
    let first = 0;
    for (const g of groups) {
      for (let i = 0; i < g.count; i++) out.push(`${g.hostPrefix}${String(first + i).padStart(5, '0')}`);
      first += g.count;
    }
    return out;
  }

  hostIds(group?: string): string[] {
    return this.workers.filter((w) => group === undefined || w.group === group).flatMap((w) => Array.from({ length: w.spec.count }, (_, i) => `${w.spec.hostPrefix}${String(w.spec.first + i).padStart(5, '0')}`));
  }

  /** SIGKILLs every worker of the group; resolves when they are gone. Returns the kill instant. */
  async kill(group: string): Promise<number> {
    const ws = this.workers.filter((w) => w.group === group && w.running);
    const at = Date.now();
    for (const w of ws) w.proc.kill('SIGKILL');
    await Promise.all(ws.map((w) => w.exited));
    return at;
  }

  /** Counters of every live worker. */
  async stats(): Promise<WorkerStats[]> {
    const live = this.workers.filter((w) => w.running);
    return Promise.all(
      live.map(
        (w) =>
          new Promise<WorkerStats>((resolve) => {
            const on = (m: WorkerMessage) => {
              if (m.type !== 'stats') return;
              w.proc.off('message', on);
              resolve({ group: w.group, counters: m.counters, rpcCalls: m.rpcCalls, cpuUserMs: m.cpuUserMs, cpuSystemMs: m.cpuSystemMs, rssMb: m.rssMb, loopDelayP99Ms: m.loopDelayP99Ms, loopDelayMaxMs: m.loopDelayMaxMs });
            };
            w.proc.on('message', on);
            w.proc.send({ type: 'stats' } satisfies ParentMessage);
          }),
      ),
    );
  }

  /** Stops every worker by its PID: a clean stop first, SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    await Promise.all(
      this.workers.map(async (w) => {
        if (!w.running) return;
        try {
          w.proc.send({ type: 'stop' } satisfies ParentMessage);
        } catch {
          /* IPC already closed */
        }
        const t = setTimeout(() => w.proc.kill('SIGKILL'), graceMs);
        await w.exited;
        clearTimeout(t);
      }),
    );
  }
}
