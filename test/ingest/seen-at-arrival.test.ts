import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { seenAt } from '../../controller/ingest/ingest.js';
import { HostsStore } from '../../controller/store/hosts-store.js';
import { Event } from '../../shared/events/codec.js';
import { eventId } from '../../shared/nats/subjects.js';
import { waitFor } from '../helpers/wait.js';
import { IngestHarness } from './harness.js';

// Issue 18: 500 agents killed at once were all offline 32.1 s after the kill for a 30 s
// threshold: their last heartbeats had waited ~2 s in ingest behind a playbook's results, and the
// host's last_seen was the time ingest stored them. A host is heard when its message reaches the
// stream; ingest's lag must not postpone its offline detection.
describe('a host is last seen when its message reached the stream, not when ingest stored it', () => {
  let h: IngestHarness | undefined;
  after(() => h?.dispose());

  it('a heartbeat and a metric that waited 1.5 s in the stream set last_seen to their arrival', { timeout: 30_000 }, async () => {
    h = await IngestHarness.start();
    const inventory = { hostId: 'h1', hostname: 'web-1', uptimeS: 100, os: 'linux', distro: 'Debian', kernel: '6.1.0', cpuModel: 'Xeon', cpuCores: 2, ipAddresses: ['10.0.0.1'], tags: {}, agentVersion: '0.1.0', rpcEndpoint: '10.0.0.1:7443' };
    const sentHb = Date.now();
    await h.sendEvent(Event.fromPartial({ id: eventId('h1', 'i', 1), hostId: 'h1', instanceId: 'i', seq: 1, tsMs: sentHb, kind: 'hb', heartbeat: { intervalMs: 10_000, inventory } }));
    await h.send(2, { host: 'h2' });
    const arrived = Date.now();
    // Ingest is not running yet: both wait in the stream, as behind a burst.
    await new Promise((r) => setTimeout(r, 1500));
    const db = h.openDb();
    const ingest = h.ingest(db);
    const storedFrom = Date.now();
    await ingest.start();
    await waitFor(() => ingest.stats.messages === 2, { what: 'both messages stored' });
    const hosts = new HostsStore(db);
    const h1 = hosts.get('h1')!;
    assert.ok(h1.last_seen_ms >= sentHb && h1.last_seen_ms <= arrived, `h1 last seen ${h1.last_seen_ms - sentHb} ms after it was sent (stored ${storedFrom - sentHb}+ ms after)`);
    assert.equal(h1.last_hb_received_ms, h1.last_seen_ms);
    // h2 is not a host yet (no heartbeat): its metric touches nothing. Give it one, then a metric that waits.
    await h.sendEvent(Event.fromPartial({ id: eventId('h2', 'i', 3), hostId: 'h2', instanceId: 'i', seq: 3, tsMs: Date.now(), kind: 'hb', heartbeat: { intervalMs: 10_000, inventory: { ...inventory, hostId: 'h2', hostname: 'web-2' } } }));
    await waitFor(() => hosts.get('h2') !== undefined, { what: 'h2 known' });
    await ingest.stop();
    const sentLate = Date.now();
    await h.send(4, { host: 'h2' });
    const arrivedLate = Date.now();
    await new Promise((r) => setTimeout(r, 1500));
    const again = h.ingest(db);
    await again.start();
    await waitFor(() => again.stats.messages === 1, { what: 'the waiting metric stored' });
    const h2 = hosts.get('h2')!;
    assert.ok(h2.last_seen_ms >= sentLate && h2.last_seen_ms <= arrivedLate, `h2 last seen ${h2.last_seen_ms - sentLate} ms after its metric was sent`);
  });

  it('seenAt: the stream time within 5 s before now; otherwise (a broker clock ahead, or a backlog) now', () => {
    const now = 1_800_000_000_000;
    const at = (ms: number) => ({ info: { timestampNanos: ms * 1e6 } });
    assert.equal(seenAt(at(now - 1200), now), now - 1200);
    assert.equal(seenAt(at(now - 5000), now), now - 5000);
    assert.equal(seenAt(at(now - 5001), now), now, 'a backlog: readThrough judges silence then');
    assert.equal(seenAt(at(now + 3000), now), now, 'a broker clock ahead of ours');
    assert.equal(seenAt({}, now), now);
  });
});
