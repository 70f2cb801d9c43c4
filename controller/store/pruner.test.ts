import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { tempDir } from '../../test/helpers/tmp.js';
import { openDatabase } from './db.js';
import { EventsStore } from './events-store.js';
import { Pruner } from './pruner.js';

const dir = tempDir('opsfleet-pruner-');
after(() => dir.cleanup());

describe('Pruner', () => {
  it('deletes only events past their expiry (the retention by default, shorter for samples), in chunks, and reopens cleanly', async () => {
    const db = openDatabase(dir.path);
    const day = 86_400_000;
    const events = new EventsStore(db, 7 * day);
    const now = 10_000_000_000;
    db.transaction(() => {
      for (let i = 0; i < 12_345; i++) {
        events.insert({ id: `h:i:${i}`, host_id: 'h', kind: 'hb', instance_id: 'i', seq: i, ts_ms: now, received_ms: now - 8 * day, payload: '{}' });
      }
      for (let i = 0; i < 100; i++) {
        events.insert({ id: `h:j:${i}`, host_id: 'h', kind: 'hb', instance_id: 'j', seq: i, ts_ms: now, received_ms: now - 6 * day, payload: '{}' });
      }
      // A high-volume sample with its own short expiry goes although it is younger.
      events.insert({ id: 'h:k:1', host_id: 'h', kind: 'metric', instance_id: 'k', seq: 1, ts_ms: now, received_ms: now - 2 * 3_600_000, payload: '{}', expires_ms: now - 3_600_000 });
    })();
    const pruner = new Pruner({ events, intervalMs: 60_000, logger: pino({ level: 'silent' }), now: () => now, chunk: 1000 });
    assert.equal(await pruner.pruneNow(), 12_346);
    const left = db.prepare<[], { n: number; minInst: string }>('SELECT count(*) AS n, min(instance_id) AS minInst FROM events').get()!;
    assert.deepEqual(left, { n: 100, minInst: 'j' });
    assert.equal(await pruner.pruneNow(), 0);
    db.close();
    // Migrations are idempotent: reopening an existing database keeps its rows.
    const again = openDatabase(dir.path);
    assert.equal(again.prepare<[], { n: number }>('SELECT count(*) AS n FROM events').get()!.n, 100);
    again.close();
  });

  it('dedupes on the event id: a second insert of the same id is reported as a duplicate', () => {
    const db = openDatabase(dir.path, 'dedupe.db');
    const events = new EventsStore(db);
    const e = { id: 'h:i:1', host_id: 'h', kind: 'hb', instance_id: 'i', seq: 1, ts_ms: 1, received_ms: 1, payload: '{}' };
    assert.equal(events.insert(e), true);
    assert.equal(events.insert({ ...e, payload: '{"changed":true}' }), false);
    assert.equal(events.query({ limit: 10 }).length, 1);
    db.close();
  });
});
