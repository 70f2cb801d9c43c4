/**
 * Alerting benchmark (issue 3). In one run:
 *   (a) alert events through dedupe + grouping: AlertManager.onEvents in batches of 256 (ingest's
 *       default batch), N events for 500 distinct alerts on 50 hosts, real SQLite, a catch-all
 *       route with a long group_wait so only dedupe, state and grouping are timed;
 *   (b) ingest-to-notification latency with group_wait 0s, in process: from onEvents() of a new
 *       alert until a local webhook server has the notification;
 *   (c) the same end to end: an alert event published to JetStream on a private nats-server →
 *       the controller's real Ingest (durable consumer, SQLite transaction) → AlertManager →
 *       webhook receiver → local HTTP server.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AlertManager } from '../controller/alerts/alert-manager.js';
import { AuditLog } from '../controller/audit/audit-log.js';
import { Ingest } from '../controller/ingest/ingest.js';
import { openDatabase } from '../controller/store/db.js';
import { EventsStore } from '../controller/store/events-store.js';
import { HostsStore } from '../controller/store/hosts-store.js';
import { alertingSchema } from '../shared/config/alerting.js';
import { parseConfigText } from '../shared/config/load.js';
import { EventBatch } from '../shared/events/codec.js';
import { Alert_State, type Event } from '../shared/gen/opsfleet/v1/events.js';
import { createRootLogger } from '../shared/logger.js';
import { connectNats } from '../shared/nats/connect.js';
import { ensureEventStream } from '../shared/nats/stream.js';
import { eventSubject } from '../shared/nats/subjects.js';
import { NatsServer } from '../test/helpers/nats-server.js';
import { tempDir } from '../test/helpers/tmp.js';
import { registerAlertRoutes } from '../controller/api/alert-routes.js';
import { HttpServer } from '../controller/api/http-server.js';
import { DingtalkReceiver } from '../controller/notify/dingtalk.js';
import { WebhookReceiver } from '../controller/notify/webhook.js';
import type { Bench, BenchRow } from './types.js';

const logger = createRootLogger({ name: 'bench', level: 'warn', destination: 2 });

let seq = 0;
function alertEvent(hostId: string, labels: Record<string, string>): Event {
  seq++;
  const now = Date.now();
  return {
    id: `${hostId}:bench:${seq}`,
    hostId,
    instanceId: 'bench',
    seq,
    tsMs: now,
    kind: 'alert',
    alert: { state: Alert_State.STATE_FIRING, labels, annotations: { summary: `${labels.alertname} on ${hostId}` }, startsAtMs: now, endsAtMs: 0, resolveTimeoutS: 0 },
  };
}

/** A webhook endpoint calling `onAlert(alertname)` for every alert in every body it receives. */
async function sink(onAlert: (name: string) => void): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200).end('{}');
      const b = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { groups: Array<{ alerts: Array<{ labels: Record<string, string> }> }> };
      for (const g of b.groups) for (const a of g.alerts) onAlert(a.labels.alertname!);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server };
}

function manager(dir: string, yaml: string): AlertManager {
  const cfg = parseConfigText(yaml, 'bench.yaml', alertingSchema, {});
  return new AlertManager({ db: openDatabase(dir), cfg, logger });
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** (a) Dedupe + grouping throughput. */
async function throughput(dir: string, total: number): Promise<BenchRow> {
  const am = manager(join(dir, 'a'), ['group_wait: 1h', 'receivers:', '  - { name: hook, type: webhook, url: "http://127.0.0.1:9/" }', 'routes:', '  - { receivers: [hook] }'].join('\n'));
  await am.start();
  const hosts = Array.from({ length: 50 }, (_, i) => `host-${i}`);
  const events: Event[] = [];
  for (let i = 0; i < total; i++) {
    const k = i % 500;
    events.push(alertEvent(hosts[k % 50]!, { alertname: `Alert${Math.floor(k / 50)}`, severity: 'warning', source: 'bench' }));
  }
  const t0 = performance.now();
  for (let i = 0; i < events.length; i += 256) am.onEvents(events.slice(i, i + 256));
  const ms = performance.now() - t0;
  if (am.stats.new !== 500 || am.stats.refreshed !== total - 500) throw new Error(`unexpected stats ${JSON.stringify(am.stats)}`);
  const groups = am.dispatcher.groupCount;
  await am.stop();
  return { name: '(a) alert events through dedupe + grouping (SQLite state)', rate: total / (ms / 1000), unit: 'event', count: total, seconds: ms / 1000, note: `500 alerts, 50 hosts, ${groups} groups, batches of 256` };
}

/** (b) In-process ingest-to-notification latency, group_wait 0s. */
async function latencyInProcess(dir: string, n: number): Promise<{ row: BenchRow; p50: number; p99: number }> {
  const pending = new Map<string, { t0: number; resolve: (ms: number) => void }>();
  const s = await sink((name) => {
    const p = pending.get(name);
    if (p) p.resolve(performance.now() - p.t0);
  });
  const am = manager(join(dir, 'b'), ['group_wait: 0s', 'group_interval: 1h', 'receivers:', `  - { name: hook, type: webhook, url: "${s.url}", rate_limit: { count: 10000, per: 1s } }`, 'routes:', '  - { receivers: [hook] }'].join('\n'));
  await am.start();
  const lat: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const name = `Lat${i}`;
    const done = new Promise<number>((resolve) => pending.set(name, { t0: performance.now(), resolve }));
    am.onEvents([alertEvent('host-1', { alertname: name })]);
    lat.push(await done);
  }
  const ms = performance.now() - t0;
  await am.stop();
  s.server.close();
  lat.sort((a, b) => a - b);
  const p50 = pct(lat, 50);
  const p99 = pct(lat, 99);
  return { row: { name: '(b) onEvents → webhook received, group_wait 0s (in process)', rate: n / (ms / 1000), unit: 'alert', count: n, seconds: ms / 1000, note: `p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, one at a time` }, p50, p99 };
}

/** (c) JetStream publish → Ingest → AlertManager → webhook, group_wait 0s. */
async function latencyEndToEnd(dir: string, n: number): Promise<{ row: BenchRow; p50: number; p99: number }> {
  const nats = await NatsServer.start({ operator: false }); // plain NATS: comparable with the figures recorded before per-host JWT auth (its cost: bench/nats-auth)
  const pending = new Map<string, { t0: number; resolve: (ms: number) => void }>();
  const s = await sink((name) => {
    const p = pending.get(name);
    if (p) p.resolve(performance.now() - p.t0);
  });
  const db = openDatabase(join(dir, 'c'));
  const cfg = parseConfigText(['group_wait: 0s', 'group_interval: 1h', 'receivers:', `  - { name: hook, type: webhook, url: "${s.url}", rate_limit: { count: 10000, per: 1s } }`, 'routes:', '  - { receivers: [hook] }'].join('\n'), 'bench.yaml', alertingSchema, {});
  const am = new AlertManager({ db, cfg, logger });
  await am.start();
  const nc = await connectNats({ servers: [nats.url], connect_timeout: 5000 }, { name: 'bench-alerts', logger });
  const jsm = await ensureEventStream(nc, { name: 'OPSFLEET_EVENTS', maxAgeMs: 3_600_000, maxBytes: 1e9, duplicateWindowMs: 60_000, replicas: 1 });
  const ingest = new Ingest({ nc, jsm, db, hosts: new HostsStore(db), events: new EventsStore(db), stream: 'OPSFLEET_EVENTS', durable: 'bench', maxBatch: 256, logger, onEvents: am.onEvents });
  await ingest.start();
  const lat: number[] = [];
  const t0 = performance.now();
  try {
    for (let i = 0; i < n; i++) {
      const name = `E2E${i}`;
      const done = new Promise<number>((resolve) => pending.set(name, { t0: performance.now(), resolve }));
      nc.publish(eventSubject('alert', 'host-1'), EventBatch.encode({ events: [alertEvent('host-1', { alertname: name })] }).finish());
      lat.push(await done);
    }
  } finally {
    await ingest.stop();
    await am.stop();
    await nc.drain();
    db.close();
    s.server.close();
    await nats.dispose();
  }
  const ms = performance.now() - t0;
  lat.sort((a, b) => a - b);
  const p50 = pct(lat, 50);
  const p99 = pct(lat, 99);
  return { row: { name: '(c) NATS publish → Ingest → alerting → webhook, group_wait 0s', rate: n / (ms / 1000), unit: 'alert', count: n, seconds: ms / 1000, note: `p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, one at a time` }, p50, p99 };
}

/** (d) POST /api/v2/alerts (Prometheus' Alertmanager API) → dedupe + grouping, batches of 1,000 over HTTP. */
async function intakeThroughput(dir: string, total: number): Promise<BenchRow> {
  const am = manager(join(dir, 'd'), ['group_wait: 1h', 'resolve_timeout: 1h', 'receivers:', '  - { name: hook, type: webhook, url: "http://127.0.0.1:9/" }', 'routes:', '  - { receivers: [hook] }'].join('\n'));
  await am.start();
  const http = new HttpServer(logger, { guard: { policy: () => ({}), check: () => ({ name: 'bench', role: 'admin' }) } } as never);
  registerAlertRoutes(http, am, new AuditLog(openDatabase(join(dir, 'audit'))));
  const addr = await http.listen('127.0.0.1', 0);
  const url = `http://127.0.0.1:${addr.port}/api/v2/alerts`;
  // 10,000 distinct alerts (as Prometheus re-sends its firing set every evaluation): new, then refreshed.
  const ends = new Date(Date.now() + 3_600_000).toISOString();
  const batches: string[] = [];
  for (let i = 0; i < total; i += 1000) {
    batches.push(JSON.stringify(Array.from({ length: 1000 }, (_, j) => {
      const k = (i + j) % 10_000;
      return { labels: { alertname: `Prom${k % 100}`, instance: `node-${Math.floor(k / 100)}:9100`, job: 'node', severity: 'warning' }, annotations: { summary: 'bench' }, startsAt: new Date().toISOString(), endsAt: ends };
    })));
  }
  const t0 = performance.now();
  for (const b of batches) {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: b });
    if (res.status !== 200) throw new Error(`intake answered ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
  }
  const ms = performance.now() - t0;
  const groups = am.dispatcher.groupCount;
  await http.close();
  await am.stop();
  return { name: '(d) POST /api/v2/alerts → dedupe + grouping (HTTP, JSON, SQLite)', rate: total / (ms / 1000), unit: 'alert', count: total, seconds: ms / 1000, note: `10,000 distinct alerts re-sent, ${groups} groups, batches of 1,000` };
}

/** (e) POST /api/v2/alerts → webhook received, group_wait 0s, one alert at a time. */
async function intakeLatency(dir: string, n: number): Promise<{ row: BenchRow; p50: number; p99: number }> {
  const pending = new Map<string, { t0: number; resolve: (ms: number) => void }>();
  const s = await sink((name) => {
    const p = pending.get(name);
    if (p) p.resolve(performance.now() - p.t0);
  });
  const am = manager(join(dir, 'e'), ['group_wait: 0s', 'group_interval: 1h', 'receivers:', `  - { name: hook, type: webhook, url: "${s.url}", rate_limit: { count: 10000, per: 1s } }`, 'routes:', '  - { receivers: [hook] }'].join('\n'));
  await am.start();
  const http = new HttpServer(logger, { guard: { policy: () => ({}), check: () => ({ name: 'bench', role: 'admin' }) } } as never);
  registerAlertRoutes(http, am, new AuditLog(openDatabase(join(dir, 'audit'))));
  const addr = await http.listen('127.0.0.1', 0);
  const url = `http://127.0.0.1:${addr.port}/api/v2/alerts`;
  const lat: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const name = `Intake${i}`;
    const done = new Promise<number>((resolve) => pending.set(name, { t0: performance.now(), resolve }));
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ labels: { alertname: name, instance: 'x' } }]) });
    await res.arrayBuffer();
    lat.push(await done);
  }
  const ms = performance.now() - t0;
  await http.close();
  await am.stop();
  s.server.close();
  lat.sort((a, b) => a - b);
  const p50 = pct(lat, 50);
  const p99 = pct(lat, 99);
  return { row: { name: '(e) POST /api/v2/alerts → webhook received, group_wait 0s', rate: n / (ms / 1000), unit: 'alert', count: n, seconds: ms / 1000, note: `p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, one at a time` }, p50, p99 };
}

/** (f) The 10,000-alert digest cut to 1,000,000 bytes (issue 20 item 1), and the same message rendered for a robot. */
function digestCut(): { rows: BenchRow[]; bytes: number } {
  const alerts = Array.from({ length: 10_000 }, (_, i) => ({ fingerprint: i.toString(16).padStart(16, '0'), status: 'firing' as const, labels: { alertname: `Burst${i}`, host: `web-${i % 100}`, severity: 'warning' }, annotations: { summary: `burst alert number ${i} with some text to make it realistic` }, startsAt: new Date().toISOString(), endsAt: null, count: 1 }));
  const msg = { kind: 'digest' as const, merged: 10_000, groups: alerts.map((a) => ({ groupKey: `route0:${a.labels.alertname}`, groupLabels: { alertname: a.labels.alertname }, status: 'firing' as const, firing: [a], resolved: [] })) };
  const hook = new WebhookReceiver({ name: 'h', type: 'webhook', url: 'http://127.0.0.1:9/', headers: {}, rate_limit: { count: 60, per: 60_000 }, max_bytes: 1_000_000, timeout: 1000, send_resolved: true, language: 'both' });
  let t0 = performance.now();
  const body = hook.body(msg);
  const hookMs = performance.now() - t0;
  const bytes = Buffer.byteLength(JSON.stringify(body));
  const ding = new DingtalkReceiver({ name: 'd', type: 'dingtalk', webhook: 'http://127.0.0.1:9/', at_mobiles: [], at_all: false, rate_limit: { count: 18, per: 60_000 }, max_bytes: 20_000, ban_pause: 600_000, timeout: 1000, send_resolved: true, language: 'both' });
  t0 = performance.now();
  ding.body(msg);
  const dingMs = performance.now() - t0;
  return {
    bytes,
    rows: [
      { name: '(f) webhook body of a 10,000-alert digest cut to max_bytes 1,000,000', rate: 10_000 / (hookMs / 1000), unit: 'alert', count: 10_000, seconds: hookMs / 1000, note: `${bytes} bytes, ${body.truncatedAlerts} alerts left out, ${body.groups.length} groups kept (the old loop: ~5 minutes, 1.42 MB)` },
      { name: '(f) DingTalk markdown of the same digest cut to 20,000 bytes', rate: 10_000 / (dingMs / 1000), unit: 'alert', count: 10_000, seconds: dingMs / 1000, note: 'grapheme-safe cut, left-out alerts named' },
    ],
  };
}

const bench: Bench = {
  name: 'alerting: dedupe/grouping throughput and ingest-to-notification latency',
  async run({ quick }) {
    const dir = tempDir('opsfleet-bench-alerts-');
    try {
      const a = await throughput(dir.path, quick ? 20_000 : 200_000);
      const b = await latencyInProcess(dir.path, quick ? 50 : 300);
      const c = await latencyEndToEnd(dir.path, quick ? 50 : 300);
      const d = await intakeThroughput(dir.path, quick ? 20_000 : 100_000);
      const e = await intakeLatency(dir.path, quick ? 100 : 500);
      const f = digestCut();
      return {
        title: 'Alerting: intake, dedupe/grouping, notification latency, digest cuts (issues 3, 17, 20)',
        rows: [a, b.row, c.row, d, e.row, ...f.rows],
        notes: [
          `intake (goal ≥ 10,000 alerts/s through dedupe and grouping): ${Math.round(d.rate).toLocaleString('en-US')} alerts/s over HTTP in batches of 1,000; baseline in the same run, agent events in process (a): ${Math.round(a.rate).toLocaleString('en-US')}/s`,
          `intake → notification with group_wait 0 (goal p99 < 100 ms): p50 ${e.p50.toFixed(1)} ms / p99 ${e.p99.toFixed(1)} ms; baseline in the same run, agent event in process (b): p99 ${b.p99.toFixed(1)} ms`,
          `10,000-alert digest: webhook body ${f.bytes} bytes (≤ 1,000,000) in ${(f.rows[0]!.seconds * 1000).toFixed(0)} ms; DingTalk text in ${(f.rows[1]!.seconds * 1000).toFixed(0)} ms`,
          `dedupe + grouping: ${Math.round(a.rate).toLocaleString('en-US')} alert events/s (each event: validate, fingerprint, one SQLite read + upsert in the batch's transaction, group lookup)`,
          `ingest-to-notification with group_wait 0s: in process p50 ${b.p50.toFixed(1)} ms / p99 ${b.p99.toFixed(1)} ms; through NATS + Ingest p50 ${c.p50.toFixed(1)} ms / p99 ${c.p99.toFixed(1)} ms`,
        ],
      };
    } finally {
      dir.cleanup();
    }
  },
};
export default bench;
