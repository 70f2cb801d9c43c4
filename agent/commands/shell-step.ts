import type { ProcessGroupRecord } from './process-groups.js';
import { spawn } from 'node:child_process';

export interface ShellOutcome {
  status: 'ok' | 'failed' | 'timeout' | 'cancelled' | 'error';
  exitCode: number;
  error?: string;
  outputBytes: number;
  truncated: boolean;
}

/**
 * Runs `sh -c command` in its own process group so a timeout or a cancel kills the command
 * and everything it started (SIGKILL to the group). Output beyond `maxOutput` bytes is counted,
 * not kept.
 */
export function runShell(o: {
  command: string;
  shell: string;
  cwd?: string | undefined;
  timeoutMs: number;
  maxOutput: number;
  signal: AbortSignal;
  onOutput: (stream: 'stdout' | 'stderr', data: Buffer) => void;
  /** Where the running group is recorded, so a killed agent's next start can reap it. */
  record?: ProcessGroupRecord | undefined;
}): Promise<ShellOutcome> {
  return new Promise((resolve) => {
    let outputBytes = 0;
    let kept = 0;
    let truncated = false;
    let reason: 'timeout' | 'cancelled' | undefined;
    const child = spawn(o.shell, ['-c', o.command], { cwd: o.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid) o.record?.add(child.pid, o.command);
    const forget = () => {
      if (child.pid) o.record?.remove(child.pid);
    };
    const killGroup = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* group already gone */
      }
    };
    const timer = setTimeout(() => {
      reason = 'timeout';
      killGroup();
    }, o.timeoutMs);
    const onAbort = () => {
      reason ??= 'cancelled';
      killGroup();
    };
    o.signal.addEventListener('abort', onAbort, { once: true });
    const take = (stream: 'stdout' | 'stderr') => (d: Buffer) => {
      outputBytes += d.length;
      if (kept >= o.maxOutput) {
        truncated = true;
        return;
      }
      const part = d.length + kept > o.maxOutput ? d.subarray(0, o.maxOutput - kept) : d;
      if (part.length < d.length) truncated = true;
      kept += part.length;
      o.onOutput(stream, part);
    };
    child.stdout!.on('data', take('stdout'));
    child.stderr!.on('data', take('stderr'));
    child.once('error', (err) => {
      forget();
      clearTimeout(timer);
      o.signal.removeEventListener('abort', onAbort);
      resolve({ status: 'error', exitCode: -1, error: err.message, outputBytes, truncated });
    });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      o.signal.removeEventListener('abort', onAbort);
      // The shell is gone; make sure nothing it left in its group survives a timeout/cancel.
      if (reason) killGroup();
      forget();
      const exitCode = code ?? -1;
      if (reason === 'timeout') resolve({ status: 'timeout', exitCode, error: `timed out after ${o.timeoutMs} ms; process group killed`, outputBytes, truncated });
      else if (reason === 'cancelled') resolve({ status: 'cancelled', exitCode, error: 'cancelled by the controller; process group killed', outputBytes, truncated });
      else resolve({ status: code === 0 ? 'ok' : 'failed', exitCode, ...(code === 0 ? {} : { error: sig ? `killed by ${sig}` : `exit code ${code}` }), outputBytes, truncated });
    });
  });
}
