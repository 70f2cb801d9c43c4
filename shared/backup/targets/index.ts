import type { BackupTargetConfig } from '../../config/backup.js';
import type { BackupTarget } from '../target.js';

type Ctx = { host: string; set: string };

/**
 * One factory per target type; the config schema's `type` values are exactly these keys.
 * Loaded on demand: the AWS SDK and ssh2 cost tens of MB of RSS an agent without S3 or SFTP
 * sets should not pay.
 */
const TARGETS: { [K in BackupTargetConfig['type']]: (cfg: Extract<BackupTargetConfig, { type: K }>, ctx: Ctx) => Promise<BackupTarget> } = {
  dir: async (cfg, ctx) => new (await import('./dir.js')).DirTarget(cfg, ctx),
  s3: async (cfg, ctx) => new (await import('./s3.js')).S3Target(cfg, ctx),
  sftp: async (cfg, ctx) => new (await import('./sftp.js')).SftpTarget(cfg, ctx),
};

export async function createTarget(cfg: BackupTargetConfig, ctx: Ctx): Promise<BackupTarget> {
  const make = TARGETS[cfg.type] as (c: BackupTargetConfig, x: Ctx) => Promise<BackupTarget>;
  return make(cfg, ctx);
}
