import { TextDecoder } from 'node:util';
import { randomBytes } from 'node:crypto';
import { Metadata, status as GrpcStatus, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import type { PlaybookConfig } from '../../shared/config/playbooks.js';
import type { RunPlaybookRequest, RunPlaybookResponse } from '../../shared/gen/opsfleet/v1/command.js';
import type { Logger } from '../../shared/logger.js';
import { OpsError } from '../../shared/errors.js';
import { sleep } from '../../shared/lifecycle.js';
import type { AuditLog } from '../audit/audit-log.js';
import { toTargetHost, type HostRow, type HostsStore } from '../store/hosts-store.js';
import { unreachableReason, type AgentClients } from './agent-clients.js';
import { compileTarget } from './target.js';
import type { HostRunStatus, RunHostWrite, RunsStore, StepRecord } from './runs-store.js';

export interface RunRequest {
  /** A configured playbook name, or absent with `command` for an ad-hoc exec. */
  playbook?: string;
  command?: string;
  target: string;
  concurrency?: number;
  /** Hosts per batch: a count ("10") or a share of the matched hosts ("10%"). */
  batch?: string;
  /** Stop launching new hosts after more than this many failures: a count or a share ("20%"). */
  maxFail?: string;
  timeoutMs?: number;
  /** Each host starts at a random moment within this window (scheduled tasks spread load). */
  jitterMs?: number;
  actor: string;
  dryRun?: boolean;
}

export type RunStreamEvent =
  | { type: 'run'; runId: string; playbook: string; target: string; matched: string[]; concurrency: number; batchSize: number | null; maxFail: number | null; startedAt: string }
  | { type: 'host_start'; host: string; ts: string }
  | { type: 'output'; host: string; step: number; stream: string; text: string }
  | ({ type: 'step'; host: string } & StepRecord)
  | { type: 'host_done'; host: string; status: HostRunStatus; error: string; durationMs: number; agentStartedMs: number | null; agentEndedMs: number | null }
  | { type: 'recap'; runId: string; status: string; counts: Record<string, number>; hosts: Array<{ host: string; status: HostRunStatus; durationMs: number; error: string }>; durationMs: number; stoppedEarly: string | null };

export interface DispatcherDeps {
  hosts: HostsStore;
  agents: AgentClients;
  runs: RunsStore;
  audit: AuditLog;
  playbooks: Readonly<Record<string, PlaybookConfig>>;
  maxOutputBytes: number;
  defaultConcurrency: number;
  logger: Logger;
}

/** A request that cannot run: the API answers it with `status` before any streaming. */
export class RunRequestError extends OpsError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
  ) {
    super(code, message);
  }
}

function amount(spec: string | undefined, total: number, what: string): number | null {
  if (spec === undefined || spec === '') return null;
  const m = /^(\d+)(%)?$/.exec(spec.trim());
  if (!m) throw new RunRequestError(400, 'OPS_ERR_RUN_OPTION', `${what} must be a count like "5" or a share like "10%", got "${spec}"`);
  const n = Number(m[1]);
  return m[2] ? Math.max(1, Math.floor((total * n) / 100)) : n;
}

/** Per-host audit rows wait at most this long, or until this many are waiting (see execute). */
const AUDIT_FLUSH_MS = 100;
const AUDIT_FLUSH_ROWS = 500;

/**
 * Runs a playbook on the hosts a target expression selects: a sliding window of `concurrency`
 * hosts (or batches), offline hosts reported unreachable at once, a max-fail brake, live
 * events for the caller, everything stored and audited.
 */
export class RunDispatcher {
  private readonly log: Logger;

  constructor(private readonly d: DispatcherDeps) {
    this.log = d.logger.child({ component: 'dispatch' });
  }

  private resolvePlaybook(req: RunRequest): { name: string; pb: PlaybookConfig } {
    if (req.command !== undefined) {
      if (!req.command.trim()) throw new RunRequestError(400, 'OPS_ERR_RUN_OPTION', 'empty command');
      return { name: 'adhoc', pb: { description: 'ad-hoc command', timeout: req.timeoutMs ?? 60_000, steps: [{ name: req.command, run: req.command }] } };
    }
    const name = req.playbook ?? '';
    const pb = this.d.playbooks[name];
    if (!pb) {
      const known = Object.keys(this.d.playbooks);
      throw new RunRequestError(404, 'OPS_ERR_PLAYBOOK_UNKNOWN', `unknown playbook "${name}"; configured: ${known.length ? known.join(', ') : '(none)'}`);
    }
    return { name, pb };
  }

  /** Validates a request and selects its hosts (no side effects). */
  plan(req: RunRequest): { playbook: string; pb: PlaybookConfig; hosts: HostRow[] } {
    const { name, pb } = this.resolvePlaybook(req);
    let match;
    try {
      match = compileTarget(req.target);
    } catch (err) {
      throw new RunRequestError(400, (err as OpsError).code, (err as Error).message);
    }
    const hosts = this.d.hosts.list().filter((h) => match(toTargetHost(h)));
    return { playbook: name, pb, hosts };
  }

  async execute(req: RunRequest, emit: (e: RunStreamEvent) => void, signal: AbortSignal): Promise<{ runId: string; status: string }> {
    const { playbook, pb, hosts } = this.plan(req);
    if (hosts.length === 0) throw new RunRequestError(404, 'OPS_ERR_TARGET_NO_MATCH', `no host matches target "${req.target}"`);
    const concurrency = Math.max(1, req.concurrency ?? this.d.defaultConcurrency);
    const batchSize = amount(req.batch, hosts.length, 'batch');
    const maxFail = amount(req.maxFail, hosts.length, 'max-fail');
    const timeoutMs = req.timeoutMs ?? pb.timeout;
    const runId = `${new Date().toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(4).toString('hex')}`;
    const started = Date.now();
    const matched = hosts.map((h) => h.id);
    const options = { concurrency, batchSize, maxFail, timeoutMs, ...(req.command !== undefined ? { command: req.command } : {}) };
    this.d.runs.create({ id: runId, actor: req.actor, playbook, target: req.target, matched, options, startedMs: started });
    this.d.audit.append(req.actor, req.command !== undefined ? 'exec.start' : 'run.start', playbook, { runId, target: req.target, matched, options });
    this.log.info({ runId, playbook, target: req.target, hosts: matched.length, concurrency, actor: req.actor }, 'run started');
    emit({ type: 'run', runId, playbook, target: req.target, matched, concurrency, batchSize, maxFail, startedAt: new Date(started).toISOString() });

    const request: RunPlaybookRequest = {
      runId,
      playbook,
      timeoutMs,
      maxOutputBytes: this.d.maxOutputBytes,
      actor: req.actor,
      steps: pb.steps.map((s) => ({ name: s.name ?? '', builtin: s.builtin ?? '', run: s.run ?? '', timeoutMs: s.timeout ?? 0, withJson: s.with ? JSON.stringify(s.with) : '' })),
    };
    const results: Array<{ host: string; status: HostRunStatus; durationMs: number; error: string }> = [];
    let failures = 0;
    let stoppedEarly: string | null = null;
    // Per-host audit rows are written in groups (one transaction, one anchor fsync each): one
    // append per host cost an fsync per host on the event loop, which made a 10,000-host run
    // slow and stalled ingest meanwhile. Each host's result is in run_hosts at once; its audit
    // row follows within AUDIT_FLUSH_MS (a crash in between loses at most that window's rows).
    // The run_hosts rows (start, finish) go the same way, in one transaction per group: two
    // autocommits per host were 10,000 commits at 5,000 hosts. A reader of the run sees a host's
    // row within AUDIT_FLUSH_MS; the run's stream (opsctl) has every event at once.
    let auditRows: Array<{ actor: string; action: string; subject: string; details: unknown }> = [];
    let hostWrites: RunHostWrite[] = [];
    let auditTimer: NodeJS.Timeout | undefined;
    const flushAudit = () => {
      if (auditTimer) clearTimeout(auditTimer);
      auditTimer = undefined;
      const writes = hostWrites;
      hostWrites = [];
      try {
        this.d.runs.writeHosts(runId, writes);
      } catch (err) {
        this.log.error({ err, runId, rows: writes.length }, 'run_hosts rows not written');
      }
      const rows = auditRows;
      auditRows = [];
      try {
        this.d.audit.appendMany(rows);
      } catch (err) {
        this.log.error({ err, runId, rows: rows.length }, 'audit rows of run hosts not written');
      }
    };
    const queueWrite = (w: RunHostWrite) => {
      hostWrites.push(w);
      if (hostWrites.length >= AUDIT_FLUSH_ROWS) flushAudit();
      else auditTimer ??= setTimeout(flushAudit, AUDIT_FLUSH_MS);
    };
    const finishSkipped = (h: HostRow, why: string) => {
      queueWrite({ kind: 'finish', result: { hostId: h.id, status: 'skipped', error: why, endedMs: Date.now(), agentStartedMs: null, agentEndedMs: null, steps: [], output: '', outputTruncated: false } });
      results.push({ host: h.id, status: 'skipped', durationMs: 0, error: why });
      emit({ type: 'host_done', host: h.id, status: 'skipped', error: why, durationMs: 0, agentStartedMs: null, agentEndedMs: null });
    };

    const runHost = async (h: HostRow) => {
      if (signal.aborted) return finishSkipped(h, 'run cancelled');
      if (stoppedEarly) return finishSkipped(h, stoppedEarly);
      if (req.jitterMs) await sleep(Math.random() * req.jitterMs, signal);
      const r = await this.runOnHost(h, request, timeoutMs, emit, signal, queueWrite);
      results.push({ host: h.id, status: r.status, durationMs: r.durationMs, error: r.error });
      auditRows.push({ actor: req.actor, action: 'run.host', subject: h.id, details: { runId, status: r.status, error: r.error } });
      if (auditRows.length >= AUDIT_FLUSH_ROWS) flushAudit();
      else auditTimer ??= setTimeout(flushAudit, AUDIT_FLUSH_MS);
      if (r.status !== 'ok') {
        failures++;
        if (maxFail !== null && failures > maxFail && !stoppedEarly) {
          stoppedEarly = `stopped launching after ${failures} failures (max-fail ${req.maxFail})`;
          this.log.warn({ runId, failures }, 'max-fail reached; not launching more hosts');
        }
      }
    };

    const batches: HostRow[][] = [];
    const size = batchSize ?? hosts.length;
    for (let i = 0; i < hosts.length; i += size) batches.push(hosts.slice(i, i + size));
    try {
      for (const batch of batches) await pool(batch, concurrency, runHost);
    } finally {
      flushAudit();
    }

    // A refusal is the agent's policy working (rpc.allow_shell, allow_playbooks), not a failure of the host.
    const counts: Record<string, number> = { ok: 0, failed: 0, refused: 0, unreachable: 0, skipped: 0 };
    for (const r of results) {
      const k = r.status === 'ok' || r.status === 'unreachable' || r.status === 'skipped' || r.status === 'refused' ? r.status : 'failed';
      counts[k] = (counts[k] ?? 0) + 1;
    }
    const status = signal.aborted ? 'cancelled' : counts.ok === hosts.length ? 'ok' : 'failed';
    const ended = Date.now();
    this.d.runs.finishRun(runId, status, ended, counts);
    this.d.audit.append(req.actor, req.command !== undefined ? 'exec.finish' : 'run.finish', playbook, { runId, status, counts });
    this.log.info({ runId, status, counts, durationMs: ended - started }, 'run finished');
    results.sort((a, b) => a.host.localeCompare(b.host));
    emit({ type: 'recap', runId, status, counts, hosts: results, durationMs: ended - started, stoppedEarly });
    return { runId, status };
  }

  private runOnHost(
    h: HostRow,
    request: RunPlaybookRequest,
    timeoutMs: number,
    emit: (e: RunStreamEvent) => void,
    signal: AbortSignal,
    write: (w: RunHostWrite) => void,
  ): Promise<{ status: HostRunStatus; durationMs: number; error: string }> {
    const t0 = Date.now();
    const steps: StepRecord[] = [];
    let output = '';
    let outputTruncated = false;
    let agentStartedMs: number | null = null;
    let agentEndedMs: number | null = null;
    let status: HostRunStatus | undefined;
    let error = '';
    const decoders = new Map<string, TextDecoder>();
    const finish = (s: HostRunStatus, err: string) => {
      const durationMs = Date.now() - t0;
      write({ kind: 'finish', result: { hostId: h.id, status: s, error: err, endedMs: Date.now(), agentStartedMs, agentEndedMs, steps, output, outputTruncated } });
      emit({ type: 'host_done', host: h.id, status: s, error: err, durationMs, agentStartedMs, agentEndedMs });
      return { status: s, durationMs, error: err };
    };

    // Offline or endpoint-less hosts are answered at once instead of waiting for a timeout.
    if (h.status !== 'online') return Promise.resolve(finish('unreachable', `host is offline (last seen ${new Date(h.last_seen_ms).toISOString()})`));
    if (!h.rpc_endpoint) return Promise.resolve(finish('unreachable', 'host announces no RPC endpoint'));

    write({ kind: 'start', hostId: h.id, startedMs: t0 });
    emit({ type: 'host_start', host: h.id, ts: new Date(t0).toISOString() });
    return new Promise((resolve) => {
      let call: ClientReadableStream<RunPlaybookResponse>;
      try {
        call = this.d.agents.commands(h.id, h.rpc_endpoint, h.rpc_tls === 1).runPlaybook(request, new Metadata(), { deadline: Date.now() + timeoutMs + 5000 });
      } catch (err) {
        // Refused locally (plaintext agent without rpc_client.insecure, unreadable TLS files).
        resolve(finish('failed', (err as Error).message));
        return;
      }
      const onAbort = () => call.cancel();
      signal.addEventListener('abort', onAbort, { once: true });
      call.on('data', (ev: RunPlaybookResponse) => {
        if (ev.output) {
          const key = `${ev.output.index}:${ev.output.stream}`;
          let dec = decoders.get(key);
          if (!dec) decoders.set(key, (dec = new TextDecoder()));
          const text = dec.decode(ev.output.data, { stream: true });
          if (output.length < this.d.maxOutputBytes) output += text.slice(0, this.d.maxOutputBytes - output.length);
          else outputTruncated = true;
          emit({ type: 'output', host: h.id, step: ev.output.index, stream: ev.output.stream, text });
        } else if (ev.stepResult) {
          const r = ev.stepResult;
          let data: unknown;
          try {
            data = r.dataJson ? JSON.parse(r.dataJson) : undefined;
          } catch {
            data = r.dataJson;
          }
          const rec: StepRecord = { index: r.index, name: r.name, status: r.status, exitCode: r.exitCode, durationMs: r.durationMs, ...(data === undefined ? {} : { data }), ...(r.error ? { error: r.error } : {}), outputTruncated: r.outputTruncated, outputBytes: r.outputBytes };
          if (r.outputTruncated) outputTruncated = true;
          steps.push(rec);
          emit({ type: 'step', host: h.id, ...rec });
          if (r.status !== 'ok' && !error) error = `step ${r.index + 1} (${r.name}) ${r.status}${r.error ? `: ${r.error}` : ''}`;
        } else if (ev.done) {
          agentStartedMs = ev.done.startedAtMs;
          agentEndedMs = ev.done.endedAtMs;
          status = ev.done.status === 'ok' ? 'ok' : ev.done.status === 'timeout' ? 'timeout' : ev.done.status === 'refused' ? 'refused' : ev.done.status === 'cancelled' ? 'cancelled' : 'failed';
        }
      });
      let settled = false;
      const settle = (s: HostRunStatus, err: string) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        resolve(finish(s, err));
      };
      call.on('error', (err: ServiceError) => {
        if (err.code === GrpcStatus.CANCELLED && signal.aborted) settle('cancelled', 'run cancelled');
        else if (err.code === GrpcStatus.UNAVAILABLE) settle('unreachable', `agent at ${h.rpc_endpoint} not reachable: ${unreachableReason(err)}`);
        else if (err.code === GrpcStatus.DEADLINE_EXCEEDED) settle('timeout', `no answer within ${timeoutMs} ms`);
        else if (err.code === GrpcStatus.UNIMPLEMENTED) settle('failed', 'agent does not support playbooks (upgrade it)');
        else settle('failed', `agent call failed: ${err.details || err.message}`);
      });
      call.on('end', () => {
        if (status === undefined) settle('failed', 'agent ended the stream without a final status');
        else settle(status, error);
      });
    });
  }
}

/** Runs `fn` over `items` with at most `limit` at once (a sliding window, not fixed waves). */
async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
