/**
 * The agent side of the end-to-end ingest benchmark, run in a worker thread so that it has its
 * own event loop as the real agent process would: the real OutboxStore + OutboxPublisher with
 * the agent's default outbox settings, appending `total` events in appendMany chunks.
 *
 * Messages to the parent: ready → (go) → appended {ms} → published {ms, counters} → done.
 */
import { mkdirSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import { OutboxStore } from '../agent/outbox/outbox-store.js';
import { OutboxPublisher } from '../agent/outbox/publisher.js';
import { agentConfigSchema } from '../shared/config/agent.js';
import { createRootLogger } from '../shared/logger.js';
import { connectNats } from '../shared/nats/connect.js';

export interface AgentWorkerData {
  natsUrl: string;
  stateDir: string;
  hostId: string;
  total: number;
  chunk: number;
}

const d = workerData as AgentWorkerData;
const port = parentPort!;
const cfg = agentConfigSchema.parse({ host: { id: d.hostId }, nats: { servers: [d.natsUrl] }, state_dir: d.stateDir });
mkdirSync(d.stateDir, { recursive: true });
const logger = createRootLogger({ name: 'bench-agent', level: 'warn', destination: 2 });
const instanceId = `bench${process.pid}`;
// Bounds high enough that the benchmark never evicts: it measures throughput, not eviction.
const store = new OutboxStore(d.stateDir, { hostId: d.hostId, instanceId }, { maxEvents: Math.max(cfg.outbox.max_events, d.total * 2), maxBytes: 8 * 2 ** 30 });
const publisher = new OutboxPublisher(
  store,
  { hostId: d.hostId, instanceId, batchMaxEvents: cfg.outbox.batch_max_events, batchMaxBytes: cfg.outbox.batch_max_bytes, maxInFlight: cfg.outbox.max_in_flight },
  logger,
);
publisher.start();
const nc = await connectNats(cfg.nats, { name: 'bench-agent', logger });
publisher.attach(nc);

port.once('message', (msg: { type: string }) => {
  if (msg.type !== 'go') return;
  void run().catch((err: unknown) => port.postMessage({ type: 'error', message: (err as Error).stack ?? String(err) }));
});
port.postMessage({ type: 'ready', settings: { batchMaxEvents: cfg.outbox.batch_max_events, maxInFlight: cfg.outbox.max_in_flight } });

async function run(): Promise<void> {
  const t0 = performance.now();
  const elu0 = performance.eventLoopUtilization();
  let appended = 0;
  let appendBusyMs = 0;
  while (appended < d.total) {
    const n = Math.min(d.chunk, d.total - appended);
    const items = new Array(n);
    for (let i = 0; i < n; i++) {
      items[i] = { kind: 'metric', payload: { json: `{"name":"cpu.usage","value":${((appended + i) % 1000) / 10},"labels":{"core":"${i % 2}"}}` } };
    }
    const a = performance.now();
    store.appendMany(items);
    appendBusyMs += performance.now() - a;
    appended += n;
    // Let the publisher run between chunks, as sources in the real agent do.
    await yieldToLoop();
  }
  port.postMessage({ type: 'appended', ms: performance.now() - t0, appendBusyMs });
  const flushed = await publisher.flush(300_000);
  // Busy share of this thread's event loop over the run: near 1 means the agent side is CPU-bound.
  const elu = performance.eventLoopUtilization(elu0).utilization;
  port.postMessage({ type: 'published', ms: performance.now() - t0, flushed, elu, counters: { ...publisher.counters } });
  await publisher.stop(2000);
  await nc.drain();
  store.close();
  port.postMessage({ type: 'done' });
}
