import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { FactsDoc } from '../../shared/facts/facts.js';

// Located like the backup snapshot child (agent/backup/build-in-child.ts): beside this module
// as .ts in development (with tsx's loader, named by its resolved URL), beside the agent bundle
// (or one level up from a chunk) as .js when compiled.
const RUNNING_TS = import.meta.url.endsWith('.ts');
const BOOT = RUNNING_TS
  ? new URL('./facts-child.ts', import.meta.url).pathname
  : [new URL('./facts-child.js', import.meta.url).pathname, new URL('../facts-child.js', import.meta.url).pathname].find((p) => existsSync(p)) ??
    new URL('./facts-child.js', import.meta.url).pathname;
const EXEC_ARGV = RUNNING_TS ? ['--import', import.meta.resolve('tsx')] : [];

/** Every probe is bounded (30 s each in gather.ts); this bounds the whole child. */
const CHILD_TIMEOUT_MS = 5 * 60_000;

/**
 * Gathers facts in a short-lived child process. In process, a gathering left the agent's RSS
 * ~9 MiB higher for good (V8 and malloc keep the pages the probes grew; docs/BENCHMARKS.md,
 * "Host facts"); a process returns everything when it exits. Costs one Node start per gathering,
 * which happens at agent start and on an operator's refresh only.
 */
export function gatherInChild(signal?: AbortSignal): Promise<FactsDoc> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('facts gathering cancelled'));
    const child = fork(BOOT, [], { execArgv: EXEC_ARGV, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    // A gathering in flight must not keep a stopping agent alive: stop() aborts it, and the
    // child and its channel are unref'd so they never hold the event loop.
    child.unref();
    child.channel?.unref();
    const onAbort = () => {
      child.kill('SIGKILL');
      done(new Error('facts gathering cancelled'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    let stderr = '';
    let settled = false;
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      done(new Error(`facts gathering did not finish within ${CHILD_TIMEOUT_MS / 1000} s`));
    }, CHILD_TIMEOUT_MS);
    timer.unref();
    function done(err: Error | undefined, doc?: FactsDoc): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(doc!);
    }
    child.on('message', (m: { ok?: FactsDoc; error?: string }) => {
      if (m.ok) done(undefined, m.ok);
      else done(new Error(`facts gathering failed: ${m.error ?? 'no reason given'}`));
    });
    child.on('error', (err) => done(err));
    child.on('exit', (code, sig) => done(new Error(`facts gathering process exited (${sig ?? `code ${code}`}) without an answer${stderr ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`)));
  });
}
