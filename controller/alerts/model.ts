import { z } from 'zod';
import { Alert_State, type Event } from '../../shared/gen/opsfleet/v1/events.js';
import { OpsError } from '../../shared/errors.js';
import type { AlertView } from '../notify/types.js';
import { isoOrNull } from '../notify/types.js';

export type AlertState = 'firing' | 'resolved';
/** Where an alert came from: an agent, the controller itself, our API, or another tool's intake. */
export type AlertSource = 'agent' | 'controller' | 'api' | 'prometheus' | 'alertmanager' | 'grafana';

/** The stored state of one alert (one fingerprint). */
export interface AlertRecord {
  fingerprint: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: AlertState;
  startsAtMs: number;
  endsAtMs: number;
  /** Controller time of the last assertion (firing or resolved). */
  updatedMs: number;
  /** When a firing alert resolves itself if not re-asserted; null = never (the controller resolves it). */
  expiresMs: number | null;
  source: AlertSource;
  count: number;
}

/** An alert as it arrives (from an agent event, the API, or the controller itself). */
export interface IncomingAlert {
  state: AlertState;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAtMs: number;
  endsAtMs: number;
  /** 0 = the configured default; -1 = never (controller-raised alerts). */
  resolveTimeoutMs: number;
  source: AlertSource;
  /** Event time, used to ignore a firing that is older than the stored resolution. */
  eventTsMs: number;
}

const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_LABELS = 64;
const MAX_VALUE = 4096;

/** Checks labels and annotations; returns the reason they are unusable, or undefined. */
export function invalidAlertReason(labels: Record<string, string>, annotations: Record<string, string>): string | undefined {
  if (!labels.alertname) return 'labels lack alertname';
  const names = Object.keys(labels);
  if (names.length > MAX_LABELS) return `more than ${MAX_LABELS} labels`;
  for (const n of names) {
    if (!LABEL_NAME.test(n)) return `invalid label name "${n.slice(0, 64)}"`;
    if (typeof labels[n] !== 'string' || labels[n]!.length > MAX_VALUE) return `label ${n} is not a string of at most ${MAX_VALUE} characters`;
  }
  for (const [n, v] of Object.entries(annotations)) {
    if (typeof v !== 'string' || v.length > 16 * MAX_VALUE) return `annotation ${n.slice(0, 64)} is not a string of at most ${16 * MAX_VALUE} characters`;
  }
  return undefined;
}

/**
 * Turns an agent's `alert` event into an IncomingAlert; the host label defaults to the event's
 * host. Throws OPS_ERR_ALERT_MALFORMED with the reason (the caller counts and skips it).
 */
export function alertFromEvent(e: Event): IncomingAlert {
  const a = e.alert;
  if (!a) throw new OpsError('OPS_ERR_ALERT_MALFORMED', `event ${e.id} of kind alert has no alert payload`);
  if (a.state !== Alert_State.STATE_FIRING && a.state !== Alert_State.STATE_RESOLVED) throw new OpsError('OPS_ERR_ALERT_MALFORMED', `event ${e.id}: alert state ${String(a.state)} is neither FIRING nor RESOLVED`);
  const labels = { ...a.labels };
  if (!labels.host) labels.host = e.hostId;
  const reason = invalidAlertReason(labels, a.annotations ?? {});
  if (reason) throw new OpsError('OPS_ERR_ALERT_MALFORMED', `event ${e.id}: ${reason}`);
  return {
    state: a.state === Alert_State.STATE_FIRING ? 'firing' : 'resolved',
    labels,
    annotations: { ...a.annotations },
    startsAtMs: a.startsAtMs,
    endsAtMs: a.endsAtMs,
    resolveTimeoutMs: a.resolveTimeoutS * 1000,
    source: 'agent',
    eventTsMs: e.tsMs,
  };
}

/** Alerts pushed through `POST /api/v1/alerts`: the webhook's alert object shape. */
export const apiAlertSchema = z
  .object({
    status: z.enum(['firing', 'resolved']).optional(),
    labels: z.record(z.string(), z.string()),
    annotations: z.record(z.string(), z.string()).optional(),
    startsAt: z.string().datetime({ offset: true }).optional(),
    endsAt: z.string().datetime({ offset: true }).nullable().optional(),
    /** Seconds without re-assertion before it resolves itself (0 or absent: the default). */
    resolveTimeoutS: z.number().int().min(0).optional(),
  })
  .passthrough();
export type ApiAlert = z.output<typeof apiAlertSchema>;

export function alertFromApi(a: ApiAlert, now: number): IncomingAlert {
  const ends = a.endsAt ? Date.parse(a.endsAt) : 0;
  const state = a.status ?? (ends > 0 && ends <= now ? 'resolved' : 'firing');
  const reason = invalidAlertReason(a.labels, a.annotations ?? {});
  if (reason) throw new OpsError('OPS_ERR_ALERT_MALFORMED', reason);
  return {
    state,
    labels: { ...a.labels },
    annotations: { ...(a.annotations ?? {}) },
    startsAtMs: a.startsAt ? Date.parse(a.startsAt) : 0,
    endsAtMs: ends,
    resolveTimeoutMs: (a.resolveTimeoutS ?? 0) * 1000,
    source: 'api',
    eventTsMs: now,
  };
}

export function toAlertView(r: AlertRecord): AlertView {
  return {
    fingerprint: r.fingerprint,
    status: r.state,
    labels: r.labels,
    annotations: r.annotations,
    startsAt: new Date(r.startsAtMs).toISOString(),
    endsAt: r.state === 'resolved' ? isoOrNull(r.endsAtMs) : null,
    count: r.count,
  };
}
