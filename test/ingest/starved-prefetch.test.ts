import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { pino } from 'pino';
import { Ingest, ingestPrefetch } from '../../controller/ingest/ingest.js';
import { openDatabase } from '../../controller/store/db.js';
import { EventsStore } from '../../controller/store/events-store.js';
import { HostsStore } from '../../controller/store/hosts-store.js';
import { Event, EventBatch } from '../../shared/events/codec.js';
import { ensureEventStream } from '../../shared/nats/stream.js';
import { eventId, eventSubject } from '../../shared/nats/subjects.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

// Issue 18: ingest prefetched 4 x max_batch messages. On a controller starved of CPU the last of
// them waited in the client past ack_wait and JetStream delivered them again. Here the starvation
// is made by hand: storing each message takes 20 ms (busy, in the transaction), ack_wait is 2 s,
// and a backlog of 150 messages waits in the stream. With the old prefetch (256 here) all 150
// arrive at once and the last ones are acked after ~3 s: redelivered. Now at most
// ingestPrefetch(10) = 32 are held, ~0.6 s of work: none is redelivered.
describe('ingest prefetch vs ack_wait under starvation', () => {
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

  it('holds no more than two batches, so a slow store still acks every message within ack_wait (no redelivery)', async () => {
    assert.equal(ingestPrefetch(10), 32);
    assert.equal(ingestPrefetch(256), 512);
    nats = await NatsServer.start();
    nc = await connect(nats.connectOptions());
    const jsm = await ensureEventStream(nc, { name: 'EV', maxAgeMs: 3_600_000, maxBytes: -1, duplicateWindowMs: 60_000, replicas: 1 });
    const js = jetstream(nc);
    const N = 150;
    for (let seq = 1; seq <= N; seq++) {
      await js.publish(eventSubject('metric', 'h1'), EventBatch.encode({ events: [Event.fromPartial({ id: eventId('h1', 'i', seq), hostId: 'h1', instanceId: 'i', seq, tsMs: Date.now(), kind: 'metric', json: '{}' })] }).finish());
    }
    const db = openDatabase(dir.path);
    const events = new EventsStore(db);
    const busy = (ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        /* a starved controller: the work per message takes this long */
      }
    };
    ingest = new Ingest({ nc, jsm, db, hosts: new HostsStore(db), events, stream: 'EV', durable: 'ctl', maxBatch: 10, ackWaitMs: 2000, logger: pino({ level: 'silent' }), isRemoved: () => (busy(20), false) });
    await ingest.start();
    await waitFor(() => ingest!.stats.events === N, { timeout: 30_000, what: `${N} events stored` });
    // Anything redelivered would arrive after ack_wait: give it that long to show up.
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(ingest.stats.redelivered, 0, JSON.stringify(ingest.stats));
    assert.equal(ingest.stats.duplicates, 0);
    assert.equal(ingest.stats.messages, N);
    const info = await jsm.consumers.info('EV', 'ctl');
    assert.equal(info.num_ack_pending, 0);
    assert.equal(info.config.ack_wait, 2000 * 1e6);
    db.close();
  });
});

// Messages of a fleet arrive one by one (a few per millisecond at 5,000 agents); a commit per
// message made SQLite commits most of ingest's CPU. A partial batch now waits lingerMs for more.
describe('ingest groups messages that arrive one by one into few transactions', () => {
  const dir = tempDir();
  let nats: NatsServer;
  let nc: NatsConnection | undefined;
  const ingests: Ingest[] = [];
  after(async () => {
    for (const i of ingests) await i.stop();
    await nc?.close();
    await nats?.dispose();
    dir.cleanup();
  });

  it('with a linger, 60 messages published 5 ms apart are stored in a handful of commits, each stored once', async () => {
    nats = await NatsServer.start();
    nc = await connect(nats.connectOptions());
    const jsm = await ensureEventStream(nc, { name: 'EV', maxAgeMs: 3_600_000, maxBytes: -1, duplicateWindowMs: 60_000, replicas: 1 });
    const db = openDatabase(dir.path);
    const lingering = new Ingest({ nc, jsm, db, hosts: new HostsStore(db), events: new EventsStore(db), stream: 'EV', durable: 'linger', maxBatch: 256, lingerMs: 150, logger: pino({ level: 'silent' }) });
    ingests.push(lingering);
    await lingering.start();
    const js = jetstream(nc);
    const N = 60;
    for (let seq = 1; seq <= N; seq++) {
      await js.publish(eventSubject('metric', 'h2'), EventBatch.encode({ events: [Event.fromPartial({ id: eventId('h2', 'i', seq), hostId: 'h2', instanceId: 'i', seq, tsMs: Date.now(), kind: 'metric', json: '{}' })] }).finish());
      await new Promise((r) => setTimeout(r, 5));
    }
    await waitFor(() => lingering.stats.events === N, { timeout: 15_000, what: `${N} events stored` });
    assert.equal(lingering.stats.messages, N);
    // ~60 x (5 ms + publish) ≈ 0.5 s+ of arrivals in 150 ms windows: a few commits, not one per message.
    assert.ok(lingering.stats.transactions <= 15, `transactions ${lingering.stats.transactions} for ${N} messages`);
    assert.equal((await jsm.consumers.info('EV', 'linger')).num_ack_pending, 0);
    await lingering.stop();
    db.close();
  });
});
