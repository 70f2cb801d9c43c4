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
  const nats = await NatsServer.start();
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

const bench: Bench = {
  name: 'alerting: dedupe/grouping throughput and ingest-to-notification latency',
  async run({ quick }) {
    const dir = tempDir('opsfleet-bench-alerts-');
    try {
      const a = await throughput(dir.path, quick ? 20_000 : 200_000);
      const b = await latencyInProcess(dir.path, quick ? 50 : 300);
      const c = await latencyEndToEnd(dir.path, quick ? 50 : 300);
      return {
        title: 'Alerting (issue 3)',
        rows: [a, b.row, c.row],
        notes: [
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
