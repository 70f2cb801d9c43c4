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

// Issue 18: behind a backlog, the batches ingest held (two of them, delivered in one read) were
// stored back to back in microtasks: HTTP requests, liveness's timer and acks waited for all of
// them. Each message here costs 2 ms in its transaction (a busy controller); a probe re-queued with
// setImmediate counts the transactions committed between two of its turns.
describe('ingest lets the event loop turn between transactions', () => {
  const dir = tempDir();
  let nats: NatsServer;
  let nc: NatsConnection | undefined;
  after(async () => {
    await nc?.close();
    await nats?.dispose();
    dir.cleanup();
  });

  const N = 200;
  /** Everything in the stream (each test's durable consumer reads it all). */
  let published = 0;

  async function maxTransactionsPerTurn(durable: string, yieldBetweenBatches: boolean): Promise<number> {
    const jsm = await ensureEventStream(nc!, { name: 'EV', maxAgeMs: 3_600_000, maxBytes: -1, duplicateWindowMs: 60_000, replicas: 1 });
    const db = openDatabase(dir.path, `${durable}.db`);
    const busy = (ms: number) => {
      const end = performance.now() + ms;
      while (performance.now() < end) {
        /* the work of one message on a busy controller */
      }
    };
    const ingest = new Ingest({ nc: nc!, jsm, db, hosts: new HostsStore(db), events: new EventsStore(db), stream: 'EV', durable, maxBatch: 10, lingerMs: 0, logger: pino({ level: 'silent' }), isRemoved: () => (busy(2), false), yieldBetweenBatches });
    let max = 0;
    let last = 0;
    let on = true;
    const probe = () => {
      const t = ingest.stats.transactions;
      max = Math.max(max, t - last);
      last = t;
      if (on) setImmediate(probe);
    };
    try {
      await ingest.start();
      setImmediate(probe);
      await waitFor(() => ingest.stats.events === published, { timeout: 30_000, what: `${published} events stored` });
    } finally {
      on = false;
      await ingest.stop();
      db.close();
    }
    return max;
  }

  it('the last partial batch of a burst is stored after the linger, not after ack_wait', async () => {
    nats ??= await NatsServer.start();
    nc ??= await connect(nats.connectOptions());
    const jsm = await ensureEventStream(nc, { name: 'EV', maxAgeMs: 3_600_000, maxBytes: -1, duplicateWindowMs: 60_000, replicas: 1 });
    const js = jetstream(nc);
    // 25 messages with batches of 10: the consumer has queued a pull request behind the last one,
    // which made getPending() > 0 and left the final 5 waiting for a message that never came.
    const n = 25;
    published += n;
    for (let seq = 1; seq <= n; seq++) {
      await js.publish(eventSubject('check', 'h2'), EventBatch.encode({ events: [Event.fromPartial({ id: eventId('h2', 'i', seq), hostId: 'h2', instanceId: 'i', seq, tsMs: Date.now(), kind: 'check', json: '{"check":"web","event":"result","state":"up"}' })] }).finish());
    }
    const db = openDatabase(dir.path, 'tail.db');
    const ingest = new Ingest({ nc, jsm, db, hosts: new HostsStore(db), events: new EventsStore(db), stream: 'EV', durable: 'tail', maxBatch: 10, ackWaitMs: 30_000, logger: pino({ level: 'silent' }) });
    try {
      await ingest.start();
      await waitFor(() => ingest.stats.events === n, { timeout: 10_000, what: `all ${n} events stored well before ack_wait` });
      assert.equal(ingest.stats.redelivered, 0);
    } finally {
      await ingest.stop();
      db.close();
    }
  });

  it('one transaction per turn behind a backlog (and, as the control, several without the yield)', async () => {
    nats ??= await NatsServer.start();
    nc ??= await connect(nats.connectOptions());
    await ensureEventStream(nc, { name: 'EV', maxAgeMs: 3_600_000, maxBytes: -1, duplicateWindowMs: 60_000, replicas: 1 });
    const js = jetstream(nc);
    published += N;
    for (let seq = 1; seq <= N; seq++) {
      await js.publish(eventSubject('check', 'h1'), EventBatch.encode({ events: [Event.fromPartial({ id: eventId('h1', 'i', seq), hostId: 'h1', instanceId: 'i', seq, tsMs: Date.now(), kind: 'check', json: '{"check":"web","event":"result","state":"up"}' })] }).finish());
    }
    assert.equal(await maxTransactionsPerTurn('with-yield', true), 1);
    assert.ok((await maxTransactionsPerTurn('without-yield', false)) > 1, 'the control: without the yield, held batches are stored in one turn');
  });
});
