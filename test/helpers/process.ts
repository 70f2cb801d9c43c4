import { spawn, type ChildProcess } from 'node:child_process';
import { waitFor } from './wait.js';

export const REPO_ROOT = new URL('../../', import.meta.url).pathname;

// bin/*.js run dist/ when it is built: tests run the sources unless a suite asks for the
// compiled programs (test/compiled/), so a stale dist/ never stands in for the code under test.
process.env.OPSFLEET_RUNTIME ??= 'tsx';

/**
 * A child process whose stdout/stderr are kept (for assertions and failure reports). Stopped by
 * PID only; `kill()` is safe to call when it already exited.
 */
export class Child {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitCode: number | null | undefined;

  constructor(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
    this.proc = spawn(cmd, args, { cwd: opts.cwd ?? REPO_ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.exitCode = code;
        resolve({ code, signal });
      });
    });
    liveChildren.add(this);
    void this.exited.then(() => liveChildren.delete(this));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Parsed pino JSON lines from stdout. */
  logs(): Array<Record<string, unknown>> {
    return this.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return {};
        }
      });
  }

  async waitForLog(pred: (l: Record<string, unknown>) => boolean, timeout = 15_000, what = 'log line'): Promise<Record<string, unknown>> {
    return waitFor(
      () => {
        if (!this.running) throw new Error(`process exited (${this.exitCode}) before ${what}\n${this.tail()}`);
        return this.logs().find(pred);
      },
      { timeout, what },
    );
  }

  tail(n = 30): string {
    return `--- stdout ---\n${this.stdout.split('\n').slice(-n).join('\n')}\n--- stderr ---\n${this.stderr.split('\n').slice(-n).join('\n')}`;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) {
      try {
        process.kill(this.pid, signal);
      } catch {
        /* already gone */
      }
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.kill('SIGTERM');
    const t = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

/** Whether a process with this PID exists (signal 0 probes without touching it). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const liveChildren = new Set<Child>();

/** Safety net: whatever a failed test left running is killed by PID when the test process exits. */
process.once('exit', () => {
  for (const c of liveChildren) c.kill('SIGKILL');
});
