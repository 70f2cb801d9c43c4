import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Heartbeat } from '../../shared/gen/opsfleet/v1/events.js';
import { createRootLogger } from '../../shared/logger.js';
import { tempDir } from '../../test/helpers/tmp.js';
import { openDatabase } from '../store/db.js';
import { EventsStore } from '../store/events-store.js';
import { DEADLINE_SQL, HostsStore } from '../store/hosts-store.js';
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

// Issue 18: liveness used to read every online host row each second; it now reads only the hosts
// past their deadline, through partial indexes (controller/store/migrations.ts).
describe('Liveness reads only the offline candidates, through an index', () => {
  const db = openDatabase(join(dir.path, 'candidates'));
  after(() => db.close());
  const hosts = new HostsStore(db);
  const events = new EventsStore(db, 86_400_000);
  const t0 = Date.UTC(2026, 0, 1);
  const beat = (id: string, intervalMs: number, at: number) => hosts.applyHeartbeat({ ...hb(id), intervalMs }, { hostId: id, instanceId: 'i', seq: at, tsMs: at }, at);

  it('per-host thresholds: 3 x each host\'s interval (30 s when it never told one), the same hosts as a full scan would find', () => {
    for (let i = 0; i < 200; i++) beat(`h${i}`, 10_000, t0 + i * 100); // last seen t0 .. t0+19.9 s
    beat('fast', 1000, t0 + 10_000); // threshold 3 s
    beat('never-told', 0, t0 + 5000); // threshold 30 s
    const read = t0 + 40_000;
    const ids = (rows: Array<{ id: string }>) => rows.map((r) => r.id).sort();
    const scan = hosts.listOnline().filter((h) => read - h.last_seen_ms > (h.hb_interval_ms > 0 ? 3 * h.hb_interval_ms : 30_000));
    const got = hosts.offlineCandidates(read);
    assert.deepEqual(ids(got), ids(scan));
    // 10 s hosts seen before t0+10 s (100 of them), the 1 s host, and the one without an interval (35 s of silence > 30 s).
    assert.equal(got.length, 102);
    assert.ok(got.some((h) => h.id === 'fast') && got.some((h) => h.id === 'never-told'));
    // A fixed offline_after: silence beyond it, whatever the interval.
    assert.deepEqual(ids(hosts.offlineCandidates(read, 25_000)), ids(hosts.listOnline().filter((h) => read - h.last_seen_ms > 25_000)));
  });

  it('both queries are index range searches, not scans of the hosts table', () => {
    const plan = (sql: string, arg: number) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(arg) as Array<{ detail: string }>).map((r) => r.detail).join('; ');
    assert.match(plan(`SELECT * FROM hosts WHERE status = 'online' AND ${DEADLINE_SQL} < ?`, 1), /USING INDEX hosts_online_deadline/);
    assert.match(plan("SELECT * FROM hosts WHERE status = 'online' AND last_seen_ms < ?", 1), /USING INDEX hosts_online_last_seen/);
  });

  it('check() marks exactly the silent hosts offline and leaves offline ones out of later reads', () => {
    let now = t0 - 60_000; // the controller started a minute before t0: past every threshold by t0+40 s
    const liveness = new Liveness({ db, hosts, events, offlineAfterMs: undefined, logger: createRootLogger({ name: 'liveness-test', level: 'silent' }), now: () => now });
    now = t0 + 40_000;
    assert.equal(liveness.check().length, 102);
    assert.equal(hosts.offlineCandidates(now).length, 0, 'offline hosts are out of the partial index');
    assert.equal(hosts.listOnline().length, 100);
  });
});
