import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { Deadline, DeadlineError, withDeadline } from './deadline.js';

describe('withDeadline', () => {
  it('aborts at the deadline with a DeadlineError and says it timed out', async () => {
    let seen: unknown;
    await assert.rejects(
      withDeadline(50, undefined, (signal, d) =>
        new Promise((_r, reject) =>
          signal.addEventListener('abort', () => {
            seen = d.timedOut;
            reject(signal.reason as Error);
          }),
        ),
      ),
      (e: unknown) => e instanceof DeadlineError && e.code === 'OPS_ERR_DEADLINE' && e.message === 'timed out after 50ms',
    );
    assert.equal(seen, true);
  });

  it('follows the parent signal (shutdown) and reports it is not a timeout', async () => {
    const ac = new AbortController();
    const d = new Deadline(60_000, ac.signal);
    ac.abort(new Error('stopping'));
    assert.equal(d.signal.aborted, true);
    assert.equal(d.timedOut, false);
    d.clear();
    const pre = new Deadline(60_000, AbortSignal.abort());
    assert.equal(pre.signal.aborted, true);
    pre.clear();
  });

  it('clears its timer and listener when the work is done', async () => {
    const ac = new AbortController();
    const v = await withDeadline(60_000, ac.signal, async () => 42);
    assert.equal(v, 42);
    ac.abort();
  });
});
