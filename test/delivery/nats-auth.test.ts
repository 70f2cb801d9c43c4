import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AgentClients } from '../../controller/dispatch/agent-clients.js';
import { api, startAgent, startController, type AgentProc, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

describe('NATS credentials', () => {
  const dir = tempDir();
  let nats: NatsServer;
  let ctl: ControllerProc;
  const agents: AgentProc[] = [];
  const creds = 'user: ops, password: "${env:TEST_NATS_PASS}"';
  const env = { TEST_NATS_PASS: 'pw-Kq81zz' };

  before(async () => {
    nats = await NatsServer.start({ args: ['--user', 'ops', '--pass', env.TEST_NATS_PASS] });
    ctl = await startController({ natsUrl: nats.url, dir: dir.path, natsExtra: creds, env });
  });

  after(async () => {
    await Promise.all(agents.map((a) => a.child.stop()));
    await ctl?.child.stop();
    await nats?.dispose();
    dir.cleanup();
  });

  it('user/password given as ${env:NAME} connect agent and controller', async () => {
    agents.push(await startAgent({ natsUrl: nats.url, dir: dir.path, id: 'good', natsExtra: creds, env }));
    await waitFor(async () => (await api<Array<{ id: string; status: string }>>(ctl.url, '/api/v1/hosts')).find((h) => h.id === 'good' && h.status === 'online'), { what: 'authenticated agent online' });
  });

  it('a wrong password keeps the agent running with events queued in its outbox, and no secret reaches the logs', async () => {
    // Plaintext on purpose: the test reads the agent's outbox straight over gRPC with a plaintext client (enrollment: test/identity).
    const bad = await startAgent({ natsUrl: nats.url, dir: dir.path, id: 'bad', natsExtra: 'user: ops, password: "wrong-Zx9"', heartbeat: '200ms', enroll: false });
    agents.push(bad);
    await bad.child.waitForLog((l) => l.msg === 'nats connection failed; events stay in the outbox, retrying', 20_000);
    const endpoint = String(bad.child.logs().find((l) => l.msg === 'agent started')!.rpc);
    const clients = new AgentClients({ timeoutMs: 3000, insecure: true });
    try {
      const st = await waitFor(async () => {
        const s = await clients.getStatus('bad', endpoint, false);
        return s.outboxDepth >= 3 ? s : undefined;
      }, { what: 'outbox growing' });
      assert.equal(st.natsConnected, false);
      assert.ok(bad.child.running);
    } finally {
      clients.close();
    }
    const hosts = await api<Array<{ id: string }>>(ctl.url, '/api/v1/hosts');
    assert.ok(!hosts.some((h) => h.id === 'bad'));
    for (const proc of [bad.child, ctl.child, agents[0]!.child]) {
      assert.ok(!proc.stdout.includes('wrong-Zx9') && !proc.stdout.includes(env.TEST_NATS_PASS), 'a password appeared in a log');
    }
  });
});
