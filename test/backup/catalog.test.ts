import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { BackupCatalog } from '../../controller/backup/catalog.js';
import { openDatabase } from '../../controller/store/db.js';
import { EventsStore } from '../../controller/store/events-store.js';
import { createRootLogger } from '../../shared/logger.js';
import { tempDir } from '../helpers/tmp.js';

const logger = createRootLogger({ name: 'test', level: 'silent' });

describe('controller backup catalog', () => {
  it('catches up from its cursor after a restart, idempotently, and tracks failures and pruning', () => {
    const tmp = tempDir('opsfleet-catalog-');
    try {
      let db = openDatabase(tmp.path);
      let seq = 0;
      const put = (host: string, body: Record<string, unknown>, ts = 1_000 + seq) => {
        seq++;
        new EventsStore(db).insert({ id: `${host}:i:${seq}`, host_id: host, kind: 'backup', instance_id: 'i', seq, ts_ms: ts, received_ms: ts, payload: JSON.stringify({ json: JSON.stringify(body) }) });
      };
      const snap = (id: string, type: string, parent: string | null) => ({ event: 'snapshot', set: 'conf', id, type, parent, time: new Date(Date.UTC(2026, 10, 27, 10, Number(id.slice(1)))).toISOString(), files: 3, bytes: 30, archive_bytes: 20, deleted: 0, duration_ms: 5, target: 'dir' });
      put('h1', snap('s1', 'full', null));
      put('h1', snap('s2', 'incremental', 's1'));
      put('h2', { event: 'failed', set: 'conf', error: 'OPS_ERR_BACKUP_TARGET: s3 down', code: 'OPS_ERR_BACKUP_TARGET' });
      let cat = new BackupCatalog(db, logger);
      cat.start();
      assert.deepEqual(cat.list({}).map((s) => `${s.host}/${s.id}/${s.type}`), ['h1/s1/full', 'h1/s2/incremental']);
      assert.equal(cat.sets({ host: 'h2' })[0]!.status, 'failed');

      // Controller killed: events stored after the last catch-up are read at the next start.
      put('h1', snap('s3', 'incremental', 's2'));
      put('h1', { event: 'pruned', set: 'conf', ids: ['s1'] });
      put('h2', snap('s4', 'full', null));
      put('h1', { not: 'a backup event' });
      db.close();
      db = openDatabase(tmp.path);
      cat = new BackupCatalog(db, logger);
      cat.start();
      assert.deepEqual(cat.list({ host: 'h1' }).map((s) => s.id), ['s2', 's3'], 'pruned s1 hidden');
      assert.deepEqual(cat.list({ host: 'h1', includePruned: true }).map((s) => [s.id, s.pruned !== null]), [['s1', true], ['s2', false], ['s3', false]]);
      assert.equal(cat.sets({ host: 'h2' })[0]!.status, 'ok', 'a later success clears the failure');
      assert.equal(cat.sets({ host: 'h2' })[0]!.lastSnapshot, 's4');
      assert.equal(cat.catchUp(), 0, 'nothing read twice');
      db.close();
    } finally {
      tmp.cleanup();
    }
  });

  it('stop(): later ingest notifications neither read nor write, and the next start catches up', () => {
    const tmp = tempDir('opsfleet-catalog-stop-');
    try {
      let db = openDatabase(tmp.path);
      const put = (seq: number, id: string) =>
        new EventsStore(db).insert({ id: `h:i:${seq}`, host_id: 'h', kind: 'backup', instance_id: 'i', seq, ts_ms: seq, received_ms: seq, payload: JSON.stringify({ json: JSON.stringify({ event: 'snapshot', set: 'conf', id, type: 'full', parent: null, time: new Date(seq).toISOString(), files: 1, bytes: 1, archive_bytes: 1, deleted: 0, duration_ms: 1, target: 'dir' }) }) });
      put(1, 's1');
      const errors: unknown[] = [];
      const spy = { child: () => spy, error: (...a: unknown[]) => errors.push(a), warn: () => undefined, info: () => undefined, debug: () => undefined } as unknown as typeof logger;
      let cat = new BackupCatalog(db, spy);
      cat.start();
      cat.stop();
      put(2, 's2');
      db.close();
      // Without stop() this read the closed database and logged "backup catalog update failed".
      cat.onEvents([{ kind: 'backup' } as never]);
      assert.deepEqual(errors, []);
      db = openDatabase(tmp.path);
      cat = new BackupCatalog(db, logger);
      cat.start();
      assert.deepEqual(cat.list({}).map((s) => s.id), ['s1', 's2']);
      db.close();
    } finally {
      tmp.cleanup();
    }
  });
});
