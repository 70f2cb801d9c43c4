import type { IncomingMessage, ServerResponse } from 'node:http';
import type Database from 'better-sqlite3';
import type { Event } from '../../shared/gen/opsfleet/v1/events.js';
import type { Logger } from '../../shared/logger.js';
import { samplePoint } from '../checks/sample-point.js';
import type { HostStatusChange } from '../ingest/ingest.js';

export const STREAM_TOPICS = ['hosts', 'alerts', 'checks', 'facts', 'metrics'] as const;
export type StreamTopic = (typeof STREAM_TOPICS)[number];
/** What a client gets without `topics=`: metrics are per-host and only for who asks. */
const DEFAULT_TOPICS: readonly StreamTopic[] = ['hosts', 'alerts', 'checks', 'facts'];

interface Client {
  res: ServerResponse;
  topics: ReadonlySet<StreamTopic>;
  /** Only this host's events (metrics need it; others may use it). */
  host: string | undefined;
  /** False for hosts outside the caller's token scope. */
  allows: (hostId: string) => boolean;
}

export interface LiveFeedDeps {
  db: Database.Database;
  logger: Logger;
  /** How often the alerts table is looked at for changed states. */
  alertPollMs?: number;
  /** Comment line that keeps proxies and the browser from closing an idle stream. */
  pingMs?: number;
}

/** A client that stops reading is dropped once this much is waiting for it. */
const MAX_BUFFERED = 1 << 20;

/**
 * The dashboard's live stream (GET /api/v1/stream, Server-Sent Events). Fed by the controller's
 * hooks (host status changes, ingested events, stored facts) and by a light poll of the alerts
 * table for state changes, so alerting needs no hook of its own. No replay: a client reloads
 * state with the GETs on (re)connect and then follows the stream.
 */
export class LiveFeed {
  private readonly clients = new Set<Client>();
  private readonly log: Logger;
  private readonly alertStates = new Map<string, string>();
  private alertCursor = 0;
  private alertTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly stmts;
  readonly stats = { sent: 0, dropped: 0 };

  constructor(private readonly d: LiveFeedDeps) {
    this.log = d.logger.child({ component: 'live' });
    this.stmts = {
      alerts: d.db.prepare<[number], { fingerprint: string; alertname: string; host: string; labels: string; state: string; starts_at_ms: number; ends_at_ms: number; updated_ms: number }>(
        'SELECT fingerprint, alertname, host, labels, state, starts_at_ms, ends_at_ms, updated_ms FROM alerts WHERE updated_ms >= ? ORDER BY updated_ms LIMIT 5000',
      ),
    };
  }

  start(): void {
    // What is firing now is the client's GET; only changes from here on are streamed.
    for (const a of this.stmts.alerts.all(0)) {
      this.alertStates.set(a.fingerprint, `${a.state}:${a.starts_at_ms}`);
      this.alertCursor = Math.max(this.alertCursor, a.updated_ms);
    }
    this.alertTimer = setInterval(() => this.pollAlerts(), this.d.alertPollMs ?? 1000);
    this.alertTimer.unref();
    this.pingTimer = setInterval(() => {
      for (const c of this.clients) this.write(c, ': ping\n\n');
    }, this.d.pingMs ?? 15_000);
    this.pingTimer.unref();
  }

  /** Ends every stream (before the HTTP server closes, so stop does not wait on them). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.alertTimer);
    clearInterval(this.pingTimer);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Serves one SSE client until it goes away. */
  attach(req: IncomingMessage, res: ServerResponse, o: { topics: ReadonlySet<StreamTopic>; host?: string | undefined; allows: (hostId: string) => boolean }): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    if (this.stopped) {
      res.end();
      return;
    }
    const c: Client = { res, topics: o.topics, host: o.host, allows: o.allows };
    this.clients.add(c);
    // Tells the client the stream is live (EventSource fires `open` on headers, this confirms the body flows).
    this.write(c, `event: hello\ndata: ${JSON.stringify({ topics: [...o.topics], host: o.host ?? null })}\n\n`);
    const bye = () => this.clients.delete(c);
    req.on('close', bye);
    res.on('close', bye);
  }

  hostStatus = (ch: HostStatusChange): void => {
    this.broadcast('hosts', ch.hostId, 'host', { id: ch.hostId, status: ch.to, from: ch.from, since: new Date(ch.atMs).toISOString(), reason: ch.reason });
  };

  factsStored = (host: string, gatheredMs: number): void => {
    this.broadcast('facts', host, 'facts', { host, gatheredAt: new Date(gatheredMs).toISOString() });
  };

  /** Ingest hook: check changes and metric samples. Never throws. */
  onEvents = (events: readonly Event[]): void => {
    if (this.clients.size === 0) return;
    for (const e of events) {
      if ((e.kind !== 'check' && e.kind !== 'metric') || !e.json) continue;
      try {
        const b = JSON.parse(e.json) as Record<string, unknown>;
        if (e.kind === 'check') {
          if (b.event === 'result') continue;
          this.broadcast('checks', e.hostId, 'check', { host: e.hostId, check: b.check, event: b.event, state: b.state, phase: b.phase, detail: b.detail, ts: new Date(e.tsMs).toISOString() });
        } else {
          this.broadcast('metrics', e.hostId, 'metric', { host: e.hostId, ts: e.tsMs, ...samplePoint(b) });
        }
      } catch (err) {
        this.log.debug({ err, kind: e.kind }, 'event not streamed');
      }
    }
  };

  private pollAlerts(): void {
    try {
      for (const a of this.stmts.alerts.all(this.alertCursor)) {
        this.alertCursor = Math.max(this.alertCursor, a.updated_ms);
        const key = `${a.state}:${a.starts_at_ms}`;
        if (this.alertStates.get(a.fingerprint) === key) continue;
        this.alertStates.set(a.fingerprint, key);
        if (this.alertStates.size > 100_000) this.alertStates.delete(this.alertStates.keys().next().value!);
        this.broadcast('alerts', a.host, 'alert', {
          fingerprint: a.fingerprint,
          alertname: a.alertname,
          status: a.state,
          labels: JSON.parse(a.labels) as Record<string, string>,
          host: a.host || null,
          startsAt: new Date(a.starts_at_ms).toISOString(),
          endsAt: a.ends_at_ms ? new Date(a.ends_at_ms).toISOString() : null,
        });
      }
    } catch (err) {
      this.log.error({ err }, 'alert poll for the live stream failed');
    }
  }

  private broadcast(topic: StreamTopic, hostId: string, event: string, data: unknown): void {
    let frame: string | undefined;
    for (const c of this.clients) {
      if (!c.topics.has(topic)) continue;
      if (c.host !== undefined && hostId !== c.host) continue;
      if (hostId && !c.allows(hostId)) continue;
      if (!hostId && topic === 'alerts' && !c.allows('')) continue;
      frame ??= `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
      this.write(c, frame);
    }
  }

  private write(c: Client, frame: string): void {
    if (c.res.writableLength > MAX_BUFFERED) {
      this.stats.dropped++;
      this.log.warn({ buffered: c.res.writableLength }, 'live stream client not reading; dropped');
      this.clients.delete(c);
      c.res.destroy();
      return;
    }
    c.res.write(frame);
    this.stats.sent++;
  }
}

export function parseTopics(text: string | null): Set<StreamTopic> | string {
  if (text === null || text === '') return new Set(DEFAULT_TOPICS);
  const out = new Set<StreamTopic>();
  for (const t of text.split(',')) {
    if (!(STREAM_TOPICS as readonly string[]).includes(t)) return t;
    out.add(t as StreamTopic);
  }
  return out;
}
