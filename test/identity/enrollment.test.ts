import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createCsr, signRenewal } from '../../shared/pki/x509.js';
import { api, authHeaders, createEnrollToken, runCommand, startAgent, startController, type AgentProc, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

interface HostJson {
  id: string;
  status: string;
  identity?: string;
  certNotAfter?: string | null;
  tags: Record<string, string>;
}

/**
 * Issue 14: enrollment end to end with the real controller, agents and opsctl. Certificates
 * live 20 s here so renewal (two thirds in) and AgentCertExpiring (under 20% left) happen
 * within the test; production default is 7 days.
 */
describe('agent identities: enrollment, approval, takeover, tokens, revocation, renewal', () => {
  const dir = tempDir('opsfleet-identity-');
  let nats: NatsServer;
  let ctl: ControllerProc;
  const agents: AgentProc[] = [];
  let firstNotAfter = '';

  const agentConfig = (id: string, stateDir: string): string => {
    const file = join(dir.path, `enroll-${id}-${Math.random().toString(36).slice(2, 8)}.yaml`);
    writeFileSync(file, [`host: { id: ${id} }`, `nats: { servers: ["${nats.url}"] }`, `state_dir: ${stateDir}`, 'rpc: { listen: "127.0.0.1:0", identity: true }'].join('\n'));
    return file;
  };
  const enrollCli = (file: string, token: string, ...extra: string[]) => runCommand('opsfleet-agent', ['enroll', '--config', file, '--controller', ctl.url, '--token', token, ...extra]);
  const opsctl = (...args: string[]) => runCommand('opsctl', ['--controller', ctl.url, ...args]);

  before(async () => {
    nats = await NatsServer.start();
    ctl = await startController({ natsUrl: nats.url, dir: dir.path, extraYaml: 'pki: { cert_lifetime: 20s, expiry_check_interval: 300ms }' });
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.child.stop()));
    await ctl?.child.stop();
    await nats?.dispose();
    dir.cleanup();
  });

  it('an agent enrolls at first start, serves gRPC with its certificate, and opsctl shows it enrolled', async () => {
    const token = await createEnrollToken(ctl.url, { tags: { role: 'web', env: 'prod' }, uses: 5 });
    const stateDir = join(dir.path, 'state-web-01');
    agents.push(await startAgent({ natsUrl: nats.url, dir: dir.path, id: 'web-01', stateDir, enroll: false, rpc: false, extraYaml: `rpc: { listen: "127.0.0.1:0", identity: true }\nenroll: { controller: "${ctl.url}", token: "${token}" }` }));
    const key = statSync(join(stateDir, 'identity', 'key.pem'));
    assert.equal(key.mode & 0o777, 0o600);
    firstNotAfter = (JSON.parse(readFileSync(join(stateDir, 'identity', 'identity.json'), 'utf8')) as { not_after: string }).not_after;
    const h = await waitFor(async () => (await api<HostJson[]>(ctl.url, '/api/v1/hosts')).find((x) => x.id === 'web-01' && x.status === 'online'), { timeout: 20_000, what: 'web-01 online' });
    assert.equal(h.identity, 'enrolled');
    assert.ok(h.certNotAfter && Date.parse(h.certNotAfter) > Date.now());
    // The token's tags are the host's.
    assert.deepEqual(h.tags, { role: 'web', env: 'prod' });
    // Controller → agent over mTLS with the fleet identities.
    const st = await opsctl('host', 'status', 'web-01', '--json');
    assert.equal(st.code, 0, st.stderr);
    assert.equal((JSON.parse(st.stdout) as { hostId: string }).hostId, 'web-01');
    const table = await opsctl('hosts');
    assert.match(table.stdout, /web-01 .*enrolled \(cert/);
    // Enrolling again is a no-op that says so.
    const again = await enrollCli(agentConfig('web-01', stateDir), token);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already enrolled/);
  });

  it('a manual-approval token parks the host in opsctl hosts pending until opsctl hosts accept', async () => {
    const token = await createEnrollToken(ctl.url, { approve: 'manual', name: 'manual-1' });
    const file = agentConfig('db-01', join(dir.path, 'state-db-01'));
    const first = await enrollCli(file, token, '--wait', '300ms');
    assert.equal(first.code, 3, first.stderr);
    assert.match(first.stderr, /OPS_ERR_ENROLL_PENDING: .*opsctl hosts accept db-01/);
    const pending = await opsctl('hosts', 'pending', '--json');
    assert.equal(pending.code, 0, pending.stderr);
    assert.deepEqual((JSON.parse(pending.stdout) as Array<{ hostId: string; state: string }>).map((p) => [p.hostId, p.state]), [['db-01', 'pending']]);
    const accepted = await opsctl('hosts', 'accept', 'db-01');
    assert.equal(accepted.code, 0, accepted.stderr);
    // The poll after acceptance spends no second use of the one-use token.
    const second = await enrollCli(file, token, '--wait', '10s');
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /enrolled host "db-01"/);
    assert.equal((JSON.parse((await opsctl('hosts', 'pending', '--json')).stdout) as unknown[]).length, 0);
  });

  it('a second key for an enrolled host id is refused (no takeover) until opsctl hosts remove', async () => {
    const token = await createEnrollToken(ctl.url, { uses: 5 });
    const spoof = agentConfig('web-01', join(dir.path, 'state-spoof'));
    const r = await enrollCli(spoof, token);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /OPS_ERR_ENROLL_TAKEOVER: host id "web-01" is already enrolled with another key/);
    const audit = await api<Array<{ action: string; subject: string }>>(ctl.url, '/api/v1/audit');
    assert.ok(audit.some((a) => a.action === 'host.enroll' && a.subject === 'web-01'));
  });

  it('an expired token and a used-up token are refused with errors that say so', async () => {
    const expired = await createEnrollToken(ctl.url, { ttl: '1ms', name: 'short' });
    const r1 = await enrollCli(agentConfig('app-01', join(dir.path, 'state-app-01')), expired);
    assert.equal(r1.code, 1);
    assert.match(r1.stderr, /OPS_ERR_ENROLL_TOKEN_EXPIRED: enrollment token "short" expired at/);
    const once = await createEnrollToken(ctl.url, { uses: 1, name: 'once' });
    assert.equal((await enrollCli(agentConfig('app-02', join(dir.path, 'state-app-02')), once)).code, 0);
    const r2 = await enrollCli(agentConfig('app-03', join(dir.path, 'state-app-03')), once);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /OPS_ERR_ENROLL_TOKEN_USED_UP: enrollment token "once" is used up \(1 of 1/);
    const bogus = await enrollCli(agentConfig('app-04', join(dir.path, 'state-app-04')), 'opsfe_aaaaaaaaaaaa_' + 'A'.repeat(43));
    assert.equal(bogus.code, 1);
    assert.match(bogus.stderr, /OPS_ERR_ENROLL_TOKEN_INVALID/);
    const list = await opsctl('tokens', 'list', '--enroll', '--json');
    const byName = new Map((JSON.parse(list.stdout) as Array<{ name: string; state: string }>).map((t) => [t.name, t.state]));
    assert.equal(byName.get('short'), 'expired');
    assert.equal(byName.get('once'), 'used-up');
  });

  it('the agent renews its certificate before expiry and keeps serving gRPC with the new one', async () => {
    const stateDir = join(dir.path, 'state-web-01');
    await agents[0]!.child.waitForLog((l) => l.msg === 'certificate renewed', 30_000, 'renewal');
    const afterMeta = JSON.parse(readFileSync(join(stateDir, 'identity', 'identity.json'), 'utf8')) as { not_after: string };
    assert.ok(Date.parse(afterMeta.not_after) > Date.parse(firstNotAfter), `${afterMeta.not_after} after ${firstNotAfter}`);
    const st = await opsctl('host', 'status', 'web-01', '--json');
    assert.equal(st.code, 0, st.stderr);
  });

  it('AgentCertExpiring fires for an enrolled host that stopped renewing', async () => {
    // app-02 enrolled above and never ran an agent: nobody renews its certificate.
    const alerts = await waitFor(async () => {
      const list = await api<Array<{ labels: Record<string, string> }>>(ctl.url, '/api/v1/alerts');
      return list.find((a) => a.labels.alertname === 'AgentCertExpiring' && a.labels.host === 'app-02');
    }, { timeout: 30_000, what: 'AgentCertExpiring for app-02' });
    assert.equal(alerts.labels.severity, 'warning');
  });

  it('opsctl hosts remove: gRPC and renewal refused at once, events rejected, and the id may enroll again', async () => {
    const removed = await opsctl('hosts', 'remove', 'web-01');
    assert.equal(removed.code, 0, removed.stderr);
    const st = await opsctl('host', 'status', 'web-01');
    assert.equal(st.code, 1);
    assert.match(st.stderr, /OPS_ERR_HOST_REVOKED/);
    // Its heartbeats keep coming over NATS and are rejected whole.
    await waitFor(async () => (await api<Array<{ reason: string }>>(ctl.url, '/api/v1/events/rejected')).some((r) => /host web-01 was removed/.test(r.reason)), { timeout: 15_000, what: 'rejected web-01 events' });
    // Renewal with the (still valid) key is refused.
    const key = readFileSync(join(dir.path, 'state-web-01', 'identity', 'key.pem'), 'utf8');
    const csr = await createCsr('web-01', key);
    const ts = Date.now();
    const res = await fetch(`${ctl.url}/api/v1/enroll/renew`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ host_id: 'web-01', csr_pem: csr, ts_ms: ts, signature: signRenewal(key, 'web-01', ts, csr) }) });
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'OPS_ERR_HOST_REVOKED');
    // After removal the id is free: a reinstalled host (new key) enrolls.
    const token = await createEnrollToken(ctl.url);
    const fresh = await enrollCli(agentConfig('web-01', join(dir.path, 'state-web-01-new')), token);
    assert.equal(fresh.code, 0, fresh.stderr);
    const ids = await fetch(`${ctl.url}/api/v1/identities`, { headers: authHeaders(ctl.url) }).then((r) => r.json() as Promise<Array<{ hostId: string; state: string }>>);
    assert.equal(ids.find((i) => i.hostId === 'web-01')?.state, 'enrolled');
  });
});
