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
    let last = 0;
    try {
      // Rows appended the way the controller does (same anchor file), then cut by someone with the file.
      const audit = new AuditLog(db, Date.now, { file: join(dataDir, 'audit-head.json'), logger: pino({ level: 'silent' }) });
      // The controller has audited its own start already (the bootstrap token): count from there.
      const before = (db.prepare('SELECT COUNT(*) AS n FROM audit_log').get() as { n: number }).n;
      for (let i = 0; i < 3; i++) audit.append('alice', 'run.start', `p${i}`, { i });
      last = before + 3;
      const ok = await runCommand('opsctl', ['--controller', ctl.url, 'audit', 'verify']);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, new RegExp(`audit log ok: ${last} rows verified`));
      db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete');
      db.prepare('DELETE FROM audit_log WHERE id = ?').run(last);
    } finally {
      db.close();
    }
    const r = await runCommand('opsctl', ['--controller', ctl.url, 'audit', 'verify']);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, new RegExp(`audit log TAMPERED at row ${last}: the anchor records ${last} rows, the table ends at row ${last - 1}`));
  });
});
