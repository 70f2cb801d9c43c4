import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Heartbeat } from '../../shared/gen/opsfleet/v1/events.js';
import { tempDir } from '../../test/helpers/tmp.js';
import { openDatabase } from './db.js';
import { HostsStore, MAX_CLOCK_SKEW_MS, staleAfterMs, toHostView } from './hosts-store.js';

const dir = tempDir('opsfleet-hosts-');
after(() => dir.cleanup());
const TEN_YEARS = 10 * 365 * 86_400_000;

function hb(hostname: string, rpcEndpoint: string): Heartbeat {
  return {
    inventory: { hostId: 'host-1', hostname, os: 'linux', distro: '', kernel: '', arch: '', cpuModel: '', cpuCores: 1, memoryTotalBytes: 1, ipAddresses: [], tags: {}, agentVersion: '1', bootId: '', uptimeS: 1, rpcEndpoint, rpcTls: false },
    agentUptimeS: 1,
    outboxDepth: 0,
    outboxEvicted: 0,
    intervalMs: 500,
  };
}

describe('HostsStore.applyHeartbeat: ordered by what the controller can trust', () => {
  const db = openDatabase(dir.path);
  after(() => db.close());
  const hosts = new HostsStore(db);
  let now = Date.UTC(2026, 0, 1);
  let seq = 0;
  const real = () => {
    now += 500;
    seq++;
    return hosts.applyHeartbeat(hb('web-1', '10.0.0.1:7443'), { hostId: 'host-1', instanceId: 'real', seq, tsMs: now }, now);
  };

  it('a forged heartbeat ten years ahead from another instance holds only until the real agent beats again', () => {
    assert.equal(real().status, 'new');
    real();
    now += 10;
    const forged = hosts.applyHeartbeat(hb('PWNED', '127.0.0.1:1'), { hostId: 'host-1', instanceId: 'evil', seq: 1, tsMs: now + TEN_YEARS }, now);
    assert.equal(forged.applied, true);
    assert.deepEqual(forged.skewChanged, { skewMs: TEN_YEARS, flagged: true });
    assert.equal(toHostView(hosts.get('host-1')!).clockSkewFlagged, true);
    const back = real();
    assert.equal(back.applied, true);
    const h = toHostView(hosts.get('host-1')!);
    assert.equal(h.hostname, 'web-1');
    assert.equal(h.rpcEndpoint, '10.0.0.1:7443');
    assert.equal(h.clockSkewFlagged, false);
    assert.deepEqual(back.skewChanged, { skewMs: 0, flagged: false });
  });

  it('an agent whose own clock was far ahead is not frozen when its clock comes back', () => {
    now += 500;
    seq++;
    const ahead = hosts.applyHeartbeat(hb('web-1-ahead', '10.0.0.1:7443'), { hostId: 'host-1', instanceId: 'real', seq, tsMs: now + TEN_YEARS }, now);
    assert.equal(ahead.applied, true);
    assert.equal(toHostView(hosts.get('host-1')!).clockSkewMs, TEN_YEARS);
    real();
    assert.equal(hosts.get('host-1')!.hostname, 'web-1');
    assert.equal(hosts.get('host-1')!.clock_skew_ms, 0);
  });

  it('an older heartbeat of the same instance delivered late (a retried batch) is ignored, and is no regression', () => {
    real();
    const late = hosts.applyHeartbeat(hb('old-name', '10.0.0.1:1'), { hostId: 'host-1', instanceId: 'real', seq: seq - 1, tsMs: now - 500 }, now + 1);
    assert.equal(late.applied, false);
    assert.equal(late.seqRegression, undefined);
    assert.equal(hosts.get('host-1')!.hostname, 'web-1');
  });

  it('a forged huge seq under the real instance id holds at most staleAfterMs, and every lower seq is reported', () => {
    now += 10;
    hosts.applyHeartbeat(hb('PWNED', '127.0.0.1:1'), { hostId: 'host-1', instanceId: 'real', seq: 2 ** 50, tsMs: now }, now);
    const forgedAt = now;
    let regressions = 0;
    while (hosts.get('host-1')!.hostname === 'PWNED') {
      const r = real();
      if (r.seqRegression) regressions++;
      assert.ok(now - forgedAt <= staleAfterMs(500) + 500, 'forged record held longer than the bound');
    }
    assert.equal(regressions, 1, 'reported once, when the lower seq wins');
    assert.equal(hosts.get('host-1')!.rpc_endpoint, '10.0.0.1:7443');
    real();
    assert.equal(hosts.get('host-1')!.last_hb_seq, seq);
  });

  it('flags skew beyond the bound only', () => {
    now += 500;
    seq++;
    hosts.applyHeartbeat(hb('web-1', '10.0.0.1:7443'), { hostId: 'host-1', instanceId: 'real', seq, tsMs: now - MAX_CLOCK_SKEW_MS + 1000 }, now);
    assert.equal(toHostView(hosts.get('host-1')!).clockSkewFlagged, false);
  });
});

// HEARTBEAT_KEY_INVARIANT (hosts-store.ts): the hosts list's cache (controller/api/hosts-list.ts)
// re-reads a row only when the heartbeat part of its listKeys key moved. Whatever sequence of
// heartbeats arrives (same millisecond, lower seq, another instance, stale), a change of any
// other column than status/status_since/last_seen must move that part.
describe('HostsStore.listKeys: every change of a host row moves its key', () => {
  const db = openDatabase(dir.path);
  after(() => db.close());
  const hosts = new HostsStore(db);
  const t0 = Date.UTC(2026, 1, 1);
  const hbOf = (uptimeS: number): Heartbeat => ({ ...hb(`w-${uptimeS}`, `10.0.0.${uptimeS % 250}:7443`), inventory: { ...hb('', '').inventory!, hostId: 'k-1', hostname: `w-${uptimeS}`, uptimeS, rpcEndpoint: `10.0.0.${uptimeS % 250}:7443` } });
  const keyOf = (id: string) => hosts.listKeys().find((k) => k[0] === id)![1];
  const hbPart = (k: string) => k.split(',').slice(3).join(',');
  const rest = (id: string) => {
    const { status: _s, status_since_ms: _ss, last_seen_ms: _ls, ...r } = hosts.rows([id])[0]!;
    return JSON.stringify(r);
  };

  it('heartbeats in one millisecond, from another instance, with lower seqs, stale or not', () => {
    let uptime = 0;
    let changed = 0;
    const steps: Array<{ at: number; seq: number; inst: string }> = [
      { at: 0, seq: 1, inst: 'a' },
      { at: 0, seq: 2, inst: 'a' }, // same ms, higher seq
      { at: 0, seq: 1, inst: 'b' }, // same ms, another instance, lower seq
      { at: 1, seq: 1, inst: 'b' }, // same seq again: ignored (touch)
      { at: 2, seq: 0, inst: 'b' }, // lower seq, not stale: ignored
      { at: 5000, seq: 0, inst: 'b' }, // lower seq once stale: applied
      { at: 5000, seq: 7, inst: 'a' },
    ];
    for (const s of steps) {
      const beforeKey = hosts.listKeys().find((k) => k[0] === 'k-1')?.[1];
      const beforeRest = beforeKey ? rest('k-1') : '';
      hosts.applyHeartbeat(hbOf(++uptime), { hostId: 'k-1', instanceId: s.inst, seq: s.seq, tsMs: t0 + s.at }, t0 + s.at);
      const after = keyOf('k-1');
      if (beforeKey !== undefined && rest('k-1') !== beforeRest) changed++;
      if (beforeKey !== undefined && rest('k-1') !== beforeRest) assert.notEqual(hbPart(after), hbPart(beforeKey), `step ${JSON.stringify(s)} changed the row but not its key`);
    }
    assert.equal(changed, 4, 'the applied heartbeats after the first changed the row');
    const k = keyOf('k-1');
    hosts.touch('k-1', t0 + 9000);
    assert.notEqual(keyOf('k-1'), k, 'a touch moves the key');
    assert.equal(hbPart(keyOf('k-1')), hbPart(k), '…but not its heartbeat part');
  });

  it('counts hosts by status without reading them', () => {
    hosts.setStatus('k-1', 'offline', t0 + 10_000);
    const counts = hosts.countByStatus();
    assert.equal(counts.get('offline'), 1);
    assert.equal([...counts.values()].reduce((a, b) => a + b, 0), hosts.listKeys().length);
  });
});
