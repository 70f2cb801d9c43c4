import assert from 'node:assert/strict';
import type { ControlLog, ControlRecord } from '../../controller/ha/control-log.js';

/**
 * A control log whose records are handed over by the test: one controller's appliers see what
 * another published, one record at a time (the JetStream transport itself is
 * test/ha/control-log.test.ts's subject). Bodies are cloned through JSON, as on the wire.
 */
export class ControlPair implements ControlLog {
  readonly handlers = new Map<string, (r: ControlRecord) => void | Promise<void>>();
  /** What this side published, oldest first; the test ships them to the other side. */
  readonly out: ControlRecord[] = [];
  private n = 0;
  constructor(readonly origin: string) {}
  async publish<B>(kind: string, body: B): Promise<void> {
    this.out.push({ id: `${this.origin}-${++this.n}`, origin: this.origin, kind, ts: Date.now(), body: JSON.parse(JSON.stringify(body)) as B });
  }
  on<B>(kind: string, apply: (rec: ControlRecord<B>) => void | Promise<void>): void {
    this.handlers.set(kind, apply as (r: ControlRecord) => void);
  }
  /** Applies a record through the handler of its kind, as the consumer does. */
  async apply(rec: ControlRecord): Promise<void> {
    const fn = this.handlers.get(rec.kind);
    assert.ok(fn, `no handler for ${rec.kind}`);
    await fn(rec);
  }
}
