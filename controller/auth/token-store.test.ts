import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../store/db.js';
import { TokenStore } from './token-store.js';
import { FailureLimiter } from './failure-limiter.js';
import { roleAllows, ROUTE_POLICIES } from './roles.js';

function store(now: { t: number }) {
  // The real migrations, on a throwaway data dir (the OS cleans tmp; each db is a few KB).
  const db = openDatabase(mkdtempSync(join(tmpdir(), 'opsfleet-tokens-')));
  return { db, tokens: new TokenStore(db, () => now.t) };
}

describe('TokenStore', () => {
  it('keeps only the hash, authenticates the secret, refuses a changed one, expired and revoked tokens', () => {
    const now = { t: 1_000_000 };
    const { db, tokens } = store(now);
    const { secret, token } = tokens.create({ name: 'alice', role: 'operator', ttlMs: 60_000, playbooks: ['a'], target: 'role=web' }, 'admin');
    assert.match(secret, /^opsf_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    assert.equal(token.state, 'active');
    assert.ok(!JSON.stringify(db.prepare('SELECT * FROM api_tokens').all()).includes(secret.slice(18)), 'no secret in the table');
    const ok = tokens.authenticate(secret);
    assert.ok(ok.ok && ok.principal.name === 'alice' && ok.principal.role === 'operator' && ok.principal.target === 'role=web');
    const flipped = secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A');
    assert.deepEqual(tokens.authenticate(flipped), { ok: false, why: 'unknown' });
    assert.deepEqual(tokens.authenticate('Bearer nonsense'), { ok: false, why: 'malformed' });
    now.t += 60_000;
    assert.deepEqual(tokens.authenticate(secret), { ok: false, why: 'expired', name: 'alice' });
    const b = tokens.create({ name: 'bob', role: 'viewer' }, 'admin');
    assert.equal(tokens.revoke('bob'), true);
    assert.equal(tokens.revoke('bob'), false, 'already revoked');
    assert.deepEqual(tokens.authenticate(b.secret), { ok: false, why: 'revoked', name: 'bob' });
    assert.throws(() => tokens.create({ name: 'bob', role: 'viewer' }, 'admin'), { code: 'OPS_ERR_TOKEN_EXISTS' });
    assert.throws(() => tokens.create({ name: 'no spaces', role: 'viewer' }, 'admin'), { code: 'OPS_ERR_TOKEN_INVALID' });
    assert.deepEqual(tokens.list().map((t) => [t.name, t.state]), [['alice', 'expired'], ['bob', 'revoked']]);
  });
});

describe('FailureLimiter', () => {
  it('holds an address off after max failures within the window, others are unaffected, and it forgets after the window', () => {
    const now = { t: 0 };
    const l = new FailureLimiter(3, 60_000, () => now.t, 2);
    for (let i = 0; i < 3; i++) l.fail('a');
    assert.equal(l.blockedFor('a'), 60_000);
    assert.equal(l.blockedFor('b'), 0);
    now.t = 30_000;
    assert.equal(l.blockedFor('a'), 30_000);
    now.t = 60_001;
    assert.equal(l.blockedFor('a'), 0);
    l.fail('b');
    l.fail('c');
    l.fail('d'); // at most 2 addresses tracked: the oldest goes
    assert.equal(l.blockedFor('b'), 0);
  });
});

describe('roles', () => {
  it('viewer < operator < admin; intake only where marked; open routes need nothing', () => {
    const p = (k: string) => ROUTE_POLICIES[k]!;
    assert.equal(roleAllows('viewer', p('GET /api/v1/hosts')), true);
    assert.equal(roleAllows('viewer', p('POST /api/v1/silences')), false);
    assert.equal(roleAllows('operator', p('POST /api/v1/silences')), true);
    assert.equal(roleAllows('operator', p('POST /api/v1/exec')), false);
    assert.equal(roleAllows('admin', p('POST /api/v1/exec')), true);
    assert.equal(roleAllows('intake', p('POST /api/v1/alerts')), true);
    assert.equal(roleAllows('intake', p('GET /api/v1/hosts')), false);
  });
});

describe('Authenticator: /metrics by config', () => {
  it('is open by default and needs a viewer token with metrics: token', async () => {
    const { Authenticator } = await import('./authenticator.js');
    const { createRootLogger } = await import('../../shared/logger.js');
    const now = { t: Date.now() };
    const { db, tokens } = store(now);
    const { SessionStore } = await import('./sessions.js');
    const sessions = new SessionStore(db);
    const { secret } = tokens.create({ name: 'scraper', role: 'viewer' }, 'admin');
    const logger = createRootLogger({ name: 't', level: 'silent' });
    const req = (auth?: string) => ({ headers: auth ? { authorization: `Bearer ${auth}` } : {}, socket: { remoteAddress: '127.0.0.1' } }) as never;
    const open = new Authenticator({ enabled: true, metrics: 'open', max_failures: 100, failure_window: 60_000 }, tokens, logger, sessions);
    assert.equal(open.check(req(), 'GET /metrics').name, 'anonymous');
    const closed = new Authenticator({ enabled: true, metrics: 'token', max_failures: 100, failure_window: 60_000 }, tokens, logger, sessions);
    assert.throws(() => closed.check(req(), 'GET /metrics'), { code: 'OPS_ERR_AUTH_REQUIRED' });
    assert.equal(closed.check(req(secret), 'GET /metrics').name, 'scraper');
    assert.equal(closed.check(req(), 'GET /healthz').name, 'anonymous');
    assert.throws(() => closed.policy('GET /api/v1/unlisted'), /no entry in ROUTE_POLICIES/);
  });
});
