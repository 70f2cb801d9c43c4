import { z } from 'zod';
import type { Logger } from '../../shared/logger.js';
import type { Automation } from '../automation/automation.js';
import type { ControlLog } from '../ha/control-log.js';
import { onRecord, publisher } from './common.js';

const setBody = z
  .object({
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    origin: z.string().min(1).max(128),
    setMs: z.number().int().nonnegative(),
    files: z
      .array(z.object({ name: z.string().regex(/^[^/\\]+\.ya?ml$/).max(255), text: z.string() }).strict())
      .max(1000),
  })
  .strict();

/**
 * The task set: `tasks.set` carries each load of tasks_dir that became the fleet's set (a
 * reload, or a start with files that changed since the last load) as the files' texts and
 * their hash. Texts travel as written: `${env:NAME}` references are resolved by each
 * controller from its own environment, so a secret kept in the environment never travels. The
 * other controller validates them with the same tasks schema (its playbooks and receivers); a
 * set that does not validate there is skipped and counted like any invalid record. Returns the
 * unsubscribe.
 */
export function replicateTaskSet(log: ControlLog, automation: Automation, logger: Logger): () => void {
  onRecord(log, 'tasks.set', setBody, (b) => automation.applyTaskSet(b));
  // A set over the control log's record size is refused there and logged (the other keeps its set).
  const send = publisher(log, logger);
  return automation.onTaskSet((rec) => send('tasks.set', rec));
}
