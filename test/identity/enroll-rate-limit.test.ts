import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateKeyPair, signRenewal } from '../../shared/pki/identity.js';
import { createCsr } from '../../shared/pki/x509.js';
import { createEnrollToken, startController, type ControllerProc } from '../helpers/daemons.js';
import { rawRequest } from '../helpers/http.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The open enrollment routes count refusals per source address (the failed-auth limiter's
 * numbers, http.auth.max_failures per failure_window, in a bucket of their own) and answer 429
 * OPS_ERR_ENROLL_RATE_LIMITED with Retry-After over the limit. Each test uses its own 127.0.0.x.
 */
describe('rate limit on POST /api/v1/enroll and /api/v1/enroll/renew (real controller)', () => {
  const dir = tempDir('opsfleet-enroll-limit-');
  let nats: NatsServer;
  let ctl: ControllerProc;
  let csr = '';
  let key = '';

  before(async () => {
    nats = await NatsServer.start();
    ctl = await startController({ natsUrl: nats.url, dir: dir.path, httpExtra: 'auth: { max_failures: 3, failure_window: 1m }' });
    key = (await generateKeyPair()).privateKeyPem;
    csr = await createCsr('lim-01', key);
  });
  after(async () => {
    await ctl?.child.stop();
    await nats?.dispose();
    dir.cleanup();
  });

  const enroll = (from: string, token: string, hostId = 'lim-01') =>
    rawRequest(ctl.url, { method: 'POST', path: '/api/v1/enroll', localAddress: from, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token, host_id: hostId, csr_pem: csr }) });

  it('wrong enrollment tokens from one address: 401 three times, then 429 with Retry-After even for a good token; other addresses and the API are unaffected', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await enroll('127.0.0.21', 'opsfe_guess_' + 'x'.repeat(40));
      assert.equal(r.status, 401, r.text);
      assert.equal(r.code, 'OPS_ERR_ENROLL_TOKEN_INVALID');
    }
    const good = await createEnrollToken(ctl.url, { ttl: '1h', uses: 5 });
    const blocked = await enroll('127.0.0.21', good);
    assert.equal(blocked.status, 429, blocked.text);
    assert.equal(blocked.code, 'OPS_ERR_ENROLL_RATE_LIMITED');
    const retry = Number(blocked.headers['retry-after']);
    assert.ok(retry >= 1 && retry <= 60, `Retry-After ${String(blocked.headers['retry-after'])}`);
    assert.match((blocked.json as { error: { message: string } }).error.message, /127\.0\.0\.21.*retry in \d+s/);
    // Another address enrolls with the same token; the blocked address still reaches the API with its API token.
    const other = await enroll('127.0.0.22', good);
    assert.equal(other.status, 200, other.text);
    assert.equal((other.json as { status: string }).status, 'enrolled');
    const api = await rawRequest(ctl.url, { path: '/api/v1/hosts', token: ctl.token, localAddress: '127.0.0.21' });
    assert.equal(api.status, 200, 'enrollment refusals do not count against API authentication');
    const refused = ctl.child.logs().filter((l) => l.msg === 'enrollment refused' && l.addr === '127.0.0.21');
    assert.equal(refused.length, 3);
  });

  it('a pending host polling is no failure; bad renewal signatures are', async () => {
    const manual = await createEnrollToken(ctl.url, { ttl: '1h', approve: 'manual' });
    const pend = await generateKeyPair();
    const pendCsr = await createCsr('lim-02', pend.privateKeyPem);
    const poll = () => rawRequest(ctl.url, { method: 'POST', path: '/api/v1/enroll', localAddress: '127.0.0.23', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: manual, host_id: 'lim-02', csr_pem: pendCsr }) });
    for (let i = 0; i < 5; i++) {
      const r = await poll();
      // docs/identity.md: a pending enrollment answers 202 (the server once overwrote it with 200).
      assert.equal(r.status, 202, r.text);
      assert.equal((r.json as { status?: string }).status, 'pending', 'more polls than max_failures, never 429');
    }

    const renew = (signature: string) => {
      const ts = Date.now();
      return rawRequest(ctl.url, { method: 'POST', path: '/api/v1/enroll/renew', localAddress: '127.0.0.24', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ host_id: 'lim-01', csr_pem: csr, ts_ms: ts, signature: signature || signRenewal(key, 'lim-01', ts, csr) }) });
    };
    const ok = await renew('');
    assert.equal(ok.status, 200, ok.text);
    for (let i = 0; i < 3; i++) assert.equal((await renew('AAAA')).code, 'OPS_ERR_RENEW_PROOF');
    const blocked = await renew('');
    assert.equal(blocked.status, 429);
    assert.equal(blocked.code, 'OPS_ERR_ENROLL_RATE_LIMITED');
    assert.ok(Number(blocked.headers['retry-after']) >= 1);
  });
});
