import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, runCommand, startAgent, startController, type AgentProc, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { freePort } from '../helpers/ports.js';
import { Child, REPO_ROOT } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

const FIXTURE = join(REPO_ROOT, 'test/health/fixtures/http-server.mjs');

interface ApiEvent {
  kind: string;
  seq: number;
  payload: { json?: string; alert?: { state: number; labels: Record<string, string> } };
}
type Body = Record<string, unknown> & { check: string; event: string; state: string };

/** PIDs written by servers the agent started, killed in `after` whatever happened. */
const pidFiles: string[] = [];
function killFromPidFile(file: string): void {
  if (!existsSync(file)) return;
  try {
    process.kill(Number(readFileSync(file, 'utf8')), 'SIGKILL');
  } catch {
    /* gone */
  }
}

describe('self-healing: restart command, give-up, supervise (real agent, controller, NATS, HTTP servers)', () => {
  const tmp = tempDir('opsfleet-restart-');
  let nats: NatsServer;
  let controller: ControllerProc;
  let agent: AgentProc;
  let web: Child;
  const ports = { web: 0, flappy: 0, sup: 0 };
  const pid = { web: join(tmp.path, 'web.pid'), flappy: join(tmp.path, 'flappy.pid'), sup: join(tmp.path, 'sup.pid') };
  pidFiles.push(pid.web, pid.flappy, pid.sup);

  const serverCmd = (port: number, pidFile: string, extra = '') => `${process.execPath} ${FIXTURE} --port ${port} --pid-file ${pidFile} ${extra}`;

  before(async () => {
    ports.web = await freePort();
    ports.flappy = await freePort();
    ports.sup = await freePort();
    nats = await NatsServer.start();
    controller = await startController({ natsUrl: nats.url, dir: tmp.path });
    web = new Child(process.execPath, [FIXTURE, '--port', String(ports.web), '--pid-file', pid.web]);
    await waitFor(() => existsSync(pid.web), { what: 'web fixture listening' });
    const check = (name: string, port: number) => `  - name: ${name}
    type: http
    url: http://127.0.0.1:${port}/healthz
    expect: { status: [200], body_contains: ok }
    interval: 200ms
    timeout: 500ms
    failures: 2
    successes: 2`;
    agent = await startAgent({
      natsUrl: nats.url,
      dir: tmp.path,
      id: 'heal-1',
      extraYaml: `metrics: { enabled: false }
checks:
${check('web', ports.web)}
    on_failure:
      restart: { command: "${serverCmd(ports.web, pid.web)} > /dev/null 2>&1 &", max_restarts: 3, within: 1m, backoff: 200ms, verify_timeout: 3s }
${check('flappy', ports.flappy)}
    on_failure:
      restart: { command: "${serverCmd(ports.flappy, pid.flappy, '--die-after-ms 0')} > /dev/null 2>&1 &", max_restarts: 3, within: 1m, backoff: 200ms, verify_timeout: 1s }
${check('sup', ports.sup)}
    on_failure:
      restart:
        supervise: { command: "${serverCmd(ports.sup, pid.sup)}", stop_grace: 1s }
        max_restarts: 10
        within: 1m
        backoff: 300ms
`,
    });
  });

  after(async () => {
    await agent?.child.stop();
    await controller?.child.stop();
    await web?.stop();
    for (const f of pidFiles) killFromPidFile(f);
    await nats?.dispose();
    tmp.cleanup();
  });

  async function checkEvents(name: string): Promise<Body[]> {
    const evs = await api<ApiEvent[]>(controller.url, '/api/v1/events?host=heal-1&kind=check&limit=100000');
    return evs.map((e) => JSON.parse(e.payload.json!) as Body).filter((b) => b.check === name);
  }
  async function alerts(check: string): Promise<Array<{ name: string; state: number }>> {
    const evs = await api<ApiEvent[]>(controller.url, '/api/v1/events?host=heal-1&kind=alert&limit=100000');
    return evs.filter((e) => e.payload.alert?.labels.check === check).map((e) => ({ name: e.payload.alert!.labels.alertname!, state: e.payload.alert!.state }));
  }
  const steps = (evs: Body[]) =>
    evs.filter((e) => e.event === 'transition' || e.event === 'restart' || e.event === 'gave_up').map((e) => (e.event === 'transition' ? `${e.event}:${e.state}` : e.event === 'restart' ? `restart:${String(e.phase)}` : e.event));

  it('a killed HTTP server: down after `failures`, restarted by the command, up again — in order at the controller', async () => {
    await waitFor(async () => (await checkEvents('web')).some((e) => e.event === 'transition' && e.state === 'up'), { timeout: 15_000, what: 'web up' });
    rmSync(pid.web);
    web.kill('SIGKILL');
    await waitFor(async () => steps(await checkEvents('web')).includes('restart:verified'), { timeout: 15_000, what: 'restart verified at the controller' });
    assert.deepEqual(steps(await checkEvents('web')), ['transition:up', 'transition:down', 'restart:attempt', 'restart:ran', 'transition:up', 'restart:verified']);
    const down = (await checkEvents('web')).find((e) => e.event === 'transition' && e.state === 'down')!;
    assert.equal(down.attempt, 2, 'down after exactly `failures` consecutive failures');
    assert.match(String(down.detail), /ECONNREFUSED/);
    assert.ok(existsSync(pid.web), 'the restart command started a new server');
    const al = await alerts('web');
    assert.deepEqual(al.map((a) => a.name), ['CheckDown', 'CheckDown']);
    assert.notEqual(al[0]!.state, al[1]!.state, 'fired then resolved');
  });

  it('a server that dies right after each restart: exactly max_restarts attempts, then RestartGaveUp and no more', async () => {
    await waitFor(async () => (await checkEvents('flappy')).some((e) => e.event === 'gave_up'), { timeout: 30_000, what: 'flappy gave up' });
    const evs = await checkEvents('flappy');
    assert.equal(evs.filter((e) => e.event === 'restart' && e.phase === 'attempt').length, 3);
    assert.deepEqual(evs.filter((e) => e.event === 'restart' && e.phase === 'attempt').map((e) => e.attempt), [1, 2, 3]);
    assert.equal(evs.at(-1)!.event, 'gave_up');
    const al = await alerts('flappy');
    assert.deepEqual([...new Set(al.map((a) => a.name))].sort(), ['CheckDown', 'RestartGaveUp']);
    // No further restarts while the window (1m) holds: watch for a while longer.
    const attemptsBefore = evs.filter((e) => e.event === 'restart').length;
    await new Promise((r) => setTimeout(r, 1500)); // deliberate: an absence can only be shown by letting time pass (7 probe intervals)
    assert.equal((await checkEvents('flappy')).filter((e) => e.event === 'restart').length, attemptsBefore);
  });

  it('an operator reset after RestartGaveUp restarts again (opsctl host reset-restarts)', async () => {
    const attempts = async () => (await checkEvents('flappy')).filter((e) => e.event === 'restart' && e.phase === 'attempt').length;
    const before = await attempts();
    const r = await runCommand('opsctl', ['--controller', controller.url, 'host', 'reset-restarts', 'heal-1', 'flappy']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /heal-1\/flappy: restart budget reset; check is down, restarting now/);
    await waitFor(async () => (await attempts()) > before, { timeout: 15_000, what: 'a new attempt after the reset' });
    const evs = await checkEvents('flappy');
    const reset = evs.findIndex((e) => e.event === 'restart' && e.phase === 'reset');
    assert.ok(reset > 0);
    assert.equal(evs.slice(reset).find((e) => e.phase === 'attempt')!.attempt, 1, 'the budget starts over');
    const al = await alerts('flappy');
    assert.ok(al.some((a) => a.name === 'RestartGaveUp' && a.state === 2), 'RestartGaveUp resolved by the reset');
    const missing = await runCommand('opsctl', ['--controller', controller.url, 'host', 'reset-restarts', 'heal-1', 'nope']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /OPS_ERR_CHECK_NOT_FOUND: host "heal-1" has no check "nope"/);
  });

  it('supervise: the agent starts the process and respawns it after crashes with doubling backoff', async () => {
    await waitFor(async () => (await checkEvents('sup')).some((e) => e.event === 'transition' && e.state === 'up'), { timeout: 15_000, what: 'supervised server up' });
    const first = Number(readFileSync(pid.sup, 'utf8'));
    process.kill(first, 'SIGKILL');
    await waitFor(() => existsSync(pid.sup) && Number(readFileSync(pid.sup, 'utf8')) !== first, { timeout: 10_000, what: 'respawned once' });
    const second = Number(readFileSync(pid.sup, 'utf8'));
    process.kill(second, 'SIGKILL');
    await waitFor(() => Number(readFileSync(pid.sup, 'utf8')) !== second, { timeout: 10_000, what: 'respawned twice' });
    await waitFor(async () => (await checkEvents('sup')).filter((e) => e.event === 'supervise' && e.phase === 'started').length >= 3, { what: 'three starts at the controller' });
    const sup = (await checkEvents('sup')).filter((e) => e.event === 'supervise');
    assert.deepEqual(sup.slice(0, 5).map((e) => e.phase), ['started', 'exited', 'started', 'exited', 'started']);
    assert.equal(sup[1]!.signal, 'SIGKILL');
    assert.deepEqual([sup[2]!.after_ms, sup[4]!.after_ms], [300, 600], 'backoff doubles between crashes');
  });

  it('agent SIGTERM stops the supervised process too (exit 0)', async () => {
    const p = Number(readFileSync(pid.sup, 'utf8'));
    await agent.child.stop();
    assert.equal(agent.child.exitCode, 0);
    assert.throws(() => process.kill(p, 0), /ESRCH/, 'supervised process gone');
  });
});
