import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** Outcome of the start-up integrity check. */
export type IntegrityResult = { ok: true; ms: number } | { ok: false; ms: number; problems: string[] } | { ok: 'timeout'; ms: number };

// Runs in a worker so a large file cannot hold the start (and the event loop) for minutes: the
// caller gives up after its deadline and the worker, unref'd, finishes or dies with the process.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
let db;
try {
  db = new Database(workerData.file, { readonly: true, fileMustExist: true });
  const rows = db.pragma('quick_check(' + workerData.maxProblems + ')');
  const problems = rows.map((r) => String(Object.values(r)[0])).filter((p) => p !== 'ok');
  parentPort.postMessage({ problems });
} catch (err) {
  parentPort.postMessage({ problems: [String(err && err.message || err) + (err && err.code ? ' (' + err.code + ')' : '')] });
} finally {
  try { db && db.close(); } catch {}
}
`;

/**
 * PRAGMA quick_check of a database file (every page and index structure, without the slower
 * cross-checks of integrity_check), bounded by `timeoutMs`. Problems are the first
 * `maxProblems` lines SQLite reports.
 */
export function checkIntegrity(file: string, o: { timeoutMs: number; maxProblems?: number }): Promise<IntegrityResult> {
  const started = Date.now();
  const module = createRequire(import.meta.url).resolve('better-sqlite3');
  return new Promise((resolve) => {
    const w = new Worker(WORKER, { eval: true, workerData: { file, module, maxProblems: o.maxProblems ?? 5 } });
    w.unref();
    const timer = setTimeout(() => {
      resolve({ ok: 'timeout', ms: Date.now() - started });
      void w.terminate();
    }, o.timeoutMs);
    timer.unref();
    w.once('message', (m: { problems: string[] }) => {
      clearTimeout(timer);
      const ms = Date.now() - started;
      resolve(m.problems.length ? { ok: false, ms, problems: m.problems } : { ok: true, ms });
    });
    w.once('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, ms: Date.now() - started, problems: [err.message] });
    });
  });
}
