import type Database from 'better-sqlite3';
import { fingerprint } from './fingerprint.js';
import type { AlertRecord, AlertSource, AlertState, IncomingAlert } from './model.js';

interface AlertRow {
  fingerprint: string;
  alertname: string;
  host: string;
  labels: string;
  annotations: string;
  state: AlertState;
  starts_at_ms: number;
  ends_at_ms: number;
  updated_ms: number;
  expires_ms: number | null;
  source: AlertSource;
  count: number;
}

function fromRow(r: AlertRow): AlertRecord {
  return {
    fingerprint: r.fingerprint,
    labels: JSON.parse(r.labels) as Record<string, string>,
    annotations: JSON.parse(r.annotations) as Record<string, string>,
    state: r.state,
    startsAtMs: r.starts_at_ms,
    endsAtMs: r.ends_at_ms,
    updatedMs: r.updated_ms,
    expiresMs: r.expires_ms,
    source: r.source,
    count: r.count,
  };
}

/** What applying an incoming alert did. `changed` = the state machine moved (needs dispatch). */
export type ApplyOutcome = 'new' | 'refired' | 'resolved' | 'refreshed' | 'stale' | 'unknown';

/** Alert state by fingerprint; methods run inside the caller's transaction when there is one. */
export class AlertsStore {
  private readonly s;

  constructor(private readonly db: Database.Database) {
    this.s = {
      get: db.prepare<[string], AlertRow>('SELECT * FROM alerts WHERE fingerprint = ?'),
      upsert: db.prepare(
        `INSERT INTO alerts (fingerprint, alertname, host, labels, annotations, state, starts_at_ms, ends_at_ms, updated_ms, expires_ms, source, count)
         VALUES (@fingerprint, @alertname, @host, @labels, @annotations, @state, @starts_at_ms, @ends_at_ms, @updated_ms, @expires_ms, @source, @count)
         ON CONFLICT(fingerprint) DO UPDATE SET annotations = excluded.annotations, state = excluded.state, starts_at_ms = excluded.starts_at_ms,
           ends_at_ms = excluded.ends_at_ms, updated_ms = excluded.updated_ms, expires_ms = excluded.expires_ms, source = excluded.source, count = excluded.count`,
      ),
      refresh: db.prepare('UPDATE alerts SET annotations = ?, updated_ms = ?, expires_ms = ?, count = count + 1 WHERE fingerprint = ?'),
      expired: db.prepare<[number], AlertRow>("SELECT * FROM alerts WHERE state = 'firing' AND expires_ms IS NOT NULL AND expires_ms <= ?"),
      byState: db.prepare<[string, number], AlertRow>('SELECT * FROM alerts WHERE state = ? ORDER BY starts_at_ms DESC LIMIT ?'),
      all: db.prepare<[number], AlertRow>("SELECT * FROM alerts ORDER BY state = 'resolved', starts_at_ms DESC LIMIT ?"),
      resolvedSince: db.prepare<[number], AlertRow>("SELECT * FROM alerts WHERE state = 'resolved' AND ends_at_ms >= ?"),
      prune: db.prepare("DELETE FROM alerts WHERE state = 'resolved' AND ends_at_ms < ?"),
      counts: db.prepare<[], { state: string; n: number }>('SELECT state, count(*) AS n FROM alerts GROUP BY state'),
    };
  }

  /** Sets one annotation on a stored alert (the controller's own notes, e.g. remediation). */
  annotate(fp: string, key: string, value: string): AlertRecord | undefined {
    const cur = this.get(fp);
    if (!cur) return undefined;
    const a: AlertRecord = { ...cur, annotations: { ...cur.annotations, [key]: value } };
    this.save(a);
    return a;
  }

  get(fp: string): AlertRecord | undefined {
    const r = this.s.get.get(fp);
    return r ? fromRow(r) : undefined;
  }

  private save(a: AlertRecord): void {
    this.s.upsert.run({
      fingerprint: a.fingerprint,
      alertname: a.labels.alertname ?? '',
      host: a.labels.host ?? '',
      labels: JSON.stringify(a.labels),
      annotations: JSON.stringify(a.annotations),
      state: a.state,
      starts_at_ms: a.startsAtMs,
      ends_at_ms: a.endsAtMs,
      updated_ms: a.updatedMs,
      expires_ms: a.expiresMs,
      source: a.source,
      count: a.count,
    });
  }

  /**
   * Applies one assertion: the same label set reported again refreshes the alert (count, expiry)
   * instead of making a new one; a firing older than the stored resolution is stale.
   */
  apply(inc: IncomingAlert, now: number, defaultResolveTimeoutMs: number): { outcome: ApplyOutcome; alert: AlertRecord | undefined } {
    const fp = fingerprint(inc.labels);
    const cur = this.get(fp);
    const timeout = inc.resolveTimeoutMs < 0 ? null : inc.resolveTimeoutMs > 0 ? inc.resolveTimeoutMs : defaultResolveTimeoutMs;
    if (inc.state === 'firing') {
      const expiresMs = timeout === null ? null : now + timeout;
      if (!cur) {
        const a: AlertRecord = { fingerprint: fp, labels: inc.labels, annotations: inc.annotations, state: 'firing', startsAtMs: inc.startsAtMs || now, endsAtMs: 0, updatedMs: now, expiresMs, source: inc.source, count: 1 };
        this.save(a);
        return { outcome: 'new', alert: a };
      }
      if (cur.state === 'firing') {
        const a: AlertRecord = { ...cur, annotations: keepControllerNotes(cur, inc.annotations), updatedMs: now, expiresMs, count: cur.count + 1 };
        // The hot path (the same failure re-reported): touch only what changes.
        this.s.refresh.run(JSON.stringify(a.annotations), now, expiresMs, fp);
        return { outcome: 'refreshed', alert: a };
      }
      // Resolved before: a late firing event from before the resolution must not reopen it.
      if (inc.eventTsMs > 0 && inc.eventTsMs < cur.endsAtMs) return { outcome: 'stale', alert: cur };
      const a: AlertRecord = { ...cur, annotations: keepControllerNotes(cur, inc.annotations), state: 'firing', startsAtMs: inc.startsAtMs || now, endsAtMs: 0, updatedMs: now, expiresMs, source: inc.source, count: cur.count + 1 };
      this.save(a);
      return { outcome: 'refired', alert: a };
    }
    if (!cur) return { outcome: 'unknown', alert: undefined };
    if (cur.state === 'resolved') return { outcome: 'stale', alert: cur };
    if (inc.eventTsMs > 0 && inc.eventTsMs < cur.startsAtMs) return { outcome: 'stale', alert: cur };
    const a: AlertRecord = { ...cur, annotations: Object.keys(inc.annotations).length ? keepControllerNotes(cur, inc.annotations) : cur.annotations, state: 'resolved', endsAtMs: inc.endsAtMs || now, updatedMs: now, expiresMs: null };
    this.save(a);
    return { outcome: 'resolved', alert: a };
  }

  /** Resolves firing alerts whose resolve_timeout passed; endsAt is the expiry time. */
  expire(now: number): AlertRecord[] {
    const out: AlertRecord[] = [];
    for (const r of this.s.expired.all(now)) {
      const a: AlertRecord = { ...fromRow(r), state: 'resolved', endsAtMs: r.expires_ms ?? now, updatedMs: now, expiresMs: null };
      this.save(a);
      out.push(a);
    }
    return out;
  }

  list(state: AlertState | 'all', limit = 10_000): AlertRecord[] {
    return (state === 'all' ? this.s.all.all(limit) : this.s.byState.all(state, limit)).map(fromRow);
  }

  resolvedSince(ms: number): AlertRecord[] {
    return this.s.resolvedSince.all(ms).map(fromRow);
  }

  counts(): Record<string, number> {
    return Object.fromEntries(this.s.counts.all().map((r) => [r.state, r.n]));
  }

  prune(beforeMs: number): number {
    return this.s.prune.run(beforeMs).changes;
  }
}

/** Annotations the controller itself adds; a re-asserting agent does not wipe them. */
const CONTROLLER_NOTES = ['remediation'] as const;

function keepControllerNotes(cur: AlertRecord, incoming: Record<string, string>): Record<string, string> {
  const out = { ...incoming };
  for (const k of CONTROLLER_NOTES) if (cur.annotations[k] !== undefined && out[k] === undefined) out[k] = cur.annotations[k];
  return out;
}
