import { z } from 'zod';
import { OpsError } from '../../shared/errors.js';
import { invalidAlertReason, type AlertSource, type IncomingAlert } from './model.js';

/**
 * Alerts from other tools, mapped onto opsfleet alerts (which then get dedupe, grouping,
 * silences, inhibition, routing and rate-limited delivery like any other):
 *
 * - Prometheus → `POST /api/v2/alerts` (Alertmanager's API v2 `postableAlerts`), so Prometheus
 *   can use opsfleet as its Alertmanager;
 * - an existing Alertmanager's webhook receiver → `POST /api/v1/intake/alertmanager`;
 * - Grafana's webhook contact point → `POST /api/v1/intake/grafana`.
 *
 * Labels stay labels, annotations stay annotations; links the sender adds (generatorURL,
 * Grafana's dashboard and panel URLs, its value string) become annotations.
 */

/** Go's zero time, which Alertmanager writes for "no end". */
const GO_ZERO = /^0001-01-01T00:00:00/;
const time = z.string().max(64);
const labels = z.record(z.string(), z.string());

/** Alertmanager API v2 `postableAlert`. */
export const postableAlertSchema = z
  .object({
    labels,
    annotations: labels.optional(),
    startsAt: time.optional(),
    endsAt: time.optional(),
    generatorURL: z.string().max(4096).optional(),
  })
  .passthrough();
export const postableAlertsSchema = z.array(postableAlertSchema).max(100_000);

/** One alert of Alertmanager's webhook payload (version 4) and of Grafana's (which adds links and values). */
const webhookAlertSchema = z
  .object({
    status: z.enum(['firing', 'resolved']),
    labels,
    annotations: labels.optional(),
    startsAt: time.optional(),
    endsAt: time.optional(),
    generatorURL: z.string().max(4096).optional(),
    fingerprint: z.string().optional(),
    dashboardURL: z.string().max(4096).optional(),
    panelURL: z.string().max(4096).optional(),
    silenceURL: z.string().max(4096).optional(),
    valueString: z.string().max(16_384).optional(),
  })
  .passthrough();

export const alertmanagerWebhookSchema = z
  .object({
    version: z.string().optional(),
    status: z.enum(['firing', 'resolved']).optional(),
    receiver: z.string().optional(),
    groupKey: z.string().optional(),
    externalURL: z.string().optional(),
    alerts: z.array(webhookAlertSchema).max(100_000),
  })
  .passthrough();
export const grafanaWebhookSchema = alertmanagerWebhookSchema;

function parseTime(s: string | undefined, field: string, i: number): number {
  if (!s || GO_ZERO.test(s)) return 0;
  const ms = Date.parse(s);
  if (Number.isNaN(ms)) throw new OpsError('OPS_ERR_ALERT_MALFORMED', `alerts[${i}].${field}: not an RFC 3339 time: ${JSON.stringify(s.slice(0, 64))}`);
  return ms;
}

function checked(i: number, l: Record<string, string>, a: Record<string, string>): void {
  const reason = invalidAlertReason(l, a);
  if (reason) throw new OpsError('OPS_ERR_ALERT_MALFORMED', `alerts[${i}]: ${reason}`);
}

/**
 * Prometheus semantics: an alert is firing until its `endsAt`; Prometheus re-sends firing alerts
 * with an `endsAt` a few evaluation intervals ahead, so an alert it stops sending resolves itself
 * at that time. `endsAt` in the past (or now) is a resolution.
 */
export function fromPostableAlerts(list: z.output<typeof postableAlertsSchema>, now: number): IncomingAlert[] {
  return list.map((a, i) => {
    const annotations: Record<string, string> = { ...(a.annotations ?? {}) };
    if (a.generatorURL && !annotations.generator_url) annotations.generator_url = a.generatorURL;
    checked(i, a.labels, annotations);
    const starts = parseTime(a.startsAt, 'startsAt', i);
    const ends = parseTime(a.endsAt, 'endsAt', i);
    const resolved = ends > 0 && ends <= now;
    return {
      state: resolved ? 'resolved' : 'firing',
      labels: { ...a.labels },
      annotations,
      startsAtMs: starts,
      endsAtMs: resolved ? ends : 0,
      // Until endsAt, then it resolves itself unless re-sent; without endsAt, the configured default.
      resolveTimeoutMs: !resolved && ends > now ? Math.max(1, ends - now) : 0,
      source: 'prometheus',
      eventTsMs: now,
    };
  });
}

/** An Alertmanager (version 4) or Grafana webhook payload: each alert carries its own status. */
export function fromWebhookPayload(p: z.output<typeof alertmanagerWebhookSchema>, source: Extract<AlertSource, 'alertmanager' | 'grafana'>, now: number): IncomingAlert[] {
  return p.alerts.map((a, i) => {
    const annotations: Record<string, string> = { ...(a.annotations ?? {}) };
    const links: Array<[string, string | undefined]> = [
      ['generator_url', a.generatorURL],
      ['dashboard_url', a.dashboardURL],
      ['panel_url', a.panelURL],
      ['silence_url', a.silenceURL],
      ['value', a.valueString],
    ];
    for (const [k, v] of links) if (v && !annotations[k]) annotations[k] = v;
    checked(i, a.labels, annotations);
    const ends = parseTime(a.endsAt, 'endsAt', i);
    return {
      state: a.status,
      labels: { ...a.labels },
      annotations,
      startsAtMs: parseTime(a.startsAt, 'startsAt', i),
      endsAtMs: a.status === 'resolved' ? ends || now : 0,
      resolveTimeoutMs: 0,
      source,
      eventTsMs: now,
    };
  });
}
