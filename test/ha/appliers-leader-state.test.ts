import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { AlertManager } from '../../controller/alerts/alert-manager.js';
import { fromWebhookPayload } from '../../controller/alerts/intake.js';
import { AuditLog } from '../../controller/audit/audit-log.js';
import { Automation } from '../../controller/automation/automation.js';
import type { RunDispatcher } from '../../controller/dispatch/run-dispatcher.js';
import { replicatePushedAlerts } from '../../controller/replication/alerts.js';
import { replicatePolicyTracks } from '../../controller/replication/policy-tracks.js';
import { replicateTaskSet } from '../../controller/replication/tasks.js';
import { openDatabase } from '../../controller/store/db.js';
import { controllerConfigSchema } from '../../shared/config/controller.js';
import { startManager } from '../alerting/harness.js';
import { ControlPair } from '../helpers/control-pair.js';
import { tempDir } from '../helpers/tmp.js';

// What a new leader knows (docs/scaling.md, "Control log"): how pushed alerts, the self-heal
// flap guard and the task set are applied on the receiving controller. The two-controller
// failover is test/ha/leader-knows.test.ts.

const logger = pino({ level: 'silent' });

const ALERTING = ['group_wait: 1h', 'resolve_timeout: 1h', 'receivers: [ { name: hook, type: webhook, url: "http://127.0.0.1:9/h" } ]', 'routes: [ { receivers: [hook] } ]'].join('\n');

describe('pushed alerts (alert.push)', () => {
  const dir = tempDir('opsfleet-push-appliers-');
  let a: { am: AlertManager; log: ControlPair; close: () => Promise<void> };
  let b: { am: AlertManager; log: ControlPair; close: () => Promise<void> };
  const side = async (name: string) => {
    mkdirSync(join(dir.path, name));
    const m = await startManager(ALERTING, join(dir.path, name));
    const log = new ControlPair(name);
    replicatePushedAlerts(log, m.am, logger);
    return { am: m.am, log, close: m.close };
  };
  const ship = async () => {
    for (const r of a.log.out.splice(0)) await b.log.apply(r);
  };
  before(async () => {
    a = await side('a');
    b = await side('b');
  });
  after(async () => {
    await a.close();
    await b.close();
    dir.cleanup();
  });

  it('an API push is the same alert on the other side (fingerprint, start, expiry); applied twice it is still one alert', async () => {
    const fps = a.am.pushFromApi([{ labels: { alertname: 'GrafanaDisk', host: 'db-1' }, annotations: { summary: 'disk' }, resolveTimeoutS: 600 }]);
    const rec = a.log.out[0]!;
    assert.equal(rec.kind, 'alert.push');
    await ship();
    await b.log.apply({ ...rec, id: 'again' });
    const onA = a.am.alerts.get(fps[0]!)!;
    const onB = b.am.alerts.get(fps[0]!)!;
    assert.equal(onB.state, 'firing');
    assert.equal(onB.source, 'api');
    assert.equal(onB.annotations.summary, 'disk');
    assert.equal(onB.startsAtMs, onA.startsAtMs);
    assert.equal(onB.expiresMs, onA.expiresMs, 'it resolves itself at the same moment on both');
    assert.equal(b.am.list('firing').filter((x) => x.labels.alertname === 'GrafanaDisk').length, 1);
    assert.equal(b.log.out.length, 0, 'applying publishes nothing back');
    // Grouped on B like a push of its own (B notifies it once it leads).
    assert.ok(b.am.groups().some((g) => g.alerts.some((x) => x.fingerprint === fps[0])));
  });

  it("an intake's resolution resolves it on the other side; a big intake batch goes as several records", async () => {
    const resolve = fromWebhookPayload({ alerts: [{ status: 'resolved', labels: { alertname: 'GrafanaDisk', host: 'db-1' } }] }, 'grafana', Date.now());
    a.am.intake(resolve);
    await ship();
    assert.equal(b.am.list('firing').filter((x) => x.labels.alertname === 'GrafanaDisk').length, 0);
    const many = fromWebhookPayload({ alerts: Array.from({ length: 3000 }, (_, i) => ({ status: 'firing' as const, labels: { alertname: 'Bulk', host: `h${i}` }, annotations: { description: 'x'.repeat(200) } })) }, 'alertmanager', Date.now());
    a.am.intake(many);
    assert.ok(a.log.out.length >= 3, `3000 alerts of ~300 bytes in records of at most 256 KiB (got ${a.log.out.length})`);
    for (const r of a.log.out) assert.ok(JSON.stringify(r).length < 1_000_000);
    await ship();
    assert.equal(b.am.list('firing').filter((x) => x.labels.alertname === 'Bulk').length, 3000);
  });

  it("the controller's own alerts (disk, backups) stay its own; a record with an unusable alert is refused", async () => {
    a.am.push([{ labels: { alertname: 'ControllerDiskLow', component: 'controller' } }]);
    assert.equal(a.log.out.length, 0);
    // One alert bigger than a record can carry (it would never be stored and would hold up the
    // outbox) stays here; the rest of its batch travels.
    const huge = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`note${i}`, 'x'.repeat(60_000)]));
    a.am.pushFromApi([{ labels: { alertname: 'Huge' }, annotations: huge }, { labels: { alertname: 'Small' } }]);
    const recs = a.log.out.splice(0);
    assert.equal(recs.length, 1);
    assert.deepEqual((recs[0]!.body as { alerts: Array<{ labels: { alertname: string } }> }).alerts.map((x) => x.labels.alertname), ['Small']);
    const bad = { id: 'bad', origin: 'a', kind: 'alert.push', ts: 1, body: { atMs: 1, alerts: [{ state: 'firing', labels: { host: 'x' }, annotations: {}, startsAtMs: 0, endsAtMs: 0, resolveTimeoutMs: 0, source: 'api', eventTsMs: 1 }] } };
    await assert.rejects(async () => b.log.apply(bad), (err: Error & { code?: string }) => err.code === 'OPS_ERR_HA_CONTROL_INVALID' && /alertname/.test(err.message));
    await assert.rejects(async () => b.log.apply({ ...bad, body: { ...bad.body, alerts: [{ ...bad.body.alerts[0]!, labels: { alertname: 'X' }, source: 'controller' }] } }), { code: 'OPS_ERR_HA_CONTROL_INVALID' });
  });
});

describe('the self-heal flap guard (policy.track) and the task set (tasks.set)', () => {
  const dir = tempDir('opsfleet-task-appliers-');
  const tasksFile = (text: string) => `tasks:\n${text}`;
  const task = (name: string, playbook = 'noop') => `  - { name: ${name}, schedule: "0 3 * * *", target: "*", playbook: ${playbook} }\n`;
  const made: Array<() => Promise<void>> = [];
  /** A controller's automation on its own database and tasks_dir (same db again: a restart). */
  const side = async (name: string, files: Record<string, string>, playbooks: string[] = ['noop', 'restart']) => {
    const base = join(dir.path, name);
    const tasksDir = join(base, 'tasks');
    mkdirSync(tasksDir, { recursive: true });
    for (const [f, text] of Object.entries(files)) writeFileSync(join(tasksDir, f), text);
    const cfg = controllerConfigSchema.parse({ nats: { servers: ['nats://127.0.0.1:1'] }, data_dir: base, tasks_dir: tasksDir, playbooks: Object.fromEntries(playbooks.map((p) => [p, { steps: [{ run: 'true' }] }])) });
    const db = openDatabase(base);
    const alerts = { list: () => [], get: () => undefined, annotateRemediation: () => undefined, notifyDirect: () => undefined } as unknown as AlertManager;
    const a = new Automation({ cfg, db, dispatcher: {} as RunDispatcher, audit: new AuditLog(db), alerts, logger, haId: name });
    const log = new ControlPair(name);
    replicateTaskSet(log, a, logger);
    replicatePolicyTracks(log, a.policyTracks, logger);
    await a.start();
    let stopped: Promise<void> | undefined;
    const stop = () =>
      (stopped ??= a.stop().then(() => {
        db.close();
      }));
    made.push(stop);
    return { a, log, tasksDir, stop };
  };
  const names = (a: Automation) => a.taskList().map((t) => t.name).sort().join(',');
  after(async () => {
    for (const stop of made) await stop();
    dir.cleanup();
  });

  it('flap guard rows follow the last decision and end when the track ends', async () => {
    const a = await side('ta', {});
    const b = await side('tb', {});
    const row = { policy: 'restart-app', fingerprint: 'fp1', host: 'web-1', phase: 'verifying' as const, attempts: 2, verify_until_ms: 5000, cooldown_until_ms: 0, escalated: false, origin: 'ta', updated_ms: 1000 };
    a.a.policyTracks.put(row);
    a.a.policyTracks.put({ ...row, phase: 'done', escalated: true, cooldown_until_ms: 9000, updated_ms: 2000 });
    for (const r of a.log.out.splice(0).filter((x) => x.kind.startsWith('policy.'))) await b.log.apply(r);
    assert.deepEqual(b.a.policyTracks.all(), [{ ...row, phase: 'done', escalated: true, cooldown_until_ms: 9000, updated_ms: 2000 }]);
    a.a.policyTracks.delete('restart-app', 'fp1', 3000);
    for (const r of a.log.out.splice(0)) await b.log.apply(r);
    assert.deepEqual(b.a.policyTracks.all(), []);
    await assert.rejects(async () => b.log.apply({ id: 'x', origin: 'ta', kind: 'policy.track', ts: 1, body: { ...row, phase: 'sleeping' } }), { code: 'OPS_ERR_HA_CONTROL_INVALID' });
  });

  it("the newest load is the fleet's set on both; drift is shown; a set that is not valid here is refused; a restart with unchanged files keeps the fleet's set", async () => {
    const a = await side('a', { 'nightly.yaml': tasksFile(task('backup-db')) });
    const b = await side('b', { 'nightly.yaml': tasksFile(task('old-job')) });
    const fromA = a.log.out.splice(0).filter((r) => r.kind === 'tasks.set');
    const fromB = b.log.out.splice(0).filter((r) => r.kind === 'tasks.set');
    assert.equal(fromA.length, 1, 'a first start publishes its set');
    assert.equal(fromB.length, 1);
    assert.equal((fromA[0]!.body as { files: Array<{ text: string }> }).files[0]!.text, tasksFile(task('backup-db')), 'the files travel as written');
    // B loaded later: its set is the newer; A's arrives at B and changes nothing.
    for (const r of fromA) await b.log.apply(r);
    assert.equal(names(b.a), 'old-job');
    assert.equal(b.a.taskSetStatus()!.source, 'local');
    for (const r of fromB) await a.log.apply(r);
    assert.equal(names(a.a), 'old-job', "A runs the fleet's (B's) set");
    const sa = a.a.taskSetStatus()!;
    assert.deepEqual([sa.source, sa.origin, sa.drift], ['replicated', 'b', true]);
    assert.ok(a.a.taskList()[0]!.file.startsWith('b:'), 'named by where it came from');

    // A reload on A (SIGHUP: its tasks_dir, edited) becomes the fleet's set on both.
    writeFileSync(join(a.tasksDir, 'nightly.yaml'), tasksFile(task('backup-db') + task('vacuum')));
    assert.equal(a.a.reload().ok, true);
    assert.equal(a.a.taskSetStatus()!.drift, false);
    for (const r of a.log.out.splice(0)) await b.log.apply(r);
    assert.equal(names(b.a), 'backup-db,vacuum');
    const sb = b.a.taskSetStatus()!;
    assert.deepEqual([sb.source, sb.origin, sb.drift, sb.hash], ['replicated', 'a', true, a.a.taskSetStatus()!.hash]);

    // A set B cannot run (a playbook it lacks) or whose hash does not match its files: refused, B keeps its set.
    const onlyA = await side('a2', { 'x.yaml': tasksFile(task('fix', 'only-on-a')) }, ['only-on-a']);
    const rec = onlyA.log.out.splice(0).find((r) => r.kind === 'tasks.set')!;
    await assert.rejects(async () => b.log.apply(rec), (err: Error & { code?: string }) => err.code === 'OPS_ERR_HA_CONTROL_INVALID' && /unknown playbook "only-on-a"/.test(err.message));
    const body = rec.body as { hash: string; files: Array<{ name: string; text: string }> };
    await assert.rejects(async () => b.log.apply({ ...rec, body: { ...body, files: [{ name: 'x.yaml', text: tasksFile(task('other')) }] } }), /hash does not match/);
    assert.equal(names(b.a), 'backup-db,vacuum');

    // B restarts with its (unchanged, older) tasks_dir: the fleet's set stays in effect, nothing is published.
    await b.stop();
    const b2 = await side('b', { 'nightly.yaml': tasksFile(task('old-job')) });
    assert.equal(names(b2.a), 'backup-db,vacuum');
    assert.equal(b2.log.out.filter((r) => r.kind === 'tasks.set').length, 0);
    assert.equal(b2.a.taskSetStatus()!.drift, true);
    // B restarts with files edited meanwhile: that load is a change, the fleet's set, published.
    await b2.stop();
    const b3 = await side('b', { 'nightly.yaml': tasksFile(task('new-job')) });
    assert.equal(names(b3.a), 'new-job');
    assert.equal(b3.log.out.filter((r) => r.kind === 'tasks.set').length, 1);
    assert.equal(b3.a.taskSetStatus()!.source, 'local');
  });

  it("a standby started without task files takes the fleet's set even when it started last, and does not publish its empty one", async () => {
    const a = await side('ea', { 'web.yaml': tasksFile(task('rotate-logs')) });
    const b = await side('eb', {});
    assert.equal(b.log.out.filter((r) => r.kind === 'tasks.set').length, 0);
    for (const r of a.log.out.splice(0).filter((x) => x.kind === 'tasks.set')) await b.log.apply(r);
    assert.equal(names(b.a), 'rotate-logs');
    assert.deepEqual([b.a.taskSetStatus()!.origin, b.a.taskSetStatus()!.drift], ['ea', true]);
  });

  it("a reload is the fleet's set on both sides even when the other controller's clock runs ahead", async () => {
    const a = await side('ka', { 't.yaml': tasksFile(task('one')) });
    const b = await side('kb', { 't.yaml': tasksFile(task('two')) });
    a.log.out.splice(0);
    b.log.out.splice(0);
    // A's clock is an hour ahead: its reload carries a time B has not reached yet.
    writeFileSync(join(a.tasksDir, 't.yaml'), tasksFile(task('three')));
    a.a.reload();
    const ahead = a.log.out.splice(0).find((r) => r.kind === 'tasks.set')!;
    const body = ahead.body as { setMs: number };
    // As A holds it: its own row carries its (fast) clock.
    a.a.taskSets.setFleet({ ...(body as unknown as Parameters<typeof a.a.taskSets.setFleet>[0]), setMs: body.setMs + 3_600_000 });
    await b.log.apply({ ...ahead, body: { ...body, setMs: body.setMs + 3_600_000 } });
    assert.equal(names(b.a), 'three');
    writeFileSync(join(b.tasksDir, 't.yaml'), tasksFile(task('four')));
    b.a.reload();
    for (const r of b.log.out.splice(0)) await a.log.apply(r);
    assert.equal(names(a.a), 'four', "B's later reload wins on A too");
    assert.equal(names(b.a), 'four');
  });
});
