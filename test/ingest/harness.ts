import { jetstream, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type Database from 'better-sqlite3';
import { pino } from 'pino';
import { Ingest, type IngestDeps } from '../../controller/ingest/ingest.js';
import { openDatabase } from '../../controller/store/db.js';
import { EventsStore } from '../../controller/store/events-store.js';
import { HostsStore } from '../../controller/store/hosts-store.js';
import { Event, EventBatch } from '../../shared/events/codec.js';
import { ensureEventStream } from '../../shared/nats/stream.js';
import { eventId, eventSubject } from '../../shared/nats/subjects.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';

/** The stream every ingest test reads: named short, made the way the controller makes it. */
export const STREAM = 'EV';

/** One event message as an agent sends it: a batch of one event of host `host`, instance "i". */
export interface SendOptions {
  host?: string;
  kind?: string;
  tsMs?: number;
  json?: string;
}

/**
 * What the ingest tests start from: a real nats-server (its own, on a random port), a
 * connection, the event stream, a SQLite file in a temp dir, and Ingest with test defaults
 * (durable "ctl", max_batch 10, a silent logger) that a test overrides where it tests something.
 * dispose() stops what it started in reverse order: ingests, databases, connections, the server.
 */
export class IngestHarness {
  readonly dir = tempDir('opsfleet-ingest-');
  nats!: NatsServer;
  nc!: NatsConnection;
  jsm!: JetStreamManager;
  js!: JetStreamClient;
  private readonly ingests: Ingest[] = [];
  private readonly dbs: Database.Database[] = [];
  private readonly conns: NatsConnection[] = [];
  private disposing: Promise<void> | undefined;

  /** @param o.maxAgeMs the stream's max_age (default 1 h). */
  static async start(o: { maxAgeMs?: number } = {}): Promise<IngestHarness> {
    const h = new IngestHarness();
    try {
      h.nats = await NatsServer.start();
      h.nc = await h.connect();
      h.jsm = await ensureEventStream(h.nc, { name: STREAM, maxAgeMs: o.maxAgeMs ?? 3_600_000, maxBytes: -1, duplicateWindowMs: 60_000, replicas: 1 });
      h.js = jetstream(h.nc);
      return h;
    } catch (err) {
      await h.dispose();
      throw err;
    }
  }

  /** Another connection (closed by dispose), e.g. a controller that dies without a word. */
  async connect(): Promise<NatsConnection> {
    const nc = await connect(this.nats.connectOptions());
    this.conns.push(nc);
    return nc;
  }

  /** The controller's database file in the temp dir (closed by dispose, after the ingests stop). */
  openDb(): Database.Database {
    const db = openDatabase(this.dir.path);
    this.dbs.push(db);
    return db;
  }

  /** An Ingest on `db` with the test defaults, `over` replacing any of them; not started. */
  ingest(db: Database.Database, over: Partial<IngestDeps> = {}): Ingest {
    const i = new Ingest({ nc: this.nc, jsm: this.jsm, db, hosts: new HostsStore(db), events: new EventsStore(db), stream: STREAM, durable: 'ctl', maxBatch: 10, logger: pino({ level: 'silent' }), ...over });
    this.ingests.push(i);
    return i;
  }

  /** Publishes one event message (seq `seq` of host h1 unless told) and resolves when the stream stored it. */
  send(seq: number, o: SendOptions = {}): Promise<unknown> {
    const host = o.host ?? 'h1';
    const kind = o.kind ?? 'metric';
    return this.sendEvent(Event.fromPartial({ id: eventId(host, 'i', seq), hostId: host, instanceId: 'i', seq, tsMs: o.tsMs ?? Date.now(), kind, json: o.json ?? '{}' }));
  }

  /** Publishes `e` alone in a batch on its kind's and host's subject. */
  sendEvent(e: Event): Promise<unknown> {
    return this.js.publish(eventSubject(e.kind, e.hostId), EventBatch.encode({ events: [e] }).finish());
  }

  /** Idempotent. */
  dispose(): Promise<void> {
    this.disposing ??= (async () => {
      for (const i of this.ingests) await i.stop();
      for (const db of this.dbs) if (db.open) db.close();
      for (const c of this.conns) await c.close().catch(() => undefined);
      await this.nats?.dispose();
      this.dir.cleanup();
    })();
    return this.disposing;
  }
}
