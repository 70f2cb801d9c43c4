import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { tempDir } from '../../test/helpers/tmp.js';
import { openDatabase } from './db.js';
import { EventsStore } from './events-store.js';
import { WalCheckpointer } from './wal-checkpointer.js';

const dir = tempDir('opsfleet-walcp-');
after(() => dir.cleanup());

const walBytes = (file: string) => (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0);

/** ~`mb` MiB of event rows (2 KiB payloads, as a heartbeat with inventory) in 128-row transactions, yielding between them as ingest does. */
async function writeEvents(db: ReturnType<typeof openDatabase>, events: EventsStore, mb: number, tag: string, onTx: () => void): Promise<void> {
  const payload = 'x'.repeat(2048);
  const insert = db.transaction((base: number) => {
    for (let i = 0; i < 128; i++) events.insert({ id: `${tag}:${base + i}`, host_id: 'h', kind: 'hb', instance_id: 'i', seq: base + i, ts_ms: base + i, received_ms: base + i, payload });
  });
  for (let n = 0; n < (mb * 1024) / 256; n++) {
    insert(n * 128);
    onTx();
    await sleep(2);
  }
}

describe('WAL checkpointer (controller/store/wal-checkpointer.ts)', () => {
  it('keeps the WAL bounded under continuous writes while the main connection never checkpoints, and truncates it when writes stop', async () => {
    const db = openDatabase(dir.path, 'a.db');
    const file = join(dir.path, 'a.db');
    const events = new EventsStore(db, 86_400_000);
    const cp = new WalCheckpointer({ file, db, logger: pino({ level: 'silent' }), intervalMs: 20, truncateAboveBytes: 0, restartAboveFrames: 2048 });
    await cp.start();
    try {
      assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0, 'the main connection does not checkpoint by itself');
      let maxWal = 0;
      await writeEvents(db, events, 64, 'a', () => (maxWal = Math.max(maxWal, walBytes(file))));
      const s = cp.stats();
      assert.equal(s.running, true);
      assert.ok(s.frames > 0 && s.checkpoints > 0, JSON.stringify(s));
      // 64 MiB of payload (~150 MiB with row and index pages) written; a WAL that nobody checkpoints
      // holds all of it (the control below). The RESTART bound is 8 MiB; the margin is for a loaded machine.
      assert.ok(maxWal < 48 * 2 ** 20, `WAL reached ${maxWal} bytes`);
      // Writes stopped: the worker copies the rest and gives the file's space back.
      const deadline = Date.now() + 10_000;
      while (walBytes(file) > 0 && Date.now() < deadline) await sleep(20);
      assert.equal(walBytes(file), 0, 'WAL truncated once idle');
      assert.ok(cp.stats().truncates >= 1);
      assert.ok(cp.stats().maxBlockingMs > 0, 'the TRUNCATE (it holds writers back) is timed');
      assert.equal(events.count(), 64 * 4 * 128);
    } finally {
      await cp.stop();
      db.close();
    }
  });

  it('control: with automatic checkpoints off and no worker the same writes grow the WAL past the bound', async () => {
    const db = openDatabase(dir.path, 'b.db');
    const file = join(dir.path, 'b.db');
    db.pragma('wal_autocheckpoint = 0');
    const events = new EventsStore(db, 86_400_000);
    let maxWal = 0;
    try {
      await writeEvents(db, events, 32, 'b', () => (maxWal = Math.max(maxWal, walBytes(file))));
      assert.ok(maxWal > 48 * 2 ** 20, `WAL reached only ${maxWal} bytes`);
    } finally {
      db.close();
    }
  });

  it('a dead worker gives the main connection its automatic checkpoints back; stop() does too and is idempotent', async () => {
    const db = openDatabase(dir.path, 'c.db');
    const cp = new WalCheckpointer({ file: join(dir.path, 'c.db'), db, logger: pino({ level: 'silent' }), intervalMs: 20 });
    await cp.start();
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0);
    await (cp as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    const deadline = Date.now() + 5000;
    while (cp.stats().running && Date.now() < deadline) await sleep(10);
    assert.equal(cp.stats().running, false);
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 1000);
    await Promise.all([cp.stop(), cp.stop()]);

    const cp2 = new WalCheckpointer({ file: join(dir.path, 'c.db'), db, logger: pino({ level: 'silent' }), intervalMs: 20 });
    await cp2.start();
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0);
    const first = cp2.stop();
    assert.equal(cp2.stop(), first);
    await first;
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 1000);
    db.close();
  });
});
