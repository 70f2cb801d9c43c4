import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { after, afterEach, describe, it } from 'node:test';
import { parseRetryAfter, postBody } from '../../controller/notify/http.js';
import { NotifyError } from '../../controller/notify/types.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { FakeWebhook } from './fakes.js';
import { logRows, startManager } from './harness.js';

// Issue 20 items 2, 3, 4: receivers under bursts, hangs and Retry-After.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const dir = tempDir('opsfleet-alert-faults-');
after(() => dir.cleanup());
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
let n = 0;
async function manager(yaml: string) {
  const m = await startManager(yaml, `${dir.path}/m-${++n}`);
  cleanups.push(m.close);
  return m;
}
async function fake<T extends { start(): Promise<T>; stop(): Promise<void> }>(f: T): Promise<T> {
  await f.start();
  cleanups.push(() => f.stop());
  return f;
}

/** A server that accepts connections and requests and never answers. */
async function silentServer(): Promise<{ url: string; server: Server }> {
  const server = createServer(() => {});
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, server };
}

/** Runs GC every 10 ms until stopped: the collection that lost AbortSignal.timeout mid-request. */
function gcStorm(): () => void {
  const t = setInterval(gc, 10);
  return () => clearInterval(t);
}

describe('a receiver that never answers cannot block its worker (GC mid-request)', () => {
  it('postBody times out although GC runs during the request', { timeout: 60_000 }, async () => {
    const { url } = await silentServer();
    const stop = gcStorm();
    try {
      // Five in a row: the issue saw three correct timeouts and then a fourth that hung.
      for (let i = 0; i < 5; i++) {
        await assert.rejects(postBody(url, '{}', { 'content-type': 'application/json' }, 200, new AbortController().signal), (e: unknown) => e instanceof NotifyError && e.code === 'OPS_ERR_NOTIFY_NETWORK' && /timed out after 200ms/.test(e.message) && e.retryable);
      }
    } finally {
      stop();
    }
  });

  it('the shutdown signal still aborts a request in flight', { timeout: 60_000 }, async () => {
    const { url } = await silentServer();
    const ac = new AbortController();
    const p = postBody(url, '{}', { 'content-type': 'application/json' }, 600_000, ac.signal);
    setTimeout(() => ac.abort(), 100);
    await assert.rejects(p, (e: unknown) => e instanceof NotifyError && e.code === 'OPS_ERR_NOTIFY_NETWORK' && !/timed out/.test(e.message));
  });

  it('every attempt of a real worker ends at its timeout and the fallback gets the alert', { timeout: 90_000 }, async () => {
    const { url } = await silentServer();
    const hook = await fake(new FakeWebhook());
    const { am } = await manager(
      ['group_wait: 0s', 'retry: { attempts: 4, initial: 10ms, max: 20ms }', 'receivers:', `  - { name: silent, type: webhook, url: "${url}", timeout: 300ms }`, `  - { name: fb, type: webhook, url: "${hook.url}/fb" }`, 'fallback_receiver: fb', 'routes:', '  - { receivers: [silent] }'].join('\n'),
    );
    const stop = gcStorm();
    try {
      am.push([{ labels: { alertname: 'Hung', host: 'h1' } }]);
      await waitFor(() => hook.accepted().length === 1, { timeout: 60_000, what: 'fallback delivery after four timed-out attempts' });
    } finally {
      stop();
    }
    const rows = (await logRows(am, 5)).filter((r) => r.receiver === 'silent');
    assert.deepEqual(rows.map((r) => r.outcome), ['retry', 'retry', 'retry', 'failed']);
    for (const r of rows) assert.match(r.detail, /timed out after 300ms/);
  });
});

describe('a slow channel does not get the same notification twice', () => {
  it('group flushes while a notification is in flight do not queue it again', { timeout: 60_000 }, async () => {
    // Answers after 1.5 s: seven group_intervals of 200 ms pass while the first send is in flight.
    const requests: number[] = [];
    const server = createServer((req, res) => {
      requests.push(Date.now());
      req.resume();
      req.on('end', () => setTimeout(() => res.writeHead(200).end('{}'), 1500));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanups.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    });
    const { am } = await manager(['group_wait: 0s', 'group_interval: 200ms', 'receivers:', `  - { name: slow, type: webhook, url: "http://127.0.0.1:${(server.address() as AddressInfo).port}/", timeout: 10s }`, 'routes:', '  - { receivers: [slow] }'].join('\n'));
    am.push([{ labels: { alertname: 'Slow', host: 'h1' } }]);
    await waitFor(() => am.workers.get('slow')!.stats.sent === 1, { what: 'delivery' });
    const flushes = am.dispatcher.stats.flushes;
    await waitFor(() => am.dispatcher.stats.flushes >= flushes + 3, { what: 'three more flushes' });
    assert.equal(requests.length, 1);
    assert.ok(am.dispatcher.stats.flushes >= 8, `${am.dispatcher.stats.flushes} flushes`);
  });
});

describe('Retry-After on 429/503 is honoured per receiver, bounded', () => {
  it('parses seconds and HTTP dates, bounded', () => {
    const now = Date.parse('2026-12-02T12:00:00Z');
    assert.equal(parseRetryAfter('3', now), 3000);
    assert.equal(parseRetryAfter('Wed, 02 Dec 2026 12:00:10 GMT', now), 10_000);
    assert.equal(parseRetryAfter('Wed, 02 Dec 2026 11:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter('86400', now, 60_000), 60_000);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(null, now), undefined);
  });

  it('a 429 with Retry-After: 1 makes the next attempt wait a second, not the backoff', { timeout: 60_000 }, async () => {
    const hook = await fake(new FakeWebhook());
    hook.script = [{ status: 429, headers: { 'retry-after': '1' } }, { status: 503, headers: { 'retry-after': '1' } }];
    const { am } = await manager(['group_wait: 0s', 'retry: { attempts: 4, initial: 10ms, max: 20ms }', 'receivers:', `  - { name: hook, type: webhook, url: "${hook.url}/h" }`, 'routes:', '  - { receivers: [hook] }'].join('\n'));
    am.push([{ labels: { alertname: 'Busy', host: 'h1' } }]);
    await waitFor(() => hook.accepted().length === 1, { timeout: 30_000, what: 'delivery after two Retry-After answers' });
    const at = hook.requests.map((r) => r.at);
    assert.equal(at.length, 3);
    // The platform asked for a second each time; the backoff alone would have waited ≤ 20 ms.
    assert.ok(at[1]! - at[0]! >= 950, `second attempt after ${at[1]! - at[0]!}ms`);
    assert.ok(at[2]! - at[1]! >= 950, `third attempt after ${at[2]! - at[1]!}ms`);
    assert.equal(am.workers.get('hook')!.stats.retryAfter, 2);
    const rows = await logRows(am, 3);
    assert.match(rows[0]!.detail, /HTTP 429 \(Retry-After 1000ms\)/);
  });

  it('a Retry-After of a day is cut to retry.max_retry_after', { timeout: 60_000 }, async () => {
    const hook = await fake(new FakeWebhook());
    hook.script = [{ status: 429, headers: { 'retry-after': '86400' } }];
    const { am } = await manager(['group_wait: 0s', 'retry: { attempts: 3, initial: 10ms, max: 20ms, max_retry_after: 700ms }', 'receivers:', `  - { name: hook, type: webhook, url: "${hook.url}/h" }`, 'routes:', '  - { receivers: [hook] }'].join('\n'));
    am.push([{ labels: { alertname: 'Busy', host: 'h1' } }]);
    await waitFor(() => hook.accepted().length === 1, { timeout: 30_000, what: 'delivery after the bounded wait' });
    const at = hook.requests.map((r) => r.at);
    assert.ok(at[1]! - at[0]! >= 650, `second attempt after ${at[1]! - at[0]!}ms`);
  });
});

describe('a burst with a short group_interval does not stall the receiver', () => {
  it('10,000 alerts in 10,000 groups with group_interval 1s are all delivered as digests within a minute', { timeout: 120_000 }, async () => {
    const hook = await fake(new FakeWebhook());
    const { am, db } = await manager(
      ['group_wait: 200ms', 'group_interval: 1s', 'repeat_interval: 1h', 'receivers:', `  - { name: hook, type: webhook, url: "${hook.url}/h", max_bytes: 50000000, timeout: 30s }`, 'routes:', '  - { receivers: [hook] }'].join('\n'),
    );
    const alerts = Array.from({ length: 10_000 }, (_, i) => ({ labels: { alertname: `Burst${i}`, host: `h${i % 50}` }, annotations: { summary: `burst alert ${i}` } }));
    am.push(alerts);
    type Body = { groups: Array<{ alerts: Array<{ labels: { alertname: string } }> }> };
    const seen = new Set<string>();
    await waitFor(
      () => {
        seen.clear();
        for (const b of hook.accepted()) for (const g of (b.body as Body).groups) for (const a of g.alerts) seen.add(a.labels.alertname);
        return seen.size === 10_000;
      },
      { timeout: 60_000, interval: 500, what: `10,000 alerts delivered (have ${seen.size})` },
    );
    const w = am.workers.get('hook')!;
    // The stand-in records a request before our side has read the answer: wait for our side.
    await waitFor(() => w.stats.sent === hook.accepted().length && w.pending === 0, { timeout: 30_000, what: 'worker caught up' });
    assert.ok(w.stats.digests >= 1, `the burst went out as digests: ${JSON.stringify(w.stats)}`);
    assert.ok(hook.accepted().length <= 60, `${hook.accepted().length} messages within the 60/min rate limit`);
    await waitFor(() => w.pending === 0, { what: 'empty queue' });
    const told = db.prepare("SELECT count(*) AS n FROM notify_state WHERE receiver = 'hook'").get() as { n: number };
    assert.equal(told.n, 10_000);
  });
});
