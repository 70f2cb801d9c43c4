import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { tempDir } from '../../test/helpers/tmp.js';
import { openDatabase } from '../store/db.js';
import { AuditLog } from './audit-log.js';

const dir = tempDir('opsfleet-audit-');
after(() => dir.cleanup());

describe('AuditLog', () => {
  it('chains rows, refuses UPDATE/DELETE, and names the first tampered or missing row', () => {
    const db = openDatabase(dir.path);
    const audit = new AuditLog(db);
    for (let i = 0; i < 5; i++) audit.append('alice', 'run.start', `playbook-${i}`, { i });
    assert.deepEqual(audit.verify(), { ok: true, rows: 5 });
    assert.throws(() => db.prepare("UPDATE audit_log SET actor = 'mallory' WHERE id = 3").run(), /append-only/);
    assert.throws(() => db.prepare('DELETE FROM audit_log WHERE id = 3').run(), /append-only/);
    // Someone with the file drops the triggers and edits a row: the chain shows it.
    db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete');
    db.prepare("UPDATE audit_log SET actor = 'mallory' WHERE id = 3").run();
    assert.deepEqual(audit.verify(), { ok: false, rows: 3, badRow: 3, reason: 'row 3 was modified (hash mismatch)' });
    db.prepare("UPDATE audit_log SET actor = 'alice' WHERE id = 3").run();
    assert.equal(audit.verify().ok, true);
    db.prepare('DELETE FROM audit_log WHERE id = 2').run();
    assert.deepEqual(audit.verify(), { ok: false, rows: 2, badRow: 2, reason: 'row 2 is missing (next row is 3)' });
    db.close();
  });
});
