import { z } from 'zod';
import type { Logger } from '../../shared/logger.js';
import type { Automation } from '../automation/automation.js';
import type { ControlLog } from '../ha/control-log.js';
import { bodyOf, publisher } from './common.js';

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
/** Under NATS's default 1 MB max_payload (JSON escaping included); a tasks_dir is a few KB. */
export const MAX_TASK_SET_BYTES = 768 * 1024;

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
  log.on('tasks.set', (r) => automation.applyTaskSet(bodyOf(setBody, r)));
  const send = publisher(log, logger);
  return automation.onTaskSet((rec) => {
    const bytes = rec.files.reduce((n, f) => n + f.name.length + f.text.length, 0);
    if (bytes > MAX_TASK_SET_BYTES) {
      logger.error({ hash: rec.hash, bytes, max: MAX_TASK_SET_BYTES }, 'task set too large to replicate; the other controller keeps its set');
      return;
    }
    send('tasks.set', rec);
  });
}
