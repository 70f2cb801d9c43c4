import { z } from 'zod';
import { duration } from '../duration.js';

/**
 * Schema of the agent's `backups:` section (agent/backup). One entry per backup set; the
 * target is chosen by `type` (one schema per target type, matching one file per target in
 * agent/backup/targets/). Every object is `.strict()`: a typo is an error with its line:col.
 */

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'backup set name: letters, digits, "_", "-", "." (at most 63 characters)');

/** `{host}` and `{name}` are replaced by the host id and the set name. */
const prefix = z
  .string()
  .prefault('{host}/{name}')
  .refine((p) => !p.split('/').includes('..'), 'prefix must not contain ".."');

const s3Target = z
  .object({
    type: z.literal('s3'),
    /** Any S3-compatible endpoint (MinIO, s3rver); omit for AWS. */
    endpoint: z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).optional(),
    bucket: z.string().min(3, 'bucket name: at least 3 characters').max(63),
    prefix,
    region: z.string().min(1).prefault('us-east-1'),
    force_path_style: z.boolean().prefault(false),
    access_key_id: z.string().min(1).optional(),
    secret_access_key: z.string().min(1).optional(),
    /** Archives larger than this go up in parts of this size (lib-storage multipart). */
    part_size_mb: z.number().int().min(5).max(5000).prefault(8),
  })
  .strict()
  .superRefine((t, ctx) => {
    if ((t.access_key_id === undefined) !== (t.secret_access_key === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['access_key_id'], message: 'access_key_id and secret_access_key go together' });
    }
  });

const sftpTarget = z
  .object({
    type: z.literal('sftp'),
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).prefault(22),
    username: z.string().min(1),
    private_key_path: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    /** Remote base folder; the set's files go under `path/prefix`. */
    path: z.string().min(1),
    prefix,
    /** Expected host key SHA256 fingerprint (base64, as ssh-keygen -l prints after "SHA256:"); unset: not checked. */
    host_fingerprint: z.string().min(1).optional(),
    timeout: duration({ min: 100 }).prefault('20s'),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (!t.private_key_path && !t.password) ctx.addIssue({ code: 'custom', path: ['private_key_path'], message: 'sftp needs private_key_path or password' });
  });

const dirTarget = z
  .object({
    type: z.literal('dir'),
    /** A mounted folder (NFS, USB disk); the set's files go under `path/prefix`. */
    path: z.string().min(1),
    prefix,
  })
  .strict();

const targetSchema = z.discriminatedUnion('type', [s3Target, sftpTarget, dirTarget], {
  error: (iss) => (iss.code === 'invalid_union' ? 'target type must be one of s3, sftp, dir' : undefined),
});
export type BackupTargetConfig = z.output<typeof targetSchema>;
/** The same targets for the controller's own scheduled backups (shared/config/controller.ts). */
export const backupTargetSchema = targetSchema;
export type S3TargetConfig = z.output<typeof s3Target>;
export type SftpTargetConfig = z.output<typeof sftpTarget>;
export type DirTargetConfig = z.output<typeof dirTarget>;

const retentionSchema = z
  .object({
    keep_last: z.number().int().min(1).prefault(20),
    keep_daily: z.number().int().min(0).prefault(7),
    keep_weekly: z.number().int().min(0).prefault(4),
    keep_monthly: z.number().int().min(0).prefault(6),
  })
  .strict();
export type RetentionConfig = z.output<typeof retentionSchema>;

const retrySchema = z
  .object({
    attempts: z.number().int().min(1).max(100).prefault(8),
    initial: duration({ min: 1 }).prefault('1s'),
    max: duration({ min: 1 }).prefault('2m'),
  })
  .strict();

const verifySchema = z
  .object({
    /** The agent checks the set's snapshots on the target this often (manifests, chains, archives present); "0s": never. */
    interval: duration().prefault('24h'),
    /** Also download every archive and check every checksum (costs a full read of the target each time). */
    read_data: z.boolean().prefault(false),
  })
  .strict();

export const backupSetSchema = z
  .object({
    name,
    paths: z.array(z.string().regex(/^\//, 'watched paths must be absolute')).min(1, 'at least one path is required'),
    exclude: z.array(z.string().min(1)).prefault([]),
    /** Quiet period after the last change before a snapshot is taken. */
    debounce: duration({ min: 10 }).prefault('10s'),
    /** A continuous stream of changes still snapshots at least this often. */
    max_delay: duration({ min: 10 }).prefault('5m'),
    /** A new full snapshot when the last full is older than this… */
    full_every: duration({ min: 1000 }).prefault('24h'),
    /** …or after this many incrementals. */
    full_after: z.number().int().min(1).prefault(50),
    /** Full walk comparing the tree with the index: catches what the watcher missed. */
    rescan_interval: duration({ min: 100 }).prefault('1h'),
    compression: z.object({ level: z.number().int().min(0).max(9).prefault(6) }).strict().prefault({}),
    /** auto = @parcel/watcher (one inotify watch per folder), chokidar as fallback. */
    watcher: z.enum(['auto', 'parcel', 'chokidar']).prefault('auto'),
    target: targetSchema,
    retention: retentionSchema.prefault({}),
    retry: retrySchema.prefault({}),
    verify: verifySchema.prefault({}),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.max_delay < s.debounce) ctx.addIssue({ code: 'custom', path: ['max_delay'], message: 'max_delay must be at least debounce' });
  });
export type BackupSetConfig = z.output<typeof backupSetSchema>;

export const backupsSchema = z
  .array(backupSetSchema)
  .prefault([])
  .superRefine((sets, ctx) => {
    const seen = new Set<string>();
    sets.forEach((s, i) => {
      if (seen.has(s.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate backup set name "${s.name}"` });
      seen.add(s.name);
    });
  });
