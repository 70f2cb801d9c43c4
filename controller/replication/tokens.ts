import { z } from 'zod';
import type { Logger } from '../../shared/logger.js';
import type { TokenStore } from '../auth/token-store.js';
import type { ControlLog } from '../ha/control-log.js';
import { onRecord, publisher } from './common.js';

const ms = z.number().int().nonnegative();
const createBody = z
  .object({
    id: z.string().min(1).max(100),
    name: z.string().min(1).max(64),
    role: z.string(),
    hash: z.string().min(1).max(200),
    playbooks: z.string().max(100_000).nullable(),
    target: z.string().max(10_000).nullable(),
    created_by: z.string().max(200),
    created_ms: ms,
    expires_ms: ms.nullable(),
  })
  .strict();
const revokeBody = z.object({ id: z.string().min(1).max(100), name: z.string().max(64), revoked_ms: ms }).strict();

/**
 * API tokens: creates and revocations travel as `token.create` (the SHA-256 of the secret,
 * never the secret) and `token.revoke`. `last_used` does not travel (informational, per
 * controller); the bootstrap token is made before this is wired, so each controller keeps its
 * own. Returns the unsubscribe.
 */
export function replicateTokens(log: ControlLog, tokens: TokenStore, logger: Logger): () => void {
  onRecord(log, 'token.create', createBody, (b) => tokens.applyCreate(b));
  onRecord(log, 'token.revoke', revokeBody, (b) => tokens.applyRevoke(b.id, b.revoked_ms));
  const send = publisher(log, logger);
  return tokens.onChange((c) => {
    if (c.op === 'create') send('token.create', c.token);
    else send('token.revoke', { id: c.id, name: c.name, revoked_ms: c.revokedMs });
  });
}
