import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { defaultHaId, LeaderLease, LEADER_BUCKET } from '../../controller/ha/lease.js';
import { createRootLogger } from '../../shared/logger.js';
import { NatsServer } from '../helpers/nats-server.js';
import { waitFor } from '../helpers/wait.js';

const logger = createRootLogger({ name: 'test', level: 'silent' });

describe('ha: leader lease in NATS KV (real nats-server)', () => {
  let nats: NatsServer;
  const conns: NatsConnection[] = [];
  const leases: LeaderLease[] = [];

  const lease = async (id: string, o: { ttlMs?: number; renewMs?: number } = {}) => {
    const nc = await connect(nats.connectOptions());
    conns.push(nc);
    const l = new LeaderLease({ id, url: `http://127.0.0.1:1/${id}`, ttlMs: o.ttlMs ?? 2000, renewMs: o.renewMs ?? 400, replicas: 1, claimTtlMs: 60_000, logger });
    leases.push(l);
    const changes: Array<{ leading: boolean; at: number }> = [];
    l.onChange((leading) => changes.push({ leading, at: Date.now() }));
    l.start(nc);
    return { l, nc, changes };
  };

  before(async () => {
    nats = await NatsServer.start();
  });
  after(async () => {
    for (const l of leases) await l.stop();
    for (const nc of conns) await nc.close().catch(() => undefined);
    await nats?.dispose();
  });

  it('ha.id defaults to the hostname, cut to the allowed characters', () => {
    assert.equal(defaultHaId('ctl-a.example.com'), 'ctl-a-example-com');
    assert.equal(defaultHaId('...'), 'controller');
  });

  it('exactly one of two controllers leads; the other names it; the bucket has the lease TTL and history 1', async (t) => {
    const a = await lease('a');
    await waitFor(() => a.l.isLeader(), { what: 'a leads' });
    const b = await lease('b');
    await waitFor(() => b.l.leader()?.id === 'a', { what: 'b learns that a leads' });
    assert.equal(b.l.isLeader(), false);
    assert.equal(b.l.epoch(), 0);
    assert.ok(a.l.epoch() > 0);
    assert.equal(b.l.leader()?.url, 'http://127.0.0.1:1/a');
    const st = await (await new Kvm(a.nc).open(LEADER_BUCKET)).status();
    assert.equal(st.ttl, 2000);
    assert.equal(st.history, 1);
    // Renewals keep it: well past the TTL, a still leads and b never led.
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(a.l.isLeader(), true);
    assert.ok(a.l.stats.renewals >= 3, JSON.stringify(a.l.stats));
    assert.equal(b.changes.length, 0, JSON.stringify(b.changes));

    // The leader's connection dies (what kill -9 looks like from NATS): it steps down on its
    // own failed renewal, and the standby leads once the key expired, never both at once.
    const killedAt = Date.now();
    await a.nc.close();
    await waitFor(() => b.l.isLeader(), { timeout: 10_000, what: 'b takes over' });
    const tookMs = Date.now() - killedAt;
    assert.ok(a.changes.some((c) => !c.leading), 'a stepped down');
    const aDown = a.changes.find((c) => !c.leading)!.at;
    const bUp = b.changes.find((c) => c.leading)!.at;
    assert.ok(aDown < bUp, `a stepped down at ${aDown}, b led at ${bUp}`);
    assert.equal(a.l.isLeader(), false);
    t.diagnostic(`takeover after the leader's connection closed: ${tookMs} ms (ttl 2 s, renew 400 ms)`);
    await a.l.stop();

    // Claims: a slot is claimed once, whoever asks again.
    assert.equal(await b.l.claim('task', 'nightly', 1_700_000_000_000), true);
    assert.equal(await b.l.claim('task', 'nightly', 1_700_000_000_000), false);
    assert.equal(await b.l.claim('task', 'nightly', 1_700_000_060_000), true);
    // A standby never claims.
    assert.equal(await a.l.claim('task', 'nightly', 1_700_000_120_000), false);
  });

  it('a leader that stops releases the lease: the standby leads at once, not after the TTL', async (t) => {
    const c = await lease('c', { ttlMs: 20_000, renewMs: 400 });
    const current = leases.find((l) => l.isLeader());
    assert.ok(current && current !== c.l);
    await waitFor(() => c.l.leader() !== undefined, { what: 'c sees the leader' });
    const stoppedAt = Date.now();
    await current.stop();
    // With a 20 s TTL, leading within this wait can only come from the released key.
    await waitFor(() => c.l.isLeader(), { timeout: 10_000, what: 'c takes over after a clean stop' });
    t.diagnostic(`takeover after a clean stop: ${Date.now() - stoppedAt} ms`);
  });
});
