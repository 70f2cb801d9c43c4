/**
 * Event ingest benchmark (issue 2). In one run, on a private nats-server:
 *   (a) raw JetStream publish: one small message per publish, each awaiting its ack, 1,024 in flight;
 *   (b) raw better-sqlite3: the controller's real events table (openDatabase + EventsStore.insert)
 *       in 1,000-row transactions;
 *   (c) end to end: the agent's OutboxStore + OutboxPublisher (in a worker thread, default outbox
 *       settings) → JetStream → the controller's real Ingest (HostsStore/EventsStore) → SQLite,
 *       timed from the first append until the last event is committed;
 *   (d) controller ingest alone: a second durable consumer re-reading what (c) left in the
 *       stream into a fresh database, to split (c)'s time between the two sides.
 */
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Ingest } from '../controller/ingest/ingest.js';
import { openDatabase } from '../controller/store/db.js';
import { EventsStore } from '../controller/store/events-store.js';
import { HostsStore } from '../controller/store/hosts-store.js';
import { controllerConfigSchema } from '../shared/config/controller.js';
import { Event } from '../shared/gen/opsfleet/v1/events.js';
import { createRootLogger } from '../shared/logger.js';
import { connectNats } from '../shared/nats/connect.js';
import { ensureEventStream } from '../shared/nats/stream.js';
import { NatsServer } from '../test/helpers/nats-server.js';
import { tempDir } from '../test/helpers/tmp.js';
import type { Bench, BenchRow } from './types.js';

const GOAL = 50_000;
const pct = (x: number) => `${Math.round(x * 100)} %`;
const logger = createRootLogger({ name: 'bench', level: 'warn', destination: 2 });

function row(name: string, count: number, ms: number, unit: string, note?: string): BenchRow {
  return { name, rate: count / (ms / 1000), unit, count, seconds: ms / 1000, ...(note ? { note } : {}) };
}

/** (a) One message per publish with its ack, a sliding window of `window` publishes in flight. */
async function rawPublish(natsUrl: string, total: number, window: number): Promise<BenchRow> {
  const nc = await connectNats({ servers: [natsUrl], connect_timeout: 5000 }, { name: 'bench-raw', logger });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'BENCH_RAW', subjects: ['bench.raw.>'] });
  const js = jetstream(nc);
  // The size of one typical encoded event, so the message matches what (c) carries per event.
  const payload = Event.encode({ id: 'web-01:abcdef:123456', hostId: 'web-01', instanceId: 'abcdef', seq: 123456, tsMs: Date.now(), kind: 'metric', json: '{"name":"cpu.usage","value":42.5,"labels":{"core":"0"}}' }).finish();
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    let launched = 0;
    let acked = 0;
    let inFlight = 0;
    const launch = () => {
      while (inFlight < window && launched < total) {
        launched++;
        inFlight++;
        js.publish('bench.raw.x', payload).then(() => {
          inFlight--;
          acked++;
          if (acked === total) resolve();
          else launch();
        }, reject);
      }
    };
    launch();
  });
  const ms = performance.now() - t0;
  await jsm.streams.delete('BENCH_RAW');
  await nc.drain();
  return row('(a) JetStream publish alone, 1 msg per publish + ack', total, ms, 'msg', `${window} in flight, ${payload.length} B messages`);
}

/** (b) The controller's events table, EventsStore.insert, 1,000 rows per transaction. */
function rawSqlite(dir: string, total: number, perTx: number): BenchRow {
  const db = openDatabase(join(dir, 'sqlite-alone'));
  const events = new EventsStore(db);
  const now = Date.now();
  const t0 = performance.now();
  const tx = db.transaction((from: number) => {
    for (let i = from; i < from + perTx; i++) {
      events.insert({ id: `web-01:abcdef:${i}`, host_id: 'web-01', kind: 'metric', instance_id: 'abcdef', seq: i, ts_ms: now, received_ms: now, payload: `{"json":"{\\"name\\":\\"cpu.usage\\",\\"value\\":${i % 100}}"}` });
    }
  });
  for (let from = 1; from <= total; from += perTx) tx(from);
  const ms = performance.now() - t0;
  db.close();
  return row('(b) better-sqlite3 insert alone, events table', total, ms, 'row', `${perTx}-row transactions, WAL, synchronous=NORMAL`);
}

interface ControllerSide {
  ingest: Ingest;
  stop(): Promise<void>;
}

async function startIngest(natsUrl: string, dataDir: string, durable: string, onEvents: (n: number) => void): Promise<ControllerSide> {
  const cfg = controllerConfigSchema.parse({ nats: { servers: [natsUrl] }, data_dir: dataDir, stream: { consumer: durable } });
  const db = openDatabase(cfg.data_dir);
  const nc = await connectNats(cfg.nats, { name: `bench-${durable}`, logger });
  const jsm = await ensureEventStream(nc, { name: cfg.stream.name, maxAgeMs: cfg.stream.max_age, maxBytes: cfg.stream.max_bytes, duplicateWindowMs: cfg.stream.duplicate_window, replicas: cfg.stream.replicas });
  const ingest = new Ingest({
    nc,
    jsm,
    db,
    hosts: new HostsStore(db),
    events: new EventsStore(db),
    stream: cfg.stream.name,
    durable: cfg.stream.consumer,
    maxBatch: cfg.ingest.max_batch,
    logger,
    onEvents: (evs) => onEvents(evs.length),
  });
  await ingest.start();
  return {
    ingest,
    stop: async () => {
      await ingest.stop();
      await nc.drain();
      db.close();
    },
  };
}

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** (c) agent outbox → JetStream → Ingest → SQLite, plus (d) ingest alone over the same stream. */
async function endToEnd(natsUrl: string, natsPid: number, dir: string, total: number): Promise<{ rows: BenchRow[]; notes: string[] }> {
  let stored = 0;
  let doneAt = 0;
  let resolveStored!: () => void;
  const allStored = new Promise<void>((r) => (resolveStored = r));
  const ctl = await startIngest(natsUrl, join(dir, 'controller-e2e'), 'opsfleet-controller', (n) => {
    stored += n;
    if (stored >= total && doneAt === 0) {
      doneAt = performance.now();
      resolveStored();
    }
  });

  const worker = new Worker(new URL('./worker-boot.mjs', import.meta.url), {
    workerData: { __entry: new URL('./ingest-agent.worker.ts', import.meta.url).href, natsUrl, stateDir: join(dir, 'agent-state'), hostId: 'bench-01', total, chunk: 1000 },
  });
  const marks: Record<string, { ms: number; [k: string]: unknown }> = {};
  let settings: { batchMaxEvents: number; maxInFlight: number } | undefined;
  let ready!: () => void;
  const workerReady = new Promise<void>((r) => (ready = r));
  const workerDone = new Promise<void>((resolve, reject) => {
    worker.on('message', (m: { type: string; ms: number; message?: string; settings?: typeof settings }) => {
      if (m.type === 'error') reject(new Error(`agent worker: ${m.message}`));
      else if (m.type === 'ready') {
        settings = m.settings;
        ready();
      } else if (m.type === 'done') resolve();
      else marks[m.type] = m;
    });
    worker.once('error', reject);
  });
  // A worker failure must end the wait for readiness and for the stored events too.
  workerDone.catch(() => {
    ready();
    resolveStored();
  });
  await workerReady;
  const t0 = performance.now();
  const elu0 = performance.eventLoopUtilization();
  const natsCpu0 = cpuSeconds(natsPid);
  worker.postMessage({ type: 'go' });
  const timeout = setTimeout(() => resolveStored(), 600_000);
  await allStored;
  clearTimeout(timeout);
  await workerDone.finally(() => void worker.terminate());
  if (stored < total) throw new Error(`end to end: only ${stored} of ${total} events stored`);
  const e2eMs = doneAt - t0;
  const controllerElu = performance.eventLoopUtilization(elu0).utilization;
  const natsCpu = cpuSeconds(natsPid) - natsCpu0;
  const ingestStats = { ...ctl.ingest.stats };
  await ctl.stop();

  // (d) A fresh durable consumer and database re-read the same stream: the controller alone.
  let stored2 = 0;
  let t1 = 0;
  let done2 = 0;
  let resolve2!: () => void;
  const all2 = new Promise<void>((r) => (resolve2 = r));
  t1 = performance.now();
  const ctl2 = await startIngest(natsUrl, join(dir, 'controller-alone'), 'bench-ingest-alone', (n) => {
    stored2 += n;
    if (stored2 >= total && done2 === 0) {
      done2 = performance.now();
      resolve2();
    }
  });
  await all2;
  await ctl2.stop();

  const appended = marks.appended!;
  const published = marks.published!;
  const rows = [
    row('(c) end to end: outbox → JetStream → Ingest → SQLite', total, e2eMs, 'event', `goal ≥ ${GOAL.toLocaleString('en-US')} events/s`),
    row('    agent: appendMany into the outbox (while publishing)', total, appended.ms, 'event', `1,000-event chunks; busy in appendMany ${(Number(appended.appendBusyMs) / 1000).toFixed(2)} s`),
    row('    agent: all batches published and acked', total, published.ms, 'event', `${settings?.batchMaxEvents ?? '?'} events/batch, ${settings?.maxInFlight ?? '?'} in flight`),
    row('(d) controller Ingest alone (stream → SQLite)', total, done2 - t1, 'event', 'fresh durable consumer + database over the same stream'),
  ];
  const notes = [
    `End to end ${Math.round(total / (e2eMs / 1000)).toLocaleString('en-US')} events/s: ${total / (e2eMs / 1000) >= GOAL ? 'meets' : 'BELOW'} the goal of ${GOAL.toLocaleString('en-US')} events/s.`,
    `Where the time goes in (c), ${(e2eMs / 1000).toFixed(2)} s: agent thread busy ${pct(Number(published.elu))} (of which appendMany ${(Number(appended.appendBusyMs) / 1000).toFixed(2)} s), controller Ingest thread busy ${pct(controllerElu)} (event-loop utilization), nats-server ${natsCpu.toFixed(2)} CPU s; 2 cores in all.`,
    `Ingest in (c): ${ingestStats.messages} JetStream messages in ${ingestStats.transactions} SQLite transactions (${(ingestStats.events / Math.max(1, ingestStats.transactions)).toFixed(0)} events per transaction), ${ingestStats.duplicates} duplicates, ${ingestStats.rejected} rejected.`,
  ];
  return { rows, notes };
}

const bench: Bench = {
  name: 'event ingest',
  async run({ quick }) {
    const total = quick ? 20_000 : 200_000;
    const nats = await NatsServer.start();
    const dir = tempDir('opsfleet-bench-');
    try {
      const a = await rawPublish(nats.url, quick ? 10_000 : 100_000, 1024);
      const b = rawSqlite(dir.path, total, 1000);
      // The test helper keeps its child private; the bench reads its PID only to sample CPU time.
      const natsPid = (nats as unknown as { child: { pid: number } }).child.pid;
      const c = await endToEnd(nats.url, natsPid, dir.path, total);
      return {
        title: 'event ingest',
        rows: [a, b, ...c.rows],
        notes: [
          ...c.notes,
          'Agent side in a worker thread (its own event loop, as the agent process has); controller Ingest and nats-server in their own threads/process. All on the same 2 cores, shared with other work on this machine.',
        ],
      };
    } finally {
      await nats.dispose();
      dir.cleanup();
    }
  },
};
export default bench;
