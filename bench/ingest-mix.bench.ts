/**
 * The controller's ingest under a fleet's traffic mix, in process, with the baseline in the same
 * run: a backlog of `--hosts` hosts × `--seconds` of traffic at the default cadences (heartbeat
 * with inventory every 10 s, a metric sample every 5 s, two check results and a log-stats flush
 * a minute — the fleet simulator's payloads) is published once to a real nats-server; then each
 * setting (`ingest.raw_samples` × `ingest.checkpoint` × whether ingest yields to the event loop
 * between transactions) drains the whole stream with its own
 * durable consumer into a fresh database, settings alternated over `--rounds` rounds.
 *
 *   npm run bench -- ingest-mix [--quick] [--hosts 10000] [--seconds 30] [--rounds 2]
 *     [--settings store/worker/yield,...] [--linger MS]
 *
 * OPSFLEET_MIX_DEBUG=1 prints the durable consumer's server-side state every 2 s of a drain
 * (ack pending, waiting pulls, pending): how the linger bug of issue 18 item 12 was found.
 *
 * Per drain: events/s (capacity: a fleet of 10,000 sends 3,500/s), the main thread's
 * event-loop utilization and its longest stalls (perf_hooks.monitorEventLoopDelay: what an API
 * request or the liveness timer would wait), process CPU per 1,000 messages and bytes written.
 * Only ChecksStore (metric and check state, the metric history) listens to onEvents here.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { ChecksStore } from '../controller/checks/checks-store.js';
import { Ingest } from '../controller/ingest/ingest.js';
import { openDatabase } from '../controller/store/db.js';
import { EventsStore } from '../controller/store/events-store.js';
import { HostsStore } from '../controller/store/hosts-store.js';
import { WalCheckpointer } from '../controller/store/wal-checkpointer.js';
import { encodeBatchFromEncoded, Event } from '../shared/events/codec.js';
import { ensureEventStream } from '../shared/nats/stream.js';
import { batchMsgId, eventId, eventSubject, type EventKind } from '../shared/nats/subjects.js';
import { NatsServer } from '../test/helpers/nats-server.js';
import { tempDir } from '../test/helpers/tmp.js';
import { simMetricSample } from './fleet-sim/virtual-agent.js';
import type { Bench, BenchRow } from './types.js';

const HOUR = 3_600_000;
const silent = pino({ level: 'silent' });

function argValue(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  return Number.isFinite(v) && v > 0 ? v : dflt;
}

/** The fleet simulator's payloads (bench/fleet-sim/virtual-agent.ts), one host's event at `ts`. */
function payload(kind: EventKind, host: string, i: number, ts: number): Pick<Event, 'heartbeat' | 'json'> {
  if (kind === 'hb') {
    return {
      heartbeat: {
        inventory: { hostId: host, hostname: host, os: 'linux', distro: 'Debian GNU/Linux 12 (bookworm)', kernel: '6.1.0-28-amd64', arch: 'x64', cpuModel: 'Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz', cpuCores: 8, memoryTotalBytes: 32 * 2 ** 30, ipAddresses: [`10.0.${(i >> 8) & 255}.${i & 255}`], tags: { group: 'main', rack: `r${i % 40}` }, agentVersion: '0.1.0', bootId: `boot-${host}`, uptimeS: 86_400 + ts / 1000, rpcEndpoint: `127.0.0.1:${20000 + i}`, rpcTls: false },
        agentUptimeS: ts / 1000,
        outboxDepth: 0,
        outboxEvicted: 0,
        intervalMs: 10_000,
      },
    };
  }
  if (kind === 'metric') {
    return {
      json: JSON.stringify(simMetricSample(5000)),
    };
  }
  if (kind === 'check') return { json: JSON.stringify({ check: i % 2 ? 'nginx' : 'disk-root', type: 'http', event: 'result', state: 'ok', status: 'ok', latency_ms: Math.round(Math.random() * 40), detail: '200 OK' }) };
  return { json: JSON.stringify({ type: 'stats', source: 'syslog', flush: 1, minute_ms: Math.floor(ts / 60_000) * 60_000, levels: { info: 300, warn: 6, error: 0 }, lines: 306, unparsed: 0, truncated: 0 }) };
}

/** Publishes `seconds` of a fleet's traffic (in agent-time order, random phases), 1,024 publishes in flight. */
async function publishBacklog(nats: NatsServer, hosts: number, seconds: number): Promise<{ messages: number; ms: number }> {
  const nc = await connect(nats.connectOptions());
  const js = jetstream(nc);
  const t0Agent = Date.now() - seconds * 1000;
  // Each host: hb every 10 s, metric every 5 s, 2 checks and 1 log flush every 60 s, random phases.
  const plan: Array<{ at: number; host: number; kind: EventKind }> = [];
  for (let h = 0; h < hosts; h++) {
    const phase = (every: number) => Math.floor(Math.random() * every);
    for (const [kind, every, n] of [['hb', 10_000, 1], ['metric', 5_000, 1], ['check', 60_000, 2], ['log', 60_000, 1]] as const) {
      for (let t = phase(every); t < seconds * 1000; t += every) for (let k = 0; k < n; k++) plan.push({ at: t, host: h, kind });
    }
  }
  plan.sort((a, b) => a.at - b.at);
  const seqs = new Uint32Array(hosts);
  const t0 = performance.now();
  let next = 0;
  let acked = 0;
  await new Promise<void>((resolve, reject) => {
    let inFlight = 0;
    const launch = () => {
      while (inFlight < 1024 && next < plan.length) {
        const p = plan[next++]!;
        const host = `sim-${String(p.host).padStart(5, '0')}`;
        const seq = ++seqs[p.host]!;
        const ts = t0Agent + p.at;
        const ev: Event = { id: eventId(host, 'mix', seq), hostId: host, instanceId: 'mix', seq, tsMs: ts, kind: p.kind, ...payload(p.kind, host, p.host, ts) };
        inFlight++;
        js.publish(eventSubject(p.kind, host), encodeBatchFromEncoded([Event.encode(ev).finish()]), { msgID: batchMsgId(host, 'mix', seq, seq) }).then(() => {
          inFlight--;
          if (++acked === plan.length) resolve();
          else launch();
        }, reject);
      }
    };
    launch();
  });
  await nc.close();
  return { messages: plan.length, ms: performance.now() - t0 };
}

interface Setting {
  rawSamples: 'store' | 'derived';
  checkpoint: 'worker' | 'inline';
  /** Ingest lets the event loop turn between transactions (IngestDeps.yieldBetweenBatches). */
  yieldLoop: boolean;
}

const label = (s: Setting) => `${s.rawSamples}/${s.checkpoint}/${s.yieldLoop ? 'yield' : 'no-yield'}`;

interface Drain {
  setting: Setting;
  messages: number;
  ms: number;
  elu: number;
  loopP99Ms: number;
  loopMaxMs: number;
  cpuMsPer1k: number;
  dbMb: number;
  rows: number;
  checkpoints: string;
}

/** One setting drains the whole stream with its own durable consumer into a fresh database. */
async function drain(nats: NatsServer, dir: string, name: string, s: Setting, total: number): Promise<Drain> {
  const nc = await connect(nats.connectOptions());
  const jsm = await ensureEventStream(nc, { name: 'EV', maxAgeMs: HOUR, maxBytes: -1, duplicateWindowMs: 600_000, replicas: 1 });
  const dataDir = join(dir, name);
  const db = openDatabase(dataDir);
  const cp = s.checkpoint === 'worker' ? new WalCheckpointer({ file: join(dataDir, 'controller.db'), db, logger: silent }) : undefined;
  await cp?.start();
  const checks = new ChecksStore(db, silent);
  const ingest = new Ingest({ nc, jsm, db, hosts: new HostsStore(db), events: new EventsStore(db, 7 * 86_400_000), stream: 'EV', durable: name, maxBatch: 256, logger: silent, retention: { eventsMs: 7 * 86_400_000, samplesMs: HOUR }, rawSamples: s.rawSamples, yieldBetweenBatches: s.yieldLoop, ...(process.argv.includes('--linger') ? { lingerMs: argValue('--linger', 0) } : {}), onEvents: checks.onEvents });
  const h = monitorEventLoopDelay({ resolution: 10 });
  const cpu0 = process.cpuUsage();
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  h.enable();
  await ingest.start();
  let nextInfo = Date.now() + 2000;
  while (ingest.stats.messages < total) {
    await new Promise((r) => setTimeout(r, 20));
    if (process.env.OPSFLEET_MIX_DEBUG && Date.now() > nextInfo) {
      nextInfo = Date.now() + 2000;
      const ci = await jsm.consumers.info('EV', name);
      process.stdout.write(`  ${name}: stored ${ingest.stats.messages} tx ${ingest.stats.transactions} | server: ack_pending ${ci.num_ack_pending} waiting ${ci.num_waiting} pending ${ci.num_pending} delivered ${ci.delivered.stream_seq} redelivered ${ci.num_redelivered}\n`);
    }
  }
  const ms = performance.now() - t0;
  h.disable();
  const elu = performance.eventLoopUtilization(elu0).utilization;
  const cpu = process.cpuUsage(cpu0);
  await ingest.stop();
  const rows = (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  const cps = cp?.stats();
  await cp?.stop();
  let dbBytes = 0;
  for (const f of ['controller.db', 'controller.db-wal']) {
    try {
      dbBytes += statSync(join(dataDir, f)).size;
    } catch {
      /* no WAL */
    }
  }
  db.close();
  await nc.close();
  return {
    setting: s,
    messages: total,
    ms,
    elu,
    loopP99Ms: h.percentile(99) / 1e6,
    loopMaxMs: h.max / 1e6,
    cpuMsPer1k: ((cpu.user + cpu.system) / 1000 / total) * 1000,
    dbMb: dbBytes / 2 ** 20,
    rows,
    checkpoints: cps ? `worker: ${cps.checkpoints} passes, ${cps.restarts} restarts, longest ${cps.maxMs.toFixed(0)} ms (off the event loop)` : 'inline (SQLite automatic, in the committing thread)',
  };
}

const bench: Bench = {
  name: 'ingest under a fleet traffic mix (raw_samples × checkpoint, same run)',
  async run({ quick }) {
    const hosts = argValue('--hosts', quick ? 2000 : 10_000);
    const seconds = argValue('--seconds', quick ? 20 : 30);
    const rounds = argValue('--rounds', quick ? 1 : 2);
    const load0 = loadavg();
    const nats = await NatsServer.start();
    const dir = tempDir('opsfleet-bench-ingestmix-');
    // `--settings store/worker/yield,derived/worker/yield`: only those (default: all four below).
    const only = process.argv.includes('--settings') ? process.argv[process.argv.indexOf('--settings') + 1]!.split(',') : undefined;
    const all: Setting[] = [
      // The code before: checkpoints in the committing thread, batches back to back.
      { rawSamples: 'store', checkpoint: 'inline', yieldLoop: false },
      { rawSamples: 'store', checkpoint: 'worker', yieldLoop: false },
      { rawSamples: 'store', checkpoint: 'worker', yieldLoop: true },
      { rawSamples: 'derived', checkpoint: 'worker', yieldLoop: true },
    ];
    const settings = only ? only.map((o) => {
      const [rawSamples, checkpoint, y] = o.split('/');
      return { rawSamples: rawSamples as Setting['rawSamples'], checkpoint: checkpoint as Setting['checkpoint'], yieldLoop: y === 'yield' };
    }) : all;
    try {
      const nc = await connect(nats.connectOptions());
      await ensureEventStream(nc, { name: 'EV', maxAgeMs: HOUR, maxBytes: -1, duplicateWindowMs: 600_000, replicas: 1 });
      await nc.close();
      const pub = await publishBacklog(nats, hosts, seconds);
      process.stdout.write(`ingest-mix: ${pub.messages} messages (${hosts} hosts × ${seconds} s) published in ${(pub.ms / 1000).toFixed(1)} s\n`);
      const drains: Drain[] = [];
      for (let r = 0; r < rounds; r++) {
        for (const [i, s] of settings.entries()) {
          const d = await drain(nats, dir.path, `r${r}-${i}`, s, pub.messages);
          process.stdout.write(`ingest-mix: round ${r + 1} ${label(s)}: ${Math.round(d.messages / (d.ms / 1000))} msg/s, ELU ${(d.elu * 100).toFixed(0)} %, loop delay p99 ${d.loopP99Ms.toFixed(0)} / max ${d.loopMaxMs.toFixed(0)} ms, ${d.cpuMsPer1k.toFixed(0)} ms CPU per 1k, ${d.rows} rows, ${d.dbMb.toFixed(0)} MiB\n`);
          drains.push(d);
        }
      }
      const rows: BenchRow[] = drains.map((d, k) => ({
        name: `round ${Math.floor(k / settings.length) + 1}: raw_samples ${d.setting.rawSamples}, checkpoint ${d.setting.checkpoint}, ${d.setting.yieldLoop ? 'loop turns between transactions' : 'transactions back to back'}`,
        rate: d.messages / (d.ms / 1000),
        unit: 'msg',
        count: d.messages,
        seconds: d.ms / 1000,
        note: `event loop busy ${(d.elu * 100).toFixed(0)} %, delay p99 ${d.loopP99Ms.toFixed(0)} ms / max ${d.loopMaxMs.toFixed(0)} ms; process CPU ${d.cpuMsPer1k.toFixed(0)} ms per 1,000 messages; ${d.rows.toLocaleString('en-US')} event rows, ${d.dbMb.toFixed(0)} MiB on disk; checkpoints ${d.checkpoints}`,
      }));
      const best = (s: Setting) => Math.max(...drains.filter((d) => d.setting === s).map((d) => d.messages / (d.ms / 1000)));
      return {
        title: `ingest under a fleet traffic mix: ${hosts} hosts × ${seconds} s drained per setting`,
        rows,
        notes: [
          `A fleet of ${hosts.toLocaleString('en-US')} agents at the default cadences sends ${Math.round(hosts * 0.35).toLocaleString('en-US')} messages/s; drain rate is the capacity (best of ${rounds}): ${settings.map((s) => `${label(s)} ${Math.round(best(s)).toLocaleString('en-US')}/s`).join(', ')}.`,
          `Settings alternated in the same run (same stream, fresh database and durable consumer each). Event-loop delay sampled every 10 ms (perf_hooks.monitorEventLoopDelay): a request arriving during a drain waits about that long. Process CPU includes the checkpoint worker's thread and the NATS client. Load average at start ${load0.map((l) => l.toFixed(2)).join(' ')}, at end ${loadavg().map((l) => l.toFixed(2)).join(' ')} (machine shared with other engineers).`,
        ],
      };
    } finally {
      await nats.dispose();
      dir.cleanup();
    }
  },
};

export default bench;
