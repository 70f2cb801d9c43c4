import type { ProcessGroupRecord } from './process-groups.js';
import type { RunPlaybookRequest, RunPlaybookResponse, StepResult } from '../../shared/gen/opsfleet/v1/command.js';
import type { Logger } from '../../shared/logger.js';
import { BUILTINS } from './builtins/index.js';
import { runShell } from './shell-step.js';

export interface CommandPolicy {
  allowShell: boolean;
  /** undefined = every playbook may run. */
  allowPlaybooks: readonly string[] | undefined;
  shell: string;
  cwd?: string | undefined;
  /** Record of running shell-step process groups (reaped at the next start after a crash). */
  record?: ProcessGroupRecord | undefined;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_OUTPUT = 64 * 1024;

/**
 * Runs one playbook request on this agent. The agent is the last line of defence: it refuses
 * playbooks outside allow_playbooks and shell steps unless allow_shell, whatever the
 * controller sends. Steps run in order; the run stops at the first step that is not ok.
 */
export async function runPlaybook(req: RunPlaybookRequest, policy: CommandPolicy, emit: (ev: RunPlaybookResponse) => void, signal: AbortSignal, log: Logger): Promise<void> {
  const startedAt = Date.now();
  const deadline = startedAt + (req.timeoutMs || DEFAULT_TIMEOUT_MS);
  const maxOutput = req.maxOutputBytes || DEFAULT_MAX_OUTPUT;
  const now = () => Date.now();
  let final: 'ok' | 'failed' | 'timeout' | 'refused' | 'cancelled' = 'ok';
  log.info({ runId: req.runId, playbook: req.playbook, actor: req.actor, steps: req.steps.length }, 'playbook run started');

  const refuse = (index: number, name: string, error: string): StepResult => ({ index, name, status: 'refused', exitCode: -1, durationMs: 0, dataJson: '', error, outputTruncated: false, outputBytes: 0 });

  if (policy.allowPlaybooks && !policy.allowPlaybooks.includes(req.playbook)) {
    emit({ tsMs: now(), stepResult: refuse(0, req.playbook, `playbook "${req.playbook}" is not in this agent's rpc.allow_playbooks`) });
    final = 'refused';
  } else {
    for (const [index, step] of req.steps.entries()) {
      const name = step.name || step.builtin || step.run;
      const kind = step.builtin ? 'builtin' : 'shell';
      if (signal.aborted) {
        final = 'cancelled';
        break;
      }
      const left = deadline - now();
      if (left <= 0) {
        final = 'timeout';
        break;
      }
      emit({ tsMs: now(), stepStart: { index, name, kind } });
      const t0 = now();
      let result: StepResult;
      if (step.builtin) {
        const b = await runBuiltin(index, name, step.builtin, step.withJson, signal, Math.min(left, step.timeoutMs || left));
        // The one-line summary is the builtin's human output; the structured data goes in the result.
        if (b.summary) emit({ tsMs: now(), output: { index, stream: 'stdout', data: Buffer.from(`${b.summary}\n`) } });
        result = b.result;
      } else if (!policy.allowShell) {
        result = refuse(index, name, 'shell steps are disabled on this agent (rpc.allow_shell is false)');
      } else {
        const timeoutMs = Math.min(left, step.timeoutMs || left);
        const r = await runShell({
          command: step.run,
          shell: policy.shell,
          cwd: policy.cwd,
          timeoutMs,
          maxOutput,
          signal,
          record: policy.record,
          onOutput: (stream, data) => emit({ tsMs: now(), output: { index, stream, data } }),
        });
        result = { index, name, status: r.status, exitCode: r.exitCode, durationMs: now() - t0, dataJson: '', error: r.error ?? '', outputTruncated: r.truncated, outputBytes: r.outputBytes };
      }
      result.durationMs = now() - t0;
      emit({ tsMs: now(), stepResult: result });
      if (result.status !== 'ok') {
        final = result.status === 'error' ? 'failed' : (result.status as typeof final);
        break;
      }
    }
  }
  const endedAt = now();
  emit({ tsMs: endedAt, done: { status: final, durationMs: endedAt - startedAt, startedAtMs: startedAt, endedAtMs: endedAt } });
  log.info({ runId: req.runId, playbook: req.playbook, status: final, durationMs: endedAt - startedAt }, 'playbook run finished');
}

async function runBuiltin(index: number, name: string, builtin: string, withJson: string, signal: AbortSignal, timeoutMs: number): Promise<{ result: StepResult; summary?: string }> {
  const fn = BUILTINS[builtin];
  const base = { index, name, exitCode: 0, durationMs: 0, outputTruncated: false, outputBytes: 0 };
  const fail = (status: string, error: string) => ({ result: { ...base, status, exitCode: -1, dataJson: '', error } });
  if (!fn) return fail('error', `unknown builtin "${builtin}" (this agent knows ${Object.keys(BUILTINS).join(', ')})`);
  let args: Record<string, unknown> = {};
  try {
    args = withJson ? (JSON.parse(withJson) as Record<string, unknown>) : {};
  } catch {
    return fail('error', 'builtin arguments are not valid JSON');
  }
  const ac = new AbortController();
  const onAbort = () => ac.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_r, reject) => {
      timer = setTimeout(() => {
        ac.abort();
        reject(new Error(`timed out after ${timeoutMs} ms`));
      }, timeoutMs);
    });
    const r = await Promise.race([fn(args, ac.signal), timeout]);
    return { result: { ...base, status: r.status, exitCode: r.status === 'ok' ? 0 : 1, dataJson: JSON.stringify(r.data), error: r.status === 'ok' ? '' : r.summary }, summary: r.summary };
  } catch (err) {
    const msg = (err as Error).message;
    return fail(msg.startsWith('timed out') ? 'timeout' : 'error', msg);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}
