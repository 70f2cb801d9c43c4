import type { Logger } from '../../shared/logger.js';
import type { EventsStore } from './events-store.js';

/**
 * Deletes raw events past their expiry in small chunks, yielding between them, so the
 * database cannot grow without bound and ingest never waits behind one huge DELETE.
 */
export class Pruner {
  readonly name = 'pruner';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private readonly log: Logger;
  totalPruned = 0;

  constructor(
    private readonly d: { events: EventsStore; intervalMs: number; logger: Logger; now?: () => number; chunk?: number },
  ) {
    this.log = d.logger.child({ component: 'pruner' });
  }

  async start(): Promise<void> {
    this.timer = setInterval(() => void this.pruneNow(), this.d.intervalMs);
    this.timer.unref();
    void this.pruneNow();
  }

  /** Runs one pruning pass (coalesced with a pass already running); returns rows deleted. */
  pruneNow(): Promise<number> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<number> {
    // Each row carries its expiry (set at ingest from its retention class).
    const before = (this.d.now ?? Date.now)();
    let total = 0;
    try {
      for (;;) {
        const n = this.d.events.pruneChunk(before, this.d.chunk ?? 5000);
        total += n;
        if (n < (this.d.chunk ?? 5000)) break;
        await new Promise((r) => setImmediate(r));
      }
    } catch (err) {
      this.log.error({ err }, 'pruning events failed');
    }
    if (total > 0) this.log.info({ deleted: total }, 'pruned old events');
    this.totalPruned += total;
    return total;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
