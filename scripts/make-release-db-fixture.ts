/**
 * Writes test/fixtures/controller-db/<name>.sql: a controller database with the schema of an
 * earlier commit (its controller/store/migrations.ts, read with `git show`) and a few rows in
 * each table an upgrade must carry (hosts, alerts, silences, runs, audit, tokens), as a SQL dump
 * (reviewable text, unlike a binary .db). test/ops/upgrade.test.ts upgrades it.
 *
 *   node --import tsx scripts/make-release-db-fixture.ts COMMIT NAME
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { AuditLog } from '../controller/audit/audit-log.js';
import { TokenStore } from '../controller/auth/token-store.js';
import { Silences } from '../controller/alerts/silences.js';
import { RunsStore } from '../controller/dispatch/runs-store.js';

const [commit, name] = process.argv.slice(2);
if (!commit || !name) {
  process.stderr.write('usage: make-release-db-fixture.ts COMMIT NAME\n');
  process.exit(2);
}
const tmp = mkdtempSync(join(tmpdir(), 'opsfleet-fixture-'));
try {
  const src = execFileSync('git', ['show', `${commit}:controller/store/migrations.ts`], { encoding: 'utf8' });
  writeFileSync(join(tmp, 'migrations.ts'), src);
  const { MIGRATIONS } = (await import(join(tmp, 'migrations.ts'))) as { MIGRATIONS: string[] };
  const file = join(tmp, 'controller.db');
  const db = new Database(file);
  MIGRATIONS.forEach((sql, i) => {
    db.exec(sql);
    db.pragma(`user_version = ${i + 1}`);
  });
  const t0 = Date.UTC(2026, 10, 20, 12, 0, 0);
  let now = t0;
  const clock = () => (now += 1000);
  const hostRow = db.prepare('INSERT INTO hosts (id, hostname, status, status_since_ms, first_seen_ms, last_seen_ms, tags, agent_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  for (const [id, status] of [['web-1', 'online'], ['web-2', 'offline'], ['db-1', 'online']] as const) hostRow.run(id, `${id}.example`, status, t0, t0, t0, JSON.stringify({ role: id.split('-')[0] }), '0.1.0');
  db.prepare('INSERT INTO alerts (fingerprint, alertname, host, labels, state, starts_at_ms, updated_ms, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run('f00d', 'HostOffline', 'web-2', JSON.stringify({ alertname: 'HostOffline', host: 'web-2' }), 'firing', t0, t0, 'controller');
  new Silences(db, clock).add({ matchers: [{ name: 'host', op: '=', value: 'db-1' }] as never, endsAtMs: t0 + 86_400_000, createdBy: 'alice', comment: 'maintenance' });
  const runs = new RunsStore(db);
  runs.create({ id: 'run-1', actor: 'alice', playbook: 'uptime', target: '*', matched: ['web-1', 'db-1'], options: {}, startedMs: clock() });
  runs.finishRun('run-1', 'ok', clock(), { ok: 2 });
  const audit = new AuditLog(db, clock);
  audit.append('controller', 'token.bootstrap', 'admin', {});
  audit.append('alice', 'run.start', 'run-1', { playbook: 'uptime' });
  audit.append('alice', 'silence.add', 'db-1', { comment: 'maintenance' });
  new TokenStore(db, clock).create({ name: 'alice', role: 'admin' } as never, 'admin');
  db.close();
  const dump = execFileSync('sqlite3', [file, '.dump'], { encoding: 'utf8' });
  const out = join('test/fixtures/controller-db', `${name}.sql`);
  writeFileSync(out, `-- controller database with the schema of commit ${commit} (${MIGRATIONS.length} migrations), made by scripts/make-release-db-fixture.ts\n${dump}PRAGMA user_version = ${MIGRATIONS.length};\n`);
  process.stdout.write(`${out}: ${MIGRATIONS.length} migrations\n`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
