import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { waitFor } from '../helpers/wait.js';
import { IngestHarness } from './harness.js';

// stop() came while the consume loop was still asking for its consumer: it found nothing to
// close, and the loop then waited for a message that a quiet stream never sends (a controller
// stopped right after it started hung until its forced stop).
describe('ingest stopped right after it started', () => {
  let h: IngestHarness | undefined;
  after(() => h?.dispose());

  it('stop() returns on a quiet stream; the next start gets what was published meanwhile', { timeout: 30_000 }, async () => {
    h = await IngestHarness.start();
    const quiet = h.ingest(h.openDb());
    await quiet.start();
    await quiet.stop();
    assert.equal(quiet.stats.messages, 0);

    // The next start on the same durable consumer still gets what was published meanwhile.
    await h.send(1);
    const next = h.ingest(h.openDb());
    await next.start();
    await waitFor(() => next.stats.messages === 1, { what: 'the message published while ingest was stopped' });
    await next.stop();
  });
});
