import { z } from 'zod';
import type { Logger } from '../../shared/logger.js';
import type { Silences } from '../alerts/silences.js';
import type { ControlLog } from '../ha/control-log.js';
import { onRecord, publisher } from './common.js';

const ms = z.number().int().nonnegative();
const createBody = z
  .object({
    id: z.string().min(1).max(100),
    matchers: z
      .array(z.object({ name: z.string().max(200), op: z.enum(['=', '!=', '=~', '!~']), value: z.string().max(10_000) }).strict())
      .min(1)
      .max(100),
    startsAtMs: ms,
    endsAtMs: ms,
    createdBy: z.string().max(200),
    comment: z.string().max(100_000),
    createdMs: ms,
    removedMs: ms.nullable(),
  })
  .strict();
const removeBody = z.object({ id: z.string().min(1).max(100), removedMs: ms }).strict();

/** Silences: `silence.create` (the whole silence) and `silence.remove` (expired by hand). Returns the unsubscribe. */
export function replicateSilences(log: ControlLog, silences: Silences, logger: Logger): () => void {
  onRecord(log, 'silence.create', createBody, (b) => silences.applyCreate(b));
  onRecord(log, 'silence.remove', removeBody, (b) => silences.applyRemove(b.id, b.removedMs));
  const send = publisher(log, logger);
  return silences.onChange((c) => {
    if (c.op === 'create') send('silence.create', c.silence);
    else send('silence.remove', { id: c.id, removedMs: c.removedMs });
  });
}
