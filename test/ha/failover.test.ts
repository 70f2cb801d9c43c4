import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { api, authHeaders, startController, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

interface Health {
  role: 'leader' | 'standby';
  leader: { id: string; url: string } | null;
  ha?: { id: string; epoch: number };
}

/** Task runs of one controller's database (read directly: the killed one has no API left). */
function taskRuns(dataDir: string): Array<{ slot_ms: number; status: string; trigger: string; reason: string }> {
  const db = new Database(join(dataDir, 'controller.db'));
  try {
    return db.prepare("SELECT slot_ms, status, trigger, reason FROM task_runs WHERE task = 'mark' ORDER BY id").all() as Array<{ slot_ms: number; status: string; trigger: string; reason: string }>;
  } finally {
    db.close();
  }
}
/** Controller backup archives under a self_backup dir target. */
function archives(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.tar.gz'));
}
const ran = (rows: ReturnType<typeof taskRuns>) => rows.filter((r) => r.status !== 'missed' && r.status !== 'skipped').map((r) => r.slot_ms);

// Issue 18's acceptance: two controllers, a leader lease in NATS KV, both ingesting into their
// own SQLite; only the leader runs schedules; kill -9 of the leader → the standby leads within
// 15 s and no scheduled slot runs twice; a change sent to the standby lands on the leader.
describe('ha: two controllers, kill -9 of the leader', () => {
  const dir = tempDir('opsfleet-ha-');
  const tasksDir = join(dir.path, 'tasks.d');
  const dataA = join(dir.path, 'a-data');
  const dataB = join(dir.path, 'b-data');
  let nats: NatsServer;
  let a: ControllerProc;
  let b: ControllerProc;

  const health = async (c: ControllerProc) => api<Health>(c.url, '/healthz');
  const yaml = (id: string, port: number, extra = '') => `ha: { enabled: true, id: ${id}, advertise_url: "http://127.0.0.1:${port}" }
tasks_dir: ${tasksDir}
scheduler: { tick: 200ms }
stream: { max_bytes: 512MiB }
self_backup:
  - { name: often, schedule: "*/3 * * * * *", target: { type: dir, path: ${JSON.stringify(join(dir.path, `backups-${id}`))} }, keep: 2 }
playbooks:
  quick: { steps: [ { run: "true" } ] }
${extra}`;

  before(async () => {
    mkdirSync(tasksDir);
    writeFileSync(join(tasksDir, 'main.yaml'), 'tasks:\n  - name: mark\n    schedule: "*/2 * * * * *"\n    target: "*"\n    playbook: quick\n');
    nats = await NatsServer.start();
    const portA = await freePort();
    a = await startController({ natsUrl: nats.url, dir: dir.path, configName: 'a.yaml', dataDir: dataA, listen: `127.0.0.1:${portA}`, extraYaml: yaml('a', portA) });
    await waitFor(async () => (await health(a)).role === 'leader', { timeout: 30_000, what: 'a leads' }).catch((err: Error) => {
      throw new Error(`${err.message}\n${a.child.tail(60)}`);
    });
    // Both controllers share the fleet CA (and, through the test's NATS server, the NATS authority).
    await waitFor(() => existsSync(join(dataA, 'pki', 'ca.key')), { what: "a's fleet CA" });
    const portB = await freePort();
    b = await startController({
      natsUrl: nats.url,
      dir: dir.path,
      configName: 'b.yaml',
      dataDir: dataB,
      listen: `127.0.0.1:${portB}`,
      extraYaml: yaml('b', portB, `pki: { ca_cert: ${join(dataA, 'pki', 'ca.crt')}, ca_key: ${join(dataA, 'pki', 'ca.key')} }`),
    });
  });

  after(async () => {
    await b?.child.stop();
    await a?.child.stop();
    await nats?.dispose();
    dir.cleanup();
  });

  it('the standby is warm, names the leader, runs no schedule, and passes changes to the leader', { timeout: 60_000 }, async () => {
    const hb = await waitFor(async () => {
      const h = await health(b);
      return h.role === 'standby' && h.leader?.id === 'a' ? h : undefined;
    }, { timeout: 30_000, what: 'b is a standby naming a' });
    assert.equal(hb.leader?.url, a.url);
    const ready = await api<{ role: string; leader: { id: string } }>(b.url, '/readyz');
    assert.equal(ready.role, 'standby');
    assert.equal(ready.leader.id, 'a');
    // Each controller consumes the whole stream with its own durable consumer.
    const nc = await connect(nats.connectOptions());
    try {
      const jsm = await jetstreamManager(nc);
      const names: string[] = [];
      for await (const ci of jsm.consumers.list('OPSFLEET_EVENTS')) names.push(ci.name);
      assert.deepEqual(names.sort(), ['opsfleet-controller-a', 'opsfleet-controller-b']);
    } finally {
      await nc.close();
    }
    await waitFor(() => ran(taskRuns(dataA)).length >= 2, { timeout: 20_000, what: 'a runs the schedule' });
    assert.deepEqual(taskRuns(dataB), [], 'the standby ran no slot');
    // Scheduled controller backups: the leader's only.
    await waitFor(() => archives(join(dir.path, 'backups-a')).length > 0, { timeout: 20_000, what: "the leader's scheduled backup" });
    assert.deepEqual(archives(join(dir.path, 'backups-b')), [], 'the standby takes no scheduled backup');

    // A change sent to the standby (with the standby's own token) lands on the leader.
    const res = await fetch(`${b.url}/api/v1/silences`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...authHeaders(b.url) },
      body: JSON.stringify({ matchers: ['alertname="ViaStandby"'], duration: '1h', comment: 'sent to b' }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get('x-opsfleet-leader'), 'a');
    const onA = await api<Array<{ comment: string }>>(a.url, '/api/v1/silences');
    assert.ok(onA.some((s) => s.comment === 'sent to b'), JSON.stringify(onA));
    // A forged forward (no valid signature) is refused by the leader.
    const forged = await fetch(`${a.url}/api/v1/silences`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-opsfleet-forwarded': `b;${Date.now()};${Buffer.from(JSON.stringify({ name: 'x', role: 'admin' })).toString('base64url')};bad` },
      body: JSON.stringify({ matchers: ['alertname="Forged"'], duration: '1h' }),
    });
    assert.equal(forged.status, 401);
    assert.equal(((await forged.json()) as { error: { code: string } }).error.code, 'OPS_ERR_AUTH_FORWARD');
    // Loop guard: a forwarded request that reaches a controller which does not lead is refused.
    const looped = await fetch(`${b.url}/api/v1/silences`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-opsfleet-forwarded': `a;${Date.now()};e30;x` }, body: '{}' });
    assert.equal(looped.status, 503);
    assert.equal(((await looped.json()) as { error: { code: string } }).error.code, 'OPS_ERR_NO_LEADER');

    // The dashboard against the standby: its session lives on b; a change made with it lands on a.
    const login = await fetch(`${b.url}/api/v1/dashboard/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: b.token }) });
    assert.equal(login.status, 200, await login.clone().text());
    const { csrf } = (await login.json()) as { csrf: string };
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    const viaSession = await fetch(`${b.url}/api/v1/silences`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie, 'x-opsfleet-csrf': csrf },
      body: JSON.stringify({ matchers: ['alertname="FromDashboard"'], duration: '1h', comment: 'dashboard on b' }),
    });
    assert.equal(viaSession.status, 200, await viaSession.clone().text());
    const onA2 = await api<Array<{ comment: string; createdBy: string }>>(a.url, '/api/v1/silences');
    assert.ok(onA2.some((x) => x.comment === 'dashboard on b'), JSON.stringify(onA2));
    // Without the CSRF header the standby refuses it itself.
    const noCsrf = await fetch(`${b.url}/api/v1/silences`, { method: 'POST', headers: { 'content-type': 'application/json', cookie }, body: JSON.stringify({ matchers: ['alertname="X"'], duration: '1h' }) });
    assert.equal(noCsrf.status, 403);
  });

  it('kill -9 of the leader: the standby leads and no slot runs twice', { timeout: 90_000 }, async (t) => {
    const killedAt = Date.now();
    a.child.kill('SIGKILL');
    await a.child.exited;
    // While nobody leads, a change on the standby is refused with a reason (or, in the first
    // instants, forwarded to the dead leader and refused as unreachable).
    const during = await fetch(`${b.url}/api/v1/silences`, { method: 'POST', headers: { 'content-type': 'application/json', ...authHeaders(b.url) }, body: JSON.stringify({ matchers: ['alertname="Gap"'], duration: '1h' }) });
    assert.ok(during.status === 503 || during.status === 502, `status ${during.status}`);
    let led = 0;
    await waitFor(
      async () => {
        const h = await health(b);
        if (h.role === 'leader') led = Date.now();
        return led > 0;
      },
      { timeout: 30_000, interval: 100, what: 'b leads' },
    );
    const tookMs = led - killedAt;
    // The 15 s goal is measured in bench/ha-failover.bench.ts (timing goals live in bench/); here it is reported.
    t.diagnostic(`failover: kill -9 of the leader → standby leads in ${tookMs} ms (lease_ttl 10s, renew_interval 3s)`);

    await waitFor(() => ran(taskRuns(dataB)).length >= 2, { timeout: 20_000, what: 'b runs the schedule' });
    await waitFor(() => archives(join(dir.path, 'backups-b')).length > 0, { timeout: 20_000, what: 'b takes the scheduled backups once it leads' });
    const slotsA = ran(taskRuns(dataA));
    const slotsB = ran(taskRuns(dataB));
    const twice = slotsA.filter((s) => slotsB.includes(s));
    assert.deepEqual(twice, [], `slots run on both: ${twice.map((s) => new Date(s).toISOString()).join(', ')}`);
    assert.ok(Math.min(...slotsB) > Math.max(...slotsA), 'the new leader runs only slots after the old one');
    t.diagnostic(`slots run by a: ${slotsA.length}, by b after the failover: ${slotsB.length}; first on b: ${JSON.stringify(taskRuns(dataB)[0])}`);

    // Now leading, b answers changes itself.
    const res = await fetch(`${b.url}/api/v1/silences`, { method: 'POST', headers: { 'content-type': 'application/json', ...authHeaders(b.url) }, body: JSON.stringify({ matchers: ['alertname="OnB"'], duration: '1h', comment: 'on b' }) });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-opsfleet-leader'), null, 'answered by b itself');
    const onB = await api<Array<{ comment: string }>>(b.url, '/api/v1/silences');
    assert.ok(onB.some((s) => s.comment === 'on b'));
  });
});
