import type { BackupSetConfig } from '../../shared/config/backup.js';
import { errorLine, type OpsError } from '../../shared/errors.js';
import type { ComponentStateName } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/logger.js';
import { emitJson, fireAlert, type EventSink } from '../events/sink.js';
import { BackupSet } from './backup-set.js';

export interface BackupManagerDeps {
  sets: readonly BackupSetConfig[];
  hostId: string;
  stateDir: string;
  sink: EventSink;
  logger: Logger;
}

/**
 * All backup sets of the agent. A set that cannot start (unreadable path, broken target
 * config) is logged, reported as a BackupFailed alert and left out; the others and the rest
 * of the agent keep running. `start()` never throws.
 */
export class BackupManager {
  readonly sets = new Map<string, BackupSet>();
  private readonly failedToStart = new Map<string, string>();
  private readonly log: Logger;

  constructor(private readonly d: BackupManagerDeps) {
    this.log = d.logger.child({ component: 'backup' });
  }

  async start(): Promise<void> {
    for (const cfg of this.d.sets) {
      const set = new BackupSet({ cfg, hostId: this.d.hostId, stateDir: this.d.stateDir, sink: this.d.sink, logger: this.d.logger });
      try {
        await set.start();
        this.sets.set(cfg.name, set);
      } catch (err) {
        const line = errorLine(err);
        this.failedToStart.set(cfg.name, line);
        this.log.error({ set: cfg.name, code: (err as OpsError).code, err: line }, 'backup set failed to start; the agent keeps running without it');
        await set.stop(0).catch(() => undefined);
        try {
          emitJson(this.d.sink, 'backup', { event: 'failed', set: cfg.name, error: line, code: (err as OpsError).code ?? 'OPS_ERR_BACKUP_FAILED', phase: 'start' });
          fireAlert(this.d.sink, { labels: { alertname: 'BackupFailed', set: cfg.name }, annotations: { summary: `backup set ${cfg.name} cannot start`, error: line } });
        } catch (e) {
          this.log.error({ err: e }, 'cannot record backup failure event');
        }
      }
    }
  }

  get(name: string): BackupSet | undefined {
    return this.sets.get(name);
  }

  /** The configured set of that name, started or not (restore and verify need only its target). */
  config(name: string): BackupSetConfig | undefined {
    return this.d.sets.find((s) => s.name === name);
  }

  /** Why the set of that name did not start, when it did not. */
  startError(name: string): string | undefined {
    return this.failedToStart.get(name);
  }

  get hostId(): string {
    return this.d.hostId;
  }

  get names(): string[] {
    return this.d.sets.map((s) => s.name);
  }

  state(): { state: ComponentStateName; detail: string } {
    if (this.d.sets.length === 0) return { state: 'stopped', detail: 'no backup sets configured' };
    const parts: string[] = [];
    let degraded = this.failedToStart.size > 0;
    for (const [name, why] of this.failedToStart) parts.push(`${name}: not started (${why})`);
    for (const [name, s] of this.sets) {
      const st = s.status();
      if (st.state !== 'running') degraded = true;
      parts.push(`${name}: ${st.state} ${st.detail}`);
    }
    return { state: degraded ? 'degraded' : 'running', detail: parts.join('; ') };
  }

  async stop(graceMs = 5000): Promise<void> {
    await Promise.all([...this.sets.values()].map((s) => s.stop(graceMs).catch((err: unknown) => this.log.error({ err, set: s.name }, 'backup set stop failed'))));
  }
}
