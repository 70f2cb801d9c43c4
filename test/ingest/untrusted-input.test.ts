import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Event, EventBatch } from '../../shared/events/codec.js';
import { eventId, eventSubject } from '../../shared/nats/subjects.js';
import { api, startAgent, startController, type AgentProc, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

interface HostJson {
  id: string;
  hostname: string;
  rpcEndpoint: string;
  instanceId: string;
  clockSkewFlagged: boolean;
  status: string;
}
interface Rejected {
  subject: string;
  reason: string;
}
interface EventJson {
  id: string;
  kind: string;
  instanceId: string;
  seq: number;
}

const TEN_YEARS = 10 * 365 * 86_400_000;

describe('ingest trusts nothing in a message', () => {
  const dir = tempDir();
  let nats: NatsServer;
  let ctl: ControllerProc;
  let agent: AgentProc;
  let nc: NatsConnection;
  let real: HostJson;

  before(async () => {
    nats = await NatsServer.start();
    ctl = await startController({ natsUrl: nats.url, dir: dir.path, offlineAfter: '60s' });
    agent = await startAgent({ natsUrl: nats.url, dir: dir.path, id: 'host-1', heartbeat: '500ms' });
    real = await waitFor(async () => (await api<HostJson[]>(ctl.url, '/api/v1/hosts')).find((h) => h.id === 'host-1' && h.rpcEndpoint), { timeout: 20_000, what: 'host-1 registered' });
    nc = await connect(nats.connectOptions());
  });

  after(async () => {
    await nc?.close();
    await agent?.child.stop();
    await ctl?.child.stop();
    await nats?.dispose();
    dir.cleanup();
  });

  const publish = async (kind: string, events: Event[]) => {
    await jetstream(nc).publish(eventSubject(kind, 'host-1'), EventBatch.encode({ events }).finish());
  };

  it('a forged heartbeat ten years ahead does not take the host over: the real agent\'s next beat wins, skew is flagged', async () => {
    const hb = Event.fromPartial({
      id: eventId('host-1', 'forged', 1),
      hostId: 'host-1',
      instanceId: 'forged',
      seq: 1,
      tsMs: Date.now() + TEN_YEARS,
      kind: 'hb',
      heartbeat: { intervalMs: 500, inventory: { hostId: 'host-1', hostname: 'PWNED', rpcEndpoint: '127.0.0.1:1' } },
    });
    await publish('hb', [hb]);
    await ctl.child.waitForLog((l) => l.msg === 'agent clock is off; its timestamps are not used to order host updates' && l.hostId === 'host-1', 15_000, 'skew flagged');
    const h = await waitFor(async () => {
      const x = (await api<HostJson[]>(ctl.url, '/api/v1/hosts')).find((y) => y.id === 'host-1')!;
      return x.hostname !== 'PWNED' && x.instanceId === real.instanceId ? x : undefined;
    }, { timeout: 10_000, what: 'real agent back in the host record' });
    assert.equal(h.rpcEndpoint, real.rpcEndpoint);
    assert.equal(h.clockSkewFlagged, false);
    // And it stays so: several more real beats later, nothing of the forgery is left.
    await waitFor(async () => (await api<Array<{ seq: number }>>(ctl.url, `/api/v1/events?host=host-1&kind=hb&limit=100000`)).length > 8, { timeout: 15_000, what: 'more beats' });
    const later = (await api<HostJson[]>(ctl.url, '/api/v1/hosts')).find((y) => y.id === 'host-1')!;
    assert.equal(later.hostname, real.hostname);
    assert.equal(later.rpcEndpoint, real.rpcEndpoint);
  });

  it('unknown kinds, non-JSON payloads and absurd ts_ms go to rejected_messages with a reason; good neighbours are stored', async () => {
    const mk = (seq: number, over: Partial<Event>): Event => Event.fromPartial({ id: eventId('host-1', 'junk', seq), hostId: 'host-1', instanceId: 'junk', seq, tsMs: Date.now(), kind: 'metric', json: '{"ok":1}', ...over });
    await publish('bogus', [mk(1, { kind: 'bogus' })]);
    await publish('log', [mk(2, { kind: 'log', json: 'this is not json' }), mk(3, { kind: 'log', json: '{"type":"fine"}' })]);
    await publish('metric', [mk(4, { tsMs: -1e15 })]);
    const rejected = await waitFor(async () => {
      const r = await api<Rejected[]>(ctl.url, '/api/v1/events/rejected');
      return r.length >= 3 ? r : undefined;
    }, { timeout: 15_000, what: 'three rejections' });
    const reasons = rejected.map((r) => `${r.subject} ${r.reason}`).join('\n');
    assert.match(reasons, /opsfleet\.ev\.bogus\.host-1 event 0 \(host-1:junk:1\): unknown event kind "bogus"/);
    assert.match(reasons, /opsfleet\.ev\.log\.host-1 event 0 \(host-1:junk:2\): json payload is not JSON/);
    assert.match(reasons, /opsfleet\.ev\.metric\.host-1 event 0 \(host-1:junk:4\): ts_ms -1000000000000000 is outside/);
    const stored = await api<EventJson[]>(ctl.url, '/api/v1/events?host=host-1&limit=100000');
    assert.deepEqual(stored.filter((e) => e.instanceId === 'junk').map((e) => e.seq), [3]);
    const health = await api<{ counters: Record<string, number> }>(ctl.url, '/healthz');
    assert.equal(health.counters.events_rejected, 3);
  });

  it('a reused seq of a known instance (lost outbox) is counted, logged and alerted, not silently dropped', async () => {
    const first = (await api<EventJson[]>(ctl.url, '/api/v1/events?host=host-1&limit=100000')).find((e) => e.instanceId === real.instanceId && e.seq === 1)!;
    assert.ok(first, 'seq 1 of the real instance is stored');
    // What an agent whose outbox was deleted sends: seq 1 again under the same instance id, other content.
    await publish('metric', [Event.fromPartial({ id: eventId('host-1', real.instanceId, 1), hostId: 'host-1', instanceId: real.instanceId, seq: 1, tsMs: Date.now(), kind: 'metric', json: '{"after":"reset"}' })]);
    await ctl.child.waitForLog((l) => l.msg === 'agent sequence went backwards; its events may be dropped as duplicates' && l.hostId === 'host-1', 15_000, 'seq regression warning');
    const alert = await waitFor(async () => (await api<Array<{ labels: Record<string, string> }>>(ctl.url, '/api/v1/alerts')).find((a) => a.labels.alertname === 'AgentSequenceRegression'), { timeout: 10_000, what: 'AgentSequenceRegression alert' });
    assert.equal(alert.labels.host, 'host-1');
    const health = await api<{ counters: Record<string, number> }>(ctl.url, '/healthz');
    assert.ok((health.counters.seq_regressions ?? 0) >= 1);
  });
});
