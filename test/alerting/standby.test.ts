import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import type { LeaderInfo, Leadership } from '../../controller/ha/leadership.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { FakeWebhook } from './fakes.js';
import { startManager } from './harness.js';

/** A leadership the test switches by hand (the lease itself is tested in test/ha/). */
class SwitchedLeadership implements Leadership {
  readonly id = 'b';
  leading = false;
  private readonly fns = new Set<(l: boolean) => void>();
  isLeader(): boolean {
    return this.leading;
  }
  epoch(): number {
    return this.leading ? 7 : 0;
  }
  leader(): LeaderInfo | undefined {
    return this.leading ? { id: 'b', url: 'http://b', since: 1 } : { id: 'a', url: 'http://a', since: 1 };
  }
  onChange(fn: (l: boolean) => void): () => void {
    this.fns.add(fn);
    return () => this.fns.delete(fn);
  }
  set(leading: boolean): void {
    this.leading = leading;
    for (const fn of this.fns) fn(leading);
  }
}

// Issue 18: only the leader sends notifications; a standby keeps its groups warm and, once it
// leads, tells at once what nobody told (not after a whole group_interval).
describe('alerting on a standby controller', () => {
  const dir = tempDir('opsfleet-alert-standby-');
  const hook = new FakeWebhook();
  const lead = new SwitchedLeadership();
  let m: Awaited<ReturnType<typeof startManager>>;

  before(async () => {
    await hook.start();
    m = await startManager(['group_wait: 100ms', 'group_interval: 1h', 'repeat_interval: 4h', 'receivers:', `  - { name: oncall, type: webhook, url: "${hook.url}/oncall" }`, 'routes:', '  - { receivers: [oncall] }'].join('\n'), dir.path, process.env, undefined, lead);
  });
  after(async () => {
    await m?.close();
    await hook.stop();
    dir.cleanup();
  });

  it('sends nothing while standby, keeps the group, and notifies right after promotion', { timeout: 30_000 }, async () => {
    m.am.push([{ labels: { alertname: 'DiskFull', host: 'db-1', severity: 'critical' } }]);
    await waitFor(() => m.am.dispatcher.stats.heldAsStandby >= 1, { what: 'the group flush held on the standby' });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(hook.accepted().length, 0, 'a standby notifies nobody');
    assert.equal(m.am.dispatcher.groupCount, 1, 'the group is kept');
    assert.equal(m.am.notifyStore.get(m.am.dispatcher.snapshot()[0]!.key, 'oncall'), undefined, 'nothing recorded as told');
    const promotedAt = Date.now();
    lead.set(true);
    await waitFor(() => hook.accepted().length === 1, { timeout: 10_000, what: 'notification after promotion' });
    assert.ok(Date.now() - promotedAt < 5000, 'sent at promotion, not after group_interval (1h)');
    // Leading, a new group flushes as usual.
    m.am.push([{ labels: { alertname: 'HighLoad', host: 'web-1' } }]);
    await waitFor(() => hook.accepted().length === 2, { what: 'second group notified by the leader' });
    lead.set(false);
    m.am.push([{ labels: { alertname: 'MemLow', host: 'web-2' } }]);
    await waitFor(() => m.am.dispatcher.stats.heldAsStandby >= 2, { what: 'flush held after stepping down' });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(hook.accepted().length, 2, 'nothing sent after stepping down');
  });
});
