import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { OutboxStore } from '../../agent/outbox/outbox-store.js';
import { LocalState } from '../../agent/backup/local-state.js';
import { openDatabase, verifyDatabase } from '../../controller/store/db.js';
import { EventsStore } from '../../controller/store/events-store.js';
import { OpsError } from '../../shared/errors.js';
import { runCommand } from '../helpers/daemons.js';
import { tempDir } from '../helpers/tmp.js';

const silent = pino({ level: 'silent' });

/** Overwrites whole pages in the middle of the file with random bytes (a disk or a careless dd). */
function damage(file: string): void {
  const size = statSync(file).size;
  const fd = openSync(file, 'r+');
  try {
    const page = 4096;
    const mid = Math.floor(size / page / 2) * page;
    writeSync(fd, randomBytes(page * 4), 0, page * 4, mid);
  } finally {
    closeSync(fd);
  }
}

function filled(dataDir: string): string {
  const db = openDatabase(dataDir);
  const ev = new EventsStore(db);
  db.transaction(() => {
    for (let i = 0; i < 20_000; i++) ev.insert({ id: `h:i:${i}`, host_id: 'h', kind: 'metric', instance_id: 'i', seq: i, ts_ms: i, received_ms: i, payload: JSON.stringify({ json: `{"v":${i},"pad":"${'x'.repeat(40)}"}` }) });
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return join(dataDir, 'controller.db');
}

function assertNamed(fn: () => unknown, code: string, file: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof OpsError, String(err));
    assert.equal(err.code, code);
    assert.ok(err.message.includes(file), `message names the file: ${err.message}`);
    return true;
  });
}

describe('a damaged database is noticed and named', () => {
  const dir = tempDir();
  after(() => dir.cleanup());

  it('controller: a file that is not a database refuses to open with OPS_ERR_STORE_CORRUPT naming it', () => {
    const d = join(dir.path, 'notadb');
    const f = filled(d);
    writeFileSync(f, randomBytes(64 * 1024));
    assertNamed(() => openDatabase(d), 'OPS_ERR_STORE_CORRUPT', f);
  });

  it('controller: random pages mid-file pass the open but fail the bounded start-up check', async () => {
    const d = join(dir.path, 'midfile');
    const f = filled(d);
    damage(f);
    const db = openDatabase(d);
    db.close();
    await assert.rejects(verifyDatabase(d, silent), (err: unknown) => {
      assert.ok(err instanceof OpsError);
      assert.equal(err.code, 'OPS_ERR_STORE_CORRUPT');
      assert.ok(err.message.includes(f) && /restore the file from a backup/.test(err.message), err.message);
      return true;
    });
    // A sound file passes.
    const ok = join(dir.path, 'sound');
    filled(ok);
    await verifyDatabase(ok, silent);
  });

  it('controller: the real daemon exits 1 at start with the file and the code on stderr (it used to start and say ok)', async () => {
    const d = join(dir.path, 'daemon');
    const f = filled(join(d, 'controller-data'));
    damage(f);
    const cfg = join(d, 'controller.yaml');
    writeFileSync(cfg, `nats: { servers: ["nats://127.0.0.1:1"] }\ndata_dir: ${join(d, 'controller-data')}\nhttp: { listen: "127.0.0.1:0" }\n`);
    const r = await runCommand('opsfleet-controller', ['--config', cfg], {}, 60_000);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`OPS_ERR_STORE_CORRUPT: controller database ${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is corrupt`));
  });

  it('agent: a damaged backup state names its file and carries a code; an outbox that cannot be opened names its file', () => {
    // (A damaged outbox is moved aside and replaced, with a new instance id: agent/outbox.)
    const state = join(dir.path, 'backup-state', 'set.db');
    new LocalState(state).close();
    writeFileSync(state, randomBytes(32 * 1024));
    assertNamed(() => new LocalState(state), 'OPS_ERR_STORE_CORRUPT', state);
    // Not corrupt, just impossible: a state dir that does not exist.
    assertNamed(() => new OutboxStore(join(dir.path, 'missing'), { hostId: 'h', instanceId: 'i' }, { maxEvents: 1, maxBytes: 1 }), 'OPS_ERR_OUTBOX_OPEN', join(dir.path, 'missing', 'outbox.db'));
  });
});
