import { z } from 'zod';
import type { Logger } from '../../shared/logger.js';
import type { RemediationStore } from '../automation/remediation-store.js';
import type { ControlLog } from '../ha/control-log.js';
import { onRecord, publisher } from './common.js';

const pauseBody = z.object({ scope: z.string().min(1).max(200), paused: z.boolean() }).strict();

/**
 * Self-heal pause switches (`opsctl policies pause/resume`): `policy.pause`, so policies an
 * operator paused stay paused when the standby takes over. Policies and tasks themselves are
 * YAML files in tasks_dir, the same on both controllers, and do not travel. Returns the unsubscribe.
 */
export function replicatePolicyPauses(log: ControlLog, store: RemediationStore, logger: Logger): () => void {
  onRecord(log, 'policy.pause', pauseBody, (b) => store.applyPaused(b.scope, b.paused));
  const send = publisher(log, logger);
  return store.onPauseChange((c) => send('policy.pause', c));
}
