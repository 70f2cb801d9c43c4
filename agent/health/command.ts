import { spawn } from 'node:child_process';
import type { CheckOf } from '../../shared/config/health.js';
import { fail, ok, since, warn, type CheckKind, type ProbeResult } from './types.js';

const MAX_OUTPUT = 4096;

/**
 * Runs a command (Nagios plugin convention): exit 0 ok, 1 warning, anything else critical. The
 * command runs in its own process group, and the group is killed when the check ends (not only
 * on timeout): `sleep 30 & echo started` every second would otherwise leave a steady crowd of
 * orphans. A check measures; it has no business leaving processes behind.
 */
export const commandCheck: CheckKind<'command'> = {
  type: 'command',
  probe(cfg: CheckOf<'command'>, signal: AbortSignal): Promise<ProbeResult> {
    const start = performance.now();
    return runShell(cfg.command, { cwd: cfg.cwd, env: cfg.env, signal, killGroupOnExit: true }).then((r) => {
      const latency = since(start);
      const out = r.output.trim().split('\n')[0]?.slice(0, 200) ?? '';
      if (r.error) return fail(r.error, latency);
      if (r.timedOut) return fail(`timed out${out ? `: ${out}` : ''}`, latency);
      if (r.code === 0) return ok(out || 'exit 0', latency);
      if (r.code === 1) return warn(out || 'exit 1', latency);
      return fail(out || (r.signal ? `killed by ${r.signal}` : `exit ${r.code}`), latency);
    });
  },
};

export interface ShellResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  timedOut: boolean;
  error?: string;
}

/**
 * Runs `/bin/sh -c command` in a new process group; on abort the whole group gets SIGKILL. With
 * killGroupOnExit the group is also killed when the shell exits (checks); without it what the
 * command started in the background stays (restart commands may start a daemon that way).
 */
export function runShell(command: string, o: { cwd?: string | undefined; env?: Record<string, string>; signal: AbortSignal; killGroupOnExit?: boolean }): Promise<ShellResult> {
  return new Promise((resolve) => {
    let output = '';
    let timedOut = false;
    const child = spawn('/bin/sh', ['-c', command], { cwd: o.cwd, env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const onData = (d: Buffer) => {
      if (output.length < MAX_OUTPUT) output += d.toString('utf8');
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const kill = () => {
      timedOut = true;
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    if (o.signal.aborted) kill();
    o.signal.addEventListener('abort', kill, { once: true });
    child.on('error', (err) => {
      o.signal.removeEventListener('abort', kill);
      resolve({ code: null, signal: null, output, timedOut, error: `cannot run command: ${err.message}` });
    });
    // 'close' waits for the pipes, which a backgrounded grandchild may hold open: use 'exit'
    // and stop reading then, so `cmd &` restart commands return promptly.
    child.on('exit', (code, sig) => {
      o.signal.removeEventListener('abort', kill);
      if (o.killGroupOnExit && child.pid) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* nothing left in the group */
        }
      }
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ code, signal: sig, output, timedOut });
    });
  });
}
