import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Heartbeat } from '../../shared/gen/opsfleet/v1/events.js';
import { createRootLogger } from '../../shared/logger.js';
import { tempDir } from '../../test/helpers/tmp.js';
import { openDatabase } from '../store/db.js';
import { EventsStore } from '../store/events-store.js';
import { HostsStore } from '../store/hosts-store.js';
import { Liveness } from './liveness.js';

const dir = tempDir('opsfleet-liveness-');
after(() => dir.cleanup());

function hb(hostId: string): Heartbeat {
  return {
    inventory: { hostId, hostname: hostId, os: 'linux', distro: '', kernel: '', arch: '', cpuModel: '', cpuCores: 1, memoryTotalBytes: 1, ipAddresses: [], tags: {}, agentVersion: '1', bootId: '', uptimeS: 1, rpcEndpoint: '', rpcTls: false },
    agentUptimeS: 1,
    outboxDepth: 0,
    outboxEvicted: 0,
    intervalMs: 10_000,
  };
}

// Issue 18: at 10,000 agents a burst (first heartbeats, a controller restart) leaves a backlog in
// the stream; hosts whose heartbeats wait there must not be marked offline (and page someone).
describe('Liveness judges silence up to what ingest has read', () => {
  const db = openDatabase(dir.path);
  after(() => db.close());
  const hosts = new HostsStore(db);
  const events = new EventsStore(db, 86_400_000);
  const t0 = Date.UTC(2026, 0, 1);
  let now = t0;
  let readThrough: number | undefined;
  const liveness = new Liveness({ db, hosts, events, offlineAfterMs: undefined, logger: createRootLogger({ name: 'liveness-test', level: 'silent' }), now: () => now, readThrough: (n) => readThrough ?? n });
  hosts.applyHeartbeat(hb('a'), { hostId: 'a', instanceId: 'i', seq: 1, tsMs: t0 }, t0);
  hosts.applyHeartbeat(hb('b'), { hostId: 'b', instanceId: 'i', seq: 1, tsMs: t0 }, t0);

  it('a backlog older than the threshold keeps hosts online; caught up, the silent ones go offline', () => {
    now = t0 + 45_000; // threshold is 3 x 10 s
    readThrough = t0 + 20_000; // ingest is 25 s behind the stream
    assert.deepEqual(liveness.check(), []);
    assert.equal(hosts.get('a')!.status, 'online');
    // Ingest catches up and finds a heartbeat of b in the backlog; a stayed silent.
    hosts.applyHeartbeat(hb('b'), { hostId: 'b', instanceId: 'i', seq: 2, tsMs: t0 + 40_000 }, t0 + 44_000);
    readThrough = undefined;
    const changes = liveness.check();
    assert.deepEqual(changes.map((c) => [c.hostId, c.to]), [['a', 'offline']]);
    assert.equal(hosts.get('a')!.status, 'offline');
    assert.equal(hosts.get('a')!.status_since_ms, now, 'the status changes at the controller time of the check');
    assert.equal(hosts.get('b')!.status, 'online');
  });
});
