import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, authHeaders, createToken, startAgent, startController, type AgentProc, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { freePorts } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';
import { FakeWebhook } from '../alerting/fakes.js';
import { postJson } from '../alerting/harness.js';

// Issue 18, the control log: two real controllers on one NATS, each with its own SQLite; what
// one changes in the control plane appears on the other (docs/scaling.md, "Control log").

interface Health {
  controlLog?: { running: boolean; outbox: number; stats: { applied: number; published: number } };
}
interface GroupView {
  groupKey: string;
  labels: Record<string, string>;
  notified: Array<{ receiver: string; at: string | null }>;
  nextFlushAt: string | null;
}

describe('control-plane replication between two controllers (real processes)', () => {
  const dir = tempDir('opsfleet-replog-');
  const hook = new FakeWebhook();
  let nats: NatsServer;
  let a: ControllerProc | undefined;
  let b: ControllerProc | undefined;
  let agent: AgentProc | undefined;

  const ports: Record<string, number> = {};
  const yaml = (id: string) =>
    [
      `ha: { enabled: true, id: ${id}, advertise_url: "http://127.0.0.1:${ports[id]}" }`,
      // Each controller its own ingest consumer (what the lease side derives from ha.id).
      // The test server has 1 GB of file store: the event stream leaves room for the control stream.
      `stream: { consumer: opsfleet-controller-${id}, max_bytes: 256MiB }`,
      'alerting:',
      '  group_wait: 300ms',
      '  group_interval: 1h',
      '  repeat_interval: 1h',
      '  resolve_timeout: 1h',
      '  group_by: [alertname]',
      '  receivers:',
      `    - { name: hook, type: webhook, url: "${hook.url}/h" }`,
      '  routes:',
      '    - { receivers: [hook] }',
    ].join('\n');
  // Both controllers share the fleet CA (as a standby seeded from the leader's backup does): the
  // standby forwards mutations to the leader signed with a key derived from it.
  const caOf = () => join(dir.path, 'a', 'controller-data', 'pki');
  const start = (id: string) =>
    startController({ natsUrl: nats.url, dir: join(dir.path, id), listen: `127.0.0.1:${ports[id]}`, extraYaml: id === 'a' ? yaml(id) : `${yaml(id)}\npki: { ca_cert: ${join(caOf(), 'ca.crt')}, ca_key: ${join(caOf(), 'ca.key')} }` });
  const health = (c: ControllerProc) => api<Health>(c.url, '/healthz');
  const running = async (c: ControllerProc) => (await health(c)).controlLog?.running === true;
  const whoami = (c: ControllerProc, secret: string) => fetch(`${c.url}/api/v1/whoami`, { headers: { authorization: `Bearer ${secret}` } }).then((r) => r.status);
  type Body = { groups: Array<{ alerts: Array<{ labels: { alertname: string } }> }> };
  // The alerts this test posts (the agent of the enrollment test raises its own, on both controllers).
  const sent = () =>
    hook
      .accepted()
      .map((r) => (r.body as Body).groups.flatMap((g) => g.alerts.map((x) => x.labels.alertname)).filter((n) => n.endsWith('Switch')).join(','))
      .filter((n) => n !== '');

  before(async () => {
    await hook.start();
    nats = await NatsServer.start();
    mkdirSync(join(dir.path, 'a'));
    mkdirSync(join(dir.path, 'b'));
    [ports.a, ports.b] = (await freePorts(2)) as [number, number];
    a = await start('a');
    await waitFor(() => existsSync(join(caOf(), 'ca.key')), { what: "a's fleet CA" });
    b = await start('b');
    await waitFor(async () => (await running(a!)) && (await running(b!)), { timeout: 30_000, what: 'both control logs running' });
  });

  after(async () => {
    await agent?.child.stop();
    await a?.child.stop();
    await b?.child.stop();
    await nats?.dispose();
    await hook.stop();
    dir.cleanup();
  });

  it("an API token made on A authenticates on B (and is in B's audit); revoked on A, B refuses it", { timeout: 60_000 }, async () => {
    const secret = await createToken(a!.url, { name: 'ops-alice', role: 'operator' });
    await waitFor(async () => (await whoami(b!, secret)) === 200, { what: 'B accepts the token made on A' });
    const tokens = await api<Array<{ name: string; role: string; createdBy: string }>>(b!.url, '/api/v1/tokens');
    const t = tokens.find((x) => x.name === 'ops-alice');
    assert.equal(t?.role, 'operator');
    assert.equal(t?.createdBy, 'admin');
    // B's audit shows who made it, and where.
    const audit = await waitFor(async () => (await api<Array<{ action: string; subject: string; actor: string; details: { via?: string } }>>(b!.url, '/api/v1/audit')).find((r) => r.action === 'token.create' && r.subject === 'ops-alice'), { what: "A's audit row on B" });
    assert.equal(audit.actor, 'admin');
    assert.equal(audit.details.via, 'a');
    const res = await fetch(`${a!.url}/api/v1/tokens/ops-alice`, { method: 'DELETE', headers: authHeaders(a!.url) });
    assert.equal(res.status, 200);
    await waitFor(async () => (await whoami(b!, secret)) === 401, { what: 'B refuses the token revoked on A' });
    // Each controller keeps its own bootstrap admin token: they are not sent across.
    assert.equal(await whoami(b!, (authHeaders(a!.url).authorization ?? '').slice(7)), 401);
  });

  it('a silence made on B is active on A; expired on B, A shows it removed', { timeout: 60_000 }, async () => {
    const r = await postJson<{ id: string }>(`${b!.url}/api/v1/silences`, { matchers: ['alertname=Maint'], duration: '2h', comment: 'window' });
    assert.equal(r.status, 200);
    const id = r.body.id;
    const onA = await waitFor(async () => (await api<Array<{ id: string; status: string; comment: string }>>(a!.url, '/api/v1/silences')).find((s) => s.id === id), { what: 'the silence on A' });
    assert.equal(onA.status, 'active');
    assert.equal(onA.comment, 'window');
    // A holds its notifications back too: the silence is compiled there, not just stored.
    const del = await fetch(`${b!.url}/api/v1/silences/${id}`, { method: 'DELETE', headers: authHeaders(b!.url) });
    assert.equal(del.status, 200);
    await waitFor(async () => (await api<{ status: string }>(a!.url, `/api/v1/silences/${id}`)).status === 'removed', { what: 'the removal on A' });
  });

  it('self-heal paused on A is paused on B (a failover does not resume it); resumed on A, B resumes', { timeout: 60_000 }, async () => {
    const paused = async (c: ControllerProc) => (await api<{ paused: boolean }>(c.url, '/api/v1/policies')).paused;
    assert.equal(await paused(b!), false);
    assert.equal((await postJson(`${a!.url}/api/v1/policies/pause`, {})).status, 200);
    await waitFor(() => paused(b!), { what: 'B paused' });
    assert.equal((await postJson(`${a!.url}/api/v1/policies/resume`, {})).status, 200);
    await waitFor(async () => !(await paused(b!)), { what: 'B resumed' });
  });

  it('a host enrolled on A is enrolled on B with the same key and token use; removed on A, it is removed on B', { timeout: 90_000 }, async () => {
    mkdirSync(join(dir.path, 'h1'));
    agent = await startAgent({ natsUrl: nats.url, dir: join(dir.path, 'h1'), id: 'h1', enroll: a!, heartbeat: '1s' });
    type Identity = { hostId: string; state: string; keyFingerprint: string; certNotAfter: string | null };
    const onA = (await api<Identity[]>(a!.url, '/api/v1/identities')).find((i) => i.hostId === 'h1');
    assert.equal(onA?.state, 'enrolled');
    const onB = await waitFor(async () => (await api<Identity[]>(b!.url, '/api/v1/identities')).find((i) => i.hostId === 'h1' && i.certNotAfter !== null), { what: 'the identity on B' });
    assert.equal(onB.state, 'enrolled');
    assert.equal(onB.keyFingerprint, onA!.keyFingerprint);
    assert.equal(onB.certNotAfter, onA!.certNotAfter);
    const tokensB = await api<Array<{ name: string; uses: number; maxUses: number }>>(b!.url, '/api/v1/enroll-tokens');
    assert.equal(tokensB.length, 1, 'the enrollment token the helper made on A');
    assert.equal(tokensB[0]!.uses, 1, 'its use is counted on B too');
    const del = await fetch(`${a!.url}/api/v1/identities/h1`, { method: 'DELETE', headers: authHeaders(a!.url) });
    assert.equal(del.status, 200);
    await waitFor(async () => (await api<Identity[]>(b!.url, '/api/v1/identities')).find((i) => i.hostId === 'h1')?.state === 'removed', { what: 'the removal on B' });
    await agent.child.stop();
  });

  it('what A notified is known to B: after A dies, B does not notify it again, and new alerts still go out', { timeout: 90_000 }, async () => {
    // Only A gets the alert while it leads (leader-only sending is the lease side's part).
    assert.equal((await postJson(`${a!.url}/api/v1/alerts`, [{ labels: { alertname: 'BeforeSwitch', host: 'h1' } }])).status, 200);
    await waitFor(() => sent().length === 1, { what: 'A notifies' });
    // The delivery history reads the same on B.
    await waitFor(async () => (await api<Array<{ receiver: string; outcome: string }>>(b!.url, '/api/v1/notifications')).some((n) => n.receiver === 'hook' && n.outcome === 'ok'), { what: "A's delivery in B's history" });
    // And every record A made is out of its outbox (the one possible repeat is a notification
    // sent but not yet recorded when the leader dies: docs/scaling.md).
    await waitFor(async () => (await health(a!)).controlLog?.outbox === 0, { what: "A's outbox empty" });
    a!.child.kill('SIGKILL');
    await waitFor(() => !a!.child.running, { what: 'A gone' });
    // B takes the lease once A's has lapsed (lease_ttl); until then it forwards to the dead A.
    await waitFor(async () => (await api<{ role?: string }>(b!.url, '/healthz')).role === 'leader', { timeout: 30_000, what: 'B leads' });
    // B has ingested the same alert (here: it is told it too); its group flushes after group_wait.
    assert.equal((await postJson(`${b!.url}/api/v1/alerts`, [{ labels: { alertname: 'BeforeSwitch', host: 'h1' } }])).status, 200);
    const g = await waitFor(
      async () => {
        const groups = await api<GroupView[]>(b!.url, '/api/v1/alerts/groups');
        const x = groups.find((y) => y.labels.alertname === 'BeforeSwitch');
        // Flushed: the next flush is a group_interval (1 h) away, not the 300 ms group_wait.
        return x && x.nextFlushAt && Date.parse(x.nextFlushAt) - Date.now() > 600_000 ? x : undefined;
      },
      { timeout: 20_000, what: "B's group flushed" },
    );
    assert.ok(g.notified[0]?.at, 'B knows when A notified this group');
    assert.equal((await postJson(`${b!.url}/api/v1/alerts`, [{ labels: { alertname: 'AfterSwitch', host: 'h1' } }])).status, 200);
    await waitFor(() => sent().length === 2, { timeout: 20_000, what: 'B notifies the new alert' });
    assert.deepEqual(sent(), ['BeforeSwitch', 'AfterSwitch']);
  });
});
