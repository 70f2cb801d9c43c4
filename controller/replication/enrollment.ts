import { z } from 'zod';
import type { Logger } from '../../shared/logger.js';
import type { Enrollment } from '../pki/enrollment.js';
import type { ControlLog } from '../ha/control-log.js';
import { onRecord, publisher } from './common.js';

const ms = z.number().int().nonnegative();
const text = (max: number) => z.string().max(max);
const identityBody = z
  .object({
    host_id: text(63),
    state: z.enum(['pending', 'enrolled', 'removed']),
    key_fp: text(200),
    public_key: text(20_000),
    nats_key: text(200).nullable(),
    tags: text(100_000),
    token_name: text(200),
    version: text(200),
    requested_ms: ms,
    enrolled_ms: ms.nullable(),
    accepted_by: text(200).nullable(),
    cert_serial: text(200).nullable(),
    not_before_ms: ms.nullable(),
    not_after_ms: ms.nullable(),
    renewed_ms: ms.nullable(),
    removed_ms: ms.nullable(),
    removed_by: text(200).nullable(),
  })
  .strict();
const enrollTokenBody = z
  .object({
    id: text(100),
    name: text(64),
    hash: text(200),
    tags: text(100_000),
    approve: z.enum(['auto', 'manual']),
    max_uses: z.number().int().positive(),
    uses: z.number().int().nonnegative(),
    created_by: text(200),
    created_ms: ms,
    expires_ms: ms,
    revoked_ms: ms.nullable(),
    last_used_ms: ms.nullable(),
  })
  .strict();

/**
 * Enrollment: `identity` carries a host's whole row after every change (enrolled, pending,
 * accepted, certificate issued or renewed, removed), so the standby knows which hosts are
 * enrolled, renews their certificates and rejects removed hosts' events; `enroll-token` carries
 * an enrollment token's row (the hash, never the secret) when it is made, used or revoked.
 * Returns the unsubscribe.
 */
export function replicateEnrollment(log: ControlLog, enrollment: Enrollment, logger: Logger): () => void {
  onRecord(log, 'identity', identityBody, (b) => enrollment.applyRow(b));
  onRecord(log, 'enroll-token', enrollTokenBody, (b) => enrollment.tokens.applyRow(b));
  const send = publisher(log, logger);
  const offIdentity = enrollment.onChange((row) => send('identity', row));
  const offTokens = enrollment.tokens.onChange((row) => send('enroll-token', row));
  return () => {
    offIdentity();
    offTokens();
  };
}
