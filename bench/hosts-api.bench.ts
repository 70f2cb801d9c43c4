/**
 * `GET /api/v1/hosts` and `opsctl hosts --json` with 5,000 hosts while ingest-like writes run
 * (issue 18: p99 < 200 ms). Two API servers in this process share one SQLite file: the route as
 * it was (every view built, identity looked up per host, one JSON.stringify per call; kept here
 * as the baseline) and the route of controller/api/routes.ts (HostsList: cached per-host JSON
 * text, ETag, gzip). A writer applies heartbeats and touches in transactions every 25 ms at the
 * rate of a 5,000-agent fleet (500 heartbeats + 1,250 other events a second), on the same event
 * loop as the servers, as ingest does in the controller. Requests alternate between the two
 * servers so machine load hits both alike; the in-process CPU time of building one answer (same
 * churn between calls) is measured too, which survives a loaded machine.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import pino from 'pino';
import { HostsList } from '../controller/api/hosts-list.js';
import { HttpServer } from '../controller/api/http-server.js';
import { registerRoutes } from '../controller/api/routes.js';
import type { AgentClients } from '../controller/dispatch/agent-clients.js';
import type { EventsStore } from '../controller/store/events-store.js';
import { openDatabase } from '../controller/store/db.js';
import { HostsStore, toHostView } from '../controller/store/hosts-store.js';
import type { Heartbeat } from '../shared/gen/opsfleet/v1/events.js';
import { REPO_ROOT } from '../test/helpers/process.js';
import { tempDir } from '../test/helpers/tmp.js';
import { cpuCost } from './cpu-cost.js';
import type { Bench, BenchRow } from './types.js';

const HOSTS = 5000;
const ROLES = ['web', 'db', 'cache', 'worker'];
const gunzipAsync = promisify(gunzip);

const idOf = (i: number) => `host-${String(i).padStart(5, '0')}`;

function heartbeat(i: number, uptimeS: number): Heartbeat {
  const id = idOf(i);
  return {
    inventory: {
      hostId: id, hostname: `${id}.dc1.example`, os: 'linux', distro: 'Debian GNU/Linux 12 (bookworm)', kernel: '6.1.0-18-amd64', arch: 'x64',
      cpuModel: 'Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz', cpuCores: 8, memoryTotalBytes: 16 * 2 ** 30, ipAddresses: [`10.${i >> 8}.${i & 255}.10`, 'fe80::1'],
      tags: { role: ROLES[i % 4]!, env: i % 10 ? 'prod' : 'staging', dc: `dc${i % 3}` }, agentVersion: '0.1.0', bootId: `boot-${i}`, uptimeS, rpcEndpoint: `10.${i >> 8}.${i & 255}.10:7001`, rpcTls: true,
    },
    agentUptimeS: uptimeS, outboxDepth: 0, outboxEvicted: 0, intervalMs: 10_000,
  };
}

/** The route's full view as it was built before HostsList: the same-run baseline. */
function rebuildAnswer(hosts: HostsStore, identity: (id: string) => unknown): string {
  return JSON.stringify(
    hosts.page({}).map((h) => {
      const v = toHostView(h);
      const i = identity(v.id) as { state: string; certNotAfter: string | null } | undefined;
      return { ...v, identity: i?.state ?? 'none', certNotAfter: i?.certNotAfter ?? null };
    }),
  );
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

function get(base: string, path: string, agent: Agent, headers: Record<string, string> = {}): Promise<{ ms: number; status: number; bytes: number; etag: string | undefined; body: Buffer; encoding: string | undefined }> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ ms: performance.now() - start, status: res.statusCode ?? 0, bytes: body.length, etag: res.headers.etag, body, encoding: res.headers['content-encoding'] });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function opsctlHostsJson(url: string): Promise<{ ms: number; bytes: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(REPO_ROOT, 'bin/opsctl.js'), 'hosts', '--json', '--controller', url], {
      cwd: REPO_ROOT,
      env: { ...process.env, OPSFLEET_RUNTIME: existsSync(join(REPO_ROOT, 'dist/opsctl.js')) ? 'dist' : 'tsx', OPSFLEET_TOKEN: 'bench', XDG_CONFIG_HOME: join(REPO_ROOT, 'node_modules', '.cache-opsctl-bench') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let bytes = 0;
    let err = '';
    p.stdout.on('data', (c: Buffer) => (bytes += c.length));
    p.stderr.on('data', (c: Buffer) => (err += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve({ ms: performance.now() - t0, bytes }) : reject(new Error(`opsctl hosts --json exited ${code}: ${err}`))));
  });
}

const bench: Bench = {
  name: 'hosts API with 5,000 hosts under ingest-like writes',
  async run({ quick }) {
    const tmp = tempDir('opsfleet-bench-hosts-');
    const rounds = quick ? 30 : 150;
    const cliRounds = quick ? 3 : 9;
    const load0 = loadavg()[0]!;
    const dataDir = join(tmp.path, 'data');
    mkdirSync(dataDir, { recursive: true });
    const db = openDatabase(dataDir);
    const hosts = new HostsStore(db);
    const t0 = Date.now();
    db.transaction(() => {
      for (let i = 0; i < HOSTS; i++) hosts.applyHeartbeat(heartbeat(i, 1000), { tsMs: t0, seq: 1, instanceId: `inst-${i}`, hostId: idOf(i) }, t0);
    })();
    // A tenth of the fleet enrolled: identities are looked up for every host either way.
    const ins = db.prepare("INSERT INTO host_identities (host_id, state, key_fp, public_key, tags, token_name, version, requested_ms, enrolled_ms, not_after_ms) VALUES (?, 'enrolled', ?, 'pk', '{}', 't', '0.1.0', ?, ?, ?)");
    db.transaction(() => {
      for (let i = 0; i < HOSTS; i += 10) ins.run(idOf(i), `fp${i}`, t0, t0, t0 + 90 * 86_400_000);
    })();
    const briefStmt = db.prepare<[string], { state: string; not_after_ms: number | null }>('SELECT state, not_after_ms FROM host_identities WHERE host_id = ?');
    const briefsStmt = db.prepare<[], { host_id: string; state: 'enrolled'; not_after_ms: number | null }>('SELECT host_id, state, not_after_ms FROM host_identities');
    const identity = (id: string) => {
      const r = briefStmt.get(id);
      return r ? { state: r.state as 'enrolled', certNotAfter: r.not_after_ms === null ? null : new Date(r.not_after_ms).toISOString() } : undefined;
    };
    const identities = () => new Map(briefsStmt.all().map((r) => [r.host_id, { state: r.state, certNotAfter: r.not_after_ms === null ? null : new Date(r.not_after_ms).toISOString() }]));

    // The writer: what ingest does to the hosts table at 5,000 agents (a heartbeat per host every
    // 10 s, ~0.25 other events per host per second touching last_seen), one transaction per 25 ms.
    let seq = 1;
    let hbNext = 0;
    let touchNext = 0;
    let uptime = 1000;
    const writeTick = (hbN: number, touchN: number) => {
      const now = Date.now();
      db.transaction(() => {
        for (let j = 0; j < hbN; j++) {
          const i = hbNext++ % HOSTS;
          if (i === 0) (seq++, (uptime += 10));
          hosts.applyHeartbeat(heartbeat(i, uptime), { tsMs: now, seq, instanceId: `inst-${i}`, hostId: idOf(i) }, now);
        }
        for (let j = 0; j < touchN; j++) hosts.touch(idOf((touchNext++ * 7919) % HOSTS), now);
      })();
    };

    // In process: CPU of one answer with one second of fleet churn before each call.
    const list = new HostsList({ hosts, identities });
    const oneSecond = () => writeTick(500, 1250);
    const same = rebuildAnswer(hosts, identity) === list.snapshot().body().toString();
    if (!same) throw new Error('the cached list differs from the rebuilt one');
    const cpuOld: number[] = [];
    const cpuNew: number[] = [];
    for (let r = 0; r < (quick ? 5 : 15); r++) {
      cpuOld.push(cpuCost(() => rebuildAnswer(hosts, identity), 1, oneSecond));
      cpuNew.push(cpuCost(() => list.snapshot().body().toString(), 1, oneSecond));
    }
    const cpuNewQuiet = cpuCost(() => list.snapshot().body().toString(), quick ? 5 : 15, () => undefined);
    const cpuEtag = cpuCost(() => list.snapshot().etag, quick ? 5 : 15, oneSecond);

    // Over HTTP, with the writer running on this event loop.
    const guard = { policy: () => ({}), check: () => ({ name: 'bench', role: 'admin' as const }) };
    const log = pino({ level: 'silent' });
    const oldHttp = new HttpServer(log, { guard });
    oldHttp.route('GET', '/api/v1/hosts', ({ res }) => {
      const text = rebuildAnswer(hosts, identity);
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text);
    });
    const newHttp = new HttpServer(log, { guard });
    registerRoutes(newHttp, { hosts, events: {} as EventsStore, agents: {} as AgentClients, health: () => ({}), identity, identities });
    const oldUrl = `http://127.0.0.1:${(await oldHttp.listen('127.0.0.1', 0)).port}`;
    const newUrl = `http://127.0.0.1:${(await newHttp.listen('127.0.0.1', 0)).port}`;
    const agentOld = new Agent({ keepAlive: true, maxSockets: 1 });
    const agentNew = new Agent({ keepAlive: true, maxSockets: 1 });
    const lat: Record<'old' | 'new' | 'gzip' | 'revalidate' | 'cliOld' | 'cliNew', number[]> = { old: [], new: [], gzip: [], revalidate: [], cliOld: [], cliNew: [] };
    const bytes: Record<string, number> = {};
    let got304 = 0;
    const eld = monitorEventLoopDelay({ resolution: 5 });
    let writes = 0;
    let writer: NodeJS.Timeout | undefined;
    try {
      for (let r = 0; r < 3; r++) {
        await get(oldUrl, '/api/v1/hosts', agentOld);
        await get(newUrl, '/api/v1/hosts', agentNew);
      }
      const probe = await get(newUrl, '/api/v1/hosts', agentNew);
      if (probe.body.toString() !== rebuildAnswer(hosts, identity)) throw new Error('the new route answered another list than the rebuilt one');
      writer = setInterval(() => {
        writeTick(13, 31);
        writes++;
      }, 25);
      eld.enable();
      for (let r = 0; r < rounds; r++) {
        const o = await get(oldUrl, '/api/v1/hosts', agentOld);
        lat.old.push(o.ms);
        bytes.old = o.bytes;
        const n = await get(newUrl, '/api/v1/hosts', agentNew);
        lat.new.push(n.ms);
        bytes.new = n.bytes;
        const t = performance.now();
        const g = await get(newUrl, '/api/v1/hosts', agentNew, { 'accept-encoding': 'gzip' });
        if (g.encoding !== 'gzip') throw new Error('no gzip answer');
        await gunzipAsync(g.body);
        lat.gzip.push(performance.now() - t);
        bytes.gzip = g.bytes;
        // A poller asking again at once: nothing changed only if no write landed in between.
        const v = await get(newUrl, '/api/v1/hosts', agentNew, { 'if-none-match': g.etag ?? '' });
        lat.revalidate.push(v.ms);
        if (v.status === 304) got304++;
      }
      eld.disable();
      for (let r = 0; r < cliRounds; r++) {
        lat.cliOld.push((await opsctlHostsJson(oldUrl)).ms);
        const c = await opsctlHostsJson(newUrl);
        lat.cliNew.push(c.ms);
        bytes.cli = c.bytes;
      }
    } finally {
      clearInterval(writer);
      agentOld.destroy();
      agentNew.destroy();
      await oldHttp.close(500);
      await newHttp.close(500);
      db.close();
      tmp.cleanup();
    }
    const secs = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / 1000;
    const row = (name: string, xs: number[], note: string, unit = 'req'): BenchRow => ({ name, rate: xs.length / secs(xs), unit, count: xs.length, seconds: secs(xs), note: `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms; ${note}` });
    const kib = (b: number | undefined) => `${((b ?? 0) / 1024).toFixed(0)} KiB`;
    return {
      title: `Hosts API with ${HOSTS.toLocaleString('en-US')} hosts under ingest-like writes (rebuilt vs cached list, same run)`,
      rows: [
        row('baseline: GET /api/v1/hosts, every view rebuilt', lat.old, `${kib(bytes.old)}; build in process ${pct(cpuOld, 50).toFixed(1)} ms CPU (1 s of churn before each)`),
        row('GET /api/v1/hosts, cached per-host JSON (HostsList)', lat.new, `${kib(bytes.new)}; build in process ${pct(cpuNew, 50).toFixed(1)} ms CPU (1 s of churn before each), ${cpuNewQuiet.toFixed(1)} ms with no change`),
        row('same, Accept-Encoding: gzip (incl. gunzip)', lat.gzip, `${kib(bytes.gzip)} on the wire; gzip level 1 on the thread pool`),
        row('same, If-None-Match with the tag just received', lat.revalidate, `${got304}/${rounds} answered 304 (the rest: a write landed in between); tag alone ${cpuEtag.toFixed(1)} ms CPU`),
        row('baseline: opsctl hosts --json against the rebuilding route', lat.cliOld, 'whole CLI, start-up included', 'runs'),
        row('opsctl hosts --json against the cached route', lat.cliNew, `whole CLI, start-up included; ${kib(bytes.cli)} printed`, 'runs'),
      ],
      notes: [
        `${HOSTS} hosts (a tenth enrolled) in one SQLite file; both routes in this process on the same file and event loop as a writer applying 13 heartbeats + 31 touches every 25 ms (${writes} transactions during the run; ~1,750 host updates/s, a 5,000-agent fleet's). ${rounds} rounds, old and new alternated, sequential over keep-alive connections; opsctl runs alternated too (${existsSync(join(REPO_ROOT, 'dist/opsctl.js')) ? 'compiled bundle' : 'tsx sources'}).`,
        `Event loop delay during the HTTP rounds: p50 ${(eld.percentile(50) / 1e6).toFixed(1)} ms, p99 ${(eld.percentile(99) / 1e6).toFixed(1)} ms, max ${(eld.max / 1e6).toFixed(1)} ms. Load average at start ${load0.toFixed(2)}: compare rows of this run with each other, and the CPU figures, rather than with another run.`,
        `Answers identical: ${same} (the cached list's text equals the rebuilt one byte for byte). Goal: p99 < 200 ms for the list and opsctl hosts --json at 5,000 hosts while ingest runs.`,
      ],
    };
  },
};
export default bench;
