import type Database from 'better-sqlite3';
import { flatFacts, type FactsDoc } from '../../shared/facts/facts.js';
import type { Event } from '../../shared/gen/opsfleet/v1/events.js';
import type { Logger } from '../../shared/logger.js';

/** Facts as the API shows them (GET /api/v1/hosts/:id/facts). */
export interface FactsView {
  host: string;
  gatheredAt: string;
  receivedAt: string;
  tookMs: number;
  facts: FactsDoc['facts'];
  disks: FactsDoc['disks'];
  filesystems: FactsDoc['filesystems'];
  interfaces: FactsDoc['interfaces'];
  errors: Record<string, string>;
}

interface FactsRow {
  host_id: string;
  gathered_ms: number;
  received_ms: number;
  doc: string;
}

const arr = <T>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);
const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/**
 * Keeps each host's newest facts, from `facts` events (ingest's onEvents) and from refresh
 * answers. The document is a claim of the agent: only its scalar keys reach target matching,
 * lists are kept as lists, anything else is dropped; an older gathering never replaces a newer.
 */
export class FactsStore {
  private readonly stmts;
  private readonly log: Logger;
  readonly stats = { stored: 0, malformed: 0 };
  private readonly listeners = new Set<(host: string, gatheredMs: number) => void>();

  constructor(db: Database.Database, logger: Logger) {
    this.log = logger.child({ component: 'facts' });
    this.stmts = {
      upsert: db.prepare(
        `INSERT INTO host_facts (host_id, gathered_ms, received_ms, facts, doc) VALUES (@host, @gathered, @received, @facts, @doc)
         ON CONFLICT (host_id) DO UPDATE SET gathered_ms = excluded.gathered_ms, received_ms = excluded.received_ms, facts = excluded.facts, doc = excluded.doc
         WHERE excluded.gathered_ms >= host_facts.gathered_ms`,
      ),
      get: db.prepare<[string], FactsRow>('SELECT host_id, gathered_ms, received_ms, doc FROM host_facts WHERE host_id = ?'),
    };
  }

  /** Called after a host's facts were stored (the live stream tells dashboards). */
  onStored(fn: (host: string, gatheredMs: number) => void): void {
    this.listeners.add(fn);
  }

  /** Ingest's onEvents listener. Never throws. */
  onEvents = (events: readonly Event[]): void => {
    for (const e of events) {
      if (e.kind !== 'facts' || !e.json) continue;
      try {
        this.store(e.hostId, JSON.parse(e.json) as unknown, Date.now());
      } catch (err) {
        this.stats.malformed++;
        this.log.warn({ err, host: e.hostId }, 'facts event not stored');
      }
    }
  };

  /** Stores a facts document (from an event or a refresh answer); false when it was older than the stored one. */
  store(host: string, raw: unknown, nowMs: number): boolean {
    const d = obj(raw);
    const gathered = typeof d.gatheredMs === 'number' && Number.isFinite(d.gatheredMs) ? d.gatheredMs : nowMs;
    const doc: FactsDoc = {
      gatheredMs: gathered,
      tookMs: typeof d.tookMs === 'number' ? d.tookMs : 0,
      facts: flatFacts(obj(d.facts)),
      disks: arr(d.disks),
      filesystems: arr(d.filesystems),
      interfaces: arr(d.interfaces),
      errors: Object.fromEntries(Object.entries(obj(d.errors)).map(([k, v]) => [k, String(v)])),
    };
    const changed = this.stmts.upsert.run({ host, gathered, received: nowMs, facts: JSON.stringify(doc.facts), doc: JSON.stringify(doc) }).changes > 0;
    if (changed) {
      this.stats.stored++;
      for (const fn of this.listeners) {
        try {
          fn(host, gathered);
        } catch (err) {
          this.log.error({ err }, 'facts listener failed');
        }
      }
    }
    return changed;
  }

  get(host: string): FactsView | undefined {
    const r = this.stmts.get.get(host);
    if (!r) return undefined;
    const doc = JSON.parse(r.doc) as FactsDoc;
    return {
      host,
      gatheredAt: new Date(r.gathered_ms).toISOString(),
      receivedAt: new Date(r.received_ms).toISOString(),
      tookMs: doc.tookMs,
      facts: doc.facts,
      disks: doc.disks,
      filesystems: doc.filesystems,
      interfaces: doc.interfaces,
      errors: doc.errors,
    };
  }
}
