import type { BackupTargetConfig } from '../../../shared/config/backup.js';
import type { BackupTarget } from '../types.js';
import { DirTarget } from './dir.js';
import { S3Target } from './s3.js';
import { SftpTarget } from './sftp.js';

type Ctx = { host: string; set: string };

/** One factory per target type; the config schema's `type` values are exactly these keys. */
const TARGETS: { [K in BackupTargetConfig['type']]: (cfg: Extract<BackupTargetConfig, { type: K }>, ctx: Ctx) => BackupTarget } = {
  dir: (cfg, ctx) => new DirTarget(cfg, ctx),
  s3: (cfg, ctx) => new S3Target(cfg, ctx),
  sftp: (cfg, ctx) => new SftpTarget(cfg, ctx),
};

export function createTarget(cfg: BackupTargetConfig, ctx: Ctx): BackupTarget {
  const make = TARGETS[cfg.type] as (c: BackupTargetConfig, x: Ctx) => BackupTarget;
  return make(cfg, ctx);
}
