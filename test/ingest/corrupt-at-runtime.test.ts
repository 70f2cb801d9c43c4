import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { pino } from 'pino';
import { Ingest } from '../../controller/ingest/ingest.js';
import { openDatabase } from '../../controller/store/db.js';
import { EventsStore } from '../../controller/store/events-store.js';
import { HostsStore } from '../../controller/store/hosts-store.js';
import { Event, EventBatch } from '../../shared/events/codec.js';
import { ensureEventStream } from '../../shared/nats/stream.js';
import { eventId, eventSubject } from '../../shared/nats/subjects.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

describe('SQLITE_CORRUPT at run time', () => {
  const dir = tempDir();
  let nats: NatsServer;
  let nc: NatsConnection | undefined;
  let ingest: Ingest | undefined;
  after(async () => {
    await ingest?.stop();
    await nc?.close();
    await nats?.dispose();
    dir.cleanup();
  });

  it('stops ingest once (no retry every second), leaves the messages in the stream and tells the owner', async () => {
    nats = await NatsServer.start();
    nc = await connect(nats.connectOptions());
    const jsm = await ensureEventStream(nc, { name: 'EV', maxAgeMs: 3_600_000, maxBytes: -1, duplicateWindowMs: 60_000, replicas: 1 });
    const db = openDatabase(dir.path);
    // The file is damaged under a running controller: every write transaction fails the way SQLite reports it.
    const corruptDb = Object.create(db) as typeof db;
    corruptDb.transaction = (() => () => {
      throw Object.assign(new Error('database disk image is malformed'), { code: 'SQLITE_CORRUPT' });
    }) as unknown as typeof db.transaction;
    const told: Error[] = [];
    ingest = new Ingest({ nc, jsm, db: corruptDb, hosts: new HostsStore(db), events: new EventsStore(db), stream: 'EV', durable: 'ctl', maxBatch: 10, logger: pino({ level: 'silent' }), onCorrupt: (e) => told.push(e) });
    await ingest.start();
    const js = jetstream(nc);
    const send = (seq: number) => js.publish(eventSubject('metric', 'h1'), EventBatch.encode({ events: [Event.fromPartial({ id: eventId('h1', 'i', seq), hostId: 'h1', instanceId: 'i', seq, tsMs: Date.now(), kind: 'metric', json: '{}' })] }).finish());
    await send(1);
    await waitFor(() => told.length === 1, { timeout: 15_000, what: 'onCorrupt' });
    assert.equal(told[0]!.message, 'database disk image is malformed');
    assert.ok(ingest.corrupt);
    await send(2);
    // Ingest stopped pulling: the second message waits in the stream, undelivered, and nothing was retried.
    await waitFor(async () => (await jsm.consumers.info('EV', 'ctl')).num_pending >= 1, { timeout: 15_000, what: 'second message left in the stream' });
    assert.equal(ingest.stats.storeErrors, 1);
    assert.equal(ingest.stats.messages, 0);
    db.close();
  });
});
