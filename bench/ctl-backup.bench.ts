/**
 * The controller's own backup: which database snapshot method costs ingest less. A writer
 * process (its own connection, as the controller is to `opsfleet-controller backup`) commits
 * transactions of 100 event rows as fast as it can; we measure its rate and worst commit
 * latency alone (the same-run baseline), then while `vacuum-into` and while `backup-api`
 * copy the database.
 */
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../controller/store/db.js';
import { snapshotDatabase } from '../controller/selfbackup/create-backup.js';
import type { SnapshotMethod } from '../controller/selfbackup/manifest.js';
import { REPO_ROOT } from '../test/helpers/process.js';
import { tempDir } from '../test/helpers/tmp.js';
import type { Bench, BenchRow } from './types.js';

const WRITER = `
const Database = require('better-sqlite3');
const db = new Database(process.argv[1]);
db.pragma('journal_mode = WAL'); db.pragma('synchronous = NORMAL'); db.pragma('busy_timeout = 30000');
const ins = db.prepare("INSERT INTO events (id, host_id, kind, ts_ms, received_ms, payload) VALUES (?, 'w', 'metric', ?, ?, ?)");
const tx = db.transaction((base) => { for (let i = 0; i < 100; i++) ins.run('w' + process.pid + '-' + (base + i), base + i, Date.now(), 'x'.repeat(300)); });
let n = 0, max = 0; const lat = []; let stop = false;
process.stdin.on('data', () => { stop = true; }); process.stdin.resume();
const t0 = performance.now();
function loop() {
  const end = performance.now() + 20;
  while (performance.now() < end) { const a = performance.now(); tx(n); n += 100; const d = performance.now() - a; lat.push(d); if (d > max) max = d; }
  if (stop) { lat.sort((x, y) => x - y); process.stdout.write(JSON.stringify({ rows: n, seconds: (performance.now() - t0) / 1000, maxMs: max, p99Ms: lat[Math.floor(lat.length * 0.99)] || 0 })); process.exit(0); }
  setImmediate(loop);
}
process.stdout.write('ready\\n');
loop();
`;

interface WriterStats {
  rows: number;
  seconds: number;
  maxMs: number;
  p99Ms: number;
}

async function withWriter(dbFile: string, during: () => Promise<unknown>): Promise<WriterStats> {
  const p = spawn(process.execPath, ['-e', WRITER, dbFile], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  await new Promise<void>((resolve) => {
    const t = setInterval(() => out.includes('ready') && (clearInterval(t), resolve()), 20);
  });
  try {
    await during();
  } finally {
    p.stdin.write('stop\n');
  }
  await new Promise((r) => p.once('exit', r));
  return JSON.parse(out.slice(out.indexOf('{'))) as WriterStats;
}

const bench: Bench = {
  name: 'controller backup: database snapshot methods against a concurrent writer',
  async run({ quick }) {
    const dir = tempDir('opsfleet-bench-ctlbackup-');
    const rows: BenchRow[] = [];
    const notes: string[] = [];
    try {
      const db = openDatabase(dir.path);
      const n = quick ? 100_000 : 400_000;
      const ins = db.prepare("INSERT INTO events (id, host_id, kind, ts_ms, received_ms, payload) VALUES (?, 'h', 'metric', ?, ?, ?)");
      db.transaction(() => {
        for (let i = 0; i < n; i++) ins.run(`e${i}`, i, i, 'y'.repeat(300));
      })();
      db.close();
      const file = join(dir.path, 'controller.db');
      const base = await withWriter(file, () => new Promise((r) => setTimeout(r, 3000)));
      rows.push({ name: 'writer alone (baseline, same run)', rate: base.rows / base.seconds, unit: 'rows', count: base.rows, seconds: base.seconds, note: `worst commit ${base.maxMs.toFixed(1)} ms, p99 ${base.p99Ms.toFixed(1)} ms` });
      for (const method of ['vacuum-into', 'backup-api'] as SnapshotMethod[]) {
        let snapMs = 0;
        let outcome = 'done';
        const w = await withWriter(file, async () => {
          const limit = 120_000;
          const r = await Promise.race([snapshotDatabase(file, join(dir.path, `snap-${method}.db`), method).then((ms) => ms), new Promise<number>((res) => setTimeout(() => res(-1), limit))]);
          if (r < 0) {
            outcome = `not finished after ${limit / 1000} s (restarts on every commit of the other connection)`;
            snapMs = limit;
          } else snapMs = r;
        });
        rows.push({ name: `writer during ${method} snapshot of ${n} events`, rate: w.rows / w.seconds, unit: 'rows', count: w.rows, seconds: w.seconds, note: `snapshot ${(snapMs / 1000).toFixed(2)} s, ${outcome}; worst commit ${w.maxMs.toFixed(1)} ms, p99 ${w.p99Ms.toFixed(1)} ms; writer rate ${((w.rows / w.seconds / (base.rows / base.seconds)) * 100).toFixed(0)} % of baseline` });
      }
      notes.push(`Load average when done: ${loadavg().map((x) => x.toFixed(1)).join(' / ')} on ${cpus().length} CPUs (other helpers' tests share the machine): compare the rows of this run with each other, not with other runs.`);
      notes.push('opsfleet-controller backup uses vacuum-into by default (--method backup-api is the alternative).');
    } finally {
      dir.cleanup();
    }
    return { title: 'Controller backup: snapshot method vs concurrent ingest', rows, notes };
  },
};
export default bench;
