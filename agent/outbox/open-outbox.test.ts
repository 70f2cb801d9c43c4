import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Event } from '../../shared/gen/opsfleet/v1/events.js';
import { tempDir } from '../../test/helpers/tmp.js';
import { openOutboxWithIdentity } from './open-outbox.js';

const dirs: Array<() => void> = [];
after(() => dirs.forEach((c) => c()));
function dir(): string {
  const d = tempDir('opsfleet-open-outbox-');
  dirs.push(d.cleanup);
  return d.path;
}
const LIMITS = { maxEvents: 100_000, maxBytes: 1e9 };
const BOOT = 'boot-1';

/** Opens, appends n events, closes; returns the instance id and the ids written. */
function run(d: string, n: number, boot = BOOT): { instanceId: string; ids: string[]; renewedFrom: string | undefined } {
  const o = openOutboxWithIdentity(d, 'h1', LIMITS, boot);
  const seqs = o.outbox.appendMany(Array.from({ length: n }, () => ({ kind: 'hb', payload: { json: '{}' } })));
  const ids = o.outbox.peek(seqs[0]! - 1, n).map((r) => Event.decode(r.data).id);
  o.outbox.close();
  return { instanceId: o.stateDir.instanceId, ids, renewedFrom: o.renewedFrom };
}

function removeOutbox(d: string): void {
  for (const f of ['outbox.db', 'outbox.db-wal', 'outbox.db-shm']) rmSync(join(d, f), { force: true });
}

describe('outbox and identity opened together', () => {
  it('keeps the instance id and the seq counter across ordinary restarts', () => {
    const d = dir();
    const a = run(d, 3);
    const b = run(d, 2);
    assert.equal(b.instanceId, a.instanceId);
    assert.equal(b.renewedFrom, undefined);
    assert.deepEqual(b.ids, [`h1:${a.instanceId}:4`, `h1:${a.instanceId}:5`]);
  });

  it('a deleted outbox.db with instance.json kept gets a new instance id, so no event id repeats', () => {
    const d = dir();
    const a = run(d, 5);
    removeOutbox(d);
    const b = run(d, 5);
    assert.notEqual(b.instanceId, a.instanceId);
    assert.equal(b.renewedFrom, a.instanceId);
    assert.equal(b.ids.filter((id) => a.ids.includes(id)).length, 0, 'no id of the old outbox is reused');
    // The new id is durable: the next start keeps it and continues the counter.
    const c = run(d, 1);
    assert.equal(c.instanceId, b.instanceId);
    assert.deepEqual(c.ids, [`h1:${b.instanceId}:6`]);
  });

  it('an outbox.db truncated to 0 bytes is a reset: new instance id', () => {
    const d = dir();
    const a = run(d, 5);
    truncateSync(join(d, 'outbox.db'), 0);
    rmSync(join(d, 'outbox.db-wal'), { force: true });
    rmSync(join(d, 'outbox.db-shm'), { force: true });
    const b = run(d, 1);
    assert.notEqual(b.instanceId, a.instanceId);
    assert.deepEqual(b.ids, [`h1:${b.instanceId}:1`]);
  });

  it('a damaged outbox.db (truncated mid-file) is moved aside, not fatal, and gets a new instance id', () => {
    const d = dir();
    const first = openOutboxWithIdentity(d, 'h1', LIMITS, BOOT);
    // Enough rows for several pages, then a checkpoint so the rows are in the main file.
    first.outbox.appendMany(Array.from({ length: 3000 }, () => ({ kind: 'log', payload: { json: 'x'.repeat(200) } })));
    first.outbox.close();
    const db = new Database(join(d, 'outbox.db'));
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    truncateSync(join(d, 'outbox.db'), Math.floor(statSync(join(d, 'outbox.db')).size / 2));
    const second = openOutboxWithIdentity(d, 'h1', LIMITS, BOOT);
    try {
      assert.ok(second.outbox.movedCorrupt && existsSync(second.outbox.movedCorrupt), 'the corrupt file is kept for inspection');
      assert.ok(readdirSync(d).some((f) => f.startsWith('outbox.db.corrupt-')));
      assert.notEqual(second.stateDir.instanceId, first.stateDir.instanceId);
      assert.equal(second.outbox.append('hb', { json: '{}' }), 1);
    } finally {
      second.outbox.close();
    }
  });

  it('an outbox bound to another instance id than instance.json says gets a new id (never adopts one that may have been used)', () => {
    const d = dir();
    const a = run(d, 2);
    writeFileSync(join(d, 'instance.json'), JSON.stringify({ instance_id: 'feedfacefeedface', created_at: '', boot_id: BOOT }));
    const b = run(d, 1);
    assert.notEqual(b.instanceId, 'feedfacefeedface');
    assert.notEqual(b.instanceId, a.instanceId);
  });

  it('after a host boot the new id from instance.json is used as is, and an outbox from before the binding continues', () => {
    const d = dir();
    const a = run(d, 2, 'boot-a');
    const b = run(d, 1, 'boot-b');
    assert.notEqual(b.instanceId, a.instanceId);
    assert.equal(b.renewedFrom, undefined);
    // An outbox written by an agent version without the binding: counter kept, id kept.
    const db = new Database(join(d, 'outbox.db'));
    db.exec('DROP TABLE identity');
    db.close();
    const c = run(d, 1, 'boot-b');
    assert.equal(c.instanceId, b.instanceId);
    assert.deepEqual(c.ids, [`h1:${b.instanceId}:4`]);
  });
});
