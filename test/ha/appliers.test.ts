import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Silences } from '../../controller/alerts/silences.js';
import { AuditLog } from '../../controller/audit/audit-log.js';
import { TokenStore } from '../../controller/auth/token-store.js';
import { RemediationStore } from '../../controller/automation/remediation-store.js';
import { replicateEnrollment } from '../../controller/replication/enrollment.js';
import { replicateNotifications } from '../../controller/replication/notify.js';
import { replicateSilences } from '../../controller/replication/silences.js';
import { replicateTokens } from '../../controller/replication/tokens.js';
import { replicatePolicyPauses } from '../../controller/replication/policies.js';
import { replicateAudit } from '../../controller/replication/audit.js';
import { NotifyStore } from '../../controller/notify/notify-store.js';
import { Enrollment, type IdentityRow } from '../../controller/pki/enrollment.js';
import { FleetCa } from '../../controller/pki/fleet-ca.js';
import { openDatabase } from '../../controller/store/db.js';
import { ControlPair } from '../helpers/control-pair.js';
import { tempDir } from '../helpers/tmp.js';

// How each kind of control record is applied on the receiving controller: the merge rules the
// two-controller tests (control-log, control-replication) do not reach one by one.

const logger = pino({ level: 'silent' });

describe('control record appliers (controller/ha/replication)', () => {
  const dir = tempDir();
  let ca: FleetCa;
  const side = (name: string) => {
    const db = openDatabase(join(dir.path, name));
    const log = new ControlPair(name);
    const tokens = new TokenStore(db);
    const silences = new Silences(db);
    const notify = new NotifyStore(db);
    const audit = new AuditLog(db, Date.now, { file: join(dir.path, name, 'audit-head.json'), logger });
    const enrollment = new Enrollment({ db, ca, audit, certLifetimeMs: 3_600_000, logger });
    const remediations = new RemediationStore(db);
    replicateTokens(log, tokens, logger);
    replicateSilences(log, silences, logger);
    replicateNotifications(log, notify, logger);
    replicateEnrollment(log, enrollment, logger);
    replicatePolicyPauses(log, remediations, logger);
    replicateAudit(log, audit, logger);
    return { db, log, tokens, silences, notify, enrollment, remediations, audit };
  };
  let a: ReturnType<typeof side>;
  let b: ReturnType<typeof side>;
  const ship = async () => {
    for (const r of a.log.out.splice(0)) await b.log.apply(r);
  };

  before(async () => {
    ca = await FleetCa.loadOrCreate({ dataDir: join(dir.path, 'ca'), logger });
    a = side('a');
    b = side('b');
  });
  after(() => {
    a.db.close();
    b.db.close();
    dir.cleanup();
  });

  it('a token applied is the same token (its secret authenticates), applied twice is one token, and applying publishes nothing', async () => {
    const { secret } = a.tokens.create({ name: 'ci', role: 'viewer' }, 'admin');
    const rec = a.log.out[0]!;
    await ship();
    await b.log.apply(rec);
    assert.equal(b.tokens.list().length, 1);
    const auth = b.tokens.authenticate(secret);
    assert.equal(auth.ok && auth.principal.role, 'viewer');
    assert.equal(b.log.out.length, 0, 'no echo back');
    assert.ok(!JSON.stringify(rec.body).includes(secret), 'the secret does not travel');
    a.tokens.revoke('ci');
    await ship();
    assert.deepEqual(b.tokens.authenticate(secret), { ok: false, why: 'revoked', name: 'ci' });
  });

  it('a token whose name is taken here by another token is refused, not overwritten', async () => {
    b.tokens.create({ name: 'admin', role: 'admin' }, 'controller');
    b.log.out.splice(0);
    a.tokens.create({ name: 'admin', role: 'admin' }, 'controller');
    const rec = a.log.out.splice(0)[0]!;
    await assert.rejects(async () => b.log.apply(rec), { code: 'OPS_ERR_HA_CONTROL_INVALID' });
  });

  it('a body that is not what its kind carries is refused with the field named', async () => {
    await assert.rejects(async () => b.log.apply({ id: 'x', origin: 'a', kind: 'token.create', ts: 1, body: { id: 'i', name: 'n' } }), (err: Error & { code?: string }) => err.code === 'OPS_ERR_HA_CONTROL_INVALID' && /role/.test(err.message));
    await assert.rejects(async () => b.log.apply({ id: 'y', origin: 'a', kind: 'silence.create', ts: 1, body: { id: 's', matchers: [{ name: 'a', op: '=~', value: '(a' }], startsAtMs: 0, endsAtMs: 9e12, createdBy: '', comment: '', createdMs: 0, removedMs: null } }), { code: 'OPS_ERR_REGEX_SYNTAX' });
  });

  it('an applied silence mutes on this side; its removal unmutes', async () => {
    const s = a.silences.add({ matchers: [{ name: 'alertname', op: '=', value: 'Disk' }], endsAtMs: Date.now() + 3_600_000, createdBy: 'op', comment: '' });
    await ship();
    assert.deepEqual(b.silences.silencedBy({ alertname: 'Disk' }), [s.id]);
    a.silences.remove(s.id);
    await ship();
    assert.deepEqual(b.silences.silencedBy({ alertname: 'Disk' }), []);
    assert.equal(b.silences.get(s.id)?.removedMs !== null, true);
  });

  it('notify state: a newer record wins, an older one (a former leader applied late) does not roll it back', async () => {
    a.notify.put('g1', 'hook', ['fp1'], [], 1000);
    const older = a.log.out.splice(0)[0]!;
    a.notify.put('g1', 'hook', ['fp1', 'fp2'], [], 2000);
    await ship();
    assert.deepEqual([...b.notify.get('g1', 'hook')!.firing], ['fp1', 'fp2']);
    await b.log.apply({ ...older, id: 'late' });
    assert.deepEqual([...b.notify.get('g1', 'hook')!.firing], ['fp1', 'fp2']);
    assert.equal(b.notify.get('g1', 'hook')!.tsMs, 2000);
    // The delivery history row travels too.
    a.notify.log({ ts_ms: 2000, receiver: 'hook', kind: 'group', group_keys: '["g1"]', status: 'firing', alerts: 2, merged: 0, attempt: 1, outcome: 'ok', code: '', detail: '200', bytes: 10, duration_ms: 5 });
    await ship();
    assert.equal(b.notify.list({ receiver: 'hook', limit: 10 }).length, 1);
  });

  it('identity: the later change wins; a removal makes the host removed here; enroll tokens only gain uses', async () => {
    const row: IdentityRow = { host_id: 'h1', state: 'enrolled', key_fp: 'fp', public_key: 'pk', nats_key: null, tags: '{}', token_name: 't', version: '1', requested_ms: 1000, enrolled_ms: 1000, accepted_by: 'token:t', cert_serial: 's1', not_before_ms: 900, not_after_ms: 5000, renewed_ms: 1000, removed_ms: null, removed_by: null };
    await b.log.apply({ id: 'i1', origin: 'a', kind: 'identity', ts: 1, body: { ...row, state: 'removed', removed_ms: 3000, removed_by: 'op' } });
    assert.equal(b.enrollment.isRemoved('h1'), true);
    // The enrolled row (older) arrives late: the removal stays.
    await b.log.apply({ id: 'i2', origin: 'a', kind: 'identity', ts: 1, body: row });
    assert.equal(b.enrollment.state('h1'), 'removed');
    // Enrolled again later: the new row wins and the host is no longer removed.
    await b.log.apply({ id: 'i3', origin: 'a', kind: 'identity', ts: 1, body: { ...row, requested_ms: 4000, enrolled_ms: 4000, renewed_ms: 4000 } });
    assert.equal(b.enrollment.state('h1'), 'enrolled');
    assert.equal(b.enrollment.isRemoved('h1'), false);

    const { token } = a.enrollment.tokens.create({ tags: {}, ttlMs: 3_600_000, uses: 3, approve: 'auto' }, 'op');
    const created = a.log.out.splice(0)[0]!;
    const used = { ...(created.body as Record<string, unknown>), uses: 2 };
    await b.log.apply({ ...created, id: 'e1', body: used });
    await b.log.apply({ ...created, id: 'e2' });
    assert.equal(b.enrollment.tokens.list().find((t) => t.name === token.name)?.uses, 2, 'uses never go back');
    a.enrollment.tokens.revoke(token.name);
    await ship();
    assert.equal(b.enrollment.tokens.list().find((t) => t.name === token.name)?.state, 'revoked');
  });

  it('policy pause switches follow the last change', async () => {
    a.remediations.setPaused('*', true);
    a.remediations.setPaused('disk-clean', true);
    await ship();
    assert.equal(b.remediations.paused('*'), true);
    assert.equal(b.remediations.paused('disk-clean'), true);
    a.remediations.setPaused('*', false);
    await ship();
    assert.equal(b.remediations.paused('*'), false);
  });

  it('audit rows join the other chain with where and when they were written; both chains verify; a fleet-size batch is split', async () => {
    a.audit.append('alice', 'run.start', 'web-*', { playbook: 'restart' });
    a.audit.appendMany(Array.from({ length: 3000 }, (_, i) => ({ actor: 'alice', action: 'run.host', subject: `h${i}`, details: { pad: 'x'.repeat(200) } })));
    const records = a.log.out.filter((r) => r.kind === 'audit');
    assert.ok(records.length >= 4, `3000 rows of ~250 bytes in records of at most 256 KiB (got ${records.length})`);
    a.log.out.splice(0, a.log.out.length, ...a.log.out.filter((r) => r.kind === 'audit'));
    await ship();
    assert.equal(b.log.out.length, 0, 'applied rows are not published again');
    const rows = b.audit.recent(5000).filter((r) => r.actor === 'alice');
    assert.equal(rows.length, 3001);
    const start = rows.find((r) => r.action === 'run.start')!;
    const d = JSON.parse(start.details) as { playbook: string; via: string; at: string };
    assert.equal(d.playbook, 'restart');
    assert.equal(d.via, 'a');
    assert.ok(!Number.isNaN(Date.parse(d.at)));
    assert.equal(b.audit.verify().ok, true);
    assert.equal(a.audit.verify().ok, true);
  });
});
