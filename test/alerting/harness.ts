import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { alertingSchema, type AlertingConfig } from '../../shared/config/alerting.js';
import { parseConfigText } from '../../shared/config/load.js';
import { Alert_State, type Event } from '../../shared/gen/opsfleet/v1/events.js';
import { createRootLogger } from '../../shared/logger.js';
import { AlertManager } from '../../controller/alerts/alert-manager.js';
import type { Leadership } from '../../controller/ha/leadership.js';
import type { NotificationRow } from '../../controller/notify/notify-store.js';
import { openDatabase } from '../../controller/store/db.js';
import { HttpServer } from '../../controller/api/http-server.js';
import { registerAlertRoutes } from '../../controller/api/alert-routes.js';
import { AuditLog } from '../../controller/audit/audit-log.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { waitFor } from '../helpers/wait.js';
import { authHeaders } from '../helpers/daemons.js';

/** A real AlertManager on a real SQLite file in `dir`, configured from YAML like the controller's `alerting:` section. */
export async function startManager(yaml: string, dir: string, env: NodeJS.ProcessEnv = process.env, now?: () => number, leadership?: Leadership): Promise<{ am: AlertManager; db: Database.Database; cfg: AlertingConfig; close: () => Promise<void> }> {
  const cfg = parseConfigText(yaml, 'alerting.yaml', alertingSchema, env);
  const db = openDatabase(join(dir, 'data'));
  const logger = createRootLogger({ name: 'alerting-test', level: (process.env.ALERT_TEST_LOG as 'debug' | undefined) ?? 'silent' });
  const am = new AlertManager({ db, cfg, logger, ...(now ? { now } : {}), ...(leadership ? { leadership } : {}) });
  await am.start();
  let closed = false;
  return {
    am,
    db,
    cfg,
    close: async () => {
      if (closed) return;
      closed = true;
      await am.stop();
      db.close();
    },
  };
}

let seq = 0;

/** An agent `alert` event as ingest hands it over. */
export function alertEvent(hostId: string, labels: Record<string, string>, state: 'firing' | 'resolved' = 'firing', opts: { annotations?: Record<string, string>; resolveTimeoutS?: number; tsMs?: number } = {}): Event {
  seq++;
  const now = opts.tsMs ?? Date.now();
  return {
    id: `${hostId}:test:${seq}`,
    hostId,
    instanceId: 'test',
    seq,
    tsMs: now,
    kind: 'alert',
    alert: {
      state: state === 'firing' ? Alert_State.STATE_FIRING : Alert_State.STATE_RESOLVED,
      labels,
      annotations: opts.annotations ?? { summary: `${labels.alertname} on ${hostId}` },
      startsAtMs: state === 'firing' ? now : 0,
      endsAtMs: state === 'resolved' ? now : 0,
      resolveTimeoutS: opts.resolveTimeoutS ?? 0,
    },
  };
}

/**
 * The notification log, oldest first, once it holds at least `n` rows. A stand-in records a
 * request before our side has read the answer and logged it, so tests wait for the row.
 */
export async function logRows(am: AlertManager, n: number, receiver?: string): Promise<NotificationRow[]> {
  return waitFor(() => {
    const rows = am.notifyStore.list({ receiver, limit: 1000 });
    return rows.length >= n ? rows.reverse() : undefined;
  }, { what: `${n} notification log rows` });
}

/** The alerting API routes on a real HTTP server (127.0.0.1, port 0) in front of `am`. */
export async function startApi(am: AlertManager): Promise<{ url: string; close: () => Promise<void> }> {
  // The alert routes alone, as an admin: authentication is tested with the whole controller (test/api).
  const http = new HttpServer(createRootLogger({ name: 'alerting-api-test', level: 'silent' }), { guard: { policy: () => ({}), check: () => ({ name: 'alerting-test', role: 'admin' }) } } as never);
  const auditDir = mkdtempSync(join(tmpdir(), 'opsfleet-alert-api-'));
  const auditDb = openDatabase(auditDir);
  registerAlertRoutes(http, am, new AuditLog(auditDb));
  const addr = await http.listen('127.0.0.1', 0);
  return {
    url: `http://127.0.0.1:${addr.port}`,
    close: async () => {
      await http.close();
      auditDb.close();
      rmSync(auditDir, { recursive: true, force: true });
    },
  };
}

/** POSTs JSON and returns the status and parsed answer (errors are answers too). */
export async function postJson<T = unknown>(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  // A controller started by the test helpers gets its bootstrap admin token, as every other API helper does.
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...authHeaders(new URL(url).origin), ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}
