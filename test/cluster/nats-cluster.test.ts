import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator } from '@nats-io/transport-node';
import { api, authHeaders } from '../helpers/daemons.js';
import type { ControllerProc } from '../helpers/daemons.js';
import { waitFor } from '../helpers/wait.js';
import { ClusterFleet } from '../helpers/cluster-fleet.js';

// Issue 18: the fleet on a three-node NATS cluster in operator mode (what production runs: every
// node trusts the controller's operator, agents enroll and connect with per-host creds), the
// event stream replicated three times. The node most agents use is SIGKILLed while they publish;
// they move to the other nodes, and the controller ends with every event of every agent exactly
// once (seq 1..max, no gap, no second row).
describe('NATS cluster (operator mode): three nodes, stream R3, one node killed mid-stream', () => {
  let fleet: ClusterFleet;
  let ctl: ControllerProc & { dataDir: string };

  before(async () => {
    fleet = await ClusterFleet.start();
    ctl = await fleet.controller('ctl');
    for (const id of ['c1', 'c2', 'c3', 'c4']) await fleet.agent(id, ctl);
  });

  after(async () => {
    await fleet?.dispose();
  });

  it('agents enroll for per-host creds; the stream has 3 replicas; agents move off the killed node; nothing lost or duplicated', { timeout: 180_000 }, async () => {
    const info = (await (await fetch(`${ctl.url}/healthz`)).json()) as { nats: string };
    assert.equal(info.nats, 'connected');
    // No side door: a connection without creds is refused by every node.
    for (const url of fleet.cluster.urls) {
      await assert.rejects(connect({ servers: url.replace('nats://', ''), reconnect: false, timeout: 5000 }), /Authorization|authentication/i, `${url} refuses anonymous clients`);
    }
    // Each agent enrolled: it connects with a user JWT of its own, issued by the controller.
    for (const a of fleet.agents) {
      assert.ok(a.child.logs().some((l) => l.msg === 'enrolled'), `agent ${a.id} enrolled\n${a.child.tail(20)}`);
    }
    await fleet.ingestedPast(ctl.dataDir, new Map(), 8, 'every agent ingested through the cluster');
    assert.deepEqual(await fleet.eventStreamReplicas(), { configured: 3, placed: 3 });

    // Kill the node most agents are connected to (the controller moves too when it was there).
    const byNode = new Map<string, typeof fleet.agents>();
    for (const a of fleet.agents) {
      const node = fleet.nodeOf(a.child);
      assert.ok(node, `agent ${a.id} reports a node of the cluster`);
      byNode.set(node.name, [...(byNode.get(node.name) ?? []), a]);
    }
    const [victim, moved] = [...byNode.entries()].sort((x, y) => y[1].length - x[1].length)[0]!;
    const before = fleet.highest(ctl.dataDir);
    await fleet.cluster.kill(victim);

    // The agents that were on it reconnect elsewhere and keep being ingested.
    for (const a of moved) await a.child.waitForLog((l) => l.msg === 'nats reconnected', 60_000, `agent ${a.id} reconnected to another node`);
    await fleet.ingestedPast(ctl.dataDir, before, 20, 'ingest continuing after the node loss');

    const final = await fleet.stopAgentsAndCheckExactlyOnce(ctl.dataDir);
    for (const r of final) assert.ok(r.hi >= (before.get(r.host) ?? 0) + 20, `${r.host}: events after the kill stored`);
    // The controller is still ingesting on the surviving nodes.
    const health = (await (await fetch(`${ctl.url}/healthz`, { headers: { authorization: `Bearer ${ctl.token}` } })).json()) as { status: string };
    assert.equal(health.status, 'ok', JSON.stringify(health));
  });

  it('a host removed on the controller is refused by every node (the revocation reaches all three resolvers)', { timeout: 60_000 }, async () => {
    const attempt = async (url: string, id: string) => {
      const nc = await connect({ servers: url.replace('nats://', ''), authenticator: credsAuthenticator(readFileSync(fleet.credsOf(id))), reconnect: false, timeout: 5000 });
      await nc.close();
    };
    const live = fleet.cluster.liveUrls;
    assert.equal(live.length, 2, 'the node killed above stays down');
    for (const url of live) await attempt(url, 'c4');
    const res = await fetch(`${ctl.url}/api/v1/identities/c4`, { method: 'DELETE', headers: authHeaders(ctl.url) });
    assert.equal(res.status, 200, await res.clone().text());
    const health = await api<{ natsAuth?: unknown }>(ctl.url, '/healthz');
    // The controller pushed the account JWT to the node it is on; the full resolvers pass it on.
    for (const url of live) {
      await waitFor(async () => attempt(url, 'c4').then(() => false, (err: Error) => /Authorization|authentication|revoked/i.test(err.message)), { timeout: 20_000, what: `${url} refuses the removed host c4 (${JSON.stringify(health.natsAuth)})` });
      await attempt(url, 'c3');
    }
  });
});
