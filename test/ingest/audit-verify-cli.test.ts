import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { AuditLog } from '../../controller/audit/audit-log.js';
import { openDatabase } from '../../controller/store/db.js';
import { runCommand, startController, type ControllerProc } from '../helpers/daemons.js';
import { tempDir } from '../helpers/tmp.js';

describe('opsctl audit verify', () => {
  const dir = tempDir();
  let ctl: ControllerProc | undefined;
  after(async () => {
    await ctl?.child.stop();
    dir.cleanup();
  });

  it('detects the last row deleted from the running controller\'s database (it used to say "audit log ok")', async () => {
    // NATS is not needed for the audit API: the controller runs degraded without it.
    ctl = await startController({ natsUrl: 'nats://127.0.0.1:1', dir: dir.path });
    const dataDir = join(dir.path, 'controller-data');
    const db = openDatabase(dataDir);
    try {
      // Rows appended the way the controller does (same anchor file), then cut by someone with the file.
      const audit = new AuditLog(db, Date.now, { file: join(dataDir, 'audit-head.json'), logger: pino({ level: 'silent' }) });
      for (let i = 0; i < 3; i++) audit.append('alice', 'run.start', `p${i}`, { i });
      const ok = await runCommand('opsctl', ['--controller', ctl.url, 'audit', 'verify']);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /audit log ok: 3 rows verified/);
      db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete');
      db.prepare('DELETE FROM audit_log WHERE id = 3').run();
    } finally {
      db.close();
    }
    const r = await runCommand('opsctl', ['--controller', ctl.url, 'audit', 'verify']);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /audit log TAMPERED at row 3: the anchor records 3 rows, the table ends at row 2/);
  });
});
