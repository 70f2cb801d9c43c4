import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { api, startController, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

interface Health {
  status: string;
  reasons?: string[];
  nats: string;
}

describe('controller started while NATS is down', () => {
  const dir = tempDir();
  let nats: NatsServer | undefined;
  let ctl: ControllerProc | undefined;

  after(async () => {
    await ctl?.child.stop();
    await nats?.dispose();
    dir.cleanup();
  });

  it('keeps retrying with its HTTP API up, /healthz says degraded and why, and recovers when NATS starts', async () => {
    const port = await freePort();
    ctl = await startController({ natsUrl: `nats://127.0.0.1:${port}`, dir: dir.path });
    // Several failed attempts: the old start exited with code 13 after the first one.
    const h = await waitFor(async () => {
      const x = await api<Health>(ctl!.url, '/healthz');
      const m = /attempt (\d+)/.exec(x.reasons?.join(' ') ?? '');
      return m && Number(m[1]) >= 3 ? x : undefined;
    }, { timeout: 60_000, what: 'three failed NATS attempts reported by /healthz' });
    assert.equal(h.status, 'degraded');
    assert.match(h.reasons![0]!, /cannot connect to NATS \(attempt \d+\): .*retrying/);
    assert.equal(ctl.child.running, true, 'controller must not exit while NATS is down');
    assert.deepEqual(await api<unknown[]>(ctl.url, '/api/v1/hosts'), [], 'the API answers while degraded');
    nats = NatsServer.create(port);
    await nats.restart();
    const ok = await waitFor(async () => {
      const x = await api<Health>(ctl!.url, '/healthz');
      return x.status === 'ok' ? x : undefined;
    }, { timeout: 60_000, what: '/healthz ok after NATS started' });
    assert.equal(ok.nats, 'connected');
    assert.equal(ok.reasons, undefined);
    await ctl.child.waitForLog((l) => l.msg === 'ingest running', 20_000, 'ingest running');
  });
});
