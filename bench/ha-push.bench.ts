/**
 * What replicating pushed alerts costs (issue 18, docs/scaling.md "Control log": alert.push).
 * In one run, in process, real SQLite files:
 *   (a) the leader's intake of a 10,000-alert batch (the intake routes' limit is per request)
 *       without and with the control log wired: with it, the batch is also serialised into
 *       control_outbox records (<= 256 KiB each) in the request's synchronous path. The two
 *       AlertManagers alternate round by round, so a loaded machine weighs on both alike;
 *   (b) the standby applying those records (parse, validate, apply like a push) against the
 *       same batches pushed to it directly.
 * CPU time of this process (user + system) is the figure: it survives a shared machine better
 * than wall time (both are given).
 */
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AlertManager } from '../controller/alerts/alert-manager.js';
import type { IncomingAlert } from '../controller/alerts/model.js';
import type { ControlLog, ControlRecord } from '../controller/ha/control-log.js';
import { JetStreamControlLog, parseControlRecord } from '../controller/ha/jetstream-control-log.js';
import { replicatePushedAlerts } from '../controller/replication/alerts.js';
import { openDatabase } from '../controller/store/db.js';
import { alertingSchema } from '../shared/config/alerting.js';
import { parseConfigText } from '../shared/config/load.js';
import { createRootLogger } from '../shared/logger.js';
import { tempDir } from '../test/helpers/tmp.js';
import type { Bench, BenchRow } from './types.js';

const logger = createRootLogger({ name: 'bench', level: 'warn', destination: 2 });
const cfg = parseConfigText(['group_wait: 1h', 'resolve_timeout: 1h', 'receivers: [ { name: hook, type: webhook, url: "http://127.0.0.1:9/h" } ]', 'routes: [ { receivers: [hook] } ]'].join('\n'), 'bench.yaml', alertingSchema);

function batch(round: number, n: number): IncomingAlert[] {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => ({
    state: 'firing' as const,
    labels: { alertname: `Bench${round}`, host: `h${i}`, severity: 'warning', job: 'node' },
    annotations: { summary: `disk 91% on h${i}`, description: 'from Grafana, value p99=2.1s' },
    startsAtMs: now,
    endsAtMs: 0,
    resolveTimeoutMs: 0,
    source: 'grafana' as const,
    eventTsMs: now,
  }));
}

/** CPU (user + system) and wall ms of fn. */
function measure(fn: () => void): { cpuMs: number; wallMs: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  fn();
  const c = process.cpuUsage(c0);
  return { cpuMs: (c.user + c.system) / 1000, wallMs: performance.now() - t0 };
}

/** Hands the standby the records as they would arrive: bytes off the stream, parsed and checked. */
class Handover implements ControlLog {
  readonly handlers = new Map<string, (r: ControlRecord) => void | Promise<void>>();
  async publish(): Promise<void> {}
  on<B>(kind: string, apply: (rec: ControlRecord<B>) => void | Promise<void>): void {
    this.handlers.set(kind, apply as (r: ControlRecord) => void);
  }
}

const bench: Bench = {
  name: 'ha-push',
  async run({ quick }) {
    const dir = tempDir('opsfleet-bench-ha-push-');
    const rounds = quick ? 3 : 8;
    const n = 10_000;
    try {
      const open = (name: string) => openDatabase(join(dir.path, name));
      const plainDb = open('plain');
      const plain = new AlertManager({ db: plainDb, cfg, logger });
      const leaderDb = open('leader');
      const leader = new AlertManager({ db: leaderDb, cfg, logger });
      const log = new JetStreamControlLog({ id: 'bench-a', db: leaderDb, logger, replicas: 1 });
      replicatePushedAlerts(log, leader, logger);
      const direct = new AlertManager({ db: open('direct'), cfg, logger });
      const standbyDb = open('standby');
      const standby = new AlertManager({ db: standbyDb, cfg, logger });
      const handover = new Handover();
      replicatePushedAlerts(handover, standby, logger);
      for (const m of [plain, leader, direct, standby]) await m.start();
      const apply = handover.handlers.get('alert.push')!;
      const outbox = leaderDb.prepare<[], { kind: string; body: string }>('SELECT kind, body FROM control_outbox ORDER BY seq');
      const clear = leaderDb.prepare('DELETE FROM control_outbox');

      const sum = { plain: { cpuMs: 0, wallMs: 0 }, leader: { cpuMs: 0, wallMs: 0 }, direct: { cpuMs: 0, wallMs: 0 }, standby: { cpuMs: 0, wallMs: 0 } };
      let records = 0;
      let bytes = 0;
      const add = (k: keyof typeof sum, m: { cpuMs: number; wallMs: number }) => {
        sum[k].cpuMs += m.cpuMs;
        sum[k].wallMs += m.wallMs;
      };
      // Round 0 warms both paths up (JIT, SQLite page cache) and is not counted.
      for (let r = 0; r <= rounds; r++) {
        const b = batch(r, n);
        const order: Array<'plain' | 'leader'> = r % 2 === 0 ? ['plain', 'leader'] : ['leader', 'plain'];
        const m: Record<string, { cpuMs: number; wallMs: number }> = {};
        for (const k of order) m[k] = measure(() => (k === 'plain' ? plain : leader).intake(b));
        const rows = outbox.all();
        clear.run();
        const recs = rows.map((x) => parseControlRecord(Buffer.from(x.body), `opsfleet.ctl.${x.kind}`));
        const d = measure(() => direct.intake(b));
        const s = measure(() => {
          for (const rec of recs) void apply(rec);
        });
        if (r === 0) continue;
        add('plain', m.plain!);
        add('leader', m.leader!);
        add('direct', d);
        add('standby', s);
        records += rows.length;
        bytes += rows.reduce((x, y) => x + y.body.length, 0);
      }
      const total = rounds * n;
      const row = (name: string, k: keyof typeof sum, note: string): BenchRow => ({ name, rate: total / (sum[k].cpuMs / 1000), unit: 'alerts', count: total, seconds: sum[k].cpuMs / 1000, note: `${note}; wall ${(sum[k].wallMs / 1000).toFixed(2)} s` });
      const overhead = (sum.leader.cpuMs / sum.plain.cpuMs - 1) * 100;
      const applyVsDirect = (sum.standby.cpuMs / sum.direct.cpuMs - 1) * 100;
      return {
        title: `pushed-alert replication cost: intake of ${n}-alert batches with and without alert.push, and the standby applying them`,
        rows: [
          row(`leader intake, ${n}-alert batches, HA off (baseline)`, 'plain', 'CPU seconds'),
          row(`leader intake, ${n}-alert batches, alert.push to control_outbox`, 'leader', `CPU seconds; ${(overhead >= 0 ? '+' : '') + overhead.toFixed(0)} % vs the baseline (same run, alternated)`),
          row('standby: direct intake of the same batches (baseline)', 'direct', 'CPU seconds'),
          row('standby: applying the alert.push records', 'standby', `CPU seconds; ${(applyVsDirect >= 0 ? '+' : '') + applyVsDirect.toFixed(0)} % vs a direct intake; ${records} records, ${(bytes / records / 1024).toFixed(0)} KiB each on average`),
        ],
        notes: [
          `${rounds} rounds (after one warm-up round) of ${n} new alerts each; CPU time of this process, user + system; the two leader paths alternate which goes first.`,
          `Load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (2 cores shared with other engineers' tests).`,
          'What the leader pays on the request path is serialising the batch into records and one INSERT per record into control_outbox; publishing to JetStream happens afterwards in the background (not measured here).',
        ],
      };
    } finally {
      dir.cleanup();
    }
  },
};

export default bench;
