import { z } from 'zod';
import { OpsError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { AlertManager } from '../alerts/alert-manager.js';
import { invalidAlertReason, type IncomingAlert } from '../alerts/model.js';
import type { ControlLog } from '../ha/control-log.js';
import { onRecord, publisher } from './common.js';

const ms = z.number().int().nonnegative();
const labels = z.record(z.string().max(200), z.string().max(65_536));
const alert = z
  .object({
    state: z.enum(['firing', 'resolved']),
    labels,
    annotations: labels,
    startsAtMs: ms,
    endsAtMs: ms,
    resolveTimeoutMs: z.number().int().min(-1),
    // What the API and the intake routes produce: alerts another controller raised about itself
    // (disk, backups) or derived from the event stream are never in a push record.
    source: z.enum(['api', 'prometheus', 'alertmanager', 'grafana']),
    eventTsMs: ms,
  })
  .strict();
const pushBody = z.object({ atMs: ms, alerts: z.array(alert).min(1).max(100_000) }).strict();
/**
 * Characters per record: under NATS's default 1 MB max_payload even when every character takes
 * three bytes in UTF-8. An intake batch of 10,000 alerts goes as several records.
 */
const MAX_RECORD_BYTES = 256 * 1024;

/** Characters of a label map as JSON roughly writes them (quotes, colon, comma: 6 per pair). */
function textSize(m: Record<string, string>): number {
  let n = 2;
  for (const k in m) n += k.length + m[k]!.length + 6;
  return n;
}

/**
 * Pushed alerts: `alert.push` carries each batch accepted from `POST /api/v1/alerts` and the
 * intake routes (Prometheus, Alertmanager, Grafana), as it was mapped, and when it was applied.
 * The other controller applies it like a push of its own (same fingerprint dedupe, grouping,
 * expiry), so a new leader holds, notifies and resolves alerts a one-off sender will not push
 * again. Only the leader's dispatcher notifies; notify.state tells the new leader what the old
 * one already said. Returns the unsubscribe.
 */
export function replicatePushedAlerts(log: ControlLog, alerts: AlertManager, logger: Logger): () => void {
  onRecord(log, 'alert.push', pushBody, (b, r) => {
    b.alerts.forEach((a, i) => {
      const why = invalidAlertReason(a.labels, a.annotations);
      if (why) throw new OpsError('OPS_ERR_HA_CONTROL_INVALID', `alert.push record ${r.id} from ${r.origin}: alerts.${i}: ${why}`);
    });
    alerts.applyRemote(b);
  });
  const send = publisher(log, logger);
  return alerts.onPushed((p) => {
    let chunk: IncomingAlert[] = [];
    let bytes = 0;
    for (const a of p.alerts) {
      // An estimate (the record is serialised once, into the outbox): strings plus the fixed fields.
      const size = textSize(a.labels) + textSize(a.annotations) + 200;
      if (size > MAX_RECORD_BYTES) {
        // A record over NATS's max_payload would never be stored and would hold up every later
        // record in the outbox: such an alert (hundreds of KB of annotations) stays on this controller.
        logger.error({ alertname: a.labels.alertname, chars: size, max: MAX_RECORD_BYTES }, 'pushed alert too large to replicate; it stays on this controller');
        continue;
      }
      if (chunk.length > 0 && bytes + size > MAX_RECORD_BYTES) {
        send('alert.push', { atMs: p.atMs, alerts: chunk });
        chunk = [];
        bytes = 0;
      }
      chunk.push(a);
      bytes += size;
    }
    if (chunk.length > 0) send('alert.push', { atMs: p.atMs, alerts: chunk });
  });
}
