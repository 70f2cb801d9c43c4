import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AgentClients } from '../../controller/dispatch/agent-clients.js';
import { OpsError } from '../../shared/errors.js';
import { makePki, type TestPki } from '../helpers/certs.js';
import { api, runCommand, startAgent, startController, type AgentProc, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

describe('gRPC with mutual TLS', () => {
  const dir = tempDir();
  let pki: TestPki;
  let nats: NatsServer;
  let ctl: ControllerProc;
  let agent: AgentProc;

  before(async () => {
    pki = makePki(dir.path);
    nats = await NatsServer.start();
    ctl = await startController({
      natsUrl: nats.url,
      dir: dir.path,
      rpcClient: `{ tls: { ca: ${pki.ca}, cert: ${pki.clientCert}, key: ${pki.clientKey}, server_name: localhost } }`,
    });
    agent = await startAgent({
      natsUrl: nats.url,
      dir: dir.path,
      id: 'secure-01',
      rpc: false,
      extraYaml: `rpc: { listen: "127.0.0.1:0", tls: { ca: ${pki.ca}, cert: ${pki.serverCert}, key: ${pki.serverKey} } }`,
    });
  });

  after(async () => {
    await agent?.child.stop();
    await ctl?.child.stop();
    await nats?.dispose();
    dir.cleanup();
  });

  it('the agent announces a TLS endpoint and the controller reaches it with its client certificate', async () => {
    const host = await waitFor(async () => (await api<Array<{ id: string; rpcTls: boolean; rpcEndpoint: string }>>(ctl.url, '/api/v1/hosts')).find((h) => h.id === 'secure-01'), { what: 'secure host' });
    assert.equal(host.rpcTls, true);
    const r = await runCommand('opsctl', ['host', 'status', 'secure-01', '--json', '--controller', ctl.url]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { hostId: string }).hostId, 'secure-01');
  });

  it('a client without a certificate, or with one from another CA, is refused', async () => {
    const host = (await api<Array<{ id: string; rpcEndpoint: string }>>(ctl.url, '/api/v1/hosts')).find((h) => h.id === 'secure-01')!;
    for (const tls of [{ ca: pki.ca, server_name: 'localhost' }, { ca: pki.ca, cert: pki.rogueCert, key: pki.rogueKey, server_name: 'localhost' }]) {
      const clients = new AgentClients({ tls, timeoutMs: 3000 });
      try {
        await assert.rejects(clients.getStatus(host.id, host.rpcEndpoint, true), (err: unknown) => err instanceof OpsError && err.code.startsWith('OPS_ERR_RPC_'));
      } finally {
        clients.close();
      }
    }
    const plain = new AgentClients({ timeoutMs: 3000, insecure: true });
    try {
      await assert.rejects(plain.getStatus(host.id, host.rpcEndpoint, false), (err: unknown) => err instanceof OpsError && err.code === 'OPS_ERR_RPC_UNAVAILABLE');
    } finally {
      plain.close();
    }
    // A controller without rpc_client.insecure refuses to dial a plaintext agent at all.
    const strict = new AgentClients({ timeoutMs: 3000 });
    try {
      await assert.rejects(strict.getStatus('nobody', '127.0.0.1:1', false), (err: unknown) => err instanceof OpsError && err.code === 'OPS_ERR_RPC_INSECURE');
    } finally {
      strict.close();
    }
  });
});
