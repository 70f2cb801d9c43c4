import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { EventsStore } from '../../controller/store/events-store.js';
import { HostsStore } from '../../controller/store/hosts-store.js';
import { Event } from '../../shared/events/codec.js';
import { Alert_State } from '../../shared/gen/opsfleet/v1/events.js';
import { eventId } from '../../shared/nats/subjects.js';
import { waitFor } from '../helpers/wait.js';
import { IngestHarness } from './harness.js';

const HOUR = 3_600_000;
const WEEK = 7 * 86_400_000;

describe('storage per event', () => {
  let h: IngestHarness | undefined;
  after(() => h?.dispose());

  it('heartbeats keep the inventory only when it changed (the host uptime aside); samples expire after retention.samples, the rest after retention.events', async () => {
    h = await IngestHarness.start({ maxAgeMs: HOUR });
    const db = h.openDb();
    const ingest = h.ingest(db, { events: new EventsStore(db, WEEK), retention: { eventsMs: WEEK, samplesMs: HOUR } });
    await ingest.start();
    let seq = 0;
    const ev = (kind: string, over: Parameters<typeof Event.fromPartial>[0]): Event => {
      seq++;
      return Event.fromPartial({ id: eventId('h1', 'i', seq), hostId: 'h1', instanceId: 'i', seq, tsMs: Date.now(), kind, ...over });
    };
    const inv = (hostname: string, uptimeS: number) => ({ hostId: 'h1', hostname, uptimeS, os: 'linux', distro: 'Debian GNU/Linux 12 (bookworm)', kernel: '6.1.0', cpuModel: 'Xeon', cpuCores: 2, ipAddresses: ['10.0.0.1'], tags: { role: 'web' }, agentVersion: '0.1.0', rpcEndpoint: '10.0.0.1:7443' });
    for (const [i, name] of ['web-1', 'web-1', 'web-1', 'web-2'].entries()) await h.sendEvent(ev('hb', { heartbeat: { intervalMs: 10_000, agentUptimeS: 100 + i, inventory: inv(name, 1000 + i) } }));
    await h.sendEvent(ev('metric', { json: '{"cpu":{"percent":3}}' }));
    await h.sendEvent(ev('check', { json: '{"check":"web","type":"http","event":"result","state":"up"}' }));
    await h.sendEvent(ev('check', { json: '{"check":"web","type":"http","event":"transition","state":"down"}' }));
    await h.sendEvent(ev('log', { json: '{"type":"stats"}' }));
    await h.sendEvent(ev('alert', { alert: { state: Alert_State.STATE_FIRING, labels: { alertname: 'X' }, startsAtMs: Date.now() } }));
    await waitFor(() => ingest.stats.events === 9, { timeout: 15_000, what: 'nine events stored' });
    const rows = db.prepare<[], { seq: number; kind: string; payload: string; received_ms: number; expires_ms: number }>("SELECT seq, kind, payload, received_ms, expires_ms FROM events WHERE instance_id = 'i' ORDER BY seq").all();
    const hb = rows.filter((r) => r.kind === 'hb').map((r) => JSON.parse(r.payload) as { heartbeat: { inventory?: { hostname: string }; agentUptimeS: number }; inventoryUnchanged?: boolean });
    assert.deepEqual(hb.map((p) => p.heartbeat.inventory?.hostname ?? (p.inventoryUnchanged ? '(unchanged)' : '?')), ['web-1', '(unchanged)', '(unchanged)', 'web-2']);
    assert.equal(hb[1]!.heartbeat.agentUptimeS, 101, 'the rest of the heartbeat is kept');
    assert.equal((hb[2] as { uptimeS?: number }).uptimeS, 1002, 'the host uptime, which changes every beat, is kept as a number');
    const full = rows.find((r) => r.seq === 1)!.payload.length;
    const compact = rows.find((r) => r.seq === 2)!.payload.length;
    assert.ok(compact * 3 < full, `compact heartbeat ${compact} B vs full ${full} B`);
    const keep = Object.fromEntries(rows.map((r) => [`${r.kind}#${r.seq}`, r.expires_ms - r.received_ms]));
    assert.deepEqual(keep, { 'hb#1': HOUR, 'hb#2': HOUR, 'hb#3': HOUR, 'hb#4': HOUR, 'metric#5': HOUR, 'check#6': HOUR, 'check#7': WEEK, 'log#8': HOUR, 'alert#9': WEEK });
    // The host record itself is complete (it is what the inventory lives in).
    assert.equal(new HostsStore(db).get('h1')!.hostname, 'web-2');
  });
});
