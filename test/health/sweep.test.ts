import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { loadRawDialer, socketDialer } from '../../shared/sweep/dialer.js';
import { runSweep, type SweepResult } from '../../shared/sweep/sweep.js';
import { compareTargets, parsePorts, parseTargets } from '../../shared/sweep/targets.js';
import { OpsError } from '../../shared/errors.js';
import { Child } from '../helpers/process.js';
import { waitFor } from '../helpers/wait.js';

/** Ports below the ephemeral range, so port-0 binds of parallel tests never land in it. */
const FIRST = 21_000;
const COUNT = 2000;

/** The kernel's own list of listening TCP ports (an oracle independent of the sweep). */
function listeningPorts(): Set<number> {
  const out = new Set<number>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c[3] === '0A') out.add(parseInt(c[1]!.split(':').at(-1)!, 16));
    }
  }
  return out;
}

describe('sweep targets', () => {
  it('expands CIDRs, host:port and port ranges; rejects bad input with OPS_ERR_SWEEP_INPUT', () => {
    assert.deepEqual(parsePorts('80,22,8000-8002,22'), [22, 80, 8000, 8001, 8002]);
    const t = parseTargets('10.0.0.0/30,db-1:5432,[::1]:22', '22,80');
    assert.deepEqual(t, [
      { host: '10.0.0.1', port: 22 }, { host: '10.0.0.1', port: 80 }, { host: '10.0.0.2', port: 22 }, { host: '10.0.0.2', port: 80 },
      { host: 'db-1', port: 5432 }, { host: '::1', port: 22 },
    ]);
    assert.equal(parseTargets('10.0.0.0/24', '22').length, 254);
    for (const [targets, ports, msg] of [['10.0.0.0/24', '', /no port/], ['1.2.3.4', '70000', /outside 1-65535/], ['10.0.0.0/4', '1', /between \/8 and \/32/], ['a b', '1', /not a host/], ['', '1', /none given/]] as const) {
      assert.throws(() => parseTargets(targets, ports), (e: unknown) => e instanceof OpsError && e.code === 'OPS_ERR_SWEEP_INPUT' && msg.test(e.message));
    }
    const sorted = [{ host: '10.0.0.10', port: 1 }, { host: '10.0.0.9', port: 2 }, { host: '10.0.0.9', port: 1 }].sort(compareTargets);
    assert.deepEqual(sorted.map((x) => `${x.host}:${x.port}`), ['10.0.0.9:1', '10.0.0.9:2', '10.0.0.10:1']);
  });
});

describe('sweep across 2,000 loopback ports', () => {
  const servers: Server[] = [];
  const ours = new Set<number>();

  before(async () => {
    // Every 50th port of the range listens (40 of them), the rest are refused.
    for (let p = FIRST + 7; p < FIRST + COUNT; p += 50) {
      const s = createServer((c) => c.destroy());
      const okListen = await new Promise<boolean>((resolve) => {
        s.once('error', () => resolve(false));
        s.listen(p, '127.0.0.1', () => resolve(true));
      });
      if (okListen) {
        servers.push(s);
        ours.add(p);
      }
    }
  });
  after(() => {
    for (const s of servers) s.close();
  });

  for (const [label, dialer] of [['tcp_wrap dialer (default)', loadRawDialer()], ['net.Socket dialer (fallback)', socketDialer]] as const) {
  it(`${label}: returns exactly the listening set as reachable and everything else as refused`, async () => {
    assert.ok(dialer, 'this Node offers the tcp_wrap binding');
    assert.ok(ours.size >= 35, `bound ${ours.size} listeners`);
    const targets = parseTargets('127.0.0.1', `${FIRST}-${FIRST + COUNT - 1}`);
    assert.equal(targets.length, COUNT);
    const results: SweepResult[] = [];
    const summary = await runSweep(targets, { concurrency: 500, timeoutMs: 2000, dialer }, (r) => results.push(r));
    const oracle = [...listeningPorts()].filter((p) => p >= FIRST && p < FIRST + COUNT).sort((a, b) => a - b);
    const reachable = results.filter((r) => r.status === 'reachable').map((r) => r.port).sort((a, b) => a - b);
    assert.deepEqual(reachable, oracle, 'reachable = the kernel listening set');
    for (const p of ours) assert.ok(reachable.includes(p), `our listener ${p} reachable`);
    assert.equal(summary.total, COUNT);
    assert.equal(results.length, COUNT);
    assert.equal(summary.refused, COUNT - reachable.length);
    assert.equal(summary.timeout + summary.error + summary.unreachable, 0);
    assert.equal(new Set(results.map((r) => r.port)).size, COUNT, 'each port exactly once');
  });
  }

  it('a dial that gets no answer is a timeout, bounded by --timeout', async () => {
    // A listener that never accepts, with its backlog filled: the kernel then drops further
    // SYNs on loopback, which is exactly a silent host. Node always accepts, so python holds it.
    const py = new Child('python3', ['-c', 'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)']);
    try {
      const port = Number(await waitFor(() => py.stdout.trim()));
      const fillers = [];
      for (let i = 0; i < 4; i++) {
        const c = connect(port, '127.0.0.1');
        c.on('error', () => undefined);
        fillers.push(c);
      }
      await new Promise((r) => setTimeout(r, 100)); // let the handshakes land in the backlog
      const results: SweepResult[] = [];
      const summary = await runSweep([{ host: '127.0.0.1', port }], { concurrency: 1, timeoutMs: 300 }, (r) => results.push(r));
      fillers.forEach((c) => c.destroy());
      assert.equal(results[0]!.status, 'timeout');
      // Timers may fire a fraction of a millisecond early against hrtime: allow 5 ms.
      assert.ok(results[0]!.latencyMs >= 295 && summary.elapsedMs < 1000, `${results[0]!.latencyMs}ms`);
    } finally {
      await py.stop();
    }
  });
});
