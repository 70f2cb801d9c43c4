import { z } from 'zod';
import type { Logger } from '../../shared/logger.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { ControlLog } from '../ha/control-log.js';
import { onRecord, publisher } from './common.js';

const entry = z.object({ ts_ms: z.number().int().nonnegative(), actor: z.string().max(1000), action: z.string().max(200), subject: z.string().max(10_000), details: z.string().max(1_000_000) }).strict();
const auditBody = z.object({ entries: z.array(entry).min(1).max(100_000) }).strict();
/** Under NATS's default 1 MB max_payload with room to spare: a fleet run's 10,000 rows go as several records. */
const MAX_RECORD_BYTES = 256 * 1024;

/**
 * Audit rows: `audit` carries the rows a controller appended (who did what, when); the other
 * appends them to its own chain with `via` and `at`, so either controller's audit shows every
 * action while each hash chain stays per controller. Returns the unsubscribe.
 */
export function replicateAudit(log: ControlLog, audit: AuditLog, logger: Logger): () => void {
  onRecord(log, 'audit', auditBody, (b, r) => audit.applyRemote(r.origin, b.entries));
  const send = publisher(log, logger);
  return audit.onAppend((rows) => {
    let chunk: z.infer<typeof entry>[] = [];
    let bytes = 0;
    for (const row of rows) {
      const e = { ts_ms: row.ts_ms, actor: row.actor, action: row.action, subject: row.subject, details: row.details };
      const size = e.details.length + e.subject.length + e.actor.length + 100;
      if (chunk.length > 0 && bytes + size > MAX_RECORD_BYTES) {
        send('audit', { entries: chunk });
        chunk = [];
        bytes = 0;
      }
      chunk.push(e);
      bytes += size;
    }
    if (chunk.length > 0) send('audit', { entries: chunk });
  });
}
