import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import pino from 'pino';
import type { Heartbeat } from '../../shared/gen/opsfleet/v1/events.js';
import { tempDir } from '../../test/helpers/tmp.js';
import type { AgentClients } from '../dispatch/agent-clients.js';
import type { EventsStore } from '../store/events-store.js';
import { openDatabase } from '../store/db.js';
import { HostsStore, toHostView } from '../store/hosts-store.js';
import { HostsList, type IdentityBrief } from './hosts-list.js';
import { HttpServer } from './http-server.js';
import { registerRoutes } from './routes.js';

function hb(id: string, over: { hostname?: string; uptimeS?: number; tags?: Record<string, string>; cpuModel?: string } = {}): Heartbeat {
  return {
    inventory: {
      hostId: id, hostname: over.hostname ?? `${id}.example`, os: 'linux', distro: 'Debian 12', kernel: '6.1', arch: 'x64', cpuModel: over.cpuModel ?? 'Xeon', cpuCores: 8, memoryTotalBytes: 2 ** 34,
      ipAddresses: ['10.0.0.7', 'fe80::1'], tags: over.tags ?? { rack: 'r1' }, agentVersion: '1.2.3', bootId: 'b', uptimeS: over.uptimeS ?? 1, rpcEndpoint: '10.0.0.7:7443', rpcTls: true,
    },
    agentUptimeS: 1, outboxDepth: 0, outboxEvicted: 0, intervalMs: 10_000,
  };
}

/** What the route answered before the cache: every row's view, identity spread in, one JSON.stringify. */
function oldAnswer(hosts: HostsStore, identity: (id: string) => IdentityBrief | undefined, q: { after?: string; limit?: number } = {}): string {
  const views = hosts.page(q).map((h) => {
    const v = toHostView(h);
    const i = identity(v.id);
    return { ...v, identity: i?.state ?? 'none', certNotAfter: i?.certNotAfter ?? null };
  });
  return JSON.stringify(views);
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  raw: Buffer;
}

function get(url: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, raw: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HostsList: the full hosts list from cached per-host JSON text', () => {
  const dir = tempDir('opsfleet-hosts-list-');
  const db = openDatabase(dir.path);
  const hosts = new HostsStore(db);
  const identities = new Map<string, IdentityBrief>([
    ['h-01', { state: 'enrolled', certNotAfter: '2027-01-01T00:00:00.000Z' }],
    ['h-02', { state: 'pending', certNotAfter: null }],
  ]);
  const identity = (id: string) => identities.get(id);
  const list = new HostsList({ hosts, identities: () => identities });
  const t0 = 1_700_000_000_123;

  before(() => {
    for (let i = 0; i < 12; i++) {
      const id = `h-${String(i).padStart(2, '0')}`;
      // Names and tags JSON must escape, a skewed clock, a host gone offline.
      const beat = hb(id, i === 3 ? { hostname: 'ünïcode "quoted" \\ host\u2028', tags: { 'a"b': 'c\nd', empty: '' } } : {});
      hosts.applyHeartbeat(beat, { hostId: id, instanceId: 'i1', seq: 1, tsMs: i === 5 ? t0 + 3_600_000 : t0 + i }, t0 + i);
    }
    hosts.setStatus('h-07', 'offline', t0 + 50_000);
  });
  after(() => {
    db.close();
    dir.cleanup();
  });

  it('answers byte for byte what building every view gave, whole and in pages', () => {
    assert.equal(list.snapshot().body().toString(), oldAnswer(hosts, identity));
    // Twice: the second answer comes from the cache.
    const before = list.stats().built;
    assert.equal(list.snapshot().body().toString(), oldAnswer(hosts, identity));
    assert.equal(list.stats().built, before, 'a second call rebuilds nothing');
    const page = list.snapshot({ after: 'h-03', limit: 4 });
    assert.equal(page.body().toString(), oldAnswer(hosts, identity, { after: 'h-03', limit: 4 }));
    assert.equal(page.lastId, 'h-07');
    assert.equal(page.more, true);
    assert.equal(list.snapshot({ after: 'h-08', limit: 10 }).more, false);
    // Without identity deps the views carry no identity keys, as before.
    const bare = new HostsList({ hosts });
    assert.equal(bare.snapshot().body().toString(), JSON.stringify(hosts.page().map(toHostView)));
  });

  it('shows a changed host at once: heartbeat, touch, status, identity, and two heartbeats in one millisecond', () => {
    list.snapshot().body().toString();
    const tag0 = list.snapshot().etag;
    assert.equal(list.snapshot().etag, tag0, 'nothing changed, same tag');

    const now = t0 + 100_000;
    hosts.applyHeartbeat(hb('h-04', { cpuModel: 'EPYC', uptimeS: 99 }), { hostId: 'h-04', instanceId: 'i1', seq: 2, tsMs: now }, now);
    let s = list.snapshot();
    assert.notEqual(s.etag, tag0);
    let views = JSON.parse(s.body().toString()) as Array<{ id: string; cpuModel: string; uptimeS: number; lastSeen: string; status: string; identity: string }>;
    assert.equal(views.find((v) => v.id === 'h-04')!.cpuModel, 'EPYC');
    assert.equal(views.find((v) => v.id === 'h-04')!.uptimeS, 99);

    // The same host twice in one millisecond (a batch of its backlog): the second wins, by seq.
    hosts.applyHeartbeat(hb('h-04', { cpuModel: 'EPYC 2' }), { hostId: 'h-04', instanceId: 'i1', seq: 3, tsMs: now }, now);
    assert.equal((JSON.parse(list.snapshot().body().toString()) as typeof views).find((v) => v.id === 'h-04')!.cpuModel, 'EPYC 2');
    // Another instance (the agent restarted) with a lower seq, same millisecond.
    hosts.applyHeartbeat(hb('h-04', { cpuModel: 'EPYC 3' }), { hostId: 'h-04', instanceId: 'i2', seq: 1, tsMs: now }, now);
    assert.equal((JSON.parse(list.snapshot().body().toString()) as typeof views).find((v) => v.id === 'h-04')!.cpuModel, 'EPYC 3');

    const tag1 = list.snapshot().etag;
    hosts.touch('h-09', now + 5);
    s = list.snapshot();
    assert.notEqual(s.etag, tag1, 'a touch moves the tag');
    views = JSON.parse(s.body().toString()) as typeof views;
    assert.equal(views.find((v) => v.id === 'h-09')!.lastSeen, new Date(now + 5).toISOString());

    hosts.setStatus('h-09', 'offline', now + 6);
    assert.equal((JSON.parse(list.snapshot().body().toString()) as typeof views).find((v) => v.id === 'h-09')!.status, 'offline');

    const tag2 = list.snapshot().etag;
    identities.set('h-10', { state: 'removed', certNotAfter: null });
    s = list.snapshot();
    assert.notEqual(s.etag, tag2, 'an identity change moves the tag');
    assert.equal((JSON.parse(s.body().toString()) as typeof views).find((v) => v.id === 'h-10')!.identity, 'removed');

    // After all that, still what building every view gives.
    assert.equal(list.snapshot().body().toString(), oldAnswer(hosts, identity));
  });

  it('a tag names one shape: the whole list and a page of it differ', () => {
    assert.notEqual(list.snapshot().etag, list.snapshot({ limit: 100 }).etag);
    assert.notEqual(list.snapshot({ limit: 100 }).etag, list.snapshot({ limit: 100, after: 'h-00' }).etag);
  });
});

describe('GET /api/v1/hosts: ETag / If-None-Match and gzip', () => {
  const dir = tempDir('opsfleet-hosts-etag-');
  const db = openDatabase(dir.path);
  const hosts = new HostsStore(db);
  const http = new HttpServer(pino({ level: 'silent' }), { guard: { policy: () => ({}), check: () => ({ name: 'test', role: 'admin' }) } });
  const identity = (id: string): IdentityBrief | undefined => (id === 'h-003' ? { state: 'enrolled', certNotAfter: null } : undefined);
  let url = '';
  const t0 = Date.now();
  before(async () => {
    // 60 hosts: ~40 KB of JSON, above the gzip threshold.
    for (let i = 0; i < 60; i++) {
      const id = `h-${String(i).padStart(3, '0')}`;
      hosts.applyHeartbeat(hb(id), { hostId: id, instanceId: 'i', seq: 1, tsMs: t0 }, t0);
    }
    registerRoutes(http, { hosts, events: {} as EventsStore, agents: {} as AgentClients, health: () => ({}), identity });
    url = `http://127.0.0.1:${(await http.listen('127.0.0.1', 0)).port}`;
  });
  after(async () => {
    await http.close(500);
    db.close();
    dir.cleanup();
  });

  it('answers 304 to its own tag until a host changes, then 200 with the new list', async () => {
    const first = await get(url, '/api/v1/hosts');
    assert.equal(first.status, 200);
    assert.equal(first.raw.toString(), oldAnswer(hosts, identity));
    const etag = first.headers.etag as string;
    assert.match(etag, /^W\/"h[\w-]+"$/);
    assert.equal(first.headers['cache-control'], 'no-cache');

    const again = await get(url, '/api/v1/hosts', { 'if-none-match': etag });
    assert.equal(again.status, 304);
    assert.equal(again.raw.length, 0);
    assert.equal(again.headers.etag, etag);
    // In a list of tags, or without the weak prefix (some proxies strip it).
    assert.equal((await get(url, '/api/v1/hosts', { 'if-none-match': `"other", ${etag}` })).status, 304);
    assert.equal((await get(url, '/api/v1/hosts', { 'if-none-match': etag.slice(2) })).status, 304);
    assert.equal((await get(url, '/api/v1/hosts', { 'if-none-match': '"stale"' })).status, 200);

    hosts.touch('h-010', t0 + 1000);
    const changed = await get(url, '/api/v1/hosts', { 'if-none-match': etag });
    assert.equal(changed.status, 200);
    assert.notEqual(changed.headers.etag, etag);
    const views = JSON.parse(changed.raw.toString()) as Array<{ id: string; lastSeen: string }>;
    assert.equal(views.find((v) => v.id === 'h-010')!.lastSeen, new Date(t0 + 1000).toISOString());

    // Pages have their own tags and answer 304 too.
    const page = await get(url, '/api/v1/hosts?limit=10&after=h-020');
    assert.deepEqual(JSON.parse(page.raw.toString()), { hosts: JSON.parse(oldAnswer(hosts, identity, { after: 'h-020', limit: 10 })), next: 'h-030' });
    assert.notEqual(page.headers.etag, changed.headers.etag);
    assert.equal((await get(url, '/api/v1/hosts?limit=10&after=h-020', { 'if-none-match': page.headers.etag as string })).status, 304);
  });

  it('gzips when the client asks, and the bytes inflate to the plain answer', async () => {
    const plain = await get(url, '/api/v1/hosts');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.headers.vary, 'accept-encoding');
    for (const ae of ['gzip', 'br, gzip;q=0.8, deflate', '*']) {
      const gz = await get(url, '/api/v1/hosts', { 'accept-encoding': ae });
      assert.equal(gz.status, 200, ae);
      assert.equal(gz.headers['content-encoding'], 'gzip', ae);
      assert.equal(gz.headers.etag, plain.headers.etag, ae);
      assert.equal(Number(gz.headers['content-length']), gz.raw.length);
      assert.ok(gz.raw.length * 4 < plain.raw.length, `${ae}: ${gz.raw.length} of ${plain.raw.length} bytes`);
      assert.equal(gunzipSync(gz.raw).toString(), plain.raw.toString(), ae);
    }
    for (const ae of ['gzip;q=0', 'br', 'identity']) assert.equal((await get(url, '/api/v1/hosts', { 'accept-encoding': ae })).headers['content-encoding'], undefined, ae);
    // A small answer (one page of 2) goes out plain even when gzip is welcome.
    assert.equal((await get(url, '/api/v1/hosts?limit=2', { 'accept-encoding': 'gzip' })).headers['content-encoding'], undefined);
    // A host that changes after a gzip'd answer is in the next gzip'd one (not the kept bytes).
    hosts.touch('h-011', t0 + 2000);
    const after = JSON.parse(gunzipSync((await get(url, '/api/v1/hosts', { 'accept-encoding': 'gzip' })).raw).toString()) as Array<{ id: string; lastSeen: string }>;
    assert.equal(after.find((v) => v.id === 'h-011')!.lastSeen, new Date(t0 + 2000).toISOString());
  });
});
