import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { api, authHeaders, runCommand, startAgent, startController, type AgentProc, type ControllerProc } from '../helpers/daemons.js';
import { NatsServer } from '../helpers/nats-server.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

interface CheckView {
  host: string;
  name: string;
  state: string;
  status: string;
  detail: string;
  restarts: number;
}
interface SweepOut {
  from: string;
  results: Array<{ host: string; port: number; status: string }>;
  summary: { total: number; reachable: number; refused: number };
}

describe('operator surface: opsctl checks, host metrics, sweep (local and --from an agent)', () => {
  const tmp = tempDir('opsfleet-ops-');
  let nats: NatsServer;
  let controller: ControllerProc;
  let agent: AgentProc;
  const listeners: Server[] = [];
  let upPort = 0;
  let downPort = 0;
  const opsctl = (args: string[]) => runCommand('opsctl', ['--controller', controller.url, ...args]);

  before(async () => {
    for (let i = 0; i < 3; i++) {
      const s = createServer((c) => c.destroy());
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      listeners.push(s);
    }
    upPort = (listeners[0]!.address() as { port: number }).port;
    downPort = await freePort();
    nats = await NatsServer.start();
    controller = await startController({ natsUrl: nats.url, dir: tmp.path });
    agent = await startAgent({
      natsUrl: nats.url,
      dir: tmp.path,
      id: 'ops-1',
      extraYaml: `metrics: { interval: 300ms, top_processes: 3, prometheus: { listen: "127.0.0.1:0" } }
checks:
  - { name: svc, type: tcp, host: 127.0.0.1, port: ${upPort}, interval: 200ms }
  - { name: gone, type: tcp, host: 127.0.0.1, port: ${downPort}, interval: 200ms, failures: 2, severity: warning }
`,
    });
  });
  after(async () => {
    await agent?.child.stop();
    await controller?.child.stop();
    await nats?.dispose();
    for (const s of listeners) s.close();
    tmp.cleanup();
  });

  it('opsctl checks lists the latest state per check; --state down filters', async () => {
    await waitFor(async () => (await api<CheckView[]>(controller.url, '/api/v1/checks?host=ops-1')).length === 2, { timeout: 15_000, what: 'two checks stored' });
    await waitFor(async () => (await api<CheckView[]>(controller.url, '/api/v1/checks?state=down')).some((c) => c.name === 'gone'), { what: 'gone down' });
    const all = await opsctl(['checks', '--json']);
    assert.equal(all.code, 0, all.stderr);
    const checks = JSON.parse(all.stdout) as CheckView[];
    assert.deepEqual(checks.map((c) => [c.host, c.name, c.state]), [['ops-1', 'gone', 'down'], ['ops-1', 'svc', 'up']]);
    assert.match(checks[0]!.detail, /ECONNREFUSED/);
    const down = await opsctl(['checks', '--state', 'down']);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /ops-1 +│? *gone|gone/);
    assert.doesNotMatch(down.stdout, /svc/);
    assert.match(down.stdout, /1 check\(s\), 1 down/);
    const bad = await opsctl(['checks', '--state', 'sideways']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /OPS_ERR_BAD_REQUEST: state must be unknown, up or down/);
  });

  it('opsctl host metrics shows the latest sample with top processes', async () => {
    await waitFor(async () => (await fetch(`${controller.url}/api/v1/hosts/ops-1/metrics`, { headers: authHeaders(controller.url) })).ok, { timeout: 15_000, what: 'a metric sample' });
    const j = await opsctl(['host', 'metrics', 'ops-1', '--json']);
    assert.equal(j.code, 0, j.stderr);
    const m = JSON.parse(j.stdout) as { host: string; sample: { cpu: { cores: number[] }; top_cpu: unknown[]; mem: { total: number } } };
    assert.equal(m.host, 'ops-1');
    assert.ok(m.sample.cpu.cores.length >= 1);
    assert.equal(m.sample.top_cpu.length, 3);
    const t = await opsctl(['host', 'metrics', 'ops-1']);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /^cpu: /m);
    assert.match(t.stdout, /PROCESS/);
    const none = await opsctl(['host', 'metrics', 'nobody']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /OPS_ERR_HOST_NOT_FOUND/);
    const hist = await api<Array<{ n: number; cpu_avg: number }>>(controller.url, '/api/v1/hosts/ops-1/metrics/history?since=0');
    assert.ok(hist.length >= 1 && hist[0]!.n >= 1);
  });

  it('Prometheus /metrics on the agent (internals, checks, host sample) and on the controller (fleet)', async () => {
    const line = await agent.child.waitForLog((l) => l.msg === 'prometheus metrics listening', 5000, 'exporter listening');
    const agentUrl = `http://127.0.0.1:${String(line.port)}/metrics`;
    const text = await waitFor(async () => {
      const t = await (await fetch(agentUrl)).text();
      return t.includes('opsfleet_host_cpu_percent') && t.includes('check="gone"') ? t : undefined;
    }, { what: 'agent metrics with checks and a sample' });
    assert.match(text, /^# TYPE opsfleet_check_up gauge$/m);
    assert.match(text, /^opsfleet_check_up\{check="svc",type="tcp"\} 1$/m);
    assert.match(text, /^opsfleet_check_up\{check="gone",type="tcp"\} 0$/m);
    assert.match(text, /^opsfleet_agent_info\{host="ops-1",version="[^"]+",instance="[^"]+"\} 1$/m);
    assert.match(text, /^opsfleet_outbox_depth \d+$/m);
    assert.match(text, /^opsfleet_host_network_receive_bytes_per_second\{interface="lo"\} \d+$/m);
    assert.match(text, /^process_resident_memory_bytes \d+$/m);
    assert.equal((await fetch(agentUrl.replace('/metrics', '/other'))).status, 404);
    const res = await fetch(`${controller.url}/metrics`);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const ctl = await res.text();
    assert.match(ctl, /^opsfleet_hosts\{status="online"\} 1$/m);
    assert.match(ctl, /^opsfleet_check_up\{host="ops-1",check="gone",type="tcp"\} 0$/m);
    assert.match(ctl, /^opsfleet_controller_counter_total\{counter="events_ingested"\} \d+$/m);
  });

  it('opsctl sweep runs locally and --from the agent over gRPC with the same answer', async () => {
    const ports = listeners.map((s) => (s.address() as { port: number }).port);
    const targets = `127.0.0.1:${ports[1]},127.0.0.1:${ports[2]},127.0.0.1:${downPort}`;
    const local = await opsctl(['sweep', '--targets', targets, '--json']);
    assert.equal(local.code, 0, local.stderr);
    const remote = await opsctl(['sweep', '--targets', targets, '--from', 'ops-1', '--json', '--timeout', '1s']);
    assert.equal(remote.code, 0, remote.stderr);
    const l = JSON.parse(local.stdout) as SweepOut;
    const r = JSON.parse(remote.stdout) as SweepOut;
    const view = (o: SweepOut) => o.results.map((x) => `${x.port}:${x.status}`);
    assert.deepEqual(view(r), view(l));
    assert.deepEqual(view(l), [...ports.slice(1).map((p) => `${p}:reachable`), `${downPort}:refused`].sort((a, b) => Number(a.split(':')[0]) - Number(b.split(':')[0])));
    assert.equal(r.from, 'ops-1');
    assert.deepEqual([r.summary.total, r.summary.reachable, r.summary.refused], [3, 2, 1]);
    const text = await opsctl(['sweep', '--targets', targets, '--from', 'ops-1']);
    assert.match(text.stdout, /3 dialled from ops-1 in \d+ms \(\d+\/s\): 2 reachable, 1 refused, 0 timeout/);
  });

  it('sweep bad input is a clear error locally and from the agent', async () => {
    const local = await opsctl(['sweep', '--targets', '127.0.0.1']);
    assert.equal(local.code, 1);
    assert.match(local.stderr, /OPS_ERR_SWEEP_INPUT: targets: "127\.0\.0\.1" has no port/);
    const remote = await opsctl(['sweep', '--targets', '10.0.0.0/4', '--ports', '22', '--from', 'ops-1']);
    assert.equal(remote.code, 1);
    assert.match(remote.stderr, /OPS_ERR_SWEEP_INPUT: .*between \/8 and \/32/);
    const timeout = await opsctl(['sweep', '--targets', '127.0.0.1:1', '--timeout', 'soon']);
    assert.equal(timeout.code, 1);
    assert.match(timeout.stderr, /--timeout must be a duration/);
  });

  it('a check removed from the agent config disappears from the controller after the agent restarts', async () => {
    await agent.child.stop();
    agent = await startAgent({
      natsUrl: nats.url,
      dir: tmp.path,
      id: 'ops-1',
      extraYaml: `metrics: { enabled: false }
checks:
  - { name: svc, type: tcp, host: 127.0.0.1, port: ${upPort}, interval: 200ms }
`,
    });
    await waitFor(async () => (await api<CheckView[]>(controller.url, '/api/v1/checks?host=ops-1')).map((c) => c.name).join() === 'svc', { timeout: 15_000, what: 'only svc left' });
  });
});
