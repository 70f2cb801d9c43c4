import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ingestPrefetch } from '../../controller/ingest/ingest.js';
import { waitFor } from '../helpers/wait.js';
import { IngestHarness, STREAM } from './harness.js';

// Issue 18: ingest prefetched 4 x max_batch messages. On a controller starved of CPU the last of
// them waited in the client past ack_wait and JetStream delivered them again. Here the starvation
// is made by hand: storing each message takes 20 ms (busy, in the transaction), ack_wait is 2 s,
// and a backlog of 150 messages waits in the stream. With the old prefetch (256 here) all 150
// arrive at once and the last ones are acked after ~3 s: redelivered. Now at most
// ingestPrefetch(10) = 32 are held, ~0.6 s of work: none is redelivered.
describe('ingest prefetch vs ack_wait under starvation', () => {
  let h: IngestHarness | undefined;
  after(() => h?.dispose());

  it('holds no more than two batches, so a slow store still acks every message within ack_wait (no redelivery)', async () => {
    assert.equal(ingestPrefetch(10), 32);
    assert.equal(ingestPrefetch(256), 512);
    h = await IngestHarness.start();
    const N = 150;
    for (let seq = 1; seq <= N; seq++) await h.send(seq);
    const busy = (ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        /* a starved controller: the work per message takes this long */
      }
    };
    const ingest = h.ingest(h.openDb(), { ackWaitMs: 2000, isRemoved: () => (busy(20), false) });
    await ingest.start();
    await waitFor(() => ingest.stats.events === N, { timeout: 30_000, what: `${N} events stored` });
    // Anything redelivered would arrive after ack_wait: give it that long to show up.
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(ingest.stats.redelivered, 0, JSON.stringify(ingest.stats));
    assert.equal(ingest.stats.duplicates, 0);
    assert.equal(ingest.stats.messages, N);
    const info = await h.jsm.consumers.info(STREAM, 'ctl');
    assert.equal(info.num_ack_pending, 0);
    assert.equal(info.config.ack_wait, 2000 * 1e6);
  });
});

// Messages of a fleet arrive one by one (a few per millisecond at 5,000 agents); a commit per
// message made SQLite commits most of ingest's CPU. A partial batch now waits lingerMs for more.
describe('ingest groups messages that arrive one by one into few transactions', () => {
  let h: IngestHarness | undefined;
  after(() => h?.dispose());

  it('with a linger, 60 messages published 5 ms apart are stored in a handful of commits, each stored once', async () => {
    h = await IngestHarness.start();
    const lingering = h.ingest(h.openDb(), { durable: 'linger', maxBatch: 256, lingerMs: 150 });
    await lingering.start();
    const N = 60;
    for (let seq = 1; seq <= N; seq++) {
      await h.send(seq, { host: 'h2' });
      await new Promise((r) => setTimeout(r, 5));
    }
    await waitFor(() => lingering.stats.events === N, { timeout: 15_000, what: `${N} events stored` });
    assert.equal(lingering.stats.messages, N);
    // ~60 x (5 ms + publish) ≈ 0.5 s+ of arrivals in 150 ms windows: a few commits, not one per message.
    assert.ok(lingering.stats.transactions <= 15, `transactions ${lingering.stats.transactions} for ${N} messages`);
    assert.equal((await h.jsm.consumers.info(STREAM, 'linger')).num_ack_pending, 0);
  });
});
