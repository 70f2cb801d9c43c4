import { z } from 'zod';
import { parseDuration } from '../../shared/duration.js';
import { OpsError } from '../../shared/errors.js';
import type { AlertManager } from '../alerts/alert-manager.js';
import { compileMatcher, parseMatcher, type Matcher } from '../../shared/alerts/matchers.js';
import { apiAlertSchema } from '../alerts/model.js';
import type { AuditLog } from '../audit/audit-log.js';
import { alertmanagerWebhookSchema, fromPostableAlerts, fromWebhookPayload, grafanaWebhookSchema, postableAlertsSchema } from '../alerts/intake.js';
import { HttpError, type HttpServer } from './http-server.js';

/**
 * The alert batch limit agrees with the schema: 10,000 alerts of a realistic size (labels and a
 * few annotations, ~110 bytes to ~1.5 KB each) fit; the default 1 MiB refused a 1.07 MB batch.
 */
export const ALERTS_BODY_LIMIT = 16 * 1024 * 1024;
export const MAX_ALERTS_PER_POST = 10_000;
/** Intake bodies: a Prometheus or Alertmanager batch of 10,000+ alerts is several megabytes. */
export const INTAKE_MAX_BODY = 32 * 1024 * 1024;

const matcherSchema = z.union([
  z.string(),
  z.object({ name: z.string(), op: z.enum(['=', '!=', '=~', '!~']).optional(), value: z.string(), isRegex: z.boolean().optional(), isEqual: z.boolean().optional() }),
]);

const silenceSchema = z
  .object({
    matchers: z.array(matcherSchema).min(1, 'at least one matcher is required'),
    startsAt: z.string().datetime({ offset: true }).optional(),
    endsAt: z.string().datetime({ offset: true }).optional(),
    /** Alternative to endsAt: a duration like "2h". */
    duration: z.string().optional(),
    createdBy: z.string().max(200).prefault(''),
    comment: z.string().max(2000).prefault(''),
  })
  .strict();

function toMatcher(m: z.output<typeof matcherSchema>): Matcher {
  if (typeof m === 'string') return parseMatcher(m);
  const op = m.op ?? (m.isRegex ? (m.isEqual === false ? '!~' : '=~') : m.isEqual === false ? '!=' : '=');
  const matcher = { name: m.name, op, value: m.value };
  compileMatcher(matcher);
  return matcher;
}

function badRequest(err: unknown): never {
  if (err instanceof OpsError) throw new HttpError(400, err.code, err.message);
  throw err;
}

/** Alerting API (v1): alerts, silences, receivers' test sends, the notification log. */
export function registerAlertRoutes(http: HttpServer, am: AlertManager, audit: AuditLog): void {
  http.route('GET', '/api/v1/alerts', ({ query }) => {
    const state = query.get('state') ?? 'firing';
    if (state !== 'firing' && state !== 'resolved' && state !== 'all') throw new HttpError(400, 'OPS_ERR_BAD_REQUEST', `state must be firing, resolved or all, got "${state}"`);
    return am.list(state);
  });

  http.route(
    'POST',
    '/api/v1/alerts',
    ({ body }) => {
      const list = Array.isArray(body) ? body : [body];
      try {
        return { accepted: list.length, fingerprints: am.pushFromApi(list) };
      } catch (err) {
        return badRequest(err);
      }
    },
    { body: z.union([apiAlertSchema, z.array(apiAlertSchema).max(MAX_ALERTS_PER_POST)]), bodyCode: 'OPS_ERR_ALERT_MALFORMED', bodyLimit: ALERTS_BODY_LIMIT },
  );

  http.route('GET', '/api/v1/alerts/stats', () => am.statsView());

  http.route('GET', '/api/v1/alerts/groups', () => am.groups());

  registerIntakeRoutes(http, am);

  http.route('GET', '/api/v1/alerts/:fp', ({ params }) => {
    const a = am.get(params.fp!);
    if (!a) throw new HttpError(404, 'OPS_ERR_ALERT_NOT_FOUND', `no alert with fingerprint "${params.fp}"`);
    return a;
  });

  http.route('GET', '/api/v1/silences', ({ query }) => {
    const all = query.get('all') === 'true';
    return am.silences
      .list()
      .map((s) => am.silenceView(s))
      .filter((s) => all || s.status === 'active' || s.status === 'pending');
  });

  http.route(
    'POST',
    '/api/v1/silences',
    ({ body: b, principal }) => {
    try {
      const matchers = b.matchers.map(toMatcher);
      const starts = b.startsAt ? Date.parse(b.startsAt) : Date.now();
      let ends: number;
      if (b.endsAt) ends = Date.parse(b.endsAt);
      else if (b.duration) {
        const ms = parseDuration(b.duration);
        if (ms === undefined) throw new OpsError('OPS_ERR_SILENCE_INVALID', `duration: expected a duration like "2h", got "${b.duration}"`);
        ends = starts + ms;
      } else throw new OpsError('OPS_ERR_SILENCE_INVALID', 'endsAt or duration is required');
      // The creator is the token, never the body's createdBy (kept in the schema for Alertmanager clients).
      const s = am.silences.add({ matchers, startsAtMs: starts, endsAtMs: ends, createdBy: principal.name, comment: b.comment });
      const view = am.silenceView(s);
      audit.append(principal.name, 'silence.add', view.id, { matchers: b.matchers, startsAt: new Date(starts).toISOString(), endsAt: new Date(ends).toISOString(), comment: b.comment, ...(b.createdBy && b.createdBy !== principal.name ? { claimedCreatedBy: b.createdBy } : {}) });
      return view;
    } catch (err) {
      return badRequest(err);
    }
    },
    { body: silenceSchema, bodyCode: 'OPS_ERR_SILENCE_INVALID' },
  );

  http.route('GET', '/api/v1/silences/:id', ({ params }) => {
    const s = am.silences.get(params.id!);
    if (!s) throw new HttpError(404, 'OPS_ERR_SILENCE_NOT_FOUND', `no silence "${params.id}"`);
    return am.silenceView(s);
  });

  http.route('DELETE', '/api/v1/silences/:id', ({ params, principal }) => {
    if (!am.silences.remove(params.id!)) throw new HttpError(404, 'OPS_ERR_SILENCE_NOT_FOUND', `no active silence "${params.id}"`);
    audit.append(principal.name, 'silence.remove', params.id!, {});
    return { removed: params.id };
  });

  http.route('GET', '/api/v1/receivers', () =>
    [...am.workers.values()].map((w) => ({ name: w.name, pending: w.pending, pausedMs: w.pausedMs, stats: w.stats })),
  );

  http.route('POST', '/api/v1/receivers/:name/test', async ({ params, principal }) => {
    try {
      const r = await am.testReceiver(params.name!);
      audit.append(principal.name, 'receiver.test', params.name!, {});
      return r;
    } catch (err) {
      if (err instanceof OpsError && err.code === 'OPS_ERR_RECEIVER_UNKNOWN') throw new HttpError(404, err.code, err.message);
      throw err;
    }
  });

  // Renders what a receiver would send for these alerts with its current template; nothing is sent.
  http.route(
    'POST',
    '/api/v1/receivers/:name/preview',
    ({ body, params }) => {
      const alerts = Array.isArray(body) ? body : 'alerts' in body && Array.isArray(body.alerts) ? body.alerts : [body as z.output<typeof apiAlertSchema>];
      try {
        return am.preview(params.name!, alerts);
      } catch (err) {
        if (err instanceof OpsError && err.code === 'OPS_ERR_RECEIVER_UNKNOWN') throw new HttpError(404, err.code, err.message);
        return badRequest(err);
      }
    },
    { body: z.union([apiAlertSchema, z.array(apiAlertSchema).min(1).max(1000), z.object({ alerts: z.array(apiAlertSchema).min(1).max(1000) }).strict()]), bodyCode: 'OPS_ERR_ALERT_MALFORMED' },
  );

  // Which routes and receivers an alert with these labels reaches (amtool config routes test).
  http.route('POST', '/api/v1/alerts/routes/test', ({ body }) => am.routesTest(body.labels), {
    body: z.object({ labels: z.record(z.string(), z.string()) }).strict(),
    bodyCode: 'OPS_ERR_BAD_REQUEST',
  });

  http.route('GET', '/api/v1/notifications', ({ query }) => {
    const limit = Math.min(Number(query.get('limit') ?? 100) || 100, 10_000);
    return am.notifyStore.list({ receiver: query.get('receiver') ?? undefined, limit }).map((r) => ({
      id: r.id,
      ts: new Date(r.ts_ms).toISOString(),
      receiver: r.receiver,
      kind: r.kind,
      groupKeys: JSON.parse(r.group_keys) as string[],
      status: r.status,
      alerts: r.alerts,
      merged: r.merged,
      attempt: r.attempt,
      outcome: r.outcome,
      code: r.code,
      detail: r.detail,
      bytes: r.bytes,
      durationMs: r.duration_ms,
    }));
  });
}

/**
 * Alerts from other tools (controller/alerts/intake.ts). Registered like every other route; the
 * API's auth puts them behind an intake-role token.
 */
export function registerIntakeRoutes(http: HttpServer, am: AlertManager): void {
  const take = <T>(data: T, map: (data: T, now: number) => ReturnType<typeof fromPostableAlerts>) => {
    let list;
    try {
      list = map(data, Date.now());
    } catch (err) {
      return badRequest(err);
    }
    return { accepted: am.intake(list) };
  };
  const opts = { bodyCode: 'OPS_ERR_ALERT_MALFORMED', bodyLimit: INTAKE_MAX_BODY };
  // Prometheus' alertmanager_config points here as if opsfleet were Alertmanager (API v2).
  http.route('POST', '/api/v2/alerts', ({ body }) => take(body, fromPostableAlerts), { ...opts, body: postableAlertsSchema });
  // An existing Alertmanager forwards through its webhook receiver (webhook_configs.url).
  http.route('POST', '/api/v1/intake/alertmanager', ({ body }) => take(body, (d, now) => fromWebhookPayload(d, 'alertmanager', now)), { ...opts, body: alertmanagerWebhookSchema });
  // Grafana's webhook contact point.
  http.route('POST', '/api/v1/intake/grafana', ({ body }) => take(body, (d, now) => fromWebhookPayload(d, 'grafana', now)), { ...opts, body: grafanaWebhookSchema });
}
