import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createServer } from 'node:net';
import pino from 'pino';
import { AgentClients } from './agent-clients.js';
import { ChannelWarmer, type WarmableClients, type WarmTarget } from './channel-warmer.js';

/** AgentClients stand-in: each connect takes `connectMs`, records how many were in flight, and fails for `down` hosts. */
class FakeClients implements WarmableClients {
  readonly channelIdleMs = 30 * 60_000;
  readonly ready = new Set<string>();
  readonly channels = new Set<string>();
  inFlight = 0;
  maxInFlight = 0;
  readonly starts: number[] = [];
  readonly attempts = new Map<string, number>();
  private readonly leaveReady = new Map<string, () => void>();
  constructor(
    readonly channelBudget: number,
    private readonly connectMs: number,
    private readonly down = new Set<string>(),
  ) {}
  get channelCount(): number {
    return this.channels.size;
  }
  isReady(hostId: string): boolean {
    return this.ready.has(hostId);
  }
  hasChannel(hostId: string): boolean {
    return this.channels.has(hostId);
  }
  onLeaveReady(hostId: string, _endpoint: string, _tls: boolean, fn: () => void): boolean {
    if (!this.ready.has(hostId)) return false;
    this.leaveReady.set(hostId, fn);
    return true;
  }
  /** The host's connection drops (its agent restarted). */
  drop(hostId: string): void {
    this.ready.delete(hostId);
    const fn = this.leaveReady.get(hostId);
    this.leaveReady.delete(hostId);
    fn?.();
  }
  async connect(hostId: string): Promise<void> {
    this.channels.add(hostId);
    this.attempts.set(hostId, (this.attempts.get(hostId) ?? 0) + 1);
    this.starts.push(performance.now());
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setTimeout(r, this.connectMs));
    this.inFlight--;
    if (this.down.has(hostId)) throw new Error('connect failed');
    this.ready.add(hostId);
  }
}

const hosts = (n: number): WarmTarget[] => Array.from({ length: n }, (_, i) => ({ hostId: `h${i}`, endpoint: `127.0.0.1:${10_000 + i}`, tls: true }));
const settled = async (w: ChannelWarmer, timeoutMs = 10_000) => {
  const end = Date.now() + timeoutMs;
  while (w.stats().queued + w.stats().warming > 0) {
    if (Date.now() > end) throw new Error(`warmer not settled: ${JSON.stringify(w.stats())}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};
const logger = pino({ level: 'silent' });

describe('ChannelWarmer', () => {
  it('keeps at most `concurrency` connects in flight and at most `per_second` started a second', async () => {
    const fake = new FakeClients(10_000, 40);
    const online = hosts(60);
    const w = new ChannelWarmer({ clients: fake, onlineTargets: () => online, target: () => undefined, perSecond: 100, concurrency: 4, connectTimeoutMs: 1000, logger });
    const t0 = performance.now();
    w.start();
    await settled(w);
    const tookMs = performance.now() - t0;
    await w.stop();
    assert.equal(fake.ready.size, 60);
    assert.equal(fake.maxInFlight, 4, 'the concurrency bound is reached and never passed');
    assert.equal(w.stats().warmed, 60);
    // 4 in flight of 40 ms each would allow 100/s; the rate allows 100/s plus a burst of 10:
    // in any 300 ms window at most 30 + 10 start.
    for (let i = 0; i < fake.starts.length; i++) {
      const inWindow = fake.starts.filter((s) => s >= fake.starts[i]! && s < fake.starts[i]! + 300).length;
      assert.ok(inWindow <= 40, `${inWindow} connects started within 300 ms`);
    }
    assert.ok(tookMs >= 450, `60 connects at 100/s (burst 10) take at least 0.5 s, took ${Math.round(tookMs)} ms`);
  });

  it('the rate bounds when connects are instant', async () => {
    const fake = new FakeClients(10_000, 0);
    const w = new ChannelWarmer({ clients: fake, onlineTargets: () => hosts(50), target: () => undefined, perSecond: 50, concurrency: 32, connectTimeoutMs: 1000, logger });
    const t0 = performance.now();
    w.start();
    await settled(w);
    await w.stop();
    // 50 at 50/s with a burst of 5: the last starts ~0.9 s after the first.
    assert.ok(performance.now() - t0 >= 800, `took ${Math.round(performance.now() - t0)} ms`);
    assert.equal(fake.ready.size, 50);
  });

  it('never creates channels past the budget, and does not retry a failed host until its next online transition', async () => {
    const fake = new FakeClients(5, 5, new Set(['h1']));
    const online = hosts(8);
    const w = new ChannelWarmer({ clients: fake, onlineTargets: () => online, target: (id) => online.find((h) => h.hostId === id), perSecond: 1000, concurrency: 8, connectTimeoutMs: 1000, logger });
    w.start();
    await settled(w);
    assert.equal(fake.channelCount, 5);
    assert.deepEqual(w.stats(), { ...w.stats(), warmed: 4, failed: 1, overBudget: 3 });
    // No retry loop: nothing happens to h1 until something says it is online again.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(fake.attempts.get('h1'), 1);
    w.hostStatus({ hostId: 'h1', to: 'online' });
    await settled(w);
    assert.equal(fake.attempts.get('h1'), 2);
    // An offline transition queues nothing; a sweep touches the ready ones and queues only h1 again.
    w.hostStatus({ hostId: 'h2', to: 'offline' });
    w.sweep();
    await settled(w);
    assert.equal(fake.attempts.get('h1'), 3);
    assert.equal(fake.attempts.get('h0'), 1);
    await w.stop();
    // Stopped: transitions are ignored.
    w.hostStatus({ hostId: 'h1', to: 'online' });
    assert.equal(w.stats().queued, 0);
  });
});

describe('AgentClients.connect', () => {
  it('fails fast with OPS_ERR_RPC_UNAVAILABLE when nothing listens, instead of holding the slot until the deadline', async () => {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const clients = new AgentClients({ insecure: true, timeoutMs: 20_000 });
    try {
      const t0 = performance.now();
      await assert.rejects(clients.connect('h', `127.0.0.1:${port}`, false), (err: Error & { code?: string }) => err.code === 'OPS_ERR_RPC_UNAVAILABLE');
      assert.ok(performance.now() - t0 < 5000, `took ${Math.round(performance.now() - t0)} ms`);
      assert.equal(clients.isReady('h', `127.0.0.1:${port}`, false), false);
      assert.equal(clients.channelStats().ready, 0);
    } finally {
      clients.close();
    }
  });
});

describe('ChannelWarmer re-warming', () => {
  it('connects a warm channel again once after it drops, only while its host is online', async () => {
    const fake = new FakeClients(100, 5);
    const online = new Map(hosts(3).map((h) => [h.hostId, h]));
    const w = new ChannelWarmer({ clients: fake, onlineTargets: () => [...online.values()], target: (id) => online.get(id), perSecond: 1000, concurrency: 4, connectTimeoutMs: 1000, rewarmDelayMs: 50, logger });
    w.start();
    await settled(w);
    assert.equal(fake.ready.size, 3);
    fake.drop('h0');
    online.delete('h1');
    fake.drop('h1');
    const end = Date.now() + 5000;
    while (!fake.ready.has('h0')) {
      if (Date.now() > end) throw new Error('h0 not re-warmed');
      await new Promise((r) => setTimeout(r, 10));
    }
    await settled(w);
    assert.equal(fake.attempts.get('h0'), 2);
    // h1 went offline meanwhile: left to the idle timeout.
    assert.equal(fake.attempts.get('h1'), 1);
    assert.equal(w.stats().rewarms, 1);
    await w.stop();
  });
});
