import { spawn, type ChildProcess } from 'node:child_process';
import type { RestartConfig } from '../../shared/config/health.js';
import type { Logger } from '../../shared/logger.js';

type SuperviseConfig = NonNullable<RestartConfig['supervise']>;

export interface ExitInfo {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** How long it ran. */
  ranMs: number;
}

/**
 * Owns one supervised process: starts it in its own process group (so stopping it also stops
 * whatever it forked) and reports exits it did not ask for. Policy (respawn, backoff, giving
 * up) lives in the Restarter; this class only knows how to start and stop.
 */
export class Supervisor {
  private child: ChildProcess | undefined;
  private startedAt = 0;
  private exited: Promise<void> = Promise.resolve();
  private intentional = new WeakSet<ChildProcess>();

  constructor(
    private readonly cfg: SuperviseConfig,
    private readonly onUnexpectedExit: (e: ExitInfo) => void,
    private readonly log: Logger,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts the process; returns its PID (throws when it cannot be spawned at all). */
  spawn(): number {
    const child = spawn('/bin/sh', ['-c', `exec ${this.cfg.command}`], {
      cwd: this.cfg.cwd,
      env: { ...process.env, ...this.cfg.env },
      stdio: 'ignore',
      detached: true,
    });
    if (child.pid === undefined) throw new Error(`cannot start "${this.cfg.command}"`);
    this.child = child;
    this.startedAt = Date.now();
    const pid = child.pid;
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        if (this.child === child) this.child = undefined;
        resolve();
        if (!this.intentional.has(child)) this.onUnexpectedExit({ pid, code, signal, ranMs: Date.now() - this.startedAt });
      });
      child.once('error', (err) => {
        this.log.error({ err, command: this.cfg.command }, 'supervised process error');
      });
    });
    this.log.info({ pid, command: this.cfg.command }, 'supervised process started');
    return pid;
  }

  /** SIGTERM to the process group, SIGKILL after stop_grace; resolves when it has exited. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    this.intentional.add(child);
    const pid = child.pid;
    const signalGroup = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pid, sig);
      } catch {
        /* already gone */
      }
    };
    signalGroup('SIGTERM');
    const t = setTimeout(() => signalGroup('SIGKILL'), this.cfg.stop_grace);
    await this.exited;
    clearTimeout(t);
  }

  /** Stops the current process (if any) and starts a new one; returns the new PID. */
  async restart(): Promise<number> {
    await this.kill();
    return this.spawn();
  }
}
