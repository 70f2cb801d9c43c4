import { chmodSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../shared/logger.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { TokenStore } from './token-store.js';

export const BOOTSTRAP_TOKEN_FILE = 'admin.token';

/**
 * First start of a fresh data_dir (no token was ever created): an admin token named "admin" is
 * written to `<data_dir>/admin.token`, mode 0600, and its path is logged (as Jenkins and
 * Grafana do). Later starts never write it again, also after it is revoked; the file is the
 * operator's to delete once they have made their own tokens. Returns the file, or undefined.
 */
export function ensureBootstrapToken(tokens: TokenStore, audit: AuditLog, dataDir: string, log: Logger): string | undefined {
  if (!tokens.isEmpty()) return undefined;
  const file = join(dataDir, BOOTSTRAP_TOKEN_FILE);
  const { secret } = tokens.create({ name: 'admin', role: 'admin' }, 'controller');
  // tmp + rename: a crash never leaves a half-written or world-readable secret behind.
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${secret}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  audit.append('controller', 'token.bootstrap', 'admin', { role: 'admin', file });
  log.warn({ file, next: `opsctl login --controller URL --token-file ${file}` }, 'bootstrap admin token written');
  return file;
}
