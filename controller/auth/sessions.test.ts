import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { cookieValue, SESSION_TTL_MS, SessionStore, TICKET_TTL_MS } from './sessions.js';

const alice = { name: 'alice', role: 'operator' as const, expiresMs: null };

test('a ticket is redeemed once, and not after 60 s', () => {
  let now = 1_000_000;
  const s = new SessionStore(() => now);
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
  const s = new SessionStore(() => now);
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

test('the CSRF secret must match exactly', () => {
  const s = new SessionStore();
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
