/**
 * What API tokens cost: `opsctl hosts --json` wall time and the API's p99 latency at a steady
 * 200 requests/s, against two controllers of the same build on the same NATS in the same run —
 * one with auth on (as shipped), one with `http.auth.enabled: false` (the baseline). Runs are
 * interleaved so machine load drifts hit both alike. Goal (issue 13): auth adds < 5 %.
 */
import { mkdirSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { runCommand, startController, type ControllerProc } from '../test/helpers/daemons.js';
import { NatsServer } from '../test/helpers/nats-server.js';
import { tempDir } from '../test/helpers/tmp.js';
import type { IncomingMessage } from 'node:http';
import { Authenticator } from '../controller/auth/authenticator.js';
import { openDatabase } from '../controller/store/db.js';
import { SessionStore } from '../controller/auth/sessions.js';
import { TokenStore } from '../controller/auth/token-store.js';
import { createRootLogger } from '../shared/logger.js';
import type { Bench, BenchRow } from './types.js';

/** The check itself, in process, on a real SQLite file: what every request pays, without machine noise from the HTTP path. */
function checkCost(dir: string, n: number): { usPerCheck: number; seconds: number } {
  const db = openDatabase(join(dir, 'check-cost'));
  const tokens = new TokenStore(db);
  for (let i = 0; i < 50; i++) tokens.create({ name: `t${i}`, role: 'viewer' }, 'bench');
  const { secret } = tokens.create({ name: 'bench', role: 'viewer' }, 'bench');
  const auth = new Authenticator({ enabled: true, metrics: 'open', max_failures: 20, failure_window: 60_000 }, tokens, createRootLogger({ name: 'bench', level: 'silent' }), new SessionStore(db));
  const req = { headers: { authorization: `Bearer ${secret}` }, socket: { remoteAddress: '127.0.0.1' } } as unknown as IncomingMessage;
  for (let i = 0; i < 1000; i++) auth.check(req, 'GET /api/v1/hosts');
  const t0 = performance.now();
  for (let i = 0; i < n; i++) auth.check(req, 'GET /api/v1/hosts');
  const ms = performance.now() - t0;
  db.close();
  return { usPerCheck: (ms * 1000) / n, seconds: ms / 1000 };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const median = (xs: number[]) => pct(xs, 50);

/** Open-loop load: one GET every 1000/rate ms for `seconds`, each request's latency recorded. */
async function steadyLoad(ctl: ControllerProc, token: string | undefined, rate: number, seconds: number): Promise<{ latencies: number[]; errors: number }> {
  const u = new URL(ctl.url);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const latencies: number[] = [];
  let errors = 0;
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  const n = rate * seconds;
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const start = performance.now();
    pending.push(
      new Promise<void>((resolve) => {
        const req = request({ host: u.hostname, port: u.port, path: '/api/v1/hosts', agent, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) latencies.push(performance.now() - start);
            else errors++;
            resolve();
          });
        });
        req.on('error', () => {
          errors++;
          resolve();
        });
        req.end();
      }),
    );
  }
  await Promise.all(pending);
  agent.destroy();
  return { latencies, errors };
}

const bench: Bench = {
  name: 'API auth overhead: opsctl hosts --json and p99 at 200 requests/s, auth on vs off',
  async run({ quick }) {
    const dir = tempDir('opsfleet-bench-auth-');
    const nats = await NatsServer.start();
    const rows: BenchRow[] = [];
    const notes: string[] = [];
    let on: ControllerProc | undefined;
    let off: ControllerProc | undefined;
    try {
      mkdirSync(join(dir.path, 'on'));
      mkdirSync(join(dir.path, 'off'));
      on = await startController({ natsUrl: nats.url, dir: join(dir.path, 'on'), configName: 'on.yaml' });
      off = await startController({ natsUrl: nats.url, dir: join(dir.path, 'off'), httpExtra: 'auth: { enabled: false }', configName: 'off.yaml' });

      // 1. opsctl hosts --json, interleaved (process start dominates; auth is one more header and a lookup).
      const runs = quick ? 8 : 20;
      const times = { on: [] as number[], off: [] as number[] };
      for (let i = 0; i < runs; i++) {
        for (const [k, c] of [['off', off], ['on', on]] as const) {
          const t = performance.now();
          const r = await runCommand('opsctl', ['--controller', c.url, 'hosts', '--json'], k === 'off' ? { OPSFLEET_TOKEN: '' } : {});
          if (r.code !== 0) throw new Error(`opsctl hosts (${k}): ${r.stderr}`);
          times[k].push(performance.now() - t);
        }
      }
      const mOn = median(times.on);
      const mOff = median(times.off);
      rows.push({ name: '`opsctl hosts --json`, auth off (baseline)', rate: 1000 / mOff, unit: 'commands', count: runs, seconds: times.off.reduce((a, b) => a + b, 0) / 1000, note: `median ${mOff.toFixed(0)} ms` });
      rows.push({ name: '`opsctl hosts --json`, auth on (bearer token)', rate: 1000 / mOn, unit: 'commands', count: runs, seconds: times.on.reduce((a, b) => a + b, 0) / 1000, note: `median ${mOn.toFixed(0)} ms (${(((mOn - mOff) / mOff) * 100).toFixed(1)} % vs baseline)` });

      // 2. p99 at 200 requests/s, two interleaved rounds each.
      const secs = quick ? 3 : 8;
      const lat = { on: [] as number[], off: [] as number[] };
      let errors = 0;
      for (let round = 0; round < 2; round++) {
        for (const [k, c] of [['off', off], ['on', on]] as const) {
          const r = await steadyLoad(c, k === 'on' ? c.token : undefined, 200, secs);
          lat[k].push(...r.latencies);
          errors += r.errors;
        }
      }
      for (const k of ['off', 'on'] as const) {
        const p99 = pct(lat[k], 99);
        const p50 = pct(lat[k], 50);
        rows.push({ name: `GET /api/v1/hosts at 200 req/s, auth ${k}${k === 'off' ? ' (baseline)' : ''}`, rate: lat[k].length / (2 * secs), unit: 'requests', count: lat[k].length, seconds: 2 * secs, note: `p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms` });
      }
      const n = quick ? 20_000 : 100_000;
      const cost = checkCost(dir.path, n);
      rows.push({ name: 'Authenticator.check in process (bearer token, SQLite lookup, SHA-256, constant-time compare)', rate: n / cost.seconds, unit: 'checks', count: n, seconds: cost.seconds, note: `${cost.usPerCheck.toFixed(1)} µs per request` });
      const p50Off = pct(lat.off, 50);
      notes.push(`The in-process check costs ${cost.usPerCheck.toFixed(1)} µs per request: ${((cost.usPerCheck / 1000 / p50Off) * 100).toFixed(1)} % of the baseline's p50 (${p50Off.toFixed(2)} ms); this is the figure that does not depend on the machine's load.`);
      const p99On = pct(lat.on, 99);
      const p99Off = pct(lat.off, 99);
      notes.push(`Goal: auth adds < 5 % to \`opsctl hosts --json\` and to the API p99 at 200 requests/s. Measured: opsctl median ${(((mOn - mOff) / mOff) * 100).toFixed(1)} %, p99 ${(((p99On - p99Off) / p99Off) * 100).toFixed(1)} % (${p99Off.toFixed(2)} → ${p99On.toFixed(2)} ms); ${errors} failed requests.`);
      notes.push('Both controllers are the same build on the same NATS, started in the same run; the only difference is `http.auth.enabled`. Rounds are interleaved (off, on, off, on) so load drift on the shared machine hits both.');
      notes.push('Per request, auth is one SQLite primary-key read and one SHA-256 of the presented secret (constant-time compare); last_used is written at most once a minute per token.');
    } finally {
      await on?.child.stop();
      await off?.child.stop();
      await nats.stop();
      dir.cleanup();
    }
    return { title: 'API auth overhead (auth on vs off, same run)', rows, notes };
  },
};
export default bench;
