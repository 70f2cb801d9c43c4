import { z } from 'zod';
import type { Logger } from '../../shared/logger.js';
import type { PolicyTrackStore } from '../automation/policy-tracks.js';
import type { ControlLog } from '../ha/control-log.js';
import { onRecord, publisher } from './common.js';

const ms = z.number().int().nonnegative();
const name = z.string().min(1).max(200);
const putBody = z
  .object({
    policy: name,
    fingerprint: name,
    host: z.string().max(200),
    phase: z.enum(['idle', 'dispatching', 'verifying', 'done']),
    attempts: z.number().int().min(0).max(1000),
    verify_until_ms: ms,
    cooldown_until_ms: ms,
    escalated: z.boolean(),
    origin: z.string().max(128),
    updated_ms: ms,
  })
  .strict();
const deleteBody = z.object({ policy: name, fingerprint: name, updated_ms: ms }).strict();

/**
 * The self-heal flap guard: `policy.track` carries a track's row after every decision (attempt
 * dispatched, verified, failed, escalated, succeeded), `policy.track.end` its end. Applied in
 * stream order (only the leader decides), so a new leader continues the attempt count, the
 * cooldown and the escalation instead of starting at zero. Times are the deciding controller's
 * clock (the two must agree within a minute anyway, docs/scaling.md). Returns the unsubscribe.
 */
export function replicatePolicyTracks(log: ControlLog, tracks: PolicyTrackStore, logger: Logger): () => void {
  onRecord(log, 'policy.track', putBody, (b) => {
    tracks.applyPut(b);
  });
  onRecord(log, 'policy.track.end', deleteBody, (b) => {
    tracks.applyDelete(b.policy, b.fingerprint);
  });
  const send = publisher(log, logger);
  return tracks.onChange((c) => {
    if (c.op === 'put') send('policy.track', c.row);
    else send('policy.track.end', { policy: c.policy, fingerprint: c.fingerprint, updated_ms: c.updated_ms });
  });
}
