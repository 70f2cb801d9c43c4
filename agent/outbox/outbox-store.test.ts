import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Event } from '../../shared/gen/opsfleet/v1/events.js';
import { tempDir } from '../../test/helpers/tmp.js';
import { openStateDir } from '../state/state-dir.js';
import { OutboxStore } from './outbox-store.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dirs: Array<() => void> = [];
after(() => dirs.forEach((c) => c()));
function dir(): string {
  const d = tempDir('opsfleet-outbox-');
  dirs.push(d.cleanup);
  return d.path;
}

const ID = { hostId: 'h1', instanceId: 'abcdef0123456789' };

describe('OutboxStore', () => {
  it('assigns consecutive seqs that survive a reopen, with ids <host>:<instance>:<seq>', () => {
    const d = dir();
    const a = new OutboxStore(d, ID, { maxEvents: 1000, maxBytes: 1e9 });
    assert.deepEqual(a.appendMany([{ kind: 'hb', payload: { json: '{}' } }, { kind: 'log', payload: { json: '{}' } }]), [1, 2]);
    a.ack(1, 2);
    a.close();
    const b = new OutboxStore(d, ID, { maxEvents: 1000, maxBytes: 1e9 });
    // Acked (deleted) rows must not let the counter go back: seq 3 next, never 1 again.
    assert.equal(b.append('hb', { json: '{"x":1}' }, 42), 3);
    const [row] = b.peek(0, 10);
    const ev = Event.decode(row!.data);
    assert.equal(ev.id, 'h1:abcdef0123456789:3');
    assert.equal(ev.seq, 3);
    assert.equal(ev.tsMs, 42);
    assert.equal(ev.kind, 'hb');
    assert.equal(ev.json, '{"x":1}');
    b.close();
  });

  it('peeks in order after a cursor and deletes only acked ranges', () => {
    const s = new OutboxStore(dir(), ID, { maxEvents: 1000, maxBytes: 1e9 });
    s.appendMany(Array.from({ length: 10 }, () => ({ kind: 'log' as const, payload: { json: '1' } })));
    assert.deepEqual(s.peek(3, 3).map((r) => r.seq), [4, 5, 6]);
    s.ack(4, 6);
    assert.deepEqual(s.peek(0, 100).map((r) => r.seq), [1, 2, 3, 7, 8, 9, 10]);
    assert.equal(s.stats().depth, 7);
    s.close();
  });

  it('evicts oldest first past max_events, counts it persistently, and reports hasRoom', () => {
    const d = dir();
    const s = new OutboxStore(d, ID, { maxEvents: 100, maxBytes: 1e9 });
    for (let i = 0; i < 130; i++) s.append('log', { json: String(i) });
    assert.equal(s.stats().depth, 100);
    assert.equal(s.stats().evictedTotal, 30);
    assert.equal(s.peek(0, 1)[0]!.seq, 31);
    assert.equal(s.hasRoom(), false);
    s.close();
    const again = new OutboxStore(d, ID, { maxEvents: 100, maxBytes: 1e9 });
    assert.equal(again.stats().evictedTotal, 30);
    again.ack(31, 40);
    assert.equal(again.hasRoom(10), true);
    assert.equal(again.hasRoom(11), false);
    again.close();
  });

  it('evicts by bytes too', () => {
    const s = new OutboxStore(dir(), ID, { maxEvents: 1_000_000, maxBytes: 10_000 });
    const big = 'x'.repeat(1000);
    for (let i = 0; i < 30; i++) s.append('log', { json: big });
    assert.ok(s.stats().bytes <= 10_000, `bytes ${s.stats().bytes}`);
    assert.ok(s.stats().evictedTotal >= 20);
    s.close();
  });

  it('wakes listeners after each committed append', () => {
    const s = new OutboxStore(dir(), ID, { maxEvents: 100, maxBytes: 1e9 });
    let calls = 0;
    const off = s.onAppend(() => calls++);
    s.append('hb', { json: '{}' });
    s.appendMany([{ kind: 'hb', payload: { json: '{}' } }, { kind: 'hb', payload: { json: '{}' } }]);
    off();
    s.append('hb', { json: '{}' });
    assert.equal(calls, 2);
    s.close();
  });
});

describe('state dir', () => {
  it('keeps the instance id across opens and makes a new one when the dir is wiped or corrupt', () => {
    const d = dir();
    const a = openStateDir(d);
    assert.match(a.instanceId, /^[a-f0-9]{16}$/);
    assert.equal(openStateDir(d).instanceId, a.instanceId);
    writeFileSync(join(d, 'instance.json'), 'garbage');
    const c = openStateDir(d);
    assert.notEqual(c.instanceId, a.instanceId);
    assert.ok(c.replacedCorrupt);
    const fresh = openStateDir(join(dir(), 'new-sub'));
    assert.notEqual(fresh.instanceId, a.instanceId);
  });

  it('makes a new instance id after a host boot, so a counter rolled back by a power loss never reuses an event id', () => {
    const d = dir();
    const first = openStateDir(d, 'boot-a');
    assert.equal(openStateDir(d, 'boot-a').instanceId, first.instanceId);
    const after = openStateDir(d, 'boot-b');
    assert.notEqual(after.instanceId, first.instanceId);
    assert.equal(after.newBoot, true);
    assert.equal(openStateDir(d, 'boot-b').instanceId, after.instanceId);
  });
});
