import { strict as assert } from 'node:assert';
import { request, type IncomingMessage } from 'node:http';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import type { FactsView, FleetPage } from '../../controller/api/wire.js';
import { api, authHeaders, runCommand, startAgent, startController, tokenFor, type AgentProc, type ControllerProc } from '../helpers/daemons.js';
import { rawRequest } from '../helpers/http.js';
import { NatsServer } from '../helpers/nats-server.js';
import { tempDir } from '../helpers/tmp.js';
import { waitFor } from '../helpers/wait.js';

/** Gathering spawns probes; on the shared 2-core test machine one took up to ~40 s. */
const GATHER_TIMEOUT = 150_000;

/** An SSE reader: collects `event:`/`data:` frames until closed. */
function openStream(base: string, path: string): Promise<{ frames: Array<{ event: string; data: unknown }>; res: IncomingMessage; close: () => void }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, headers: { authorization: `Bearer ${tokenFor(base)}`, accept: 'text/event-stream' } }, (res) => {
      const frames: Array<{ event: string; data: unknown }> = [];
      let buf = '';
      res.setEncoding('utf8').on('data', (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) frames.push({ event, data: JSON.parse(data) as unknown });
        }
      });
      res.on('error', () => undefined);
      resolve({ frames, res, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('host facts: agent → NATS → controller → API, refresh over gRPC, opsctl, targets, live stream', () => {
  const tmp = tempDir('opsfleet-facts-');
  let nats: NatsServer;
  let controller: ControllerProc;
  let a1: AgentProc;
  let a2: AgentProc;
  const opsctl = (args: string[], timeoutMs?: number) => runCommand('opsctl', ['--controller', controller.url, ...args], {}, timeoutMs);
  const osId = /^ID=("?)([^"\n]*)\1$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[2] ?? 'linux';

  before(async () => {
    nats = await NatsServer.start();
    controller = await startController({ natsUrl: nats.url, dir: tmp.path, offlineAfter: '3s', extraYaml: 'playbooks:\n  inspect:\n    steps:\n      - { builtin: load }' });
    a1 = await startAgent({ natsUrl: nats.url, dir: tmp.path, id: 'fx-1', tags: { role: 'web' }, extraYaml: 'facts: { delay: 100ms }' });
    // The second gathers nothing by itself: its facts come only from a refresh.
    a2 = await startAgent({ natsUrl: nats.url, dir: tmp.path, id: 'fx-2', tags: { role: 'db' }, extraYaml: 'facts: { gather_on_start: false }' });
    await waitFor(async () => (await api<unknown[]>(controller.url, '/api/v1/hosts')).length === 2, { timeout: 20_000, what: 'two hosts' });
  });
  after(async () => {
    await a1?.child.stop();
    await a2?.child.stop();
    await controller?.child.stop();
    await nats?.dispose();
    tmp.cleanup();
  });

  it('the agent sends its facts after start; the API serves them with the fact keys filled in', async () => {
    const f = await waitFor(
      async () => {
        const r = await rawRequest(controller.url, { path: '/api/v1/hosts/fx-1/facts', token: tokenFor(controller.url)! });
        return r.status === 200 ? (r.json as FactsView) : undefined;
      },
      { timeout: GATHER_TIMEOUT, interval: 500, what: 'fx-1 facts stored' },
    );
    assert.equal(f.host, 'fx-1');
    assert.equal(f.facts.os, osId);
    assert.equal(f.facts.kernel, os.release());
    assert.equal(f.facts.arch, os.arch());
    assert.equal(f.facts.cpu_cores, os.cpus().length);
    assert.equal(f.facts.mem_total_bytes, os.totalmem());
    assert.equal(f.facts.hostname, os.hostname());
    assert.equal(typeof f.facts.virtual, 'string');
    assert.notEqual(f.facts.virtual, '');
    assert.ok(f.filesystems.some((x) => x.mount === '/' && x.sizeBytes > 0), JSON.stringify(f.filesystems));
    assert.ok(f.interfaces.every((x) => x.name !== 'lo'));
    assert.ok(f.tookMs > 0);
  });

  it('a host without facts answers OPS_ERR_FACTS_NONE; opsctl host facts --refresh gathers over gRPC and stores them', async () => {
    const none = await opsctl(['host', 'facts', 'fx-2']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /OPS_ERR_FACTS_NONE/);
    const stream = await openStream(controller.url, '/api/v1/stream?topics=facts,hosts');
    try {
      await waitFor(() => stream.frames.some((f) => f.event === 'hello'), { what: 'stream hello' });
      const r = await opsctl(['host', 'facts', 'fx-2', '--refresh', '--json'], GATHER_TIMEOUT);
      assert.equal(r.code, 0, r.stderr);
      const f = JSON.parse(r.stdout) as FactsView;
      assert.equal(f.host, 'fx-2');
      assert.equal(f.facts.os, osId);
      const stored = await api<FactsView>(controller.url, '/api/v1/hosts/fx-2/facts');
      assert.equal(stored.gatheredAt, f.gatheredAt);
      // The live stream tells dashboards about it.
      await waitFor(() => stream.frames.some((x) => x.event === 'facts' && (x.data as { host: string }).host === 'fx-2'), { timeout: 10_000, what: 'facts event on the stream' });
      // The table form names the keys.
      const table = await opsctl(['host', 'facts', 'fx-2']);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^virtual +\S+/m);
      assert.match(table.stdout, /^mem_total_bytes +.*\(\d+\)/m);
      // A host going offline reaches the stream too.
      await a2.child.stop();
      await waitFor(() => stream.frames.some((x) => x.event === 'host' && (x.data as { id: string; status: string }).id === 'fx-2' && (x.data as { status: string }).status === 'offline'), { timeout: 30_000, what: 'fx-2 offline on the stream' });
    } finally {
      stream.close();
    }
  });

  it('fact keys work in target expressions: fleet filter and run dry-run', async () => {
    const f = await api<FactsView>(controller.url, '/api/v1/hosts/fx-1/facts');
    const expr = `virtual=${String(f.facts.virtual)} and os=${osId} and cpu_cores>=1`;
    const page = await api<FleetPage>(controller.url, `/api/v1/fleet?target=${encodeURIComponent(expr)}`);
    assert.deepEqual(page.rows.map((r) => r[0]).sort(), ['fx-1', 'fx-2']);
    const web = await api<FleetPage>(controller.url, `/api/v1/fleet?target=${encodeURIComponent(`${expr} and role=web`)}`);
    assert.deepEqual(web.rows.map((r) => r[0]), ['fx-1']);
    const none = await api<FleetPage>(controller.url, `/api/v1/fleet?target=${encodeURIComponent('virtual=no-such-hypervisor')}`);
    assert.equal(none.matched, 0);
    const bad = await rawRequest(controller.url, { path: `/api/v1/fleet?target=${encodeURIComponent('cpu_cores>lots')}`, token: tokenFor(controller.url)! });
    assert.equal(bad.status, 400);
    assert.equal(bad.code, 'OPS_ERR_TARGET_SYNTAX');
    const res = await fetch(`${controller.url}/api/v1/runs`, { method: 'POST', headers: { ...authHeaders(controller.url), 'content-type': 'application/json' }, body: JSON.stringify({ playbook: 'inspect', target: `${expr} and role=db`, dry_run: true }) });
    assert.equal(res.status, 200);
    assert.deepEqual(((await res.json()) as { matched: Array<{ id: string }> }).matched.map((h) => h.id), ['fx-2']);
    // The ETag answers an unchanged poll with 304 (a pause-free fleet would move it; this one has one host offline and one heartbeating).
    const first = await rawRequest(controller.url, { path: '/api/v1/fleet?target=role%3Ddb', token: tokenFor(controller.url)! });
    const etag = first.headers.etag as string;
    assert.ok(etag);
    const again = await rawRequest(controller.url, { path: '/api/v1/fleet?target=role%3Ddb', token: tokenFor(controller.url)!, headers: { 'if-none-match': etag } });
    assert.ok(again.status === 304 || again.headers.etag !== etag, `304 or a new tag, got ${again.status}`);
  });

  it('the host page routes answer for a real host', async () => {
    const series = await api<{ resolution: string; ts: number[] }>(controller.url, '/api/v1/hosts/fx-1/metrics/series?range=24h');
    assert.equal(series.resolution, '1m');
    const bad = await rawRequest(controller.url, { path: '/api/v1/hosts/fx-1/metrics/series?range=2y', token: tokenFor(controller.url)! });
    assert.equal(bad.code, 'OPS_ERR_BAD_REQUEST');
    const missing = await rawRequest(controller.url, { path: '/api/v1/hosts/nope/facts', token: tokenFor(controller.url)! });
    assert.equal(missing.code, 'OPS_ERR_HOST_NOT_FOUND');
    const tl = await api<{ events: Array<{ kind: string; summary: string }>; alerts: unknown[] }>(controller.url, '/api/v1/hosts/fx-1/timeline');
    assert.ok(tl.events.some((e) => e.kind === 'facts' && /^facts gathered/.test(e.summary)), JSON.stringify(tl.events.slice(0, 3)));
    const lv = await api<{ ts: number[]; levels: Record<string, number[]> }>(controller.url, '/api/v1/hosts/fx-1/logs/levels?range=1h');
    assert.deepEqual(Object.keys(lv.levels).sort(), ['debug', 'error', 'fatal', 'info', 'none', 'trace', 'warn']);
    const hist = await api<unknown[]>(controller.url, '/api/v1/hosts/fx-1/checks/history?since=1h');
    assert.ok(Array.isArray(hist));
    const topics = await rawRequest(controller.url, { path: '/api/v1/stream?topics=metrics', token: tokenFor(controller.url)! });
    assert.equal(topics.status, 400);
    assert.match(topics.text, /needs host=ID/);
  });
});
