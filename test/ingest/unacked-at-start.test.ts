import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { AckPolicy, DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { Ingest } from '../../controller/ingest/ingest.js';
import { openDatabase } from '../../controller/store/db.js';
import { EventsStore } from '../../controller/store/events-store.js';
import { HostsStore } from '../../controller/store/hosts-store.js';
import { Event, EventBatch } from '../../shared/events/codec.js';
import { ensureEventStream } from '../../shared/nats/stream.js';
import { EVENT_SUBJECTS, eventId, eventSubject } from '../../shared/nats/subjects.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The delivery test's flake: a controller SIGKILLed while it held delivered, unacked messages
 * left them ack-pending on the durable consumer, and JetStream gives them back only when
 * ack_wait (30 s) runs out; the restarted controller stored everything after them at once
 * but those events only half a minute later. Ingest now reads that range back at start.
 */
describe('messages a killed controller received but never acked', () => {
  const dir = tempDir();
  let nats: NatsServer;
  const conns: NatsConnection[] = [];
  let ingest: Ingest | undefined;
  after(async () => {
    await ingest?.stop();
    for (const c of conns) await c.close().catch(() => undefined);
    await nats?.dispose();
    dir.cleanup();
  });

  it('are stored when ingest starts, not after ack_wait; what follows is consumed as usual', async () => {
    nats = await NatsServer.start();
    const nc = await connect(nats.connectOptions());
    conns.push(nc);
    const jsm = await ensureEventStream(nc, { name: 'EV', maxAgeMs: 3_600_000, maxBytes: -1, duplicateWindowMs: 60_000, replicas: 1 });
    const js = jetstream(nc);
    const send = (seq: number) => js.publish(eventSubject('metric', 'h1'), EventBatch.encode({ events: [Event.fromPartial({ id: eventId('h1', 'i', seq), hostId: 'h1', instanceId: 'i', seq, tsMs: 1_700_000_000_000 + seq, kind: 'metric', json: '{}' })] }).finish());
    for (let seq = 1; seq <= 5; seq++) await send(seq);

    // The previous run: the durable consumer as ingest makes it, five messages delivered, only
    // two acked (1 and 3), then the process dies: its connection is gone without a word.
    await jsm.consumers.add('EV', { durable_name: 'ctl', ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: nanos(30_000), max_ack_pending: 20_000, filter_subject: EVENT_SUBJECTS });
    const dead = await connect(nats.connectOptions());
    conns.push(dead);
    const batch = await jetstream(dead).consumers.get('EV', 'ctl').then((c) => c.fetch({ max_messages: 5, expires: 5000 }));
    let delivered = 0;
    for await (const m of batch) {
      delivered++;
      if (m.seq === 1 || m.seq === 3) await m.ackAck();
      if (delivered === 5) break;
    }
    await dead.close();
    const before = await jsm.consumers.info('EV', 'ctl');
    assert.equal(before.num_ack_pending, 3, 'messages 2, 4 and 5 wait for ack_wait');
    await send(6);

    const db = openDatabase(dir.path);
    const events = new EventsStore(db);
    ingest = new Ingest({ nc, jsm, db, hosts: new HostsStore(db), events, stream: 'EV', durable: 'ctl', maxBatch: 10, logger: pino({ level: 'silent' }) });
    const seqs = () => events.query({ host: 'h1', limit: 100 }).map((e) => e.seq).sort((a, b) => a - b);
    await ingest.start();
    // Read back before consuming: from the ack floor (1) to the last delivered (5). Message 3
    // was acked by the dead run (its events would be in the database already: a duplicate then).
    assert.deepEqual(seqs(), [2, 3, 4, 5]);
    assert.equal(ingest.stats.recovered, 4);
    await waitFor(() => seqs().includes(6), { timeout: 15_000, what: 'message 6 consumed after the read-back' });
    assert.deepEqual(seqs(), [2, 3, 4, 5, 6]);
    db.close();
  });
});
