/**
 * Soak: a controller and 3 agents (heartbeat, metrics and 5 TCP checks every second, as in
 * issue 20) for `--minutes` (default 10), sampling RSS and file sizes over time and measuring
 * bytes per stored event. With `--baseline REF` the same soak first runs on that commit
 * (extracted with git archive into a temp dir, sharing node_modules), so before/after are
 * measured in one run on the same machine. Ends with the projection for a 5,000-host fleet at
 * default intervals and retention.
 *
 *   npm run bench -- soak --minutes 2 --baseline 81e1d31
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NatsServer } from '../test/helpers/nats-server.js';
import { Child, REPO_ROOT } from '../test/helpers/process.js';
import { tempDir } from '../test/helpers/tmp.js';
import { waitFor } from '../test/helpers/wait.js';
import { dbShape, fileBytes, rowCostAtScale, rssBytes, type DbShape, type RowCost } from './soak-probe.js';
import type { Bench, BenchRow } from './types.js';

const AGENTS = 3;
const CHECKS = 5;
const MiB = 2 ** 20;

interface Sample {
  atS: number;
  controllerRss: number;
  agentRssMax: number;
  dbFile: number;
  outboxes: number;
  events: number;
  usedBytes: number;
}

interface PhaseResult {
  label: string;
  samples: Sample[];
  end: DbShape;
  cost: RowCost;
  seconds: number;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  if (i >= 0) return process.argv[i + 1];
  return process.argv.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
}

/** A checkout of `ref` in a temp dir, running on this checkout's node_modules. */
function checkout(ref: string, into: string): string {
  mkdirSync(into, { recursive: true });
  execFileSync('bash', ['-c', `git -C "${REPO_ROOT}" archive "${ref}" | tar -x -C "${into}"`]);
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(into, 'node_modules'));
  return into;
}

async function soak(label: string, root: string, minutes: number): Promise<PhaseResult> {
  const dir = tempDir('opsfleet-soak-');
  const nats = await NatsServer.start({ operator: false }); // plain NATS: comparable with the figures recorded before per-host JWT auth (its cost: bench/nats-auth)
  const agents: Child[] = [];
  let ctl: Child | undefined;
  try {
    const dataDir = join(dir.path, 'controller-data');
    const ctlCfg = join(dir.path, 'controller.yaml');
    writeFileSync(ctlCfg, [`nats: { servers: ["${nats.url}"] }`, `data_dir: ${dataDir}`, 'http: { listen: "127.0.0.1:0" }', 'log: { level: info }'].join('\n'));
    ctl = new Child(process.execPath, [join(root, 'bin', 'opsfleet-controller.js'), '--config', ctlCfg], { cwd: root });
    const port = Number((await ctl.waitForLog((l) => l.msg === 'http api listening', 60_000, 'controller http api')).port);
    for (let i = 1; i <= AGENTS; i++) {
      const cfg = join(dir.path, `agent-${i}.yaml`);
      const checks = Array.from({ length: CHECKS }, (_, c) => `  - { name: tcp-${c}, type: tcp, host: 127.0.0.1, port: ${port}, interval: 1s }`);
      writeFileSync(cfg, [`host: { id: soak-${i} }`, `nats: { servers: ["${nats.url}"] }`, `state_dir: ${join(dir.path, `agent-${i}`)}`, 'heartbeat_interval: 1s', 'metrics: { interval: 1s }', 'log: { level: warn }', 'checks:', ...checks].join('\n'));
      agents.push(new Child(process.execPath, [join(root, 'bin', 'opsfleet-agent.js'), '--config', cfg], { cwd: root }));
    }
    const dbFile = join(dataDir, 'controller.db');
    await waitFor(() => dbShape(dbFile).events > 0, { timeout: 120_000, what: 'first events stored' });
    const started = Date.now();
    const samples: Sample[] = [];
    const every = Math.max(10_000, (minutes * 60_000) / 10);
    const take = () => {
      const shape = dbShape(dbFile);
      samples.push({
        atS: (Date.now() - started) / 1000,
        controllerRss: rssBytes(ctl!.pid),
        agentRssMax: Math.max(...agents.map((a) => rssBytes(a.pid))),
        dbFile: fileBytes(dbFile),
        outboxes: agents.reduce((a, _x, i) => a + fileBytes(join(dir.path, `agent-${i + 1}`, 'outbox.db')), 0),
        events: shape.events,
        usedBytes: shape.usedBytes,
      });
    };
    take();
    for (let t = every; t <= minutes * 60_000 + 1; t += every) {
      await waitFor(() => Date.now() - started >= t, { timeout: every + 60_000, interval: 500, what: 'next sample' });
      for (const a of [ctl, ...agents]) if (!a.running) throw new Error(`${label}: a process exited during the soak\n${a.tail()}`);
      take();
    }
    const end = dbShape(dbFile);
    const cost = rowCostAtScale(dbFile, join(dir.path, 'scaled.db'));
    return { label, samples, end, cost, seconds: (Date.now() - started) / 1000 };
  } finally {
    await Promise.all(agents.map((a) => a.stop(10_000)));
    await ctl?.stop(10_000);
    await nats.dispose();
    dir.cleanup();
  }
}

/** Per-host event rates at default intervals: heartbeat 10s, metrics 10s, 5 checks reporting every 60s, one log source's stats every 60s. */
const FLEET = { hosts: 5000, perHostPerS: { hb: 0.1, metric: 0.1, check: CHECKS / 60, log: 1 / 60 } };

/** Projected controller disk for the fleet, from row sizes measured at scale, for raw retention by kind and metric-history days. */
function project(r: PhaseResult, rawKeepS: Record<string, number>, historyDays: number): { gb: number; detail: string } {
  let total = 0;
  const parts: string[] = [];
  for (const [kind, rate] of Object.entries(FLEET.perHostPerS)) {
    // No log source in the soak: a log-statistics batch is taken to be ~400 bytes of JSON.
    const perRow = r.cost.eventsOverheadPerRow + (r.cost.payloadByKind[kind] ?? 400);
    const bytes = FLEET.hosts * rate * rawKeepS[kind]! * perRow;
    total += bytes;
    parts.push(`${kind} ${(bytes / 1e9).toFixed(1)} GB (${Math.round(perRow)} B/row, kept ${rawKeepS[kind]! >= 86_400 ? `${rawKeepS[kind]! / 86_400} d` : `${rawKeepS[kind]! / 3600} h`})`);
  }
  const hist = FLEET.hosts * historyDays * 1440 * r.cost.historyPerRow;
  total += hist;
  parts.push(`metric history ${(hist / 1e9).toFixed(1)} GB (${Math.round(r.cost.historyPerRow)} B/row, ${historyDays} d of 1-min buckets)`);
  return { gb: total / 1e9, detail: parts.join('; ') };
}

const bench: Bench = {
  name: 'soak: controller + 3 agents, RSS, file sizes and bytes per event over time',
  async run({ quick }) {
    const minutes = Number(argValue('--minutes') ?? (quick ? 1 : 10));
    if (!(minutes > 0)) throw new Error('--minutes must be a positive number');
    const baseline = argValue('--baseline');
    const phases: PhaseResult[] = [];
    const tmp = tempDir('opsfleet-soak-src-');
    try {
      if (baseline) phases.push(await soak(`baseline ${baseline}`, checkout(baseline, join(tmp.path, 'baseline')), minutes));
      phases.push(await soak('this tree', REPO_ROOT, minutes));
    } finally {
      tmp.cleanup();
    }
    const rows: BenchRow[] = [];
    const notes: string[] = [];
    const week = 7 * 86_400;
    for (const p of phases) {
      const first = p.samples[0]!;
      const last = p.samples.at(-1)!;
      const perEvent = (last.usedBytes - first.usedBytes) / Math.max(1, last.events - first.events);
      const evRate = (last.events - first.events) / Math.max(1, last.atS - first.atS);
      rows.push({ name: `${p.label}: controller.db bytes per event (growth ${first.atS.toFixed(0)}–${last.atS.toFixed(0)} s)`, rate: evRate, unit: 'events', count: last.events - first.events, seconds: last.atS - first.atS, note: `${Math.round(perEvent)} B per event; events table + indexes ${Math.round(p.end.eventsBytes / p.end.events)} B per row` });
      rows.push({ name: `${p.label}: controller RSS at end`, rate: last.controllerRss / MiB, unit: 'MiB', count: p.samples.length, seconds: last.atS, note: `first sample ${(first.controllerRss / MiB).toFixed(0)} MiB; agents max ${(last.agentRssMax / MiB).toFixed(0)} MiB (first ${(first.agentRssMax / MiB).toFixed(0)})` });
      notes.push(
        `${p.label}, over time (s: controller RSS MiB / agent RSS max MiB / controller.db+wal MB / outboxes MB / events): ${p.samples
          .map((s) => `${s.atS.toFixed(0)}: ${(s.controllerRss / MiB).toFixed(0)}/${(s.agentRssMax / MiB).toFixed(0)}/${(s.dbFile / 1e6).toFixed(2)}/${(s.outboxes / 1e6).toFixed(2)}/${s.events}`)
          .join(', ')}`,
      );
      notes.push(`${p.label}, stored bytes by kind (rows, average payload): ${Object.entries(p.end.eventsByKind).map(([k, v]) => `${k} ${v.rows} × ${Math.round(v.payloadBytes / v.rows)} B`).join(', ')}`);
      notes.push(`${p.label}, at scale (the soak's rows copied for 200 hosts, ${p.cost.rows} rows): ${Math.round(p.cost.eventsPerRow)} B per event row, of which ${Math.round(p.cost.eventsOverheadPerRow)} B not payload (id, columns, indexes, page slack); metric history ${Math.round(p.cost.historyPerRow)} B per row`);
      rows.push({ name: `${p.label}: bytes per event row at scale (200 hosts' copies)`, rate: p.cost.eventsPerRow, unit: 'B/row', count: p.cost.rows, seconds: 0, note: `overhead ${Math.round(p.cost.eventsOverheadPerRow)} B + payload` });
    }
    const before = phases.length > 1 ? phases[0]! : undefined;
    const after = phases.at(-1)!;
    if (before) {
      const old = project(before, { hb: week, metric: week, check: week, log: week }, 30);
      notes.push(`Projection for ${FLEET.hosts} hosts at default intervals, old layout and retention (everything raw 7 d, metric history 30 d): ${old.gb.toFixed(0)} GB — ${old.detail}.`);
    }
    const rowsOnly = project(after, { hb: week, metric: week, check: week, log: week }, 30);
    notes.push(`What wins: this tree's compact rows with the old retention (everything raw 7 d, history 30 d) would be ${rowsOnly.gb.toFixed(0)} GB; the retention classes below do the rest.`);
    const now = project(after, { hb: 3600, metric: 3600, check: 3600, log: 3600 }, 7);
    notes.push(`Projection for ${FLEET.hosts} hosts at default intervals, this tree (samples raw 1 h, metric history 7 d; check transitions, alerts, backups, actions 7 d, negligible): ${now.gb.toFixed(1)} GB — ${now.detail}. Budget: under 20 GB. Log statistics and shipped lines kept by the log indexer (its own tables and retention) come on top and are not counted here.`);
    return { title: `Soak: controller + ${AGENTS} agents, ${minutes} min${before ? ' per tree' : ''}`, rows, notes };
  },
};

export default bench;
