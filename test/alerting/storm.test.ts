import { strict as assert } from 'node:assert';
import { after, afterEach, describe, it } from 'node:test';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { FakeWebhook } from './fakes.js';
import { startManager } from './harness.js';

// Issue 18: 1,000 agents dying at once must reach a route as one grouped notification, not
// 1,000 messages, under the default group_by [alertname, host] (one group per host).
const dir = tempDir('opsfleet-alert-storm-');
after(() => dir.cleanup());
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
let n = 0;
async function setup(extra: string[]) {
  const hook = new FakeWebhook();
  await hook.start();
  cleanups.push(() => hook.stop());
  const m = await startManager(
    ['group_wait: 300ms', 'group_interval: 1h', 'sweep_interval: 50ms', 'group_by: [alertname, host]', ...extra, 'receivers:', `  - { name: hook, type: webhook, url: "${hook.url}/h" }`, 'routes:', '  - { receivers: [hook] }'].join('\n'),
    `${dir.path}/m-${++n}`,
  );
  cleanups.push(m.close);
  return { ...m, hook };
}
type HookBody = { groups: Array<{ groupKey: string; alerts: Array<{ labels: Record<string, string> }> }> };
const offline = (hosts: number) => Array.from({ length: hosts }, (_, i) => ({ hostId: `h${String(i).padStart(4, '0')}`, from: 'online' as const, to: 'offline' as const, atMs: Date.now(), reason: 'no heartbeat' }));

describe('alert storms (storm_groups)', () => {
  it('200 hosts going offline together reach the route as one message carrying every group', { timeout: 60_000 }, async () => {
    const { am, hook } = await setup([]);
    for (const c of offline(200)) am.onHostStatus(c);
    await waitFor(() => hook.accepted().length >= 1, { what: 'the storm message' });
    // Every group flushed in the same turn as the first: nothing else is coming.
    await waitFor(() => am.dispatcher.stats.flushes >= 200, { what: 'all groups flushed' });
    await waitFor(() => [...am.workers.values()].every((w) => w.pending === 0), { what: 'worker idle' });
    const bodies = hook.bodies<HookBody>();
    assert.equal(bodies.length, 1, `one message, got ${bodies.length}`);
    assert.equal(bodies[0]!.groups.length, 200);
    assert.equal(new Set(bodies[0]!.groups.flatMap((g) => g.alerts.map((a) => a.labels.host))).size, 200);
    assert.equal(am.dispatcher.stats.storms, 1);
    // The groups stay separate: one host coming back resolves only its own group.
    assert.equal(am.dispatcher.groupCount, 200);
  });

  it('below the threshold every group is its own message, as before', { timeout: 60_000 }, async () => {
    const { am, hook } = await setup(['storm_groups: 10']);
    for (const c of offline(3)) am.onHostStatus(c);
    await waitFor(() => hook.accepted().length >= 3, { what: 'three messages' });
    const bodies = hook.bodies<HookBody>();
    assert.deepEqual(bodies.map((b) => b.groups.length), [1, 1, 1]);
    assert.equal(am.dispatcher.stats.storms, 0);
  });

  it('storm_groups: 0 turns merging off (rate limiting still digests a burst)', { timeout: 60_000 }, async () => {
    const { am, hook } = await setup(['storm_groups: 0']);
    for (const c of offline(12)) am.onHostStatus(c);
    await waitFor(() => hook.accepted().length >= 12, { what: 'twelve messages' });
    assert.equal(am.dispatcher.stats.storms, 0);
    assert.equal(hook.bodies<HookBody>().reduce((s, b) => s + b.groups.length, 0), 12);
  });
});
