import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { controllerConfigSchema } from '../../shared/config/controller.js';
import { tempDir } from '../../test/helpers/tmp.js';
import type { AlertManager } from '../alerts/alert-manager.js';
import { AuditLog } from '../audit/audit-log.js';
import type { RunDispatcher } from '../dispatch/run-dispatcher.js';
import { openDatabase } from '../store/db.js';
import { Automation } from './automation.js';
import { keepEmptiedFiles, loadTasksDir } from './tasks-loader.js';

const dirs: Array<() => void> = [];
after(() => dirs.forEach((c) => c()));
const DAY = 86_400_000;

function automation(extra: Record<string, unknown> = {}) {
  const d = tempDir('opsfleet-auto-prune-');
  dirs.push(d.cleanup);
  const cfg = controllerConfigSchema.parse({ nats: { servers: ['nats://127.0.0.1:1'] }, data_dir: d.path, runs: { keep: '7d' }, ...extra });
  const db = openDatabase(d.path);
  const alerts = { list: () => [], get: () => undefined, annotateRemediation: () => undefined, notifyDirect: () => undefined } as unknown as AlertManager;
  const a = new Automation({ cfg, db, dispatcher: {} as RunDispatcher, audit: new AuditLog(db), alerts, logger: pino({ level: 'silent' }) });
  return { a, db, dir: d.path };
}

describe('automation history pruning (task_runs, remediations)', () => {
  it('deletes rows older than runs.keep, at start and on demand; running rows and recent rows stay', async () => {
    const { a, db } = automation();
    const now = Date.now();
    const old = now - 8 * DAY;
    for (let i = 0; i < 50; i++) a.tasks.record('tick', old + i, 'schedule', 'ok', '', old + i);
    a.tasks.record('tick', now, 'schedule', 'ok', '', now);
    const stillRunning = a.tasks.recordStart('tick', old, 'schedule', old);
    for (let i = 0; i < 30; i++) a.remediations.add({ policy: 'p', fingerprint: 'f', host: 'h', attempt: 1, run_id: '', status: 'failed', detail: '', started_ms: old, ended_ms: old });
    a.remediations.add({ policy: 'p', fingerprint: 'f', host: 'h', attempt: 2, run_id: '', status: 'dispatched', detail: '', started_ms: old, ended_ms: null });
    a.remediations.add({ policy: 'p', fingerprint: 'f', host: 'h', attempt: 3, run_id: '', status: 'failed', detail: '', started_ms: now, ended_ms: now });
    await a.start(); // start prunes once, then hourly
    try {
      const runs = db.prepare('SELECT id, status FROM task_runs ORDER BY id').all() as Array<{ id: number; status: string }>;
      // The open row was cut by the "restart": marked interrupted now, so it is recent.
      assert.deepEqual(runs.map((r) => r.status).sort(), ['interrupted', 'ok']);
      assert.ok(runs.some((r) => r.id === stillRunning));
      const rem = db.prepare('SELECT attempt FROM remediations ORDER BY id').pluck().all();
      assert.deepEqual(rem, [2, 3], 'old finished remediations pruned; open and recent kept');
      a.remediations.add({ policy: 'p', fingerprint: 'f', host: 'h', attempt: 4, run_id: '', status: 'failed', detail: '', started_ms: now, ended_ms: now });
      const running = a.tasks.recordStart('tick', old, 'schedule', old);
      assert.deepEqual(a.pruneHistory(now + 8 * DAY), { taskRuns: 2, remediations: 2 });
      assert.deepEqual(db.prepare('SELECT id FROM task_runs').pluck().all(), [running], 'a run still open is never pruned');
    } finally {
      await a.stop();
      db.close();
    }
  });
});

describe('tasks reload: a file that lost all its entries', () => {
  const refs = { playbooks: ['quick'], receivers: [], checkTarget: () => undefined };
  it('keeps its previous entries (suspicious: mid-write), unless they moved to another file', () => {
    const d = tempDir('opsfleet-tasks-empty-');
    dirs.push(d.cleanup);
    const dir = join(d.path, 'tasks.d');
    mkdirSync(dir);
    const a = join(dir, 'a.yaml');
    const b = join(dir, 'b.yaml');
    writeFileSync(a, 'tasks:\n  - { name: one, schedule: "0 0 * * *", target: "*", playbook: quick }\n  - { name: two, schedule: "0 1 * * *", target: "*", playbook: quick }\n');
    writeFileSync(b, 'tasks:\n  - { name: three, schedule: "0 2 * * *", target: "*", playbook: quick }\n');
    const first = loadTasksDir(dir, refs);
    for (const empty of ['', '\n', '# all commented out\n', 'tasks: []\n']) {
      writeFileSync(a, empty);
      const next = loadTasksDir(dir, refs);
      assert.equal(next.tasks.length, 1, `the loader alone takes ${JSON.stringify(empty)} as no tasks`);
      const r = keepEmptiedFiles(first, next);
      assert.deepEqual(r.kept, [{ file: a, tasks: 2, policies: 0 }], JSON.stringify(empty));
      assert.deepEqual(r.set.tasks.map((t) => t.name).sort(), ['one', 'three', 'two']);
    }
    // Moved: a.yaml empty, its tasks now in b.yaml → nothing suspicious.
    writeFileSync(b, 'tasks:\n  - { name: three, schedule: "0 2 * * *", target: "*", playbook: quick }\n  - { name: one, schedule: "0 0 * * *", target: "*", playbook: quick }\n  - { name: two, schedule: "0 1 * * *", target: "*", playbook: quick }\n');
    const moved = keepEmptiedFiles(first, loadTasksDir(dir, refs));
    assert.deepEqual(moved.kept, []);
    assert.equal(moved.set.tasks.length, 3);
  });
});
