/**
 * Standby controller failover (docs/scaling.md, "Standby controller"): two real controller
 * processes with `ha.enabled`, default lease_ttl 10 s and renew_interval 3 s. Each round kills
 * the leader with SIGKILL and measures until the other answers `role: leader` on /healthz
 * (polled every 100 ms), then starts the killed one again as the standby. A last round stops the
 * leader cleanly (it releases the lease). Goal: ≤ 15 s.
 *
 * Default: one operator-mode nats-server. `--cluster`: the same rounds on a three-node
 * operator-mode cluster (streams and buckets R3) where each round also SIGKILLs the NATS node
 * the leader was connected to (restarted after the round); the single-server rounds run first
 * in the same run as the baseline.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { api, startController, type ControllerProc } from '../test/helpers/daemons.js';
import { NatsCluster } from '../test/helpers/nats-cluster.js';
import { NatsServer } from '../test/helpers/nats-server.js';
import { freePort } from '../test/helpers/ports.js';
import { tempDir } from '../test/helpers/tmp.js';
import { waitFor } from '../test/helpers/wait.js';
import type { Bench, BenchRow } from './types.js';

const GOAL_MS = 15_000;

/** The broker under the two controllers, and what a round does to it besides killing the leader. */
interface Broker {
  url: string;
  streamYaml: string;
  /** Called right after the leader's SIGKILL with the leader's process; returns what to undo after the round. */
  alsoKill(leader: ControllerProc): Promise<() => Promise<void>>;
  dispose(): Promise<void>;
}

async function singleServer(): Promise<Broker> {
  const nats = await NatsServer.start();
  return { url: nats.url, streamYaml: 'stream: { max_bytes: 512MiB }', alsoKill: async () => async () => {}, dispose: () => nats.dispose() };
}

async function cluster(): Promise<Broker> {
  const c = await NatsCluster.start({ size: 3 });
  return {
    url: c.url,
    // Each node has 1 GB of file store and holds a replica of everything.
    streamYaml: 'stream: { replicas: 3, max_bytes: 256MiB }',
    async alsoKill(leader) {
      const node = c.nodeOf(leader.child);
      if (!node) throw new Error('the leader reports no node of the cluster');
      await c.kill(node.name);
      return async () => {
        await c.restart(node.name);
      };
    },
    dispose: () => c.dispose(),
  };
}

async function measure(broker: Broker, rounds: number): Promise<{ times: number[]; cleanMs: number }> {
  const dir = tempDir('opsfleet-ha-bench-');
  const ports = { a: await freePort(), b: await freePort() };
  const dataOf = (id: 'a' | 'b') => join(dir.path, `${id}-data`);
  const ca = join(dataOf('a'), 'pki');
  const start = (id: 'a' | 'b') =>
    startController({
      natsUrl: broker.url,
      dir: dir.path,
      configName: `${id}.yaml`,
      dataDir: dataOf(id),
      listen: `127.0.0.1:${ports[id]}`,
      startTimeoutMs: 120_000,
      extraYaml: `ha: { enabled: true, id: ${id}, advertise_url: "http://127.0.0.1:${ports[id]}" }\n${broker.streamYaml}${id === 'b' ? `\npki: { ca_cert: ${join(ca, 'ca.crt')}, ca_key: ${join(ca, 'ca.key')} }` : ''}`,
    });
  const role = async (c: ControllerProc) => (await api<{ role: string }>(c.url, '/healthz').catch(() => ({ role: 'down' }))).role;
  const procs: Record<'a' | 'b', ControllerProc | undefined> = { a: undefined, b: undefined };
  const times: number[] = [];
  try {
    procs.a = await start('a');
    await waitFor(async () => (await role(procs.a!)) === 'leader', { timeout: 60_000, what: 'a leads' });
    await waitFor(() => existsSync(join(ca, 'ca.key')), { what: "a's fleet CA" });
    procs.b = await start('b');
    await waitFor(async () => (await role(procs.b!)) === 'standby', { timeout: 60_000, what: 'b standby' });
    let leader: 'a' | 'b' = 'a';
    for (let i = 0; i < rounds; i++) {
      const other: 'a' | 'b' = leader === 'a' ? 'b' : 'a';
      // A random point in the renewal cycle, as a real crash would be.
      await new Promise((r) => setTimeout(r, 1000 + Math.random() * 3000));
      const t0 = Date.now();
      procs[leader]!.child.kill('SIGKILL');
      const undo = await broker.alsoKill(procs[leader]!);
      await waitFor(async () => (await role(procs[other]!)) === 'leader', { timeout: 60_000, interval: 100, what: `${other} leads` });
      times.push(Date.now() - t0);
      await undo();
      procs[leader] = await start(leader);
      await waitFor(async () => (await role(procs[leader]!)) === 'standby', { timeout: 60_000, what: `${leader} back as standby` });
      leader = other;
    }
    const other: 'a' | 'b' = leader === 'a' ? 'b' : 'a';
    const t0 = Date.now();
    const stopping = procs[leader]!.child.stop();
    await waitFor(async () => (await role(procs[other]!)) === 'leader', { timeout: 60_000, interval: 100, what: `${other} leads after a clean stop` });
    const cleanMs = Date.now() - t0;
    await stopping;
    return { times, cleanMs };
  } finally {
    for (const p of Object.values(procs)) await p?.child.stop();
    await broker.dispose();
    dir.cleanup();
  }
}

function rowsOf(label: string, killWhat: string, r: { times: number[]; cleanMs: number }): BenchRow[] {
  const max = Math.max(...r.times);
  const mean = r.times.reduce((a, b) => a + b, 0) / r.times.length;
  return [
    { name: `${label}: ${killWhat} → standby leads (mean)`, rate: 1000 / mean, unit: 'failovers', count: r.times.length, seconds: mean / 1000, note: `each: ${r.times.map((t) => (t / 1000).toFixed(1)).join(', ')} s; max ${(max / 1000).toFixed(1)} s` },
    { name: `${label}: clean stop of the leader → standby leads`, rate: 1000 / r.cleanMs, unit: 'failovers', count: 1, seconds: r.cleanMs / 1000, note: 'the leader releases the lease' },
  ];
}

const bench: Bench = {
  name: 'ha-failover',
  async run({ quick }) {
    const rounds = quick ? 1 : 3;
    const onCluster = process.argv.includes('--cluster');
    const single = await measure(await singleServer(), rounds);
    const rows = rowsOf('one nats-server', 'kill -9 of the leader', single);
    const all = [...single.times];
    if (onCluster) {
      const c = await measure(await cluster(), rounds);
      rows.push(...rowsOf('3-node cluster, R3', 'kill -9 of the leader and of its NATS node', c));
      all.push(...c.times);
    }
    const max = Math.max(...all);
    return {
      title: `standby controller failover${onCluster ? ' on one server and on a 3-node cluster' : ''} (lease_ttl 10s, renew_interval 3s)`,
      rows,
      notes: [
        `goal: the standby leads within ${GOAL_MS / 1000} s of kill -9: ${max <= GOAL_MS ? 'met' : 'NOT met'} (max ${(max / 1000).toFixed(1)} s over ${all.length} round(s)); bound by design: lease_ttl + min(renew_interval, 1 s) after the last renewal = 11 s`,
        ...(onCluster ? ['same run: the one-server rounds first (baseline), then the cluster rounds; operator mode (JWT auth) on both'] : []),
      ],
    };
  },
};
export default bench;
