import type { z } from 'zod';
import { OpsError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { ControlLog, ControlRecord } from '../ha/control-log.js';

/**
 * Publishes a change without holding up the caller (an API request, a notification worker).
 * The record is already in the durable outbox when this returns; the promise rejects only when
 * the log stops first, and the record then goes out at the next start: logged, never lost.
 */
export function publisher(log: ControlLog, logger: Logger): <B>(kind: string, body: B) => void {
  return (kind, body) => {
    log.publish(kind, body).catch((err: unknown) => {
      // Refused outright (too large, a bad kind): never replicated, so say it loudly.
      if (err instanceof OpsError && err.code === 'OPS_ERR_HA_CONTROL_INVALID') logger.error({ err, kind }, 'control record refused; the change stays on this controller');
      else logger.info({ err, kind }, 'control record not published yet; it stays in the outbox');
    });
  };
}

/** A record's body checked against what its kind carries: it came over the network. */
export function bodyOf<S extends z.ZodType>(schema: S, rec: ControlRecord): z.infer<S> {
  const r = schema.safeParse(rec.body);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new OpsError('OPS_ERR_HA_CONTROL_INVALID', `${rec.kind} record ${rec.id} from ${rec.origin}: ${issue.path.join('.') || 'body'}: ${issue.message}`);
  }
  return r.data;
}

/**
 * Applies the records of `kind` on this controller: each body is checked against `schema`
 * first (bodyOf), then handed to `apply` with the record (for its origin). A body that fails the
 * check, or an apply that throws, is the control log's to retry, then skip and log.
 */
export function onRecord<S extends z.ZodType>(log: ControlLog, kind: string, schema: S, apply: (body: z.infer<S>, rec: ControlRecord) => void | Promise<void>): void {
  log.on(kind, (r) => apply(bodyOf(schema, r), r));
}
