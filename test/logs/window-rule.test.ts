import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WindowRule } from '../../agent/logs/window-rule.js';
import { logsSchema } from '../../shared/config/logs.js';
import type { LogRecord } from '../../shared/logs/record.js';

function rule(r: Record<string, unknown>): WindowRule {
  const cfg = logsSchema.parse([{ name: 's', paths: ['/x'], rules: [r] }])[0]!.rules[0]!;
  return new WindowRule(cfg);
}

const rec = (level: LogRecord['level'], message = 'm', fields: Record<string, string> = {}): LogRecord => ({ level, message, fields });

describe('window rules (the issue figures: threshold 10 in 60 s)', () => {
  it('does not fire on 9, fires once on the 10th, resolves a full quiet window later', () => {
    const r = rule({ name: 'error-burst', level: 'ERROR', threshold: 10, window: '60s' });
    const t0 = 1_000_000;
    for (let i = 0; i < 9; i++) r.hit(t0 + i * 1000, `e${i}`);
    assert.equal(r.evaluate(t0 + 9000), undefined, 'no alert at 9');
    r.hit(t0 + 9500, 'e9');
    const fired = r.evaluate(t0 + 10_000);
    assert.equal(fired?.kind, 'fire');
    assert.equal(fired?.count, 10);
    assert.deepEqual(fired?.kind === 'fire' ? fired.samples : [], ['e7', 'e8', 'e9']);
    // More errors while firing: no second fire.
    r.hit(t0 + 20_000, 'e10');
    assert.equal(r.evaluate(t0 + 20_000), undefined);
    // The hits age out at t0+60s..; below threshold from the first evaluation after that.
    assert.equal(r.evaluate(t0 + 61_000), undefined);
    assert.equal(r.evaluate(t0 + 61_000 + 59_000), undefined, 'not before a full window below threshold');
    assert.equal(r.evaluate(t0 + 61_000 + 60_000)?.kind, 'resolve');
    assert.equal(r.isFiring, false);
  });

  it('re-asserts every window while above threshold; cooldown spaces firings', () => {
    const r = rule({ name: 'b', level: ['ERROR', 'FATAL'], threshold: 2, window: '10s', cooldown: '60s' });
    r.hit(0, 'a');
    r.hit(1, 'b');
    assert.equal(r.evaluate(2)?.kind, 'fire');
    for (let t = 1000; t <= 10_000; t += 1000) r.hit(t, 'x');
    assert.equal(r.evaluate(10_002)?.kind, 'refire');
    assert.equal(r.evaluate(30_000), undefined, 'first look below threshold starts the quiet window');
    assert.equal(r.evaluate(40_000)?.kind, 'resolve');
    r.hit(41_000, 'y');
    r.hit(41_001, 'z');
    assert.equal(r.evaluate(41_002), undefined, 'inside the cooldown');
    r.hit(61_000, 'y');
    r.hit(61_001, 'z');
    assert.equal(r.evaluate(61_002)?.kind, 'fire');
  });

  it('matches by level list and field regexes (all must match)', () => {
    const r = rule({ name: 'oom', level: ['ERROR', 'FATAL'], match: { message: 'OutOfMemory', logger: '^com\\.acme' }, threshold: 1, window: '5m' });
    assert.equal(r.matches(rec('ERROR', 'java.lang.OutOfMemoryError', { logger: 'com.acme.A' }), ''), true);
    assert.equal(r.matches(rec('WARN', 'java.lang.OutOfMemoryError', { logger: 'com.acme.A' }), ''), false);
    assert.equal(r.matches(rec('FATAL', 'java.lang.OutOfMemoryError', { logger: 'org.x' }), ''), false);
    assert.equal(r.matches(undefined, 'OutOfMemory'), false, 'an unparsed line has no level');
    const raw = rule({ name: 'raw', match: { line: 'panic' }, threshold: 1, window: '1m' });
    assert.equal(raw.matches(undefined, 'kernel panic - not syncing'), true);
  });
});
