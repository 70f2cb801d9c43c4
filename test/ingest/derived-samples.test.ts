import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { pino } from 'pino';
import { ChecksStore } from '../../controller/checks/checks-store.js';
import { MetricSeriesReader } from '../../controller/checks/metric-series.js';
import { Ingest } from '../../controller/ingest/ingest.js';
import { openDatabase } from '../../controller/store/db.js';
import { EventsStore } from '../../controller/store/events-store.js';
import { HostsStore } from '../../controller/store/hosts-store.js';
import { Event, EventBatch } from '../../shared/events/codec.js';
import { ensureEventStream } from '../../shared/nats/stream.js';
import { eventId, eventSubject } from '../../shared/nats/subjects.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const HOUR = 3_600_000;
const WEEK = 7 * 86_400_000;
const silent = pino({ level: 'silent' });

describe('ingest.raw_samples: derived', () => {
  const dir = tempDir();
  let nats: NatsServer;
  let nc: NatsConnection | undefined;
  let ingest: Ingest | undefined;
  after(async () => {
    await ingest?.stop();
    await nc?.close();
    await nats?.dispose();
    dir.cleanup();
  });

  it('heartbeats and metric samples leave no raw row, yet the host record, metric_latest and the history are right; a redelivery is not applied twice, before or after a restart', async () => {
    nats = await NatsServer.start();
    nc = await connect(nats.connectOptions());
    const jsm = await ensureEventStream(nc, { name: 'EV', maxAgeMs: HOUR, maxBytes: -1, duplicateWindowMs: 60_000, replicas: 1 });
    const db = openDatabase(dir.path);
    const events = new EventsStore(db, WEEK);
    const hosts = new HostsStore(db);
    const checks = new ChecksStore(db, silent);
    const startIngest = async (durable: string) => {
      const i = new Ingest({ nc: nc!, jsm, db, hosts, events, stream: 'EV', durable, maxBatch: 10, logger: silent, retention: { eventsMs: WEEK, samplesMs: HOUR }, rawSamples: 'derived', onEvents: checks.onEvents });
      await i.start();
      return i;
    };
    ingest = await startIngest('ctl');
    // Every sample in one history minute, well inside it.
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    let seq = 0;
    const ev = (kind: string, over: Parameters<typeof Event.fromPartial>[0]): Event => {
      seq++;
      return Event.fromPartial({ id: eventId('h1', 'i', seq), hostId: 'h1', instanceId: 'i', seq, tsMs: minute + 1000 + seq * 100, kind, ...over });
    };
    const inv = (hostname: string) => ({ hostId: 'h1', hostname, uptimeS: 100, os: 'linux', distro: 'Debian', kernel: '6.1.0', cpuModel: 'Xeon', cpuCores: 2, ipAddresses: ['10.0.0.1'], tags: {}, agentVersion: '0.1.0', rpcEndpoint: '10.0.0.1:7443' });
    const js = jetstream(nc);
    let msgId = 0;
    // Each publish its own Nats-Msg-Id: a re-sent event reaches ingest as a redelivery would.
    const send = async (e: Event) => js.publish(eventSubject(e.kind, 'h1'), EventBatch.encode({ events: [e] }).finish(), { msgID: `m${++msgId}` });
    const hb1 = ev('hb', { heartbeat: { intervalMs: 10_000, inventory: inv('web-1') } });
    const hb2 = ev('hb', { heartbeat: { intervalMs: 10_000, inventory: inv('web-2') } });
    const cpu = [10, 20, 60];
    const metrics = cpu.map((p) => ev('metric', { json: JSON.stringify({ cpu: { percent: p } }) }));
    const check = ev('check', { json: '{"check":"web","type":"http","event":"transition","state":"down"}' });
    for (const e of [hb1, hb2, ...metrics, check]) await send(e);
    await waitFor(() => ingest!.stats.events === 6, { timeout: 15_000, what: 'six events ingested' });
    // Redeliveries: the second heartbeat and two samples again, in one batch with a new sample.
    const m4 = ev('metric', { json: JSON.stringify({ cpu: { percent: 30 } }) });
    await js.publish(eventSubject('metric', 'h1'), EventBatch.encode({ events: [metrics[0]!, metrics[2]!, m4] }).finish(), { msgID: `m${++msgId}` });
    await send(hb2);
    await waitFor(() => ingest!.stats.events === 7 && ingest!.stats.duplicates === 3, { timeout: 15_000, what: 'the new sample applied, three duplicates dropped' });

    const kinds = db.prepare<[], { kind: string; n: number }>('SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY kind').all();
    assert.deepEqual(
      kinds.filter((k) => k.kind !== 'host_status'),
      [{ kind: 'check', n: 1 }],
      'no raw heartbeat or metric rows; the check transition is kept',
    );
    const host = hosts.get('h1')!;
    assert.equal(host.hostname, 'web-2');
    assert.equal(host.last_hb_seq, hb2.seq);
    assert.equal(host.status, 'online');
    const latest = db.prepare<[], { ts_ms: number; sample: string }>("SELECT ts_ms, sample FROM metric_latest WHERE host_id = 'h1'").get()!;
    assert.equal(latest.ts_ms, m4.tsMs);
    const bucket = db.prepare<[number], { n: number; cpu_avg: number; cpu_max: number }>("SELECT n, cpu_avg, cpu_max FROM metric_history WHERE host_id = 'h1' AND bucket_ms = ?").get(minute)!;
    assert.deepEqual(bucket, { n: 4, cpu_avg: 30, cpu_max: 60 }, 'every sample counted once');
    // The dashboard's 1 h chart has no raw samples to read: it draws the 1-minute tier.
    const series = new MetricSeriesReader(db).read('h1', '1h', minute + 30_000);
    assert.equal(series.resolution, '1m');
    assert.deepEqual(series.cpu, [30]);

    // A restarted controller has no marks in memory: they come back from the host row and metric_latest.
    await ingest.stop();
    ingest = await startIngest('ctl');
    const m5 = ev('metric', { json: JSON.stringify({ cpu: { percent: 40 } }) });
    await js.publish(eventSubject('metric', 'h1'), EventBatch.encode({ events: [metrics[1]!, m4, m5] }).finish(), { msgID: `m${++msgId}` });
    await send(hb1);
    await waitFor(() => ingest!.stats.events === 1 && ingest!.stats.duplicates === 3, { timeout: 15_000, what: 'after the restart: one new sample, three duplicates' });
    assert.deepEqual(db.prepare<[number], { n: number; cpu_max: number }>("SELECT n, cpu_max FROM metric_history WHERE host_id = 'h1' AND bucket_ms = ?").get(minute), { n: 5, cpu_max: 60 });
    assert.equal(hosts.get('h1')!.hostname, 'web-2', 'the old heartbeat did not move the host back');
    await ingest.stop();
    ingest = undefined;
    db.close();
  });
});
