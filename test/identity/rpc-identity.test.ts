import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectivityState } from '@grpc/grpc-js';
import { SwappableCertificates } from '../../agent/identity/cert-provider.js';
import { RpcServer } from '../../agent/rpc/server.js';
import { AgentClients, channelTarget } from '../../controller/dispatch/agent-clients.js';
import { FleetCa } from '../../controller/pki/fleet-ca.js';
import { OpsError } from '../../shared/errors.js';
import { createRootLogger } from '../../shared/logger.js';
import { generateKeyPair } from '../../shared/pki/identity.js';
import { tempDir } from '../helpers/tmp.js';

const log = createRootLogger({ name: 'test', level: 'silent' });
const status = (hostId: string) => ({ hostId, instanceId: 'i', agentVersion: '0.0.0', uptimeS: 1, outboxDepth: 0, outboxEvicted: 0, lastSeq: 0, natsConnected: false, components: [], startedAtMs: Date.now() });

/**
 * gRPC with fleet identities (docs/identity.md): the controller checks the host id in the
 * agent's certificate against the host it means to dial, and an agent accepts only the
 * controller's client certificate, not another host's (server-only EKU) nor another CA's.
 */
describe('gRPC fleet identity', () => {
  const dir = tempDir('opsfleet-rpc-identity-');
  let ca: FleetCa;
  let server: RpcServer;
  let endpoint = '';
  let web02: { cert: string; key: string };
  const clients: AgentClients[] = [];
  const identityOf = (c: FleetCa, states: Record<string, 'enrolled' | 'removed'>) => ({ ca: c.caCertFile, cert: c.controllerCertFile, key: c.controllerKeyFile, stateOf: (id: string) => states[id] });
  const client = (o: ConstructorParameters<typeof AgentClients>[0]) => {
    const c = new AgentClients(o);
    clients.push(c);
    return c;
  };

  before(async () => {
    ca = await FleetCa.loadOrCreate({ dataDir: join(dir.path, 'ctl'), logger: log });
    const kp = await generateKeyPair();
    const cert = await ca.issueHost('web-01', kp.publicKeyPem, 3_600_000);
    server = new RpcServer({ host: '127.0.0.1', port: 0, insecure: false, identity: new SwappableCertificates({ ca: Buffer.from(ca.caPem), cert: Buffer.from(cert), key: Buffer.from(kp.privateKeyPem) }) }, { getStatus: () => status('web-01') }, log);
    endpoint = `127.0.0.1:${await server.start()}`;
    const kp2 = await generateKeyPair();
    web02 = { cert: join(dir.path, 'web-02.crt'), key: join(dir.path, 'web-02.key') };
    writeFileSync(web02.cert, await ca.issueHost('web-02', kp2.publicKeyPem, 3_600_000));
    writeFileSync(web02.key, kp2.privateKeyPem);
  });

  after(async () => {
    for (const c of clients) c.close();
    await server?.stop(500);
    dir.cleanup();
  });

  it('the controller reaches an enrolled agent whose certificate binds the dialled host id', async () => {
    const c = client({ timeoutMs: 10_000, identity: identityOf(ca, { 'web-01': 'enrolled' }) });
    assert.equal((await c.getStatus('web-01', endpoint, true, 10_000)).hostId, 'web-01');
  });

  it('refuses an agent whose certificate is for another host than the one it meant to dial', async () => {
    // e.g. web-02's heartbeat announced web-01's endpoint: the controller meant web-02.
    const c = client({ timeoutMs: 10_000, identity: identityOf(ca, { 'web-02': 'enrolled' }) });
    await assert.rejects(c.getStatus('web-02', endpoint, true, 10_000), (err: unknown) => {
      assert.ok(err instanceof OpsError);
      assert.equal(err.code, 'OPS_ERR_RPC_IDENTITY');
      assert.match(err.message, /dialled host "web-02" but its certificate is for "web-01"/);
      return true;
    });
  });

  it('never dials a removed host', async () => {
    const c = client({ timeoutMs: 10_000, identity: identityOf(ca, { 'web-01': 'removed' }) });
    await assert.rejects(c.getStatus('web-01', endpoint, true, 10_000), (err: unknown) => err instanceof OpsError && err.code === 'OPS_ERR_HOST_REVOKED');
  });

  it('one shared TLS context checks each host on its own: a host presenting another host\'s certificate is refused, the right one still reached', async () => {
    const c = client({ timeoutMs: 10_000, identity: identityOf(ca, { 'web-01': 'enrolled', 'web-02': 'enrolled' }) });
    assert.equal((await c.getStatus('web-01', endpoint, true, 10_000)).hostId, 'web-01');
    // web-02's heartbeat announced web-01's endpoint: same context, another host id to check.
    await assert.rejects(c.getStatus('web-02', endpoint, true, 10_000), (err: unknown) => {
      assert.ok(err instanceof OpsError);
      assert.equal(err.code, 'OPS_ERR_RPC_IDENTITY');
      assert.match(err.message, /dialled host "web-02" but its certificate is for "web-01"/);
      return true;
    });
    // The playbook client rides the same channel and the same check.
    const stream = c.commands('web-02', endpoint, true).runPlaybook({ runId: 'r', playbook: 'p', steps: [], timeoutMs: 5000, maxOutputBytes: 0, actor: 'test' });
    const err = await new Promise<Error & { code: number }>((resolve) => stream.on('error', resolve));
    assert.equal(err.code, 14, 'UNAVAILABLE: the channel refused the handshake, the agent never got the call');
    assert.equal((await c.getStatus('web-01', endpoint, true, 10_000)).hostId, 'web-01');
  });

  it('a host removed after it was dialled is not dialled again, and its kept channel is closed', async () => {
    const states: Record<string, 'enrolled' | 'removed'> = { 'web-01': 'enrolled' };
    const c = client({ timeoutMs: 10_000, identity: identityOf(ca, states) });
    assert.equal((await c.getStatus('web-01', endpoint, true, 10_000)).hostId, 'web-01');
    const channel = c.client('web-01', endpoint, true).getChannel();
    assert.equal(c.channelCount, 1);
    states['web-01'] = 'removed';
    await assert.rejects(c.getStatus('web-01', endpoint, true, 10_000), (err: unknown) => err instanceof OpsError && err.code === 'OPS_ERR_HOST_REVOKED');
    assert.throws(() => c.commands('web-01', endpoint, true), (err: unknown) => err instanceof OpsError && err.code === 'OPS_ERR_HOST_REVOKED');
    assert.equal(c.channelCount, 0);
    assert.equal(channel.getConnectivityState(false), connectivityState.SHUTDOWN);
  });

  it('keeps at most maxChannels channels, closing the least recently used', () => {
    const c = client({ timeoutMs: 10_000, insecure: true, maxChannels: 2 });
    const a = c.client('a', '127.0.0.1:1', false).getChannel();
    const b = c.client('b', '127.0.0.1:2', false).getChannel();
    c.commands('a', '127.0.0.1:1', false); // a used again: b is now the oldest
    const d = c.client('d', '127.0.0.1:4', false).getChannel();
    assert.equal(c.channelCount, 2);
    assert.equal(b.getConnectivityState(false), connectivityState.SHUTDOWN);
    assert.notEqual(a.getConnectivityState(false), connectivityState.SHUTDOWN);
    assert.notEqual(d.getConnectivityState(false), connectivityState.SHUTDOWN);
    // Both services of a host share its channel.
    assert.equal(c.commands('a', '127.0.0.1:1', false).getChannel(), a);
  });

  it('dials literal addresses through the ip resolver, names through DNS', () => {
    assert.equal(channelTarget('127.0.0.1:7443'), 'ipv4:127.0.0.1:7443');
    assert.equal(channelTarget('[::1]:7443'), 'ipv6:[::1]:7443');
    assert.equal(channelTarget('web-01.example:7443'), 'web-01.example:7443');
    assert.equal(channelTarget('999.1.1.1:7443'), '999.1.1.1:7443');
  });

  it("the agent refuses another host's certificate as a client certificate (server-only EKU)", async () => {
    // The client side is the controller's own (it checks web-01 and would accept the agent): only the agent can refuse.
    const c = client({ timeoutMs: 10_000, identity: { ca: ca.caCertFile, cert: web02.cert, key: web02.key, stateOf: () => 'enrolled' } });
    await assert.rejects(c.getStatus('web-01', endpoint, true, 10_000), (err: unknown) => err instanceof OpsError && err.code === 'OPS_ERR_RPC_UNAVAILABLE');
  });

  it('the agent refuses a controller certificate from another CA', async () => {
    const rogue = await FleetCa.loadOrCreate({ dataDir: join(dir.path, 'rogue'), logger: log });
    const c = client({ timeoutMs: 10_000, identity: { ca: ca.caCertFile, cert: rogue.controllerCertFile, key: rogue.controllerKeyFile, stateOf: () => 'enrolled' } });
    await assert.rejects(c.getStatus('web-01', endpoint, true, 10_000), (err: unknown) => err instanceof OpsError && err.code === 'OPS_ERR_RPC_UNAVAILABLE');
  });
});
