import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { tempDir } from '../../test/helpers/tmp.js';
import { OutboxStore } from './outbox-store.js';

const dirs: Array<() => void> = [];
after(() => dirs.forEach((c) => c()));
function dir(): string {
  const d = tempDir('opsfleet-outbox-state-');
  dirs.push(d.cleanup);
  return d.path;
}
const ID = { hostId: 'h1', instanceId: 'abcdef0123456789' };

describe('outbox component state', () => {
  it('commits state rows with the events, survives a reopen, and a failed append keeps neither', () => {
    const d = dir();
    const s = new OutboxStore(d, ID, { maxEvents: 1000, maxBytes: 1e9 });
    assert.deepEqual(s.appendMany([{ kind: 'log', payload: { json: '{}' } }], [{ scope: 'logs/a', key: 'f:1', value: '{"offset":10}' }]), [1]);
    // A state row that cannot be written aborts the transaction: the events must not stay either.
    assert.throws(
      () => s.appendMany([{ kind: 'log', payload: { json: '{}' } }], [{ scope: 'logs/a', key: 'f:1', value: '{"offset":99}' }, { scope: 'logs/a', key: 'f:2', value: undefined as unknown as string }]),
      (e: Error & { code?: string }) => e.code === 'OPS_ERR_OUTBOX_WRITE',
    );
    assert.deepEqual(s.readState('logs/a'), [{ key: 'f:1', value: '{"offset":10}' }]);
    assert.equal(s.stats().depth, 1);
    // State alone, with a scope replaced and a row deleted.
    s.writeState([{ scope: 'logs/a', key: 'meta', value: '{}' }], ['logs/a']);
    s.writeState([{ scope: 'logs/b', key: 'x', value: '1' }]);
    s.appendMany([], [{ scope: 'logs/b', key: 'x', value: null }]);
    s.close();
    const again = new OutboxStore(d, ID, { maxEvents: 1000, maxBytes: 1e9 });
    assert.deepEqual(again.readState('logs/a'), [{ key: 'meta', value: '{}' }]);
    assert.deepEqual(again.readState('logs/b'), []);
    assert.equal(again.stats().lastSeq, 1);
    again.close();
  });
});
