import os from 'node:os';
import type { Inventory } from '../../shared/gen/opsfleet/v1/events.js';
import type { ComponentStateName } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/logger.js';
import type { OutboxStore } from '../outbox/outbox-store.js';

/**
 * Puts a heartbeat with inventory into the outbox every interval, including while NATS is down:
 * the controller later receives every beat in order, which is how it can prove nothing was lost.
 */
export class Heartbeat {
  readonly name = 'heartbeat';
  private timer: NodeJS.Timeout | undefined;
  private st: ComponentStateName = 'new';
  private readonly log: Logger;
  private readonly startedAt = Date.now();
  beats = 0;

  constructor(
    private readonly deps: { outbox: OutboxStore; inventory: Inventory; intervalMs: number; logger: Logger },
  ) {
    this.log = deps.logger.child({ component: 'heartbeat' });
  }

  async start(): Promise<void> {
    this.st = 'running';
    this.beat();
    this.timer = setInterval(() => this.beat(), this.deps.intervalMs);
  }

  /** Emits one heartbeat now. Errors are logged and counted, never thrown into the timer. */
  beat(): void {
    try {
      this.write();
    } catch (err) {
      // The first write to hit a full disk frees the reserve (agent/outbox/disk-full.ts): try again once.
      if ((err as { code?: string }).code === 'OPS_ERR_OUTBOX_DISK_FULL') {
        try {
          this.write();
          return;
        } catch (err2) {
          err = err2;
        }
      }
      this.st = 'degraded';
      this.log.error({ err }, 'heartbeat not written to outbox');
    }
  }

  private write(): void {
    {
      const stats = this.deps.outbox.stats();
      this.deps.outbox.append('hb', {
        heartbeat: {
          inventory: { ...this.deps.inventory, uptimeS: os.uptime() },
          agentUptimeS: (Date.now() - this.startedAt) / 1000,
          outboxDepth: stats.depth,
          outboxEvicted: stats.evictedTotal,
          intervalMs: this.deps.intervalMs,
        },
      });
      this.beats++;
      if (this.st === 'degraded') this.st = 'running';
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.st = 'stopped';
  }

  state(): { state: ComponentStateName } {
    return { state: this.st };
  }
}
