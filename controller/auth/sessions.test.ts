import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from '../../test/helpers/tmp.js';
import { openDatabase } from '../store/db.js';
import { cookieValue, MAX_SESSIONS, SESSION_TTL_MS, SessionStore, TICKET_TTL_MS } from './sessions.js';

const alice = { name: 'alice', role: 'operator' as const, expiresMs: null };
const dir = tempDir('opsfleet-sessions-');
after(() => dir.cleanup());
let n = 0;
/** A fresh controller database (real migrations) per test. */
const db = () => openDatabase(join(dir.path, `db${n++}`));

test('a ticket is redeemed once, and not after 60 s', () => {
  let now = 1_000_000;
  const s = new SessionStore(db(), () => now);
  const a = s.issueTicket(alice);
  assert.equal(a.expiresMs, now + TICKET_TTL_MS);
  assert.deepEqual(s.redeemTicket(a.ticket), alice);
  assert.equal(s.redeemTicket(a.ticket), undefined, 'single use');
  const b = s.issueTicket(alice);
  now += TICKET_TTL_MS;
  assert.equal(s.redeemTicket(b.ticket), undefined, 'expired at 60 s');
  assert.equal(s.redeemTicket('made-up'), undefined);
});

test('a session ends at 12 h, or when its token expires sooner, or when closed', () => {
  let now = 5_000_000;
  const s = new SessionStore(db(), () => now);
  const long = s.open(alice);
  const short = s.open({ ...alice, expiresMs: now + 60_000 });
  assert.equal(long.expiresMs, now + SESSION_TTL_MS);
  assert.equal(short.expiresMs, now + 60_000);
  assert.notEqual(long.id, short.id);
  assert.notEqual(long.csrf, long.id);
  now += 60_000;
  assert.equal(s.get(short.id), undefined);
  assert.equal(s.get(long.id)?.principal.name, 'alice');
  s.close(long.id);
  assert.equal(s.get(long.id), undefined);
});

test('a session is in the database (by hash only) and a new store on the same file finds it with its scopes', () => {
  const dataDir = join(dir.path, 'persist');
  const first = openDatabase(dataDir);
  const scoped = { name: 'bob', role: 'operator' as const, playbooks: ['deploy'], target: 'role=web', expiresMs: Date.now() + 3_600_000 };
  const s = new SessionStore(first).open(scoped);
  first.close();
  const file = readFileSync(join(dataDir, 'controller.db'));
  const wal = (() => {
    try {
      return readFileSync(join(dataDir, 'controller.db-wal'));
    } catch {
      return Buffer.alloc(0);
    }
  })();
  for (const b of [file, wal]) assert.equal(b.includes(Buffer.from(s.id)), false, 'the session id is not stored');
  const again = openDatabase(dataDir);
  try {
    const row = again.prepare<[], { id_hash: string }>('SELECT id_hash FROM dashboard_sessions').get()!;
    assert.equal(row.id_hash, createHash('sha256').update(s.id).digest('hex'));
    const got = new SessionStore(again).get(s.id);
    assert.deepEqual(got, s);
    assert.equal(new SessionStore(again).get(`${s.id}x`), undefined);
  } finally {
    again.close();
  }
});

test('revoking a token closes its sessions only; expired rows are pruned; the table is bounded', () => {
  let now = 9_000_000;
  const d = db();
  const s = new SessionStore(d, () => now);
  const a1 = s.open(alice);
  const a2 = s.open(alice);
  const b = s.open({ ...alice, name: 'bob' });
  assert.equal(s.closeForToken('alice'), 2);
  assert.equal(s.get(a1.id), undefined);
  assert.equal(s.get(a2.id), undefined);
  assert.equal(s.get(b.id)?.principal.name, 'bob');
  now += SESSION_TTL_MS;
  assert.equal(s.prune(), 1);
  const count = () => d.prepare<[], { n: number }>('SELECT count(*) AS n FROM dashboard_sessions').get()!.n;
  assert.equal(count(), 0);
  const insert = d.prepare('INSERT INTO dashboard_sessions (id_hash, token_name, role, csrf, created_ms, expires_ms, last_seen_ms) VALUES (?, ?, ?, ?, ?, ?, ?)');
  d.transaction(() => {
    for (let i = 0; i < MAX_SESSIONS; i++) insert.run(`h${i}`, 'alice', 'viewer', 'c', now - MAX_SESSIONS + i, now + 60_000, now);
  })();
  const newest = s.open(alice);
  assert.equal(count(), MAX_SESSIONS);
  assert.ok(s.get(newest.id));
  assert.equal(d.prepare('SELECT 1 FROM dashboard_sessions WHERE id_hash = ?').get('h0'), undefined, 'the oldest went first');
});

test('the CSRF secret must match exactly', () => {
  const s = new SessionStore(db());
  const x = s.open(alice);
  assert.ok(SessionStore.csrfMatches(x, x.csrf));
  assert.ok(!SessionStore.csrfMatches(x, undefined));
  assert.ok(!SessionStore.csrfMatches(x, ''));
  assert.ok(!SessionStore.csrfMatches(x, `${x.csrf}x`));
  assert.ok(!SessionStore.csrfMatches(x, x.csrf.slice(1)));
});

test('cookieValue finds one cookie among others', () => {
  assert.equal(cookieValue('a=1; opsf_session=abc; b=2', 'opsf_session'), 'abc');
  assert.equal(cookieValue('opsf_session_x=1', 'opsf_session'), undefined);
  assert.equal(cookieValue(undefined, 'opsf_session'), undefined);
});
