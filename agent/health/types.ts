import type { CheckConfig, CheckOf, CheckType } from '../../shared/config/health.js';

/** ok: healthy; warn: healthy but noteworthy (command exit 1, certificate expiring); fail: unhealthy. */
export type ProbeStatus = 'ok' | 'warn' | 'fail';

/** What one probe found. Expected outcomes are data, never exceptions. */
export interface ProbeResult {
  status: ProbeStatus;
  detail: string;
  latencyMs: number;
}

/**
 * One check type: `probe` runs once and must honour `signal` (the runner aborts it at the
 * check's timeout and, independently, stops waiting for it).
 */
export interface CheckKind<T extends CheckType = CheckType> {
  type: T;
  probe(cfg: CheckOf<T>, signal: AbortSignal): Promise<ProbeResult>;
}

export type AnyCheckConfig = CheckConfig;

/** Milliseconds since `start` (monotonic). */
export function since(start: number): number {
  return Math.round((performance.now() - start) * 10) / 10;
}

export function ok(detail: string, latencyMs: number): ProbeResult {
  return { status: 'ok', detail, latencyMs };
}
export function warn(detail: string, latencyMs: number): ProbeResult {
  return { status: 'warn', detail, latencyMs };
}
export function fail(detail: string, latencyMs: number): ProbeResult {
  return { status: 'fail', detail, latencyMs };
}
