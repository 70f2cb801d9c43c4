import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { api, startAgent, startController, type AgentProc, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

describe('start-up order', () => {
  const dir = tempDir();
  let nats: NatsServer | undefined;
  let agent: AgentProc | undefined;
  let ctl: Promise<ControllerProc> | undefined;

  after(async () => {
    await agent?.child.stop();
    await (await ctl?.catch(() => undefined))?.child.stop();
    await nats?.dispose();
    dir.cleanup();
  });

  it('agent and controller started before NATS wait, say so, and work once NATS starts; no heartbeat is lost', async () => {
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    agent = await startAgent({ natsUrl: url, dir: dir.path, id: 'early', heartbeat: '200ms' });
    await agent.child.waitForLog((l) => l.msg === 'nats connection failed; events stay in the outbox, retrying');
    ctl = startController({ natsUrl: url, dir: dir.path });
    nats = NatsServer.create(port);
    await nats.restart();
    const c = await ctl;
    const seqs = await waitFor(async () => {
      const evs = (await api<Array<{ seq: number; instanceId: string }>>(c.url, '/api/v1/events?host=early')).filter((e) => e.instanceId !== 'controller');
      return evs.length >= 5 ? evs.map((e) => e.seq).sort((a, b) => a - b) : undefined;
    }, { timeout: 40_000, what: 'queued heartbeats delivered' });
    assert.deepEqual(seqs.slice(0, 5), [1, 2, 3, 4, 5]);
    assert.ok(c.child.logs().some((l) => l.msg === 'connecting to nats'));
  });
});
