import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import type { TaskConfig } from '../../shared/config/tasks.js';
import { tempDir } from '../../test/helpers/tmp.js';
import { AuditLog } from '../audit/audit-log.js';
import { openDatabase } from '../store/db.js';
import { Scheduler, type TaskOutcome, type TaskTrigger } from './scheduler.js';
import { TaskStore } from './task-store.js';

const dirs: Array<() => void> = [];
after(() => dirs.forEach((c) => c()));

function task(over: Partial<TaskConfig> = {}): TaskConfig {
  return {
    name: 'sweep',
    description: '',
    schedule: '*/10 * * * * *',
    target: '*',
    playbook: 'p',
    overlap: 'skip',
    jitter: 0,
    enabled: true,
    on_failure: { notify: [] },
    on_success: { notify: [] },
    report: { notify: [] },
    ...over,
  } as TaskConfig;
}

/** A fixture: one database, a settable clock, and an executor whose runs the test finishes. */
function fixture(ha: { mayRun?: () => boolean; claim?: (task: string, slotMs: number) => Promise<boolean> } = {}) {
  const d = tempDir('opsfleet-sched-');
  dirs.push(d.cleanup);
  const db = openDatabase(d.path);
  let clock = Date.parse('2026-01-01T00:00:03Z');
  const calls: Array<{ trigger: TaskTrigger; at: number; finish: (o?: Partial<TaskOutcome>) => void }> = [];
  const make = () =>
    new Scheduler({
      store: new TaskStore(db),
      audit: new AuditLog(db, () => clock),
      execute: (_t, trigger) =>
        new Promise<TaskOutcome>((resolve) => {
          calls.push({ trigger, at: clock, finish: (o) => resolve({ runId: `r${calls.length}`, status: 'ok', reason: '', ...o }) });
        }),
      logger: pino({ level: 'silent' }),
      now: () => clock,
      tickMs: 60_000, // the test drives tick() itself
      defaultCatchUpMs: 3_600_000,
      ...ha,
    });
  const history = () => new TaskStore(db).history('sweep', 100).reverse().map((r) => `${r.trigger}:${r.status}${r.reason ? `(${r.reason})` : ''}`);
  return { db, make, calls, history, set: (iso: string) => (clock = Date.parse(iso)) };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('Scheduler', () => {
  it('runs a task on time, once per slot, and a restart never runs a slot twice', async () => {
    const f = fixture();
    const s = f.make();
    s.setTasks([task()]);
    await s.start();
    assert.equal(f.calls.length, 0, 'a new task waits for its next slot');
    f.set('2026-01-01T00:00:10.300Z');
    s.tick();
    assert.equal(f.calls.length, 1);
    assert.equal(f.calls[0]!.trigger, 'schedule');
    f.set('2026-01-01T00:00:15Z');
    s.tick();
    assert.equal(f.calls.length, 1);
    f.calls[0]!.finish();
    await flush();
    await s.stop();

    const again = f.make();
    again.setTasks([task()]);
    await again.start();
    assert.equal(f.calls.length, 1, 'restart within the same slot must not run it again');
    await again.stop();
    assert.deepEqual(f.history(), ['schedule:ok']);
  });

  it('catches up the latest missed slot once on start and records the older ones as missed', async () => {
    const f = fixture();
    const s = f.make();
    s.setTasks([task()]);
    await s.start();
    await s.stop();
    f.set('2026-01-01T00:00:45Z'); // slots 10, 20, 30, 40 passed while "down"
    const after = f.make();
    after.setTasks([task()]);
    await after.start();
    assert.equal(f.calls.length, 1);
    assert.equal(f.calls[0]!.trigger, 'catch_up');
    f.calls[0]!.finish();
    await flush();
    after.tick();
    assert.equal(f.calls.length, 1);
    await after.stop();
    assert.deepEqual(f.history(), ['catch_up:missed(3 earlier run(s) missed while the controller was not running)', 'catch_up:ok']);
  });

  it('records a slot older than catch_up as missed without running it', async () => {
    const f = fixture();
    const s = f.make();
    s.setTasks([task({ schedule: '0 0 * * * *', catch_up: 60_000 })]); // hourly, catch_up 1m
    await s.start();
    await s.stop();
    f.set('2026-01-01T01:05:00Z');
    const later = f.make();
    later.setTasks([task({ schedule: '0 0 * * * *', catch_up: 60_000 })]);
    await later.start();
    await later.stop();
    assert.equal(f.calls.length, 0);
    assert.deepEqual(f.history(), ['catch_up:missed(due 300 s ago, past catch_up)']);
  });

  it('skips on overlap, or queues one run behind the running one', async () => {
    const f = fixture();
    const s = f.make();
    s.setTasks([task()]);
    await s.start();
    f.set('2026-01-01T00:00:10Z');
    s.tick();
    f.set('2026-01-01T00:00:20Z');
    s.tick(); // first still running
    assert.equal(f.calls.length, 1);
    f.calls[0]!.finish();
    await flush();
    assert.deepEqual(new Set(f.history()), new Set(['schedule:ok', 'schedule:skipped(previous run still going (overlap: skip))']));

    s.setTasks([task({ overlap: 'queue' })]);
    f.set('2026-01-01T00:00:30Z');
    s.tick();
    f.set('2026-01-01T00:00:40Z');
    s.tick(); // queued
    assert.equal(f.calls.length, 2);
    f.calls[1]!.finish();
    await flush();
    assert.equal(f.calls.length, 3);
    assert.equal(f.calls[2]!.trigger, 'queued');
    f.calls[2]!.finish({ status: 'failed', reason: 'web-1 failed' });
    await flush();
    await s.stop();
    assert.deepEqual(f.history().slice(-2), ['schedule:ok', 'queued:failed(web-1 failed)']);
  });

  it('runNow honours overlap: skip', async () => {
    const f = fixture();
    const s = f.make();
    s.setTasks([task()]);
    await s.start();
    assert.deepEqual(s.runNow('sweep'), { started: true });
    assert.equal(f.calls[0]!.trigger, 'manual');
    assert.deepEqual(s.runNow('sweep'), { started: false, reason: 'previous run still going (overlap: skip)' });
    assert.deepEqual(s.runNow('nope'), { started: false, reason: 'no task "nope"' });
    f.calls[0]!.finish();
    await flush();
    await s.stop();
  });

  it('HA: a standby does not run schedules; on promotion it catches up the latest slot once, unless another controller claimed it', async () => {
    let leading = false;
    const claimed = new Set<string>();
    const f = fixture({
      mayRun: () => leading,
      claim: async (name, slot) => {
        const k = `${name}.${slot}`;
        if (claimed.has(k)) return false;
        claimed.add(k);
        return true;
      },
    });
    const s = f.make();
    s.setTasks([task()]);
    await s.start();
    f.set('2026-01-01T00:00:10.300Z');
    s.tick();
    f.set('2026-01-01T00:00:20.300Z');
    s.tick();
    assert.equal(f.calls.length, 0, 'a standby runs nothing');
    // The old leader ran 00:00:20 (its claim is there); this one takes the lead at 00:00:21.
    claimed.add(`sweep.${Date.parse('2026-01-01T00:00:20Z')}`);
    leading = true;
    f.set('2026-01-01T00:00:21Z');
    s.tick();
    await flush();
    assert.equal(f.calls.length, 0, 'the slot the old leader ran is not run again');
    assert.deepEqual(f.history(), ['catch_up:missed(1 earlier run(s) before this controller led (run by the previous leader, or missed))', 'catch_up:skipped(slot already claimed by another controller (it ran there))']);
    f.set('2026-01-01T00:00:30.200Z');
    s.tick();
    await flush();
    assert.equal(f.calls.length, 1, 'the next slot runs here');
    assert.equal(f.calls[0]!.trigger, 'schedule');
    f.calls[0]!.finish();
    // Lost the lead: no more runs.
    leading = false;
    f.set('2026-01-01T00:00:40.200Z');
    s.tick();
    await flush();
    assert.equal(f.calls.length, 1);
    // A claim that cannot be made (KV down) skips the slot rather than risk a second run.
    const g = fixture({ claim: async () => Promise.reject(new Error('timeout')) });
    const s2 = g.make();
    s2.setTasks([task()]);
    await s2.start();
    g.set('2026-01-01T00:00:10.300Z');
    s2.tick();
    await flush();
    await flush();
    assert.equal(g.calls.length, 0);
    assert.deepEqual(g.history(), ['schedule:skipped(could not claim the slot in NATS KV: timeout)']);
    await s.stop();
    await s2.stop();
  });
});
