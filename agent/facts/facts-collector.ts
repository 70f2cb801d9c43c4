import { emitJson, type EventSink } from '../events/sink.js';
import type { FactsDoc } from '../../shared/facts/facts.js';
import type { ComponentStateName } from '../../shared/lifecycle.js';
import type { Logger } from '../../shared/logger.js';
import { gatherFacts } from './gather.js';

export interface FactsCollectorDeps {
  sink: EventSink;
  logger: Logger;
  /** Wait before the first gathering, so the agent's own start (and its first heartbeat) goes first. */
  delayMs?: number;
  /** Injected by tests; the real one spawns probes. */
  gather?: () => Promise<FactsDoc>;
}

/**
 * Gathers host facts once after start and again on refresh (the RefreshFacts RPC), and sends
 * each result as a `facts` event. Nothing is sampled periodically: facts change with hardware
 * and upgrades, and gathering spawns processes (lsblk, df, dmidecode).
 */
export class FactsCollector {
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<FactsDoc> | undefined;
  private stopped = false;
  private last: FactsDoc | undefined;
  private lastError = '';

  constructor(private readonly d: FactsCollectorDeps) {
    this.log = d.logger.child({ component: 'facts' });
  }

  start(): void {
    this.timer = setTimeout(() => {
      this.refresh().catch(() => undefined);
    }, this.d.delayMs ?? 2_000);
    this.timer.unref();
  }

  /** Gathers now (joining a gathering in progress) and emits the result. */
  refresh(): Promise<FactsDoc> {
    if (this.stopped) return Promise.reject(new Error('facts collector stopped'));
    this.inflight ??= (async () => {
      try {
        const doc = await (this.d.gather ?? gatherFacts)();
        if (this.stopped) return doc;
        emitJson(this.d.sink, 'facts', doc, doc.gatheredMs);
        this.last = doc;
        this.lastError = '';
        this.log.info({ tookMs: doc.tookMs, virtual: doc.facts.virtual, os: doc.facts.os, failedProbes: Object.keys(doc.errors) }, 'host facts gathered');
        return doc;
      } catch (err) {
        this.lastError = (err as Error).message;
        this.log.error({ err }, 'host facts gathering failed');
        throw err;
      } finally {
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }

  state(): { state: ComponentStateName; detail: string } {
    if (this.stopped) return { state: 'stopped', detail: '' };
    if (this.lastError) return { state: 'degraded', detail: this.lastError };
    return { state: 'running', detail: this.last ? `gathered in ${this.last.tookMs} ms` : 'not gathered yet' };
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
