/**
 * What ingest's read-back of a killed run's unacked messages (controller/ingest/ingest.ts,
 * recoverUnacked) costs at start. In one run, alternating round by round, Ingest.start() with
 * the read-back and with it switched off (what start did before it), on a real nats-server and
 * a fresh SQLite file per round, in three states of the durable consumer:
 *   idle      nothing pending, nothing unacked (a clean restart of a quiet controller);
 *   backlog   N messages waiting in the stream, none delivered (a clean restart under load);
 *   killed    the same backlog, of which the previous run held ingestPrefetch(max_batch)
 *             delivered and unacked when it died (SIGKILL under load).
 * Figures: start() wall time, the process's CPU time during it (survives a loaded machine), the
 * JetStream API requests it made (the account's api.total before and after) and the messages
 * it read back. The messages the killed run held come back either way: at start with the
 * read-back, after ack_wait (30 s) without.
 */
import { AckPolicy, DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Ingest, ingestPrefetch } from '../controller/ingest/ingest.js';
import { openDatabase } from '../controller/store/db.js';
import { EVENT_SUBJECTS } from '../shared/nats/subjects.js';
import { IngestHarness, STREAM } from '../test/ingest/harness.js';
import { percentile } from './fleet-sim/probes.js';
import type { Bench, BenchRow } from './types.js';

type State = 'idle' | 'backlog' | 'killed';
const MAX_BATCH = 256;

const median = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);

const bench: Bench = {
  name: 'unacked-readback',
  async run({ quick }) {
    const rounds = quick ? 3 : 7;
    const backlog = quick ? 5_000 : 20_000;
    const held = ingestPrefetch(MAX_BATCH);
    const h = await IngestHarness.start();
    const rows: BenchRow[] = [];
    const notes: string[] = [];
    try {
      // A heartbeat-sized metric event (~400 bytes of JSON) per message.
      const json = JSON.stringify({ cpu: { percent: 3.5, load1: 0.4 }, mem: { usedBytes: 1234567890, totalBytes: 8589934592 }, disks: [{ mount: '/', usedBytes: 12345678901, totalBytes: 53687091200 }], net: [{ iface: 'eth0', rxBytes: 123456789, txBytes: 98765432 }], pad: 'x'.repeat(150) });
      for (let seq = 1; seq <= backlog; seq += 500) {
        await Promise.all(Array.from({ length: Math.min(500, backlog - seq + 1) }, (_, i) => h.send(seq + i, { host: `h${(seq + i) % 50}`, json })));
      }
      const apiTotal = async () => (await h.jsm.getAccountInfo()).api.total;
      // What one account-info request adds to the counter by itself.
      const a0 = await apiTotal();
      const self = (await apiTotal()) - a0;

      /** Puts the durable consumer `durable` in `state`, as a previous run would have left it. */
      const prepare = async (durable: string, state: State) => {
        await h.jsm.consumers.add(STREAM, { durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: state === 'idle' ? DeliverPolicy.New : DeliverPolicy.All, ack_wait: nanos(30_000), max_ack_pending: 20_000, filter_subject: EVENT_SUBJECTS });
        if (state !== 'killed') return;
        const dead = await h.connect();
        const fetched = await jetstream(dead).consumers.get(STREAM, durable).then((c) => c.fetch({ max_messages: held, expires: 10_000 }));
        let n = 0;
        for await (const _m of fetched) if (++n === held) break;
        await dead.close();
      };

      const proto = Ingest.prototype as unknown as { recoverUnacked: () => Promise<void> };
      const recoverUnacked = proto.recoverUnacked;
      const results = new Map<string, { ms: number[]; cpuMs: number[]; api: number[]; recovered: number[] }>();
      let round = 0;
      for (let r = 0; r < rounds; r++) {
        for (const state of ['idle', 'backlog', 'killed'] as State[]) {
          for (const readBack of r % 2 === 0 ? [true, false] : [false, true]) {
            const durable = `r${round++}`;
            await prepare(durable, state);
            const db = openDatabase(join(h.dir.path, durable));
            const ingest = h.ingest(db, { durable, maxBatch: MAX_BATCH });
            // Off: start() as it was before the read-back (consumer ensured, then consume).
            proto.recoverUnacked = readBack ? recoverUnacked : async () => {};
            const before = await apiTotal();
            const cpu0 = process.cpuUsage();
            const t0 = performance.now();
            try {
              await ingest.start();
            } finally {
              proto.recoverUnacked = recoverUnacked;
            }
            const ms = performance.now() - t0;
            const cpu = process.cpuUsage(cpu0);
            const api = (await apiTotal()) - before - self;
            await ingest.stop();
            db.close();
            await h.jsm.consumers.delete(STREAM, durable);
            const key = `${state}/${readBack}`;
            const acc = results.get(key) ?? { ms: [], cpuMs: [], api: [], recovered: [] };
            acc.ms.push(ms);
            acc.cpuMs.push((cpu.user + cpu.system) / 1000);
            acc.api.push(api);
            acc.recovered.push(ingest.stats.recovered);
            results.set(key, acc);
          }
        }
      }
      const label: Record<State, string> = {
        idle: 'idle (nothing pending)',
        backlog: `backlog of ${backlog.toLocaleString('en-US')} undelivered, none unacked`,
        killed: `backlog of ${backlog.toLocaleString('en-US')}, ${held} delivered and unacked by a killed run`,
      };
      for (const state of ['idle', 'backlog', 'killed'] as State[]) {
        const on = results.get(`${state}/true`)!;
        const off = results.get(`${state}/false`)!;
        for (const [name, x] of [
          ['with read-back', on],
          ['without (baseline)', off],
        ] as const) {
          rows.push({
            name: `Ingest.start(), ${label[state]}, ${name}`,
            rate: 1000 / median(x.ms),
            unit: 'starts',
            count: x.ms.length,
            seconds: x.ms.reduce((a, b) => a + b, 0) / 1000,
            note: `median ${median(x.ms).toFixed(1)} ms wall, ${median(x.cpuMs).toFixed(1)} ms CPU; JetStream API requests ${median(x.api)}; messages read back ${median(x.recovered)}`,
          });
        }
        notes.push(`${state}: the read-back adds ${(median(on.ms) - median(off.ms)).toFixed(1)} ms wall, ${(median(on.cpuMs) - median(off.cpuMs)).toFixed(1)} ms CPU and ${median(on.api) - median(off.api)} API request(s) to start (medians of ${rounds}, alternated in the same run)`);
      }
      notes.push(`bounded: at most max(8 x max_batch, 1024) messages (here ${Math.max(MAX_BATCH * 8, 1024)}; the killed run held ingestPrefetch(${MAX_BATCH}) = ${held}), one ephemeral consumer, one pull, one transaction; a wider unacked range is left to the redelivery after ack_wait`);
      notes.push('the consumer was created by each round before start (prepare); start() then finds it and updates ack_wait, like a restarted controller');
    } finally {
      await h.dispose();
    }
    return { title: "Ingest start: the read-back of a killed run's unacked messages, with vs without (same run)", rows, notes };
  },
};

export default bench;
