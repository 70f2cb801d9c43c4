import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { rateLimitHook } from './log-rate-limit.js';

function setup() {
  let t = 1_000_000;
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const limiter = rateLimitHook({ intervalMs: 60_000, now: () => t });
  const log = pino({ level: 'info', hooks: { logMethod: limiter.hook } }, sink);
  return { log, lines, limiter, advance: (ms: number) => (t += ms) };
}

const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

describe('repeated warnings and errors', () => {
  it('pass one line per distinct error per interval; the next line carries the count', () => {
    const { log, lines, advance } = setup();
    const hb = log.child({ component: 'heartbeat' });
    for (let i = 0; i < 360; i++) {
      hb.error({ err: enospc() }, 'heartbeat not written to outbox');
      advance(166); // ~6 a second for a minute
    }
    assert.equal(lines.filter((l) => l.msg === 'heartbeat not written to outbox').length, 1);
    advance(1000);
    hb.error({ err: enospc() }, 'heartbeat not written to outbox');
    const last = lines.at(-1)!;
    assert.equal(last.repeated, 359);
    assert.ok(Number(last.repeatedWithinMs) >= 60_000);
  });

  it('keeps distinct errors, components and bindings apart, and never limits info', () => {
    const { log, lines } = setup();
    const a = log.child({ component: 'health', check: 'a' });
    const b = log.child({ component: 'health', check: 'b' });
    a.error({ err: enospc() }, 'check event not written');
    b.error({ err: enospc() }, 'check event not written');
    a.error({ err: new Error('other') }, 'check event not written');
    a.warn('check event not written');
    for (let i = 0; i < 5; i++) a.info('tick');
    assert.equal(lines.length, 4 + 5);
  });

  it('flush() reports the count of an error that stopped repeating', () => {
    const { log, lines, limiter, advance } = setup();
    for (let i = 0; i < 10; i++) log.error('outbox write failed');
    advance(61_000);
    limiter.flush();
    assert.equal(lines.length, 2);
    assert.equal(lines[1]!.repeated, 9);
    limiter.flush();
    assert.equal(lines.length, 2, 'reported once');
  });
});
