import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { tempDir } from '../../test/helpers/tmp.js';
import { openDatabase } from './db.js';
import { DiskGuard, freeBytes, type DiskState } from './disk-guard.js';
import { EventsStore } from './events-store.js';

// A real small file system: a 16 MiB tmpfs (the tests run as root); the guard reads it with statfs.
const dir = tempDir('opsfleet-diskguard-');
const mnt = join(dir.path, 'mnt');
before(() => {
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mnt]);
});
after(() => {
  try {
    execFileSync('umount', [mnt]);
  } finally {
    dir.cleanup();
  }
});

describe('controller disk guard (controller/store/disk-guard.ts)', () => {
  it('reads free space with one real statfs', () => {
    const free = freeBytes(mnt);
    assert.ok(free > 15 * 1048576 && free <= 16 * 1048576, `free ${free}`);
  });

  it('below min_free on a filling tmpfs: drops the oldest events first, raises ControllerDiskLow, and the database stops growing', () => {
    const db = openDatabase(mnt);
    const events = new EventsStore(db, 7 * 86_400_000);
    const raised: DiskState[] = [];
    const minFree = 6 * 1048576;
    const guard = new DiskGuard({ dir: mnt, db, events, minFreeBytes: minFree, intervalMs: 60_000, pruneFraction: 0.25, logger: pino({ level: 'silent' }), raise: (s) => raised.push(s) });
    try {
      assert.equal(guard.check().ok, true);
      const ins = db.prepare("INSERT INTO events (id, host_id, kind, ts_ms, received_ms, payload) VALUES (?, 'h', 'metric', ?, ?, ?)");
      const payload = 'x'.repeat(2000);
      let n = 0;
      // Fill until the guard's threshold is crossed (about 10 MiB of rows).
      while (freeBytes(mnt) >= minFree) {
        db.transaction(() => {
          for (let i = 0; i < 200; i++, n++) ins.run(`e${n}`, n, n, payload);
        })();
      }
      const before = events.count();
      const s = guard.check();
      assert.equal(s.ok, false);
      assert.equal(raised.length, 1);
      assert.ok(s.freeBytes < minFree);
      const after1 = events.count();
      assert.equal(before - after1, Math.ceil(before * 0.25), 'a quarter of the events dropped');
      const oldest = db.prepare('SELECT MIN(received_ms) AS m FROM events').get() as { m: number };
      assert.equal(oldest.m, before - after1, 'oldest first: the rows left start right after the dropped ones');
      // New rows reuse the freed pages: as many as were dropped fit without the file growing past the disk.
      const freeBefore = freeBytes(mnt);
      db.transaction(() => {
        for (let i = 0; i < before - after1 - 50; i++, n++) ins.run(`e${n}`, n, n, payload);
      })();
      db.pragma('wal_checkpoint(TRUNCATE)');
      assert.ok(freeBytes(mnt) >= freeBefore - 64 * 1024, `free ${freeBytes(mnt)} vs ${freeBefore}: the file did not grow`);
    } finally {
      guard.stop();
      db.close();
    }
  });

  it('an unreadable file system is reported as not ok with the reason, never thrown', () => {
    const db = openDatabase(join(dir.path, 'db2'));
    const guard = new DiskGuard({ dir: join(dir.path, 'nope'), db, events: new EventsStore(db, 1000), minFreeBytes: 1, intervalMs: 60_000, pruneFraction: 0.1, logger: pino({ level: 'silent' }), raise: () => undefined });
    try {
      const s = guard.check();
      assert.equal(s.ok, false);
      assert.match(s.error!, /cannot read free space of .*nope: .*ENOENT/);
    } finally {
      db.close();
    }
  });
});
