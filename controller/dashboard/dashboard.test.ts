import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Event, Heartbeat } from '../../shared/gen/opsfleet/v1/events.js';
import { FACT_KEYS } from '../../shared/facts/facts.js';
import pino from 'pino';
import { tempDir } from '../../test/helpers/tmp.js';
import { REPO_ROOT } from '../../test/helpers/process.js';
import { ChecksStore, DEFAULT_HISTORY_TIERS } from '../checks/checks-store.js';
import { MetricSeriesReader } from '../checks/metric-series.js';
import { FactsStore } from '../facts/facts-store.js';
import { openDatabase } from '../store/db.js';
import { EventsStore } from '../store/events-store.js';
import { HostsStore } from '../store/hosts-store.js';
import { FleetView, FLEET_COLUMNS } from './fleet-view.js';
import { storedJsonPayload } from '../store/event-body.js';
import { HostHistory } from './host-history.js';

const dir = tempDir('opsfleet-dash-');
after(() => dir.cleanup());
const log = pino({ level: 'silent' });
const T0 = Date.UTC(2026, 5, 1);

function hb(id: string, tags: Record<string, string>): Heartbeat {
  return {
    inventory: { hostId: id, hostname: `${id}.lan`, os: 'linux', distro: 'Debian GNU/Linux 12 (bookworm)', kernel: '6.1', arch: 'x64', cpuModel: 'cpu', cpuCores: 2, memoryTotalBytes: 4096, ipAddresses: [], tags, agentVersion: '0.1.0', bootId: '', uptimeS: 1, rpcEndpoint: '', rpcTls: false },
    agentUptimeS: 1,
    outboxDepth: 0,
    outboxEvicted: 0,
    intervalMs: 10_000,
  };
}

let seq = 0;
const ev = (hostId: string, kind: string, tsMs: number, body: unknown): Event => ({ id: `${hostId}:i:${++seq}`, hostId, instanceId: 'i', seq, tsMs, kind, json: JSON.stringify(body) });

describe('fleet view: compact rows, filters, facts in targets, scope, ETag', () => {
  const db = openDatabase(join(dir.path, 'fleet'));
  after(() => db.close());
  const hosts = new HostsStore(db);
  const facts = new FactsStore(db, log);
  const fleet = new FleetView(db);
  for (let i = 0; i < 30; i++) {
    const id = `h-${String(i).padStart(2, '0')}`;
    hosts.applyHeartbeat(hb(id, { role: i % 2 ? 'db' : 'web' }), { tsMs: T0, seq: 1, instanceId: 'i', hostId: id }, T0);
    facts.store(id, { gatheredMs: T0, facts: { os: i < 20 ? 'debian' : 'ubuntu', virtual: i % 3 === 0 ? 'kvm' : 'physical', cpu_cores: i }, disks: [], filesystems: [], interfaces: [] }, T0);
  }
  hosts.setStatus('h-03', 'offline', T0 + 1);

  it('lists every host as an array row in column order, with counts by status', () => {
    const p = fleet.list({ offset: 0, limit: 500 });
    assert.equal(p.total, 30);
    assert.equal(p.matched, 30);
    assert.deepEqual(p.counts, { online: 29, offline: 1 });
    assert.deepEqual(p.columns, FLEET_COLUMNS);
    const row = p.rows.find((r) => r[0] === 'h-03')!;
    assert.equal(row[FLEET_COLUMNS.indexOf('status')], 'offline');
    assert.equal(row[FLEET_COLUMNS.indexOf('virtual')], 'kvm');
    assert.deepEqual(row[FLEET_COLUMNS.indexOf('tags')], { role: 'db' });
    assert.equal(row[FLEET_COLUMNS.indexOf('hostname')], 'h-03.lan');
  });

  it('filters by target expression on facts and tags, status and text, and pages', () => {
    const p = fleet.list({ target: 'virtual=kvm and os=debian', offset: 0, limit: 500 });
    assert.deepEqual(p.rows.map((r) => r[0]), ['h-00', 'h-03', 'h-06', 'h-09', 'h-12', 'h-15', 'h-18']);
    assert.deepEqual(fleet.list({ target: 'role=web and cpu_cores>=25', offset: 0, limit: 500 }).rows.map((r) => r[0]), ['h-26', 'h-28']);
    assert.deepEqual(fleet.list({ status: 'offline', offset: 0, limit: 500 }).rows.map((r) => r[0]), ['h-03']);
    assert.deepEqual(fleet.list({ q: 'H-1', offset: 0, limit: 3 }).rows.map((r) => r[0]), ['h-10', 'h-11', 'h-12']);
    const page = fleet.list({ offset: 10, limit: 5 });
    assert.deepEqual(page.rows.map((r) => r[0]), ['h-10', 'h-11', 'h-12', 'h-13', 'h-14']);
    assert.equal(page.matched, 30);
    assert.throws(() => fleet.list({ target: 'virtual=kvm and (', offset: 0, limit: 5 }), /OPS_ERR_TARGET_SYNTAX|expected a host/);
  });

  it('a scoped token counts and sees only the hosts in its scope', () => {
    const p = fleet.list({ scope: 'role=web', target: 'os=ubuntu', offset: 0, limit: 500 });
    assert.equal(p.total, 15);
    assert.deepEqual(p.rows.map((r) => r[0]), ['h-20', 'h-22', 'h-24', 'h-26', 'h-28']);
  });

  it('the ETag holds while nothing changes and moves with a heartbeat, a status change, new facts or another query', () => {
    const q = { offset: 0, limit: 500 };
    const e1 = fleet.etag(q);
    assert.equal(fleet.etag(q), e1);
    assert.notEqual(fleet.etag({ ...q, target: 'role=web' }), e1);
    hosts.touch('h-01', T0 + 5000);
    const e2 = fleet.etag(q);
    assert.notEqual(e2, e1);
    hosts.setStatus('h-02', 'offline', T0 + 6000);
    const e3 = fleet.etag(q);
    assert.notEqual(e3, e2);
    facts.store('h-04', { gatheredMs: T0 + 7000, facts: { os: 'alpine' } }, T0 + 7000);
    assert.notEqual(fleet.etag(q), e3);
  });
});

describe('facts store', () => {
  const db = openDatabase(join(dir.path, 'facts'));
  after(() => db.close());
  const facts = new FactsStore(db, log);

  it('keeps scalar facts for targets, lists as lists, and never lets an older gathering replace a newer', () => {
    const heard: string[] = [];
    facts.onStored((h) => heard.push(h));
    facts.onEvents([ev('f-1', 'facts', T0, { gatheredMs: T0, tookMs: 12, facts: { os: 'debian', cpu_cores: 4, nested: { x: 1 }, bad: null }, disks: [{ device: '/dev/vda' }], filesystems: 'nope', interfaces: [], errors: { disks: 'timed out' } })]);
    const f = facts.get('f-1')!;
    assert.deepEqual(f.facts, { os: 'debian', cpu_cores: 4 });
    assert.equal(f.disks.length, 1);
    assert.deepEqual(f.filesystems, []);
    assert.deepEqual(f.errors, { disks: 'timed out' });
    assert.equal(f.gatheredAt, new Date(T0).toISOString());
    assert.equal(facts.store('f-1', { gatheredMs: T0 - 1, facts: { os: 'old' } }, T0 + 10), false);
    assert.equal(facts.get('f-1')!.facts.os, 'debian');
    assert.equal(facts.store('f-1', { gatheredMs: T0 + 1, facts: { os: 'new' } }, T0 + 10), true);
    assert.equal(facts.get('f-1')!.facts.os, 'new');
    assert.deepEqual(heard, ['f-1', 'f-1']);
  });

  it('a malformed facts event is counted, not thrown', () => {
    facts.onEvents([{ id: 'f-2:i:1', hostId: 'f-2', instanceId: 'i', seq: 1, tsMs: T0, kind: 'facts', json: '{not json' }]);
    assert.equal(facts.stats.malformed, 1);
    assert.equal(facts.get('f-2'), undefined);
  });

  it('docs/facts.md documents every fact key', () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'facts.md'), 'utf8');
    const missing = Object.keys(FACT_KEYS).filter((k) => !doc.includes(`| \`${k}\` |`));
    assert.deepEqual(missing, []);
  });
});

describe('metric history tiers: bounded rows, chart series per range', () => {
  const db = openDatabase(join(dir.path, 'metrics'));
  after(() => db.close());
  const checks = new ChecksStore(db, log);
  const events = new EventsStore(db, 7 * 86_400_000);
  const reader = new MetricSeriesReader(db);
  const DAY = 86_400_000;
  const now = T0 + 40 * DAY;
  const sample = (cpu: number) => ({ cpu: { percent: cpu }, mem: { used_percent: 50 }, load: [1], disks: [{ used_percent: 70 }, { used_percent: 20 }], net: [{ iface: 'lo', rx_bps: 9e9, tx_bps: 9e9 }, { iface: 'eth0', rx_bps: 100, tx_bps: 50 }] });

  it('keeps at most a day of 1-minute and 30 days of 10-minute buckets per host however long samples come', () => {
    // 40 days of one sample every 5 minutes, in delivery-sized batches.
    const batch: Event[] = [];
    for (let t = T0; t < now; t += 300_000) {
      batch.push(ev('m-1', 'metric', t, sample(((t - T0) / 300_000) % 100)));
      if (batch.length === 500) checks.onEvents(batch.splice(0));
    }
    checks.onEvents(batch.splice(0));
    const count = (table: string) => (db.prepare(`SELECT count(*) AS n FROM ${table} WHERE host_id = 'm-1'`).get() as { n: number }).n;
    assert.equal(count('metric_history'), 40 * 288);
    assert.ok(checks.pruneHistory(now) > 0);
    const perMinute = count('metric_history');
    const perTen = count('metric_history_10m');
    assert.ok(perMinute <= DEFAULT_HISTORY_TIERS.minuteMs / 300_000 + 1, `1-minute rows ${perMinute}`);
    assert.ok(perTen <= DEFAULT_HISTORY_TIERS.tenMinuteMs / 600_000 + 1, `10-minute rows ${perTen}`);
    assert.ok(perTen >= 30 * 144 - 1, `10-minute rows ${perTen}`);
  });

  it('serves 24h from the 1-minute tier and 7d/30d from the 10-minute tier, as columns', () => {
    const day = reader.read('m-1', '24h', now);
    assert.equal(day.resolution, '1m');
    assert.equal(day.ts.length, 288);
    assert.ok(day.ts.every((t) => t >= now - DAY));
    assert.equal(day.disk[0], 70);
    assert.equal(day.rxBps[0], 100, 'loopback is not network traffic');
    const week = reader.read('m-1', '7d', now);
    assert.equal(week.resolution, '10m');
    assert.equal(week.stepMs, 600_000);
    assert.ok(Math.abs(week.ts.length - 7 * 144) <= 1, String(week.ts.length));
    // Each 10-minute bucket holds two 5-minute samples: cpu k and k+1 → average k + 0.5, max k + 1.
    const i = week.ts.findIndex((t) => ((t - T0) / 300_000) % 100 === 10);
    assert.equal(week.cpu[i], 10.5);
    assert.equal(week.cpuMax[i], 11);
    const month = reader.read('m-1', '30d', now);
    assert.ok(month.ts.length >= 30 * 144 - 1 && month.ts.length <= 30 * 144 + 1, String(month.ts.length));
    assert.equal(month.ts.length, month.cpu.length);
    assert.equal(month.ts.length, month.txBps.length);
  });

  it('serves 1h from raw samples in the events table, falling back to 1-minute buckets', () => {
    for (let k = 0; k < 6; k++) {
      const t = now - 600_000 + k * 10_000;
      events.insert({ id: `m-1:r:${k}`, host_id: 'm-1', kind: 'metric', instance_id: 'r', seq: k, ts_ms: t, received_ms: t, payload: storedJsonPayload(JSON.stringify(sample(k))) });
    }
    const hour = reader.read('m-1', '1h', now);
    assert.equal(hour.resolution, 'raw');
    assert.equal(hour.stepMs, 10_000);
    assert.deepEqual(hour.cpu, [0, 1, 2, 3, 4, 5]);
    const other = reader.read('m-none', '1h', now);
    assert.equal(other.resolution, '1m');
    assert.deepEqual(other.ts, []);
  });
});

describe('host history: check transitions, log levels, timeline', () => {
  const db = openDatabase(join(dir.path, 'history'));
  after(() => db.close());
  const events = new EventsStore(db, 7 * 86_400_000);
  const history = new HostHistory(db);
  const put = (kind: string, t: number, body: unknown) => {
    const e = ev('c-1', kind, t, body);
    events.insert({ id: e.id, host_id: 'c-1', kind, instance_id: 'i', seq: e.seq, ts_ms: t, received_ms: t, payload: storedJsonPayload(e.json!) });
  };
  put('check', T0, { check: 'web', event: 'transition', state: 'up' });
  put('check', T0 + 1000, { check: 'web', event: 'result', state: 'up', status: 'ok' });
  put('check', T0 + 2000, { check: 'web', event: 'transition', state: 'down', detail: 'ECONNREFUSED' });
  put('check', T0 + 3000, { check: 'web', event: 'restart', state: 'down', phase: 'attempt' });
  put('check', T0 + 4000, { check: 'db', event: 'transition', state: 'up' });
  put('check', T0 + 5000, { check: 'web', event: 'transition', state: 'up' });
  put('metric', T0 + 5500, { cpu: { percent: 1 } });

  it('lists transitions and restarts newest first, each transition with the state it left', () => {
    const h = history.checkHistory('c-1', { sinceMs: T0 - 1, limit: 100 });
    assert.deepEqual(h.map((e) => [e.check, e.event, e.from ?? '-', e.state]), [
      ['web', 'transition', 'down', 'up'],
      ['db', 'transition', '-', 'up'],
      ['web', 'restart', '-', 'down'],
      ['web', 'transition', 'up', 'down'],
      ['web', 'transition', '-', 'up'],
    ]);
    assert.equal(h[3]!.detail, 'ECONNREFUSED');
    assert.equal(h[2]!.phase, 'attempt');
    assert.deepEqual(history.checkHistory('c-1', { sinceMs: T0 - 1, check: 'db', limit: 100 }).map((e) => e.check), ['db']);
    assert.equal(history.checkHistory('c-1', { sinceMs: T0 - 1, limit: 2 }).length, 2);
  });

  it('sums log levels per minute over sources into columns', () => {
    const ins = db.prepare('INSERT INTO log_stats (host_id, instance_id, source, flush, minute_ms, info, error, lines) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    ins.run('c-1', 'i', 'app', 1, T0, 5, 1, 6);
    ins.run('c-1', 'i', 'nginx', 1, T0, 2, 0, 2);
    ins.run('c-1', 'i', 'app', 2, T0 + 60_000, 1, 3, 4);
    const s = history.logLevels('c-1', '1h', T0 - 1);
    assert.deepEqual(s.ts, [T0, T0 + 60_000]);
    assert.deepEqual(s.levels.info, [7, 1]);
    assert.deepEqual(s.levels.error, [1, 3]);
    assert.deepEqual(s.levels.warn, [0, 0]);
  });

  it('the timeline leaves out metric samples and says what happened', () => {
    const t = history.timeline('c-1', 3);
    assert.deepEqual(t.map((e) => e.kind), ['check', 'check', 'check']);
    assert.equal(t[0]!.summary, 'web transition up');
    assert.ok(!history.timeline('c-1', 100).some((e) => e.kind === 'metric'));
  });
});
