import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type Database from 'better-sqlite3';
import { pino } from 'pino';
import { JetStreamControlLog, CONTROL_STREAM, MAX_CONTROL_RECORD_BYTES } from '../../controller/ha/jetstream-control-log.js';
import type { ControlRecord } from '../../controller/ha/control-log.js';
import { openDatabase } from '../../controller/store/db.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const logger = pino({ level: 'silent' });

/** One controller's side: its own SQLite file and its own connection, like a real controller. */
class Side {
  db: Database.Database;
  log: JetStreamControlLog;
  seen: ControlRecord<{ n: number }>[] = [];
  constructor(
    readonly id: string,
    readonly dir: string,
    readonly nc: NatsConnection,
  ) {
    this.db = openDatabase(dir);
    this.log = this.build();
  }
  build(): JetStreamControlLog {
    const log = new JetStreamControlLog({ id: this.id, db: this.db, logger, replicas: 1 });
    log.on<{ n: number }>('test.thing', (r) => {
      this.seen.push(r);
    });
    return log;
  }
  async restart(): Promise<void> {
    await this.log.stop();
    this.log = this.build();
    await this.log.start(this.nc);
  }
}

describe('JetStream control log (controller/ha/jetstream-control-log.ts)', () => {
  const dir = tempDir();
  let nats: NatsServer;
  let ncA: NatsConnection;
  let ncB: NatsConnection;
  let a: Side;
  let b: Side;

  before(async () => {
    nats = await NatsServer.start();
    ncA = await connect(nats.connectOptions());
    ncB = await connect(nats.connectOptions());
    a = new Side('ctl-a', join(dir.path, 'a'), ncA);
    b = new Side('ctl-b', join(dir.path, 'b'), ncB);
  });

  after(async () => {
    await a?.log.stop();
    await b?.log.stop();
    a?.db.close();
    b?.db.close();
    await ncA?.close();
    await ncB?.close();
    await nats?.dispose();
    dir.cleanup();
  });

  it('a change published before NATS is there waits in the outbox, then reaches the other controller', { timeout: 60_000 }, async () => {
    const published = a.log.publish('test.thing', { n: 1 });
    assert.equal(a.log.outboxSize(), 1);
    await a.log.start(ncA);
    await b.log.start(ncB);
    await published;
    assert.equal(a.log.outboxSize(), 0);
    await waitFor(() => b.seen.length === 1, { what: 'B applies the record' });
    assert.equal(b.seen[0]!.body.n, 1);
    assert.equal(b.seen[0]!.origin, 'ctl-a');
    assert.equal(b.seen[0]!.kind, 'test.thing');
    // The stream holds it, and the controller that made it does not apply it again.
    await waitFor(() => a.log.stats.own === 1, { what: 'A skips its own record' });
    assert.equal(a.seen.length, 0);
  });

  it('changes apply in the order they were made, each side seeing the other', { timeout: 60_000 }, async () => {
    for (let n = 2; n <= 6; n++) await a.log.publish('test.thing', { n });
    await b.log.publish('test.thing', { n: 100 });
    await waitFor(() => b.seen.length === 6 && a.seen.length === 1, { what: 'both apply' });
    assert.deepEqual(
      b.seen.map((r) => r.body.n),
      [1, 2, 3, 4, 5, 6],
    );
    assert.equal(a.seen[0]!.body.n, 100);
  });

  it('a record delivered twice (republished under another message id) is applied once', { timeout: 60_000 }, async () => {
    const js = jetstream(ncA);
    const rec = { id: 'dup-1', origin: 'ctl-a', kind: 'test.thing', ts: Date.now(), body: { n: 7 } };
    await js.publish('opsfleet.ctl.test.thing', JSON.stringify(rec), { msgID: 'first' });
    // Outside the stream's duplicate window (another msg id): the consumer's control_applied catches it.
    await js.publish('opsfleet.ctl.test.thing', JSON.stringify(rec), { msgID: 'second' });
    // Inside the window, the stream drops it.
    const ack = await js.publish('opsfleet.ctl.test.thing', JSON.stringify(rec), { msgID: 'second' });
    assert.equal(ack.duplicate, true);
    await waitFor(() => b.log.stats.duplicates === 1, { what: 'B sees the duplicate' });
    assert.equal(b.seen.filter((r) => r.id === 'dup-1').length, 1);
    assert.equal(b.db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM control_applied WHERE id = ?').get('dup-1')!.n, 1);
  });

  it('a restarted controller resumes where it left off: nothing missed, nothing applied again', { timeout: 60_000 }, async () => {
    await b.log.stop();
    const before = b.seen.length;
    for (let n = 8; n <= 10; n++) await a.log.publish('test.thing', { n });
    await b.restart();
    // Up to ack_wait (10 s) when the stopped instance's last pull request took them.
    await waitFor(() => b.seen.length === before + 3, { timeout: 30_000, what: 'B catches up' });
    assert.deepEqual(
      b.seen.slice(before).map((r) => r.body.n),
      [8, 9, 10],
    );
    assert.equal(b.log.stats.applied, 3, 'only the new records are applied after the restart');
    assert.equal(b.log.missed, 0);
  });

  it('a malformed record or one whose handler keeps failing is skipped, and later records still apply', { timeout: 60_000 }, async () => {
    const js = jetstream(ncA);
    await js.publish('opsfleet.ctl.test.thing', 'not json');
    await js.publish('opsfleet.ctl.test.thing', JSON.stringify({ id: 'x', origin: 'ctl-a', kind: 'other.kind', ts: 1, body: {} }));
    await js.publish('opsfleet.ctl.test.thing', JSON.stringify({ id: 'y', origin: 'ctl-a.evil', kind: 'test.thing', ts: 1, body: {} }));
    const log = b.log;
    const before = b.seen.length;
    // A kind nobody registered: skipped with a warning (a newer controller's record).
    await a.log.publish('test.unknown', { n: 0 });
    await a.log.publish('test.thing', { n: 11 });
    await waitFor(() => b.seen.length === before + 1, { what: 'the good record after the bad ones' });
    assert.equal(b.seen.at(-1)!.body.n, 11);
    assert.equal(log.stats.malformed, 3);
    assert.equal(log.stats.unknownKind, 1);
  });

  it('a handler that fails every time is tried a bounded number of times, then skipped', { timeout: 60_000 }, async () => {
    const dirC = join(dir.path, 'c');
    const db = openDatabase(dirC);
    const ncC = await connect(nats.connectOptions());
    const c = new JetStreamControlLog({ id: 'ctl-c', db, logger, replicas: 1 });
    let calls = 0;
    const good: number[] = [];
    c.on<{ n: number }>('test.thing', (r) => {
      if (r.body.n === 12) {
        calls++;
        throw new Error('cannot apply');
      }
      good.push(r.body.n);
    });
    try {
      await a.log.publish('test.thing', { n: 12 });
      await a.log.publish('test.thing', { n: 13 });
      await c.start(ncC);
      // C is new: it reads the whole log, so it sees every earlier record too.
      await waitFor(() => good.includes(13), { what: 'the record after the failing one', timeout: 15_000 });
      assert.equal(calls, 3);
      assert.equal(c.stats.failed, 1);
      assert.deepEqual(good.slice(0, 6), [1, 2, 3, 4, 5, 6]);
    } finally {
      await c.stop();
      db.close();
      await ncC.close();
    }
  });

  it('changes made while NATS is down are published when it is back', { timeout: 60_000 }, async () => {
    await nats.stop();
    const p = a.log.publish('test.thing', { n: 14 });
    assert.equal(a.log.outboxSize(), 1);
    await nats.restart();
    await p;
    await waitFor(() => b.seen.some((r) => r.body.n === 14), { what: 'B gets the record made during the outage', timeout: 20_000 });
  });

  it('stop is idempotent and rejects what was still unpublished (kept in the outbox)', { timeout: 60_000 }, async () => {
    const dirD = join(dir.path, 'd');
    const db = openDatabase(dirD);
    const d = new JetStreamControlLog({ id: 'ctl-d', db, logger, replicas: 1 });
    const p = d.publish('test.thing', { n: 99 });
    const s1 = d.stop();
    assert.equal(d.stop(), s1);
    await s1;
    await assert.rejects(p, { code: 'OPS_ERR_HA_CONTROL_STOPPED' });
    assert.equal(d.outboxSize(), 1);
    assert.throws(() => d.on('Bad Kind', () => {}), { code: 'OPS_ERR_HA_CONTROL_INVALID' });
    await assert.rejects(d.publish('a.>', {}), { code: 'OPS_ERR_HA_CONTROL_INVALID' });
    // A record over NATS's max_payload would never be stored and would hold up every later one:
    // refused at publish for every kind, nothing queued (multi-byte text counted as bytes).
    const big = 'é'.repeat(MAX_CONTROL_RECORD_BYTES / 2 + 1);
    await assert.rejects(d.publish('test.thing', { text: big }), (err: Error & { code?: string }) => err.code === 'OPS_ERR_HA_CONTROL_INVALID' && /bytes, over the/.test(err.message));
    assert.equal(d.outboxSize(), 1, 'the oversized record was not queued');
    db.close();
    // The stream the records live on.
    const jsm = await (await import('@nats-io/jetstream')).jetstreamManager(ncA);
    assert.deepEqual((await jsm.streams.info(CONTROL_STREAM)).config.subjects, ['opsfleet.ctl.>']);
  });
});

describe('control records that left the stream before a controller read them (missed)', () => {
  const dir = tempDir();
  let nats: NatsServer;
  const conns: NatsConnection[] = [];
  const logs: JetStreamControlLog[] = [];
  /** One SQLite file per controller id, kept across its restarts. */
  const dbs = new Map<string, Database.Database>();

  before(async () => {
    nats = await NatsServer.start();
  });
  after(async () => {
    for (const l of logs) await l.stop();
    for (const d of dbs.values()) d.close();
    for (const c of conns) await c.close();
    await nats?.dispose();
    dir.cleanup();
  });

  /** A controller's side whose log lines are kept (pino JSON), to check the error is logged. */
  const side = async (id: string, lines: Array<Record<string, unknown>>, seen: number[]) => {
    const nc = await connect(nats.connectOptions());
    conns.push(nc);
    const db = dbs.get(id) ?? openDatabase(join(dir.path, id));
    dbs.set(id, db);
    const capture = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
    const log = new JetStreamControlLog({ id, db, logger: capture, replicas: 1 });
    log.on<{ n: number }>('test.thing', (r) => {
      seen.push(r.body.n);
    });
    logs.push(log);
    await log.start(nc);
    return { nc, log };
  };
  const missedLines = (lines: Array<Record<string, unknown>>) => lines.filter((l) => l.level === 50 && typeof l.msg === 'string' && l.msg.startsWith('control records aged out of the stream'));

  it('a new controller and one that was away count what aged out, log it as an error, and apply what is left', { timeout: 60_000 }, async () => {
    // A stream that keeps 3 records stands in for 30 days of max_age or the 128 MiB max_bytes:
    // the control log's own setup updates the limits it sets and keeps this one.
    const admin = await connect(nats.connectOptions());
    conns.push(admin);
    const jsm = await jetstreamManager(admin);
    await jsm.streams.add({ name: CONTROL_STREAM, subjects: ['opsfleet.ctl.>'], max_msgs: 3 });

    const aLines: Array<Record<string, unknown>> = [];
    const a = await side('ctl-a', aLines, []);
    for (let n = 1; n <= 5; n++) await a.log.publish('test.thing', { n });
    assert.equal((await jsm.streams.info(CONTROL_STREAM)).config.max_msgs, 3, 'the limit survived the control log setup');
    assert.equal((await jsm.streams.info(CONTROL_STREAM)).state.first_seq, 3);
    assert.equal(a.log.missed, 0, 'A created its consumer before anything aged out');

    // B starts after records 1 and 2 are gone.
    const bLines: Array<Record<string, unknown>> = [];
    const bSeen: number[] = [];
    let b = await side('ctl-b', bLines, bSeen);
    await waitFor(() => bSeen.length === 3, { what: 'B applies what the stream still holds' });
    assert.deepEqual(bSeen, [3, 4, 5]);
    assert.equal(b.log.missed, 2);
    assert.equal(b.log.state().missed, 2, '/healthz controlLog.missed');
    assert.deepEqual(
      missedLines(bLines).map((l) => [l.missed, l.firstSeq, l.lastRead]),
      [[2, 3, 0]],
    );

    // B goes away (after its acks reached the server), five more records are made, two of them
    // roll out before B is back: it counts those from its ack floor.
    await waitFor(async () => (await jsm.consumers.info(CONTROL_STREAM, b.log.durable)).ack_floor.stream_seq === 5, { what: 'B acked record 5' });
    await b.log.stop();
    for (let n = 6; n <= 10; n++) await a.log.publish('test.thing', { n });
    bLines.length = 0;
    b = await side('ctl-b', bLines, bSeen);
    await waitFor(() => bSeen.length === 6, { timeout: 30_000, what: 'B applies 8..10 after its restart' });
    assert.deepEqual(bSeen.slice(3), [8, 9, 10]);
    assert.equal(b.log.state().missed, 2);
    assert.deepEqual(
      missedLines(bLines).map((l) => [l.missed, l.firstSeq, l.lastRead]),
      [[2, 8, 5]],
    );
    // Nothing missed, nothing logged, for the controller that kept up.
    assert.equal(a.log.state().missed, 0);
    assert.equal(missedLines(aLines).length, 0);
  });

  it('a record delivered to a stopped controller and then aged out is counted as missed (the ack floor moved past it; the read position did not)', { timeout: 60_000 }, async () => {
    const admin = await connect(nats.connectOptions());
    conns.push(admin);
    const jsm = await jetstreamManager(admin);
    const p = await side('ctl-p', [], []);
    const cLines: Array<Record<string, unknown>> = [];
    const cSeen: number[] = [];
    let c = await side('ctl-c', cLines, cSeen);
    await p.log.publish('test.thing', { n: 100 });
    await waitFor(() => cSeen.includes(100), { what: 'C applies 100' });
    const caughtUp = (await jsm.streams.info(CONTROL_STREAM)).state.last_seq;
    await waitFor(async () => (await jsm.consumers.info(CONTROL_STREAM, c.log.durable)).ack_floor.stream_seq === caughtUp, { what: 'C acked what it read' });
    await c.log.stop();

    // What a stopped instance's pull still in flight does: the next record is delivered to C's
    // consumer and never acked (max_ack_pending 1 holds the rest back)...
    await p.log.publish('test.thing', { n: 101 });
    const consumer = await jetstream(admin).consumers.get(CONTROL_STREAM, c.log.durable);
    let delivered = 0;
    for await (const m of await consumer.fetch({ max_messages: 1, expires: 5000 })) delivered = m.seq;
    assert.equal(delivered, caughtUp + 1, 'record 101 went to C and was not acked');
    // ...then it ages out (the stream keeps 3): the server moves C's ack floor past it.
    for (let n = 102; n <= 104; n++) await p.log.publish('test.thing', { n });
    const first = (await jsm.streams.info(CONTROL_STREAM)).state.first_seq;
    assert.equal(first, caughtUp + 2);
    await waitFor(async () => (await jsm.consumers.info(CONTROL_STREAM, c.log.durable)).ack_floor.stream_seq >= caughtUp + 1, { what: "the server moved C's ack floor past the aged-out record" });

    cLines.length = 0;
    c = await side('ctl-c', cLines, cSeen);
    await waitFor(() => cSeen.includes(104), { timeout: 30_000, what: 'C applies what is left after its restart' });
    assert.deepEqual(cSeen.slice(cSeen.indexOf(100)), [100, 102, 103, 104], '101 never reached C');
    assert.equal(c.log.state().missed, 1, 'record 101 counts as missed');
    assert.deepEqual(
      missedLines(cLines).map((l) => [l.missed, l.firstSeq, l.lastRead]),
      [[1, first, caughtUp]],
    );
  });
});
