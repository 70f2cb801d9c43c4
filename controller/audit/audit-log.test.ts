import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
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

describe('AuditLog anchor: cutting rows off the end is detected', () => {
  const d2 = tempDir('opsfleet-audit-anchor-');
  after(() => d2.cleanup());
  const logger = pino({ level: 'silent' });

  /** What someone with the file does: drop the triggers and delete the newest row. */
  const cutLast = (db: ReturnType<typeof openDatabase>) => {
    db.exec('DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete');
    db.prepare('DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)').run();
  };

  it('deleting the last row fails verify while running, and the evidence survives later appends and restarts', () => {
    const db = openDatabase(join(d2.path, 'a'));
    const file = join(d2.path, 'a', 'audit-head.json');
    const audit = new AuditLog(db, Date.now, { file, logger });
    for (let i = 0; i < 4; i++) audit.append('alice', 'run.start', `p${i}`, { i });
    assert.equal(audit.verify().ok, true);
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).rows, 4);
    cutLast(db);
    const v = audit.verify();
    assert.equal(v.ok, false);
    assert.equal(v.ok === false && v.badRow, 4);
    assert.match(v.ok === false ? v.reason : '', /the anchor records 4 rows, the table ends at row 3/);
    // The next append cannot re-anchor over the cut: it writes the evidence into the chain first.
    audit.append('bob', 'run.start', 'p9', {});
    const after1 = audit.verify();
    assert.equal(after1.ok, false);
    assert.match(after1.ok === false ? after1.reason : '', /the log was cut before row 4/);
    db.close();
    const db2 = openDatabase(join(d2.path, 'a'));
    assert.equal(new AuditLog(db2, Date.now, { file, logger }).verify().ok, false);
    db2.close();
  });

  it('a cut made while the controller was stopped is found at start and kept', () => {
    const dir3 = join(d2.path, 'b');
    const file = join(dir3, 'audit-head.json');
    let db = openDatabase(dir3);
    const audit = new AuditLog(db, Date.now, { file, logger });
    for (let i = 0; i < 3; i++) audit.append('alice', 'run.start', `p${i}`, { i });
    cutLast(db);
    db.close();
    db = openDatabase(dir3);
    const v = new AuditLog(db, Date.now, { file, logger }).verify();
    assert.equal(v.ok, false);
    assert.match(v.ok === false ? v.reason : '', /the log was cut before row 3 .*rows 3\.\.3 were deleted/);
    db.close();
  });

  it('an anchor one row behind (crash between commit and anchor write) is accepted; a missing anchor is recorded, a deleted one fails verify', () => {
    const dir4 = join(d2.path, 'c');
    const file = join(dir4, 'audit-head.json');
    let db = openDatabase(dir4);
    const plain = new AuditLog(db); // rows written before anchoring existed
    plain.append('alice', 'run.start', 'p0', {});
    const audit = new AuditLog(db, Date.now, { file, logger });
    const v = audit.verify();
    assert.equal(v.ok, true);
    assert.match(v.warnings?.[0] ?? '', /the anchor was missing/);
    const before = readFileSync(file, 'utf8');
    audit.append('alice', 'run.start', 'p1', {});
    writeFileSync(file, before); // as if killed right after the commit
    db.close();
    db = openDatabase(dir4);
    const again = new AuditLog(db, Date.now, { file, logger });
    assert.equal(again.verify().ok, true);
    rmSync(file);
    const gone = again.verify();
    assert.equal(gone.ok, false);
    assert.match(gone.ok === false ? gone.reason : '', /audit anchor .* is missing/);
    db.close();
  });
});

// Issue 18: a fleet-wide run appends one row per host in groups (one transaction, one anchor write).
describe('AuditLog.appendMany', () => {
  const d3 = tempDir('opsfleet-audit-many-');
  after(() => d3.cleanup());

  it('chains a group of rows exactly as single appends would, and anchors its last row', () => {
    const db = openDatabase(d3.path);
    const file = join(d3.path, 'audit-head.json');
    const audit = new AuditLog(db, Date.now, { file, logger: pino({ level: 'silent' }) });
    audit.append('alice', 'run.start', 'pb', {});
    const rows = audit.appendMany(Array.from({ length: 300 }, (_, i) => ({ actor: 'alice', action: 'run.host', subject: `h${i}`, details: { i } })));
    assert.equal(rows.length, 300);
    assert.deepEqual(rows.map((r) => r.id).slice(0, 2), [2, 3]);
    assert.equal(audit.appendMany([]).length, 0);
    audit.append('alice', 'run.finish', 'pb', {});
    const v = audit.verify();
    assert.equal(v.ok, true, JSON.stringify(v));
    assert.equal(v.rows, 302);
    const head = JSON.parse(readFileSync(file, 'utf8')) as { rows: number };
    assert.equal(head.rows, 302);
    db.close();
  });
});
