import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { OpsError } from '../../shared/errors.js';
import { createRootLogger } from '../../shared/logger.js';
import { generateKeyPair } from '../../shared/pki/identity.js';
import { createCsr } from '../../shared/pki/x509.js';
import { AuditLog } from '../audit/audit-log.js';
import { openDatabase } from '../store/db.js';
import { Enrollment, type NatsIssuer } from './enrollment.js';
import { FleetCa } from './fleet-ca.js';

const log = createRootLogger({ name: 'test', level: 'silent' });
const code = (c: string) => (err: unknown) => err instanceof OpsError && err.code === c;

describe('Enrollment (controller/pki)', () => {
  let ca: FleetCa;
  const keys: Array<{ privateKeyPem: string }> = [];
  before(async () => {
    ca = await FleetCa.loadOrCreate({ dataDir: mkdtempSync(join(tmpdir(), 'opsfleet-pki-ca-')), logger: log });
    for (let i = 0; i < 4; i++) keys.push(await generateKeyPair());
  });

  function setup(nats?: NatsIssuer) {
    const dir = mkdtempSync(join(tmpdir(), 'opsfleet-pki-'));
    const db = openDatabase(dir);
    const audit = new AuditLog(db, Date.now, { file: join(dir, 'audit-head.json'), logger: log });
    return { db, e: new Enrollment({ db, ca, audit, certLifetimeMs: 3_600_000, logger: log, nats }) };
  }

  it('a token with 2 uses enrolls exactly 2 of 3 hosts asking at once; the token hash only is stored', async () => {
    const { db, e } = setup();
    const { secret } = e.tokens.create({ tags: { role: 'web' }, ttlMs: 60_000, uses: 2, approve: 'auto' }, 'admin');
    const results = await Promise.allSettled([0, 1, 2].map(async (i) => e.enroll({ token: secret, host_id: `h-${i}`, csr_pem: await createCsr(`h-${i}`, keys[i]!.privateKeyPem) })));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 2);
    const refused = results.filter((r) => r.status === 'rejected');
    assert.equal(refused.length, 1);
    assert.ok(code('OPS_ERR_ENROLL_TOKEN_USED_UP')((refused[0] as PromiseRejectedResult).reason));
    assert.equal(e.tokens.list()[0]!.state, 'used-up');
    assert.ok(!JSON.stringify(db.prepare('SELECT * FROM enroll_tokens').all()).includes(secret.slice(20)));
    const ok = results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ status: string; tags: Record<string, string> }>;
    assert.equal(ok.value.status, 'enrolled');
    assert.deepEqual(ok.value.tags, { role: 'web' });
  });

  it('same id with another key is a takeover and refused; the same key asks again without spending a use', async () => {
    const { e } = setup();
    const { secret } = e.tokens.create({ tags: {}, ttlMs: 60_000, uses: 2, approve: 'manual' }, 'admin');
    const csr = await createCsr('db-1', keys[0]!.privateKeyPem);
    assert.equal((await e.enroll({ token: secret, host_id: 'db-1', csr_pem: csr })).status, 'pending');
    assert.equal((await e.enroll({ token: secret, host_id: 'db-1', csr_pem: csr })).status, 'pending');
    assert.equal(e.tokens.list()[0]!.uses, 1);
    await assert.rejects(e.enroll({ token: secret, host_id: 'db-1', csr_pem: await createCsr('db-1', keys[1]!.privateKeyPem) }), code('OPS_ERR_ENROLL_TAKEOVER'));
    assert.deepEqual(e.brief('db-1'), { state: 'pending', certNotAfter: null });
    e.accept('db-1', 'admin');
    assert.equal((await e.enroll({ token: secret, host_id: 'db-1', csr_pem: csr })).status, 'enrolled');
    // brief (what the hosts list shows) agrees with the full view.
    assert.deepEqual(e.brief('db-1'), { state: 'enrolled', certNotAfter: e.get('db-1')!.certNotAfter });
    assert.ok(e.brief('db-1')!.certNotAfter);
    assert.equal(e.brief('nope'), undefined);
    await assert.rejects(e.enroll({ token: secret, host_id: 'db-1', csr_pem: await createCsr('db-1', keys[1]!.privateKeyPem) }), code('OPS_ERR_ENROLL_TAKEOVER'));
  });

  it('removal revokes the NATS user, marks the id removed, and frees it for a new key', async () => {
    const revoked: string[] = [];
    const nats: NatsIssuer = { issueAgentUser: async (h, k) => `jwt-${h}-${k.slice(0, 4)}`, revokeUser: async (k) => void revoked.push(k) };
    const { e } = setup(nats);
    const { secret } = e.tokens.create({ tags: {}, ttlMs: 60_000, uses: 5, approve: 'auto' }, 'admin');
    const nkey = `U${'A'.repeat(55)}`;
    const r = await e.enroll({ token: secret, host_id: 'app-1', csr_pem: await createCsr('app-1', keys[2]!.privateKeyPem), nats_public_key: nkey });
    assert.equal(r.status === 'enrolled' && r.nats_jwt, 'jwt-app-1-UAAA');
    await e.remove('app-1', 'admin');
    assert.deepEqual(revoked, [nkey]);
    assert.equal(e.isRemoved('app-1'), true);
    assert.equal((await e.enroll({ token: secret, host_id: 'app-1', csr_pem: await createCsr('app-1', keys[3]!.privateKeyPem) })).status, 'enrolled');
    assert.equal(e.isRemoved('app-1'), false);
  });

  it('an expired token says so, and a bad CSR is refused before any use is spent', async () => {
    const { e } = setup();
    const { secret } = e.tokens.create({ tags: {}, ttlMs: 1, uses: 1, approve: 'auto' }, 'admin');
    await new Promise((r) => setTimeout(r, 5));
    await assert.rejects(e.enroll({ token: secret, host_id: 'x-1', csr_pem: await createCsr('x-1', keys[0]!.privateKeyPem) }), code('OPS_ERR_ENROLL_TOKEN_EXPIRED'));
    await assert.rejects(e.enroll({ token: secret, host_id: 'x-1', csr_pem: 'not a csr' }), code('OPS_ERR_ENROLL_CSR'));
  });
});
