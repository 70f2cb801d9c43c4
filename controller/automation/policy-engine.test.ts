import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import type { PolicyConfig } from '../../shared/config/tasks.js';
import { tempDir } from '../../test/helpers/tmp.js';
import { AuditLog } from '../audit/audit-log.js';
import { openDatabase } from '../store/db.js';
import { PolicyEngine } from './policy-engine.js';
import { RemediationStore } from './remediation-store.js';
import { PolicyTrackStore } from './policy-tracks.js';

const dirs: Array<() => void> = [];
after(() => dirs.forEach((c) => c()));

function policy(over: Partial<PolicyConfig> = {}): PolicyConfig {
  return {
    name: 'restart-app',
    description: '',
    when: { alertname: 'CheckDown', check: 'app-http' },
    for: 120_000,
    run: { playbook: 'restart-app', on: 'alert_host' },
    verify: { alert_resolves_within: 300_000 },
    max_attempts: 2,
    cooldown: 1_800_000,
    escalate: { notify: ['oncall'] },
    dry_run: false,
    max_per_minute: 100,
    enabled: true,
    ...over,
  } as PolicyConfig;
}

function fixture(globalPerMinute = 10, mayAct?: () => boolean) {
  const d = tempDir('opsfleet-policy-');
  dirs.push(d.cleanup);
  const db = openDatabase(d.path);
  let clock = 1_000_000;
  const alerts = new Map<string, { labels: Record<string, string>; startsAtMs: number; resolved: boolean }>();
  const notes: string[] = [];
  const runs: Array<{ target: string; resolve: (ok: boolean) => void }> = [];
  const notified: Array<{ receivers: readonly string[]; title: string }> = [];
  const store = new RemediationStore(db);
  const tracks = new PolicyTrackStore(db);
  // `another`: a second engine on the same database (a restart, or the standby once the
  // tracks were replicated to it).
  const build = (origin: string, may?: () => boolean) => new PolicyEngine({
    alerts: {
      firing: () => [...alerts.entries()].filter(([, a]) => !a.resolved).map(([fingerprint, a]) => ({ fingerprint, labels: a.labels, startsAtMs: a.startsAtMs })),
      isResolved: (fp) => alerts.get(fp)?.resolved ?? true,
      annotate: (fp, line) => notes.push(`${fp}: ${line}`),
    },
    run: (_p, target) => new Promise((resolve) => runs.push({ target, resolve: (ok) => resolve({ runId: `run-${runs.length}`, status: ok ? 'ok' : 'failed', reason: ok ? '' : 'exit 1' }) })),
    notify: (receivers, n) => notified.push({ receivers, title: n.title }),
    store,
    tracks,
    origin,
    audit: new AuditLog(db, () => clock),
    globalPerMinute,
    logger: pino({ level: 'silent' }),
    now: () => clock,
    ...(may ? { mayAct: may } : {}),
  });
  const engine = build('ctl-a', mayAct);
  const fire = (fp: string, host: string, labels: Record<string, string> = { alertname: 'CheckDown', check: 'app-http' }) => alerts.set(fp, { labels: { ...labels, host }, startsAtMs: clock, resolved: false });
  return { engine, store, tracks, alerts, notes, runs, notified, fire, advance: (ms: number) => (clock += ms), another: (origin: string) => build(origin) };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('PolicyEngine', () => {
  it('waits `for`, remediates on the alert host, and records success when the alert resolves', async () => {
    const f = fixture();
    f.engine.setPolicies([policy()]);
    f.fire('fp1', 'web-1');
    f.engine.tick();
    f.advance(119_000);
    f.engine.tick();
    assert.equal(f.runs.length, 0, 'not before for: 2m');
    f.advance(2_000);
    f.engine.tick();
    assert.equal(f.runs.length, 1);
    assert.equal(f.runs[0]!.target, 'web-1');
    f.runs[0]!.resolve(true);
    await flush();
    f.advance(30_000);
    f.alerts.get('fp1')!.resolved = true;
    f.engine.tick();
    const rows = f.store.list('restart-app', 10);
    assert.deepEqual(rows.map((r) => r.status), ['succeeded']);
    assert.equal(f.notes.length, 2);
    assert.match(f.notes[0]!, /^fp1: \d\d:\d\d:\d\d ran restart-app on web-1 \(attempt 1\)$/);
    assert.match(f.notes[1]!, /^fp1: \d\d:\d\d:\d\d recovered$/);
    assert.equal(f.notified.length, 0);
  });

  it('stops at max_attempts and escalates exactly once when the service cannot be fixed', async () => {
    const f = fixture();
    f.engine.setPolicies([policy({ for: 0 })]);
    f.fire('fp2', 'web-2');
    for (let i = 0; i < 40; i++) {
      f.engine.tick();
      for (const r of f.runs.splice(0)) r.resolve(true);
      await flush();
      f.advance(60_000); // verify window 5m passes without resolution
    }
    const statuses = f.store.list('restart-app', 100).map((r) => r.status).reverse();
    assert.deepEqual(statuses, ['not_resolved', 'not_resolved', 'escalated']);
    assert.equal(f.notified.length, 1);
    assert.deepEqual(f.notified[0]!.receivers, ['oncall']);
    assert.match(f.notified[0]!.title, /Self-healing gave up: restart-app on web-2/);
  });

  it('holds the fleet-wide rate limit when 50 hosts alert at once', async () => {
    const f = fixture(10);
    f.engine.setPolicies([policy({ for: 0 })]);
    for (let i = 0; i < 50; i++) f.fire(`fp${i}`, `web-${i}`);
    f.engine.tick();
    f.engine.tick();
    assert.equal(f.runs.length, 10);
    f.advance(30_000);
    f.engine.tick();
    assert.equal(f.runs.length, 10, 'still within the same minute');
    f.advance(31_000);
    f.engine.tick();
    assert.equal(f.runs.length, 20);
    // Each waiting alert is recorded as rate-limited at most once a minute.
    const limited = f.store.list('restart-app', 1000).filter((r) => r.status === 'rate_limited');
    assert.equal(new Set(limited.map((r) => r.fingerprint)).size, 40);
    assert.equal(limited.length, 40 + 30);
  });

  it('dry-run records what it would do; pause stops everything', async () => {
    const f = fixture();
    f.engine.setPolicies([policy({ for: 0, dry_run: true })]);
    f.fire('fpA', 'db-1');
    f.engine.tick();
    assert.equal(f.runs.length, 0);
    assert.deepEqual(f.store.list('', 10).map((r) => [r.status, r.detail]), [['dry_run', 'would run playbook restart-app on db-1']]);

    f.engine.setPolicies([policy({ for: 0, name: 'real' })]);
    f.store.setPaused('*', true);
    f.fire('fpB', 'db-2');
    f.engine.tick();
    assert.equal(f.runs.length, 0);
    f.store.setPaused('*', false);
    f.store.setPaused('real', true);
    f.engine.tick();
    assert.equal(f.runs.length, 0);
    f.store.setPaused('real', false);
    f.engine.tick();
    assert.equal(f.runs.length, 2, 'fpA and fpB, both matching the unpaused policy');
  });

  it('matches labels exactly or by ~regex, and needs every matcher', () => {
    const f = fixture();
    f.engine.setPolicies([policy({ for: 0, when: { alertname: 'CheckDown', check: '~app-.*' } })]);
    f.fire('x1', 'h1', { alertname: 'CheckDown', check: 'app-worker' });
    f.fire('x2', 'h2', { alertname: 'CheckDown', check: 'db' });
    f.fire('x3', 'h3', { alertname: 'DiskFull' });
    f.engine.tick();
    assert.deepEqual(f.runs.map((r) => r.target), ['h1']);
  });

  it('HA: a standby remediates nothing; once it leads, a due policy acts', () => {
    let leading = false;
    const f = fixture(10, () => leading);
    f.engine.setPolicies([policy()]);
    f.fire('fp1', 'web-1');
    f.advance(121_000);
    f.engine.tick();
    assert.equal(f.runs.length, 0, 'a standby runs no remediation');
    assert.equal(f.store.list('restart-app', 10).length, 0, 'and records none');
    leading = true;
    f.engine.tick();
    assert.equal(f.runs.length, 1);
    assert.equal(f.runs[0]!.target, 'web-1');
  });

  it('the flap guard survives the leader: a new engine continues the attempt count, the verify window and the escalation', async () => {
    const f = fixture();
    f.engine.setPolicies([policy({ for: 0, max_attempts: 3 })]);
    f.fire('fpF', 'web-9');
    // Attempt 1: ran, not resolved within the verify window; attempt 2 dispatched, its run in flight.
    f.engine.tick();
    for (const r of f.runs.splice(0)) r.resolve(true);
    await flush();
    f.advance(301_000);
    f.engine.tick();
    assert.equal(f.runs.length, 1, 'attempt 2 dispatched');
    const row = f.tracks.all()[0]!;
    assert.deepEqual([row.policy, row.fingerprint, row.phase, row.attempts, row.origin], ['restart-app', 'fpF', 'dispatching', 2, 'ctl-a']);

    // The leader dies with attempt 2 in flight; B takes over from the same (replicated) rows.
    f.runs.splice(0);
    const b = f.another('ctl-b');
    b.setPolicies([policy({ for: 0, max_attempts: 3 })]);
    b.tick();
    assert.equal(f.runs.length, 0, 'attempt 2 counts: B waits its verify window instead of restarting at attempt 1');
    const adopted = f.store.list('restart-app', 1)[0]!;
    assert.equal(adopted.status, 'verifying');
    assert.match(adopted.detail, /attempt 2 was made by ctl-a/);
    f.advance(301_000);
    b.tick();
    assert.equal(f.runs.length, 1, 'attempt 3, the last');
    for (const r of f.runs.splice(0)) r.resolve(true);
    await flush();
    f.advance(301_000);
    b.tick();
    assert.equal(f.notified.length, 1, 'escalated once, after 3 attempts across both controllers');
    assert.equal(f.tracks.all()[0]!.escalated, true);

    // A third engine (B restarted) does not try again within the cooldown, nor escalate again.
    const c = f.another('ctl-b');
    c.setPolicies([policy({ for: 0, max_attempts: 3 })]);
    for (let i = 0; i < 5; i++) {
      f.advance(60_000);
      c.tick();
    }
    assert.equal(f.runs.length, 0);
    assert.equal(f.notified.length, 1);
    // Once the alert resolves and the cooldown passes, the track ends everywhere.
    f.alerts.get('fpF')!.resolved = true;
    f.advance(1_800_000);
    c.tick();
    assert.equal(f.tracks.all().length, 0);
  });

  it('an alert that resolves before the policy acts writes and replicates nothing', () => {
    const f = fixture();
    const changes: string[] = [];
    f.tracks.onChange((c) => changes.push(c.op));
    f.engine.setPolicies([policy()]); // for: 2 min
    f.fire('fpQ', 'web-3');
    f.engine.tick();
    f.alerts.get('fpQ')!.resolved = true;
    f.advance(60_000);
    f.engine.tick();
    assert.deepEqual(changes, []);
    assert.deepEqual(f.tracks.all(), []);
  });
});
