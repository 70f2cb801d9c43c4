import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OPERATOR_ROLES, ROUTE_POLICIES, roleAllows, type Role } from '../../controller/auth/roles.js';
import { api, authHeaders, createToken, startController, type ControllerProc } from '../helpers/daemons.js';
import { rawRequest } from '../helpers/http.js';
import { NatsServer } from '../helpers/nats-server.js';
import { REPO_ROOT } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const PLAYBOOKS = `
playbooks:
  inspect:
    steps:
      - { builtin: load }
  shell:
    steps:
      - { run: "echo hi" }
`;

/** A concrete path for a route pattern; ids name nothing, so allowed calls end in 404/400, never in side effects on hosts. */
// The live stream never ends by itself: an unknown topic makes it answer 400 right after auth.
const concrete = (pattern: string) => (pattern === '/api/v1/stream' ? '/api/v1/stream?topics=no-such-topic' : pattern.replace(/:([a-zA-Z]+)/g, (_m, k: string) => `no-such-${k}`));

type Caller = 'none' | Role | 'expired' | 'revoked';

/** The documented outcome: 401 with a code, 403, or "passes auth" (anything but 401/403/429, and never 5xx). */
function expected(key: string, who: Caller): { status: 401 | 403; code: string } | 'passes' {
  const p = ROUTE_POLICIES[key]!;
  if (p.need === 'open' || p.metrics) return 'passes'; // /metrics is open by default (http.auth.metrics)
  if (who === 'none') return { status: 401, code: 'OPS_ERR_AUTH_REQUIRED' };
  if (who === 'expired') return { status: 401, code: 'OPS_ERR_AUTH_EXPIRED' };
  if (who === 'revoked') return { status: 401, code: 'OPS_ERR_AUTH_REVOKED' };
  return roleAllows(who, p) ? 'passes' : { status: 403, code: 'OPS_ERR_AUTH_FORBIDDEN' };
}

describe('API authorization: every route × every role', () => {
  const dir = tempDir('opsfleet-route-table-');
  let nats: NatsServer;
  let ctl: ControllerProc;
  const tokens: Partial<Record<Caller, string>> = {};

  before(async () => {
    nats = await NatsServer.start();
    // The table makes ~150 failed authentications from 127.0.0.1 on purpose.
    ctl = await startController({ natsUrl: nats.url, dir: dir.path, extraYaml: PLAYBOOKS, httpExtra: 'auth: { max_failures: 100000 }' });
    for (const role of ['viewer', 'operator', 'admin', 'intake'] as const) tokens[role] = await createToken(ctl.url, { name: `t-${role}`, role });
    tokens.expired = await createToken(ctl.url, { name: 't-expired', role: 'admin', ttl: '1ms' });
    tokens.revoked = await createToken(ctl.url, { name: 't-revoked', role: 'admin' });
    const rv = await fetch(`${ctl.url}/api/v1/tokens/t-revoked`, { method: 'DELETE', headers: authHeaders(ctl.url) });
    assert.equal(rv.status, 200);
  });
  after(async () => {
    await ctl?.child.stop();
    await nats?.stop();
    dir.cleanup();
  });

  it('answers each route with the documented 401 / 403 / pass for none, viewer, operator, admin, intake, expired and revoked', async () => {
    const failures: string[] = [];
    const callers: Caller[] = ['none', ...OPERATOR_ROLES, 'intake', 'expired', 'revoked'];
    for (const key of Object.keys(ROUTE_POLICIES)) {
      const [method, pattern] = key.split(' ') as [string, string];
      for (const who of callers) {
        const r = await rawRequest(ctl.url, { method, path: concrete(pattern), ...(tokens[who] ? { token: tokens[who] } : {}), ...(method === 'GET' ? {} : { body: '{}', headers: { 'content-type': 'application/json' } }) });
        const want = expected(key, who);
        const got = `${r.status} ${r.code ?? ''}`;
        if (want === 'passes') {
          if (r.status === 401 || r.status === 403 || r.status === 429 || r.status >= 500) failures.push(`${key} as ${who}: expected to pass auth, got ${got}`);
          if (r.status === 404 && r.code === 'OPS_ERR_NOT_FOUND') failures.push(`${key}: in ROUTE_POLICIES but not served`);
        } else if (r.status !== want.status || r.code !== want.code) failures.push(`${key} as ${who}: expected ${want.status} ${want.code}, got ${got}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  it('docs/api-auth.md lists every route with the role it needs', () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'api-auth.md'), 'utf8');
    const missing: string[] = [];
    for (const [key, p] of Object.entries(ROUTE_POLICIES)) {
      const [method, path] = key.split(' ');
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${method} ${path}\` |`));
      const need = p.metrics ? 'open or viewer' : p.need;
      if (!row || !row.includes(`| ${need}${p.intake ? ', intake' : ''} |`)) missing.push(`${key} (${need}${p.intake ? ', intake' : ''})`);
    }
    assert.deepEqual(missing, [], 'add or fix these rows in docs/api-auth.md');
  });

  it('a revoked token is refused within 1 s of the revocation', async () => {
    const secret = await createToken(ctl.url, { name: 'short-lived', role: 'viewer' });
    assert.equal((await rawRequest(ctl.url, { path: '/api/v1/hosts', token: secret })).status, 200);
    const rv = await fetch(`${ctl.url}/api/v1/tokens/short-lived`, { method: 'DELETE', headers: authHeaders(ctl.url) });
    assert.equal(rv.status, 200);
    const revokedAt = Date.now();
    const refused = await waitFor(async () => {
      const r = await rawRequest(ctl.url, { path: '/api/v1/hosts', token: secret });
      return r.status === 401 ? r : undefined;
    }, { timeout: 5000, interval: 10, what: 'revoked token refused' });
    assert.ok(Date.now() - revokedAt < 1000, `refused after ${Date.now() - revokedAt} ms`);
    assert.equal(refused.code, 'OPS_ERR_AUTH_REVOKED');
    const listed = await api<Array<{ name: string; state: string }>>(ctl.url, '/api/v1/tokens');
    assert.equal(listed.find((t) => t.name === 'short-lived')?.state, 'revoked');
    assert.ok(!JSON.stringify(listed).includes('opsf_'), 'tokens list never shows a secret');
  });

  it('the audit names the token even when the body claims another actor', async () => {
    const alice = await createToken(ctl.url, { name: 'alice', role: 'operator' });
    const s = await rawRequest(ctl.url, { method: 'POST', path: '/api/v1/silences', token: alice, body: JSON.stringify({ matchers: ['alertname=X'], duration: '1h', createdBy: 'mallory', comment: 'c' }) });
    assert.equal(s.status, 200, s.text);
    assert.equal((s.json as { createdBy: string }).createdBy, 'alice');
    const admin = await createToken(ctl.url, { name: 'bob', role: 'admin' });
    const p = await rawRequest(ctl.url, { method: 'POST', path: '/api/v1/policies/pause', token: admin, body: '{}' });
    assert.equal(p.status, 200, p.text);
    const r = await rawRequest(ctl.url, { method: 'POST', path: '/api/v1/policies/resume', token: admin, body: JSON.stringify({ actor: 'mallory' }) });
    assert.equal(r.status, 400, 'unknown body fields are refused, not trusted');
    const audit = await api<Array<{ actor: string; action: string; subject: string }>>(ctl.url, '/api/v1/audit?limit=500');
    assert.ok(audit.some((a) => a.action === 'silence.add' && a.actor === 'alice'), JSON.stringify(audit.slice(0, 5)));
    assert.ok(audit.some((a) => a.action === 'policy.pause' && a.actor === 'bob'));
    assert.ok(audit.some((a) => a.action === 'token.create' && a.subject === 'alice' && a.actor === 'admin'));
    assert.ok(audit.some((a) => a.action === 'token.revoke' && a.subject === 't-revoked'));
    assert.ok(!audit.some((a) => a.actor === 'mallory'));
    assert.ok(!JSON.stringify(audit).includes(alice), 'the audit never holds a secret');
  });

  it('an operator runs only builtin playbooks, only those it is scoped to, on hosts in its scope; shell steps need admin', async () => {
    const op = await createToken(ctl.url, { name: 'op-scoped', role: 'operator', playbooks: ['inspect'], target: 'role=web' });
    const run = (token: string, body: object) => rawRequest(ctl.url, { method: 'POST', path: '/api/v1/runs', token, body: JSON.stringify(body) });
    const ok = await run(op, { playbook: 'inspect', target: '*', dry_run: true });
    assert.equal(ok.status, 200, ok.text);
    assert.equal((ok.json as { target: string }).target, '(role=web) and (*)');
    assert.equal((await run(op, { playbook: 'shell', target: '*', dry_run: true })).code, 'OPS_ERR_AUTH_SCOPE');
    const opAll = await createToken(ctl.url, { name: 'op-all', role: 'operator' });
    assert.equal((await run(opAll, { playbook: 'shell', target: '*', dry_run: true })).code, 'OPS_ERR_AUTH_FORBIDDEN');
    assert.equal((await run(opAll, { playbook: 'inspect', target: '*', dry_run: true })).status, 200);
    assert.equal((await run(tokens.admin!, { playbook: 'shell', target: '*', dry_run: true })).status, 200);
  });
});
