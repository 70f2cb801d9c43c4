import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Event, EventBatch } from '../../shared/gen/opsfleet/v1/events.js';
import { api, startAgent, startController, type AgentProc, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

interface EventJson {
  id: string;
  seq: number;
  instanceId: string;
  kind: string;
}

/**
 * Seqs of every event the agent published (heartbeats and whatever its components emit; the
 * controller's own host_status rows are not the agent's). Seqs are per agent, across kinds.
 */
async function heartbeatSeqs(url: string, host: string): Promise<number[]> {
  const evs = (await api<EventJson[]>(url, `/api/v1/events?host=${host}&limit=100000`)).filter((e) => e.instanceId !== 'controller');
  assert.equal(new Set(evs.map((e) => e.id)).size, evs.length, 'duplicate event ids stored');
  return evs.map((e) => e.seq).sort((a, b) => a - b);
}

/** Asserts seqs are exactly 1..last: no gap, no duplicate. */
function assertComplete(seqs: number[], last: number): void {
  assert.equal(seqs.length, last, `expected ${last} heartbeats, got ${seqs.length}`);
  seqs.forEach((s, i) => assert.equal(s, i + 1, `gap or duplicate at position ${i}: seq ${s}`));
}

async function agentLastSeq(url: string, host: string): Promise<number> {
  const st = await api<{ lastSeq: number }>(url, `/api/v1/hosts/${host}/status`);
  return st.lastSeq;
}

describe('delivery guarantees', () => {
  const dir = tempDir();
  let nats: NatsServer;
  let ctl: ControllerProc;
  let agent: AgentProc;

  before(async () => {
    nats = await NatsServer.start();
    ctl = await startController({ natsUrl: nats.url, dir: dir.path, offlineAfter: '60s' });
    agent = await startAgent({ natsUrl: nats.url, dir: dir.path, id: 'beater', heartbeat: '300ms' });
    await waitFor(async () => (await heartbeatSeqs(ctl.url, 'beater')).length >= 3, { timeout: 15_000, what: 'first heartbeats' });
  });

  after(async () => {
    await agent?.child.stop();
    await ctl?.child.stop();
    await nats?.dispose();
    dir.cleanup();
  });

  it('nats-server stopped for 30 s while the agent beats: every event seq arrives, no gap, no duplicate', async () => {
    const before = await agentLastSeq(ctl.url, 'beater');
    await nats.stop();
    const downAt = Date.now();
    // The agent keeps beating into its outbox; the controller keeps running and reconnects.
    await waitFor(() => Date.now() - downAt >= 30_000, { timeout: 35_000, interval: 500, what: '30 s outage' });
    assert.ok(agent.child.running && ctl.child.running, 'a daemon died during the outage');
    await nats.restart();
    const afterOutage = await waitFor(async () => {
      const seq = await agentLastSeq(ctl.url, 'beater');
      return seq > before + 80 ? seq : undefined;
    }, { timeout: 20_000, what: 'agent reachable with a grown seq' });
    await waitFor(async () => {
      const seqs = await heartbeatSeqs(ctl.url, 'beater');
      return seqs.length >= afterOutage;
    }, { timeout: 30_000, what: 'backlog drained to the controller' });
    assertComplete((await heartbeatSeqs(ctl.url, 'beater')).filter((s) => s <= afterOutage), afterOutage);
    const warned = agent.child.logs().some((l) => l.msg === 'outbox publish failed; retrying with backoff');
    assert.ok(warned, 'agent should log the failed publishes');
  });

  it('controller killed with SIGKILL and restarted: nothing published meanwhile is lost', async () => {
    ctl.child.kill('SIGKILL');
    await ctl.child.exited;
    const killedAt = Date.now();
    await waitFor(() => Date.now() - killedAt >= 3000, { timeout: 5000, interval: 200, what: 'agent publishing while controller is down' });
    ctl = await startController({ natsUrl: nats.url, dir: dir.path, offlineAfter: '60s', configName: 'controller.yaml' });
    // Stop the agent cleanly so its last seq is final, then expect every one of them.
    await agent.child.stop();
    const stopLine = agent.child.logs().find((l) => l.msg === 'agent components stopped')!;
    assert.equal(stopLine.outboxDepth, 0, 'agent should flush its outbox on SIGTERM');
    const last = Number(stopLine.lastSeq);
    await waitFor(async () => (await heartbeatSeqs(ctl.url, 'beater')).length === last, { timeout: 20_000, what: 'all heartbeats after restart' });
    assertComplete(await heartbeatSeqs(ctl.url, 'beater'), last);
  });

  it('a malformed message on the event subjects is counted and skipped; ingest goes on', async () => {
    agent = await startAgent({ natsUrl: nats.url, dir: dir.path, id: 'beater', heartbeat: '300ms' });
    const nc = await connect(nats.connectOptions());
    try {
      const js = jetstream(nc);
      await js.publish('opsfleet.ev.hb.evil', new TextEncoder().encode('not protobuf at all \u0000\u00ff'));
      // Well-formed, but claims another host than its subject: rejected as spoofing.
      const spoof = EventBatch.encode({ events: [Event.fromPartial({ id: 'other:i:1', hostId: 'other', instanceId: 'i', seq: 1, kind: 'hb', tsMs: Date.now(), json: '{}' })] }).finish();
      await js.publish('opsfleet.ev.hb.evil', spoof);
    } finally {
      await nc.close();
    }
    const health = await waitFor(async () => {
      const h = await api<{ counters: Record<string, number> }>(ctl.url, '/healthz');
      return (h.counters.messages_rejected ?? 0) >= 2 ? h : undefined;
    }, { timeout: 10_000, what: 'rejected counter' });
    assert.equal(health.counters.messages_rejected, 2);
    const seqBefore = (await heartbeatSeqs(ctl.url, 'beater')).at(-1)!;
    await waitFor(async () => ((await heartbeatSeqs(ctl.url, 'beater')).at(-1) ?? 0) > seqBefore + 2, { timeout: 10_000, what: 'ingest continues after bad messages' });
    const hosts = await api<Array<{ id: string }>>(ctl.url, '/api/v1/hosts');
    assert.ok(!hosts.some((h) => h.id === 'other' || h.id === 'evil'), 'rejected messages must not create hosts');
    assert.ok(ctl.child.logs().some((l) => l.msg === 'malformed event message skipped' && l.subject === 'opsfleet.ev.hb.evil'));
  });
});
