import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { tempDir } from '../../test/helpers/tmp.js';
import { waitFor } from '../../test/helpers/wait.js';
import { openDatabase } from '../store/db.js';
import { LiveFeed, parseTopics, type StreamTopic } from './live-feed.js';

const dir = tempDir('opsfleet-live-');

describe('live feed (SSE): topics, host filter, scope, alert state changes, stop', () => {
  const db = openDatabase(join(dir.path, 'live'));
  const live = new LiveFeed({ db, logger: pino({ level: 'silent' }), alertPollMs: 30, pingMs: 60_000 });
  let server: Server;
  let port = 0;
  const insertAlert = db.prepare(
    "INSERT INTO alerts (fingerprint, alertname, host, labels, state, starts_at_ms, ends_at_ms, updated_ms, source) VALUES (?, 'Down', ?, ?, ?, ?, 0, ?, 'agent') ON CONFLICT(fingerprint) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms, count = count + 1",
  );
  insertAlert.run('old', 'h1', '{"alertname":"Down","host":"h1"}', 'firing', 1, 1);

  before(async () => {
    live.start();
    // One stream per request; the path's query picks topics/host and `deny` simulates a token scope.
    server = createServer((req, res) => {
      const q = new URL(req.url!, 'http://x').searchParams;
      const topics = parseTopics(q.get('topics')) as Set<StreamTopic>;
      const deny = q.get('deny');
      live.attach(req, res, { topics, host: q.get('host') ?? undefined, allows: (h) => h !== deny && h !== '' });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    live.stop();
    server.close();
    db.close();
    dir.cleanup();
  });

  function open(path: string): Promise<{ frames: Array<{ event: string; data: Record<string, unknown> }>; ended: () => boolean }> {
    return new Promise((resolve, reject) => {
      let ended = false;
      const req = request({ host: '127.0.0.1', port, path }, (res) => {
        const frames: Array<{ event: string; data: Record<string, unknown> }> = [];
        let buf = '';
        res.setEncoding('utf8').on('data', (c: string) => {
          buf += c;
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const event = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (event && data) frames.push({ event, data: JSON.parse(data) as Record<string, unknown> });
          }
        });
        res.on('end', () => (ended = true));
        resolve({ frames, ended: () => ended });
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('sends each client what it asked for, only for hosts it may see', async () => {
    const all = await open('/?deny=secret');
    const h1 = await open('/?host=h1&topics=checks,metrics');
    await waitFor(() => all.frames.length === 1 && h1.frames.length === 1 && live.clientCount === 2, { what: 'hello frames' });
    assert.equal(all.frames[0]!.event, 'hello');
    live.hostStatus({ hostId: 'h1', from: 'online', to: 'offline', atMs: 5, reason: 'no heartbeat' });
    live.hostStatus({ hostId: 'secret', from: 'online', to: 'offline', atMs: 5, reason: 'no heartbeat' });
    const ev = (hostId: string, kind: string, body: unknown) => ({ id: `${hostId}:i:1`, hostId, instanceId: 'i', seq: 1, tsMs: 10, kind, json: JSON.stringify(body) });
    live.onEvents([
      ev('h1', 'check', { check: 'web', event: 'result', state: 'up' }),
      ev('h1', 'check', { check: 'web', event: 'transition', state: 'down' }),
      ev('h2', 'check', { check: 'db', event: 'transition', state: 'up' }),
      ev('h1', 'metric', { cpu: { percent: 7 }, net: [{ iface: 'lo', rx_bps: 5 }, { iface: 'eth0', rx_bps: 3 }] }),
    ]);
    live.factsStored('h2', 20);
    await waitFor(() => all.frames.length >= 5 && h1.frames.length >= 3, { what: 'frames delivered' });
    assert.deepEqual(all.frames.slice(1).map((f) => `${f.event}:${String(f.data.host ?? f.data.id)}`), ['host:h1', 'check:h1', 'check:h2', 'facts:h2']);
    assert.deepEqual(h1.frames.slice(1).map((f) => f.event), ['check', 'metric']);
    assert.equal(h1.frames[2]!.data.cpu, 7);
    assert.equal(h1.frames[2]!.data.rxBps, 3, 'loopback is not traffic');
  });

  it('streams an alert when its state changes, not on every re-assertion', async () => {
    const s = await open('/?topics=alerts');
    await waitFor(() => s.frames.length === 1, { what: 'hello' });
    insertAlert.run('fp1', 'h1', '{"alertname":"Down","host":"h1"}', 'firing', 100, 100);
    await waitFor(() => s.frames.length === 2, { what: 'firing alert streamed' });
    insertAlert.run('fp1', 'h1', '{"alertname":"Down","host":"h1"}', 'firing', 100, 200);
    insertAlert.run('fp2', 'secret', '{"alertname":"Down","host":"secret"}', 'firing', 100, 250);
    insertAlert.run('fp1', 'h1', '{"alertname":"Down","host":"h1"}', 'resolved', 100, 300);
    await waitFor(() => s.frames.length === 4, { what: 'resolved alert streamed' });
    assert.deepEqual(s.frames.slice(1).map((f) => `${String(f.data.fingerprint)}:${String(f.data.status)}`), ['fp1:firing', 'fp2:firing', 'fp1:resolved']);
    const scoped = await open('/?topics=alerts&deny=secret');
    await waitFor(() => scoped.frames.length === 1, { what: 'hello' });
    insertAlert.run('fp2', 'secret', '{"alertname":"Down","host":"secret"}', 'resolved', 100, 400);
    insertAlert.run('fp1', 'h1', '{"alertname":"Down","host":"h1"}', 'firing', 500, 500);
    await waitFor(() => scoped.frames.length === 2, { what: 'fp1 refire' });
    assert.equal(scoped.frames[1]!.data.fingerprint, 'fp1');
    assert.ok(!s.frames.some((f) => f.data.fingerprint === 'old'), 'alerts firing before start are not replayed');
  });

  it('rejects unknown topics by name and ends every stream on stop', async () => {
    assert.equal(parseTopics('hosts,bogus'), 'bogus');
    assert.deepEqual([...(parseTopics(null) as Set<string>)], ['hosts', 'alerts', 'checks', 'facts']);
    const s = await open('/');
    await waitFor(() => s.frames.length === 1, { what: 'hello' });
    live.stop();
    await waitFor(() => s.ended(), { what: 'stream ended by stop' });
    assert.equal(live.clientCount, 0);
  });
});
