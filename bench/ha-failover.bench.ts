/**
 * Standby controller failover (docs/scaling.md, "Standby controller"): two real controller
 * processes with `ha.enabled` on one operator-mode nats-server, default lease_ttl 10 s and
 * renew_interval 3 s. Each round kills the leader with SIGKILL and measures until the other
 * answers `role: leader` on /healthz (polled every 100 ms), then starts the killed one again as
 * the standby. A last round stops the leader cleanly (it releases the lease). Goal: ≤ 15 s.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { api, startController, type ControllerProc } from '../test/helpers/daemons.js';
import { NatsServer } from '../test/helpers/nats-server.js';
import { freePort } from '../test/helpers/ports.js';
import { tempDir } from '../test/helpers/tmp.js';
import { waitFor } from '../test/helpers/wait.js';
import type { Bench, BenchRow } from './types.js';

const GOAL_MS = 15_000;

const bench: Bench = {
  name: 'ha-failover',
  async run({ quick }) {
    const rounds = quick ? 1 : 3;
    const dir = tempDir('opsfleet-ha-bench-');
    const nats = await NatsServer.start();
    const ports = { a: await freePort(), b: await freePort() };
    const dataOf = (id: 'a' | 'b') => join(dir.path, `${id}-data`);
    const ca = join(dataOf('a'), 'pki');
    const start = (id: 'a' | 'b') =>
      startController({
        natsUrl: nats.url,
        dir: dir.path,
        configName: `${id}.yaml`,
        dataDir: dataOf(id),
        listen: `127.0.0.1:${ports[id]}`,
        extraYaml: `ha: { enabled: true, id: ${id}, advertise_url: "http://127.0.0.1:${ports[id]}" }\nstream: { max_bytes: 512MiB }${id === 'b' ? `\npki: { ca_cert: ${join(ca, 'ca.crt')}, ca_key: ${join(ca, 'ca.key')} }` : ''}`,
      });
    const role = async (c: ControllerProc) => (await api<{ role: string }>(c.url, '/healthz').catch(() => ({ role: 'down' }))).role;
    const procs: Record<'a' | 'b', ControllerProc | undefined> = { a: undefined, b: undefined };
    const times: number[] = [];
    let cleanMs = 0;
    try {
      procs.a = await start('a');
      await waitFor(async () => (await role(procs.a!)) === 'leader', { timeout: 30_000, what: 'a leads' });
      await waitFor(() => existsSync(join(ca, 'ca.key')), { what: "a's fleet CA" });
      procs.b = await start('b');
      await waitFor(async () => (await role(procs.b!)) === 'standby', { timeout: 30_000, what: 'b standby' });
      let leader: 'a' | 'b' = 'a';
      for (let i = 0; i < rounds; i++) {
        const other: 'a' | 'b' = leader === 'a' ? 'b' : 'a';
        // A random point in the renewal cycle, as a real crash would be.
        await new Promise((r) => setTimeout(r, 1000 + Math.random() * 3000));
        const t0 = Date.now();
        procs[leader]!.child.kill('SIGKILL');
        await waitFor(async () => (await role(procs[other]!)) === 'leader', { timeout: 60_000, interval: 100, what: `${other} leads` });
        times.push(Date.now() - t0);
        procs[leader] = await start(leader);
        await waitFor(async () => (await role(procs[leader]!)) === 'standby', { timeout: 30_000, what: `${leader} back as standby` });
        leader = other;
      }
      const other: 'a' | 'b' = leader === 'a' ? 'b' : 'a';
      const t0 = Date.now();
      const stopping = procs[leader]!.child.stop();
      await waitFor(async () => (await role(procs[other]!)) === 'leader', { timeout: 60_000, interval: 100, what: `${other} leads after a clean stop` });
      cleanMs = Date.now() - t0;
      await stopping;
    } finally {
      for (const p of Object.values(procs)) await p?.child.stop();
      await nats.dispose();
      dir.cleanup();
    }
    const max = Math.max(...times);
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    const rows: BenchRow[] = [
      { name: 'kill -9 of the leader → standby leads (mean)', rate: 1000 / mean, unit: 'failovers', count: times.length, seconds: mean / 1000, note: `each: ${times.map((t) => (t / 1000).toFixed(1)).join(', ')} s; max ${(max / 1000).toFixed(1)} s` },
      { name: 'clean stop of the leader → standby leads', rate: 1000 / cleanMs, unit: 'failovers', count: 1, seconds: cleanMs / 1000, note: 'the leader releases the lease' },
    ];
    return {
      title: 'standby controller failover (lease_ttl 10s, renew_interval 3s)',
      rows,
      notes: [`goal: the standby leads within ${GOAL_MS / 1000} s of kill -9: ${max <= GOAL_MS ? 'met' : 'NOT met'} (max ${(max / 1000).toFixed(1)} s over ${times.length} round(s)); bound by design: lease_ttl + min(renew_interval, 1 s) after the last renewal = 11 s`],
    };
  },
};
export default bench;
