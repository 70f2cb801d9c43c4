import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { Heartbeat } from '../../shared/gen/opsfleet/v1/events.js';
import { tempDir } from '../../test/helpers/tmp.js';
import type { AgentClients } from '../dispatch/agent-clients.js';
import type { EventsStore } from '../store/events-store.js';
import { openDatabase } from '../store/db.js';
import { HostsStore, type HostSummaryView, type HostView } from '../store/hosts-store.js';
import { HttpServer } from './http-server.js';
import { registerRoutes } from './routes.js';

function hb(id: string): Heartbeat {
  return {
    inventory: { hostId: id, hostname: `${id}.example`, os: 'linux', distro: 'Debian 12', kernel: '6.1', arch: 'x64', cpuModel: 'Xeon', cpuCores: 8, memoryTotalBytes: 1, ipAddresses: ['10.0.0.7', '10.0.0.8'], tags: { rack: 'r1' }, agentVersion: '1.2.3', bootId: 'b', uptimeS: 1, rpcEndpoint: '10.0.0.7:7443', rpcTls: false },
    agentUptimeS: 1,
    outboxDepth: 0,
    outboxEvicted: 0,
    intervalMs: 10_000,
  };
}

// GET /api/v1/hosts at fleet size: pages by id with a cursor and a summary view without the
// inventory, while a request without parameters still answers the full array (opsctl, dashboard).
describe('GET /api/v1/hosts: pages (?limit&after) and a summary view', () => {
  const dir = tempDir('opsfleet-hosts-api-');
  const db = openDatabase(dir.path);
  const hosts = new HostsStore(db);
  const http = new HttpServer(pino({ level: 'silent' }), { guard: { policy: () => ({}), check: () => ({ name: 'test', role: 'admin' }) } });
  // Inserted out of order: the answer's order is the id's, not the insertion's.
  const ids = Array.from({ length: 25 }, (_, i) => `h-${String((i * 7) % 25).padStart(2, '0')}`);
  let url = '';
  before(async () => {
    const now = Date.now();
    for (const id of ids) hosts.applyHeartbeat(hb(id), { hostId: id, instanceId: 'i', seq: 1, tsMs: now }, now);
    registerRoutes(http, { hosts, events: {} as EventsStore, agents: {} as AgentClients, health: () => ({}), identity: (id) => (id === 'h-03' ? { state: 'enrolled', certNotAfter: null } : undefined) });
    url = `http://127.0.0.1:${(await http.listen('127.0.0.1', 0)).port}`;
  });
  after(async () => {
    await http.close(500);
    db.close();
    dir.cleanup();
  });
  const get = async <T>(path: string): Promise<{ status: number; body: T }> => {
    const r = await fetch(`${url}${path}`);
    return { status: r.status, body: (await r.json()) as T };
  };
  const sorted = [...ids].sort();

  it('without parameters: every host as the full view array, in id order (backwards compatible)', async () => {
    const r = await get<HostView[]>('/api/v1/hosts');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.map((h) => h.id), sorted);
    assert.equal(r.body[0]!.cpuModel, 'Xeon');
    assert.equal(r.body.find((h) => h.id === 'h-03')!.identity, 'enrolled');
  });

  it('walks every host exactly once by following next, in stable id order', async () => {
    const seen: string[] = [];
    let after: string | null = '';
    let pages = 0;
    while (after !== null) {
      const r: { status: number; body: { hosts: HostView[]; next: string | null } } = await get(`/api/v1/hosts?limit=10${after ? `&after=${encodeURIComponent(after)}` : ''}`);
      assert.equal(r.status, 200);
      assert.ok(r.body.hosts.length <= 10);
      seen.push(...r.body.hosts.map((h) => h.id));
      after = r.body.next;
      pages++;
    }
    assert.deepEqual(seen, sorted);
    assert.equal(pages, 3);
    // A page that ends exactly at the last host says so (no empty extra page).
    const last = await get<{ hosts: HostView[]; next: string | null }>(`/api/v1/hosts?limit=5&after=${sorted[19]}`);
    assert.deepEqual(last.body.hosts.map((h) => h.id), sorted.slice(20));
    assert.equal(last.body.next, null);
  });

  it('the summary view has what opsctl hosts prints and no inventory', async () => {
    const r = await get<{ hosts: HostSummaryView[]; next: string | null }>('/api/v1/hosts?view=summary&limit=2');
    assert.deepEqual(r.body.hosts.map((h) => h.id), sorted.slice(0, 2));
    assert.equal(r.body.next, sorted[1]);
    const h = r.body.hosts[0]!;
    assert.deepEqual({ distro: h.distro, os: h.os, ips: h.ipAddresses, tags: h.tags, v: h.agentVersion, status: h.status }, { distro: 'Debian 12', os: 'linux', ips: ['10.0.0.7', '10.0.0.8'], tags: { rack: 'r1' }, v: '1.2.3', status: 'online' });
    assert.equal('cpuModel' in h, false);
    const all = await get<HostSummaryView[]>('/api/v1/hosts?view=summary');
    assert.equal(all.body.length, 25);
    assert.equal(all.body.find((x) => x.id === 'h-03')!.identity, 'enrolled');
  });

  it('refuses a bad limit or view with 400 naming the parameter', async () => {
    for (const [q, what] of [['limit=-1', 'limit'], ['limit=abc', 'limit'], ['view=fat', 'view']] as const) {
      const r = await get<{ error: { code: string; message: string } }>(`/api/v1/hosts?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.body.error.code, 'OPS_ERR_BAD_REQUEST');
      assert.match(r.body.error.message, new RegExp(what));
    }
  });
});
