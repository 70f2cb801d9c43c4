import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { tempDir } from '../../test/helpers/tmp.js';
import { openDatabase } from '../store/db.js';
import { RunsStore } from './runs-store.js';

// Issue 18: a fleet-wide run writes its run_hosts rows in groups (RunsStore.writeHosts, one
// transaction per group) instead of two autocommits per host.
describe('RunsStore.writeHosts: a group of host rows in one transaction', () => {
  const dir = tempDir('opsfleet-runs-');
  const db = openDatabase(dir.path);
  after(() => {
    db.close();
    dir.cleanup();
  });
  const runs = new RunsStore(db);
  const fin = (hostId: string, status: 'ok' | 'failed', endedMs: number) => ({ kind: 'finish' as const, result: { hostId, status, error: status === 'ok' ? '' : 'boom', endedMs, agentStartedMs: endedMs - 5, agentEndedMs: endedMs - 1, steps: [{ index: 0, name: 'load', status: 'ok', exitCode: 0, durationMs: 1, outputTruncated: false, outputBytes: 0 }], output: '', outputTruncated: false } });

  it('applies starts and finishes in order, a start and finish of one host in the same group included', () => {
    runs.create({ id: 'r1', actor: 'admin', playbook: 'trivial', target: '*', matched: ['a', 'b', 'c'], options: {}, startedMs: 1000 });
    runs.writeHosts('r1', [{ kind: 'start', hostId: 'a', startedMs: 1001 }, { kind: 'start', hostId: 'b', startedMs: 1002 }, fin('a', 'ok', 1010)]);
    let hosts = runs.get('r1')!.hosts;
    assert.deepEqual(hosts.map((h) => [h.hostId, h.status]), [['a', 'ok'], ['b', 'running'], ['c', 'pending']]);
    runs.writeHosts('r1', [fin('b', 'failed', 1020), { kind: 'start', hostId: 'c', startedMs: 1021 }, fin('c', 'ok', 1030)]);
    hosts = runs.get('r1')!.hosts;
    assert.deepEqual(hosts.map((h) => [h.hostId, h.status, h.error]), [['a', 'ok', ''], ['b', 'failed', 'boom'], ['c', 'ok', '']]);
    assert.equal(hosts[2]!.steps.length, 1);
    runs.writeHosts('r1', []);
  });

  it('is one transaction: a write that throws leaves none of its group', () => {
    runs.create({ id: 'r2', actor: 'admin', playbook: 'trivial', target: '*', matched: ['a'], options: {}, startedMs: 2000 });
    const bad = { kind: 'finish' as const, result: { ...fin('a', 'ok', 2010).result, steps: undefined as unknown as [] } };
    // steps: undefined is refused by SQLite (JSON.stringify(undefined) is not a bindable value).
    assert.throws(() => runs.writeHosts('r2', [{ kind: 'start', hostId: 'a', startedMs: 2001 }, bad]));
    assert.equal(runs.get('r2')!.hosts[0]!.status, 'pending');
  });
});
