import { z } from 'zod';
import type { Logger } from '../../shared/logger.js';
import type { NotifyStore } from '../notify/notify-store.js';
import type { ControlLog } from '../ha/control-log.js';
import { onRecord, publisher } from './common.js';

const ms = z.number().int().nonnegative();
const fps = z.array(z.string().max(200)).max(100_000);
const stateBody = z.object({ groupKey: z.string().min(1).max(10_000), receiver: z.string().min(1).max(200), firing: fps, resolved: fps, tsMs: ms }).strict();
const logBody = z
  .object({
    ts_ms: ms,
    receiver: z.string().max(200),
    kind: z.string().max(100),
    group_keys: z.string().max(1_000_000),
    status: z.string().max(100),
    alerts: z.number().int(),
    merged: z.number().int(),
    attempt: z.number().int(),
    outcome: z.string().max(100),
    code: z.string().max(200),
    detail: z.string().max(10_000),
    bytes: z.number().int(),
    duration_ms: z.number().int(),
  })
  .strict();

/**
 * Notification records: `notify.state` is what a receiver was last told about a group (the
 * state the dispatcher reads to decide "already notified"), so a new leader does not tell again
 * what the old one told; `notify.log` is each attempt, so the delivery history reads the same
 * on either controller. Returns the unsubscribe.
 */
export function replicateNotifications(log: ControlLog, store: NotifyStore, logger: Logger): () => void {
  onRecord(log, 'notify.state', stateBody, (b) => store.applyState(b.groupKey, b.receiver, b.firing, b.resolved, b.tsMs));
  onRecord(log, 'notify.log', logBody, (b) => store.applyLog(b));
  const send = publisher(log, logger);
  return store.onChange((c) => {
    if (c.op === 'state') send('notify.state', { groupKey: c.groupKey, receiver: c.receiver, firing: c.firing, resolved: c.resolved, tsMs: c.tsMs });
    else send('notify.log', c.record);
  });
}
