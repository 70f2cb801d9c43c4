import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { api, authHeaders, startAgent, startController, type AgentProc, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

interface Healthz {
  rpcChannels?: { open: number; ready: number; connecting: number; prewarm: { enabled: boolean; warmed?: number; failed?: number; queued?: number; warming?: number } };
}
interface HostJson {
  id: string;
  status: string;
  identity?: string;
}

/**
 * Issue 18: the controller connects its gRPC channel to an enrolled agent as soon as the agent
 * is online, without any run or call (rpc_client.prewarm); with prewarm off the channel is only
 * made by the first call. Real controller, real NATS, a real enrolled agent over mTLS.
 */
for (const enabled of [true, false]) {
  describe(`channel prewarm ${enabled ? 'on' : 'off'}`, () => {
    const dir = tempDir('opsfleet-prewarm-');
    let nats: NatsServer | undefined;
    let ctl: ControllerProc | undefined;
    let agent: AgentProc | undefined;

    after(async () => {
      await agent?.child.stop();
      await ctl?.child.stop();
      await nats?.dispose();
      dir.cleanup();
    });

    it(enabled ? 'the channel to an agent that comes online reaches READY without a run' : 'the channel to an online agent stays unconnected until a call', async () => {
      nats = await NatsServer.start();
      // The default config has prewarm on: the "on" case writes nothing, so the default is what is tested.
      ctl = await startController({ natsUrl: nats.url, dir: dir.path, ...(enabled ? {} : { rpcClient: '{ insecure: true, prewarm: { enabled: false } }' }) });
      const c = ctl;
      const before = await api<Healthz>(c.url, '/healthz');
      assert.deepEqual(before.rpcChannels && { open: before.rpcChannels.open, ready: before.rpcChannels.ready }, { open: 0, ready: 0 });
      agent = await startAgent({ natsUrl: nats.url, dir: dir.path, id: 'warm-01' });
      const h = await waitFor(async () => (await api<HostJson[]>(c.url, '/api/v1/hosts')).find((x) => x.id === 'warm-01' && x.status === 'online'), { timeout: 20_000, what: 'warm-01 online' });
      assert.equal(h.identity, 'enrolled');
      if (enabled) {
        const hz = await waitFor(async () => {
          const r = (await api<Healthz>(c.url, '/healthz')).rpcChannels;
          return r && r.ready === 1 ? r : undefined;
        }, { timeout: 15_000, what: 'rpcChannels.ready = 1' });
        assert.equal(hz.open, 1);
        assert.equal(hz.prewarm.enabled, true);
        assert.equal(hz.prewarm.warmed, 1);
        assert.equal(hz.prewarm.failed, 0);
        const metrics = await (await fetch(`${c.url}/metrics`, { headers: authHeaders(c.url) })).text();
        assert.match(metrics, /^opsfleet_rpc_channels\{state="ready"\} 1$/m);
        assert.match(metrics, /^opsfleet_rpc_prewarm_total\{outcome="warmed"\} 1$/m);
        // The agent restarts (an upgrade does that to every host) within offline_after: no
        // online transition, its channel's connection drops, and the warmer connects it again
        // (to the new port its next heartbeat announces).
        await agent.child.stop();
        agent = await startAgent({ natsUrl: nats.url, dir: dir.path, id: 'warm-01' });
        const again = await waitFor(async () => {
          const r = (await api<Healthz>(c.url, '/healthz')).rpcChannels;
          return r && r.ready === 1 && r.prewarm.warmed === 2 ? r : undefined;
        }, { timeout: 20_000, what: 'the channel re-warmed after the agent restart' });
        assert.equal((again.prewarm as { rewarms?: number }).rewarms, 1);
      } else {
        // What a warmer would have had: the online transition and several heartbeats (500 ms) after it.
        const onlineSeen = Date.parse((await api<{ lastSeen: string }>(c.url, '/api/v1/hosts/warm-01')).lastSeen);
        await waitFor(async () => Date.parse((await api<{ lastSeen: string }>(c.url, '/api/v1/hosts/warm-01')).lastSeen) >= onlineSeen + 1500, { timeout: 15_000, what: 'three more heartbeats' });
        const hz = (await api<Healthz>(c.url, '/healthz')).rpcChannels!;
        assert.deepEqual({ open: hz.open, ready: hz.ready, prewarm: hz.prewarm }, { open: 0, ready: 0, prewarm: { enabled: false } });
        // The first call makes (and the counter shows) the channel, as before prewarm.
        await api(c.url, '/api/v1/hosts/warm-01/status');
        const after = (await api<Healthz>(c.url, '/healthz')).rpcChannels!;
        assert.deepEqual({ open: after.open, ready: after.ready }, { open: 1, ready: 1 });
      }
    });
  });
}
