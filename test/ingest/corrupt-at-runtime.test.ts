import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { waitFor } from '../helpers/wait.js';
import { IngestHarness, STREAM } from './harness.js';

describe('SQLITE_CORRUPT at run time', () => {
  let h: IngestHarness | undefined;
  after(() => h?.dispose());

  it('stops ingest once (no retry every second), leaves the messages in the stream and tells the owner', async () => {
    h = await IngestHarness.start();
    const db = h.openDb();
    // The file is damaged under a running controller: every write transaction fails the way SQLite reports it.
    const corruptDb = Object.create(db) as typeof db;
    corruptDb.transaction = (() => () => {
      throw Object.assign(new Error('database disk image is malformed'), { code: 'SQLITE_CORRUPT' });
    }) as unknown as typeof db.transaction;
    const told: Error[] = [];
    const ingest = h.ingest(db, { db: corruptDb, onCorrupt: (e) => told.push(e) });
    await ingest.start();
    await h.send(1);
    await waitFor(() => told.length === 1, { timeout: 15_000, what: 'onCorrupt' });
    assert.equal(told[0]!.message, 'database disk image is malformed');
    assert.ok(ingest.corrupt);
    await h.send(2);
    // Ingest stopped pulling: the second message waits in the stream, undelivered, and nothing was retried.
    await waitFor(async () => (await h!.jsm.consumers.info(STREAM, 'ctl')).num_pending >= 1, { timeout: 15_000, what: 'second message left in the stream' });
    assert.equal(ingest.stats.storeErrors, 1);
    assert.equal(ingest.stats.messages, 0);
  });
});
