import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { AckPolicy, DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { EventsStore } from '../../controller/store/events-store.js';
import { EVENT_SUBJECTS } from '../../shared/nats/subjects.js';
import { waitFor } from '../helpers/wait.js';
import { IngestHarness, STREAM } from './harness.js';

/**
 * The delivery test's flake: a controller SIGKILLed while it held delivered, unacked messages
 * left them ack-pending on the durable consumer, and JetStream gives them back only when
 * ack_wait (30 s) runs out; the restarted controller stored everything after them at once
 * but those events only half a minute later. Ingest now reads that range back at start.
 */
describe('messages a killed controller received but never acked', () => {
  let h: IngestHarness | undefined;
  after(() => h?.dispose());

  it('are stored when ingest starts, not after ack_wait; what follows is consumed as usual', async () => {
    h = await IngestHarness.start();
    const { jsm } = h;
    const send = (seq: number) => h!.send(seq, { tsMs: 1_700_000_000_000 + seq });
    for (let seq = 1; seq <= 5; seq++) await send(seq);

    // The previous run: the durable consumer as ingest makes it, five messages delivered, only
    // two acked (1 and 3), then the process dies: its connection is gone without a word.
    await jsm.consumers.add(STREAM, { durable_name: 'ctl', ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: nanos(30_000), max_ack_pending: 20_000, filter_subject: EVENT_SUBJECTS });
    const dead = await h.connect();
    const batch = await jetstream(dead).consumers.get(STREAM, 'ctl').then((c) => c.fetch({ max_messages: 5, expires: 5000 }));
    let delivered = 0;
    for await (const m of batch) {
      delivered++;
      if (m.seq === 1 || m.seq === 3) await m.ackAck();
      if (delivered === 5) break;
    }
    await dead.close();
    const before = await jsm.consumers.info(STREAM, 'ctl');
    assert.equal(before.num_ack_pending, 3, 'messages 2, 4 and 5 wait for ack_wait');
    await send(6);

    const db = h.openDb();
    const events = new EventsStore(db);
    const ingest = h.ingest(db, { events });
    const seqs = () => events.query({ host: 'h1', limit: 100 }).map((e) => e.seq).sort((a, b) => a - b);
    await ingest.start();
    // Read back before consuming: from the ack floor (1) to the last delivered (5). Message 3
    // was acked by the dead run (its events would be in the database already: a duplicate then).
    assert.deepEqual(seqs(), [2, 3, 4, 5]);
    assert.equal(ingest.stats.recovered, 4);
    await waitFor(() => seqs().includes(6), { timeout: 15_000, what: 'message 6 consumed after the read-back' });
    assert.deepEqual(seqs(), [2, 3, 4, 5, 6]);
  });
});
