/**
 * The dashboard's fleet API with 5,000 hosts in the database (issue 16): latency of
 * `GET /api/v1/fleet` (whole fleet, first page, a target on facts, a 304 revalidation) against
 * the same run's baseline `GET /api/v1/hosts` (the full host views the CLI reads), on a real
 * controller. Requests are sequential (closed loop) and interleaved route by route so machine
 * load drifts hit all alike; the in-process CPU time of building each answer is measured too,
 * which survives a loaded machine better than wall-clock latency.
 */
import { mkdirSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import pino from 'pino';
import { FleetView } from '../controller/dashboard/fleet-view.js';
import { FactsStore } from '../controller/facts/facts-store.js';
import { openDatabase } from '../controller/store/db.js';
import { HostsStore, toHostView } from '../controller/store/hosts-store.js';
import type { Heartbeat } from '../shared/gen/opsfleet/v1/events.js';
import { startController } from '../test/helpers/daemons.js';
import { NatsServer } from '../test/helpers/nats-server.js';
import { tempDir } from '../test/helpers/tmp.js';
import { cpuCost } from './cpu-cost.js';
import type { Bench, BenchRow } from './types.js';

const HOSTS = 5000;

function seed(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true });
  const db = openDatabase(dataDir);
  const hosts = new HostsStore(db);
  const facts = new FactsStore(db, pino({ level: 'silent' }));
  const now = Date.now();
  const roles = ['web', 'db', 'cache', 'worker'];
  db.transaction(() => {
    for (let i = 0; i < HOSTS; i++) {
      const id = `host-${String(i).padStart(5, '0')}`;
      const hb: Heartbeat = {
        inventory: {
          hostId: id, hostname: `${id}.dc1.example`, os: 'linux', distro: 'Debian GNU/Linux 12 (bookworm)', kernel: '6.1.0-18-amd64', arch: 'x64',
          cpuModel: 'Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz', cpuCores: 8, memoryTotalBytes: 16 * 2 ** 30, ipAddresses: [`10.${i >> 8}.${i & 255}.10`, 'fe80::1'],
          tags: { role: roles[i % 4]!, env: i % 10 ? 'prod' : 'staging', dc: `dc${i % 3}` }, agentVersion: '0.1.0', bootId: 'b', uptimeS: 1000, rpcEndpoint: `10.0.0.${i & 255}:7001`, rpcTls: true,
        },
        agentUptimeS: 10, outboxDepth: 0, outboxEvicted: 0, intervalMs: 10_000,
      };
      hosts.applyHeartbeat(hb, { tsMs: now, seq: 1, instanceId: 'i', hostId: id }, now);
      facts.store(id, {
        gatheredMs: now, tookMs: 3000,
        facts: { os: i % 5 ? 'debian' : 'ubuntu', os_family: 'debian', distro: 'Debian GNU/Linux', distro_version: '12', codename: 'bookworm', platform: 'linux', kernel: '6.1.0-18-amd64', arch: 'x64', virtual: i % 2 ? 'kvm' : 'physical', virtual_role: 'guest', cpu_model: 'Intel Xeon', cpu_vendor: 'GenuineIntel', cpu_cores: 8, cpu_physical_cores: 4, cpu_sockets: 1, cpu_mhz: 3000, mem_total_bytes: 16 * 2 ** 30, swap_total_bytes: 0, manufacturer: 'QEMU', model: 'Standard PC', serial: `SN${i}`, machine_id: 'x'.repeat(32), hostname: id, fqdn: `${id}.dc1.example`, timezone: 'UTC', boot_time: new Date(now).toISOString(), disk_count: 2, disk_total_bytes: 2e12, fs_root_type: 'ext4', ipv4: '10.0.0.1', default_iface: 'eth0' },
        disks: [{ device: '/dev/vda', name: 'disk', type: 'HD', vendor: '', sizeBytes: 1e12 }], filesystems: [{ fs: '/dev/vda1', type: 'ext4', mount: '/', sizeBytes: 1e12, usedBytes: 5e11 }], interfaces: [], errors: {},
      }, now);
    }
  })();
  db.close();
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

function get(base: string, path: string, token: string, agent: Agent, headers: Record<string, string> = {}): Promise<{ ms: number; status: number; bytes: number; etag: string | undefined }> {
  const u = new URL(base);
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, agent, headers: { authorization: `Bearer ${token}`, ...headers } }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ ms: performance.now() - start, status: res.statusCode ?? 0, bytes, etag: res.headers.etag }));
    });
    req.on('error', reject);
    req.end();
  });
}

const bench: Bench = {
  name: 'fleet API with 5,000 hosts',
  async run({ quick }) {
    const tmp = tempDir('opsfleet-bench-fleet-');
    const rounds = quick ? 40 : 200;
    const load0 = loadavg()[0]!;
    const dataDir = join(tmp.path, 'controller-data');
    const seedStart = performance.now();
    seed(dataDir);
    const seedS = (performance.now() - seedStart) / 1000;

    // In process, on the same file: what building each answer costs in CPU.
    const db = openDatabase(dataDir);
    const hosts = new HostsStore(db);
    const fleet = new FleetView(db);
    const cpuHosts = cpuCost(() => JSON.stringify(hosts.list().map(toHostView)), quick ? 10 : 30);
    const cpuFleet = cpuCost(() => JSON.stringify(fleet.list({ offset: 0, limit: 5000 })), quick ? 10 : 30);
    const cpuTarget = cpuCost(() => JSON.stringify(fleet.list({ target: 'virtual=kvm and os=debian and role=db', offset: 0, limit: 5000 })), quick ? 10 : 30);
    const cpuEtag = cpuCost(() => fleet.etag({ offset: 0, limit: 5000 }), quick ? 20 : 100);
    db.close();

    const nats = await NatsServer.start();
    // offline_after is long so no host changes status (and moves the ETag) during the run.
    const ctl = await startController({ natsUrl: nats.url, dir: tmp.path, offlineAfter: '1h' });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const routes = {
      hosts: '/api/v1/hosts',
      fleetAll: '/api/v1/fleet?limit=5000',
      fleetPage: '/api/v1/fleet?limit=200',
      fleetTarget: `/api/v1/fleet?limit=5000&target=${encodeURIComponent('virtual=kvm and os=debian and role=db')}`,
    };
    const lat: Record<string, number[]> = { hosts: [], fleetAll: [], fleetPage: [], fleetTarget: [], notModified: [] };
    const bytes: Record<string, number> = {};
    let etag = '';
    let matched304 = 0;
    try {
      for (let r = 0; r < 5; r++) for (const p of Object.values(routes)) await get(ctl.url, p, ctl.token!, agent); // warm-up
      for (let r = 0; r < rounds; r++) {
        for (const [k, p] of Object.entries(routes)) {
          const res = await get(ctl.url, p, ctl.token!, agent);
          if (res.status !== 200) throw new Error(`${p}: HTTP ${res.status}`);
          lat[k]!.push(res.ms);
          bytes[k] = res.bytes;
          if (k === 'fleetAll') etag = res.etag ?? '';
        }
        const nm = await get(ctl.url, routes.fleetAll, ctl.token!, agent, { 'if-none-match': etag });
        lat.notModified!.push(nm.ms);
        if (nm.status === 304) matched304++;
      }
    } finally {
      agent.destroy();
      await ctl.child.stop();
      await nats.dispose();
      tmp.cleanup();
    }
    const seconds = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / 1000;
    const row = (name: string, k: string, note: string): BenchRow => ({ name, rate: lat[k]!.length / seconds(lat[k]!), unit: 'req', count: lat[k]!.length, seconds: seconds(lat[k]!), note: `p50 ${pct(lat[k]!, 50).toFixed(1)} ms, p99 ${pct(lat[k]!, 99).toFixed(1)} ms${bytes[k] ? `, ${(bytes[k]! / 1024).toFixed(0)} KiB` : ''}; ${note}` });
    return {
      title: `Fleet API with ${HOSTS.toLocaleString('en-US')} hosts in the database (dashboard)`,
      rows: [
        row('baseline: GET /api/v1/hosts (full host views)', 'hosts', `build in process: ${cpuHosts.toFixed(1)} ms CPU`),
        row('GET /api/v1/fleet, all 5,000 rows', 'fleetAll', `build in process: ${cpuFleet.toFixed(1)} ms CPU`),
        row('GET /api/v1/fleet, first page of 200', 'fleetPage', 'same scan, small answer'),
        row('GET /api/v1/fleet, target on facts + tag', 'fleetTarget', `build in process: ${cpuTarget.toFixed(1)} ms CPU`),
        row('GET /api/v1/fleet with If-None-Match (304)', 'notModified', `${matched304}/${rounds} answered 304; tag in process: ${cpuEtag.toFixed(2)} ms CPU`),
      ],
      notes: [
        `Seeded ${HOSTS} hosts with tags, inventory and ~30 facts each in ${seedS.toFixed(1)} s; sequential requests over one keep-alive connection, ${rounds} rounds interleaved route by route after 5 warm-up rounds.`,
        `Load average at start ${load0.toFixed(2)} (the machine is shared with other builds): compare rows of this run with each other, and the in-process CPU figures, rather than with another run.`,
        'Goal: the fleet page ready in < 1 s with 5,000 hosts; the API part of that is the fleet row p99.',
      ],
    };
  },
};
export default bench;
