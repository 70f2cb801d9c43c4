import type Database from 'better-sqlite3';

/** The sample kinds `ingest.raw_samples: derived` keeps no raw row for. */
export const DERIVED_KINDS: ReadonlySet<string> = new Set(['hb', 'metric']);

interface Mark {
  instanceId: string;
  seq: number;
  tsMs: number;
}

type SampleRef = { hostId: string; kind: string; instanceId: string; seq: number; tsMs: number };

/** Past this many (host, kind) marks the memory starts over (re-seeded from the database): 2 per host. */
const MAX_MARKS = 400_000;

/**
 * Tells a new heartbeat or metric sample from a redelivered one when no raw row is stored
 * (`ingest.raw_samples: derived`): with raw rows the unique event id drops a redelivery; without
 * them, each (host, kind) remembers the newest sample applied — an agent instance numbers its
 * events in order, so one at or below that seq was applied already. After a restart the mark is
 * read back from what the sample updated: the host row (instance, heartbeat seq) or metric_latest
 * (sample time). A sample older than one already applied (a batch retried out of order) is
 * therefore not applied either: the host record and metric_latest ignore older ones anyway,
 * and the metric history loses that one point.
 *
 * Marks are staged per transaction and kept only after it commits (`commit`), so a rolled-back
 * batch is applied in full when it comes again.
 */
export class SampleHighWater {
  private readonly marks = new Map<string, Mark>();
  private readonly stmts;

  constructor(db: Database.Database) {
    this.stmts = {
      hb: db.prepare<[string], { instance_id: string; last_hb_seq: number; last_hb_ts_ms: number }>('SELECT instance_id, last_hb_seq, last_hb_ts_ms FROM hosts WHERE id = ?'),
      metric: db.prepare<[string], { ts_ms: number }>('SELECT ts_ms FROM metric_latest WHERE host_id = ?'),
    };
  }

  /** Whether `e` is newer than every applied sample of its host and kind; if so it is staged in `staged`. */
  accept(e: SampleRef, staged: Map<string, Mark>): boolean {
    const key = `${e.kind}\0${e.hostId}`;
    const m = staged.get(key) ?? this.marks.get(key) ?? this.seed(e);
    const fresh = m === undefined || (m.instanceId === e.instanceId ? e.seq > m.seq : m.instanceId === '' ? e.tsMs > m.tsMs : true);
    if (fresh) staged.set(key, { instanceId: e.instanceId, seq: e.seq, tsMs: e.tsMs });
    return fresh;
  }

  /** Keeps the marks of a committed transaction. */
  commit(staged: Map<string, Mark>): void {
    if (this.marks.size + staged.size > MAX_MARKS) this.marks.clear();
    for (const [k, m] of staged) this.marks.set(k, m);
  }

  /** The mark of a (host, kind) not seen since start, from what its samples updated ('' instance: compare by time). */
  private seed(e: SampleRef): Mark | undefined {
    if (e.kind === 'hb') {
      const r = this.stmts.hb.get(e.hostId);
      return r ? { instanceId: r.instance_id, seq: r.last_hb_seq, tsMs: r.last_hb_ts_ms } : undefined;
    }
    const r = this.stmts.metric.get(e.hostId);
    return r ? { instanceId: '', seq: 0, tsMs: r.ts_ms } : undefined;
  }
}
