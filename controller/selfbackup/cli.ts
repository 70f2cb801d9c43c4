import type { Command } from 'commander';
import { controllerConfigSchema } from '../../shared/config/controller.js';
import { loadConfigFile } from '../../shared/config/load.js';
import { errorLine, OpsError, printConfigError } from '../../shared/errors.js';
import { backupSources, createBackup } from './create-backup.js';
import { SNAPSHOT_METHODS, type SnapshotMethod } from './manifest.js';
import { restoreBackup, verifyBackup } from './restore-backup.js';

const out = (s: string) => process.stdout.write(`${s}\n`);
const fail = (err: unknown): number => {
  process.stderr.write(`${err instanceof OpsError ? `${err.code}: ` : ''}${errorLine(err)}\n`);
  return err instanceof OpsError && err.code === 'OPS_ERR_USAGE' ? 2 : 1;
};

/** data_dir from --data-dir, else from the config file (which the backup then carries). */
function dataDirOf(o: { dataDir?: string; config: string }): { dataDir: string; configFile?: string } | number {
  if (o.dataDir) return backupSources({ dataDir: o.dataDir, configFile: o.config });
  try {
    return backupSources({ dataDir: loadConfigFile(o.config, controllerConfigSchema).data_dir, configFile: o.config });
  } catch (err) {
    return printConfigError(err);
  }
}

/**
 * `opsfleet-controller backup | restore | verify`: the controller's own data (database, CA,
 * NATS authority, tokens, config) in one archive. Work with the controller running (backup,
 * verify) or stopped (restore), without the API: the machine may be gone.
 */
export function registerSelfBackupCommands(program: Command, done: (code: Promise<number>) => void, defaultConfig: string): void {
  program
    .command('backup')
    .description('write a consistent copy of the running controller (database, data_dir files, config) to one .tar.gz')
    .requiredOption('--to <file>', 'the archive to write')
    .option('--data-dir <dir>', 'data_dir (default: from the config file)')
    .option('--method <m>', `database snapshot: ${SNAPSHOT_METHODS.join(' or ')}`, 'vacuum-into')
    .option('--json', 'print the manifest as JSON')
    .action((_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<{ config?: string; to: string; dataDir?: string; method: string; json?: boolean }>();
      done(
        (async () => {
          if (!(SNAPSHOT_METHODS as readonly string[]).includes(o.method)) return fail(new OpsError('OPS_ERR_USAGE', `--method: expected ${SNAPSHOT_METHODS.join(' or ')}, got "${o.method}"`));
          const where = dataDirOf({ ...o, config: o.config ?? defaultConfig });
          if (typeof where === 'number') return where;
          try {
            const r = await createBackup({ ...where, to: o.to, method: o.method as SnapshotMethod });
            if (o.json) out(JSON.stringify({ file: r.file, bytes: r.bytes, snapshot_ms: Math.round(r.snapshotMs), manifest: r.manifest }, null, 2));
            else {
              out(`backup written: ${r.file} (${r.bytes} bytes, ${r.manifest.files.length} files, schema version ${r.manifest.schema_version}, database snapshot ${Math.round(r.snapshotMs)} ms by ${r.manifest.method})`);
              out(`rows: ${Object.entries(r.manifest.counts).map(([t, n]) => `${t} ${n}`).join(', ')}`);
            }
            return 0;
          } catch (err) {
            return fail(err);
          }
        })(),
      );
    });
  program
    .command('restore <file>')
    .description('restore a controller backup into a data_dir (stop the controller first); refuses a non-empty data_dir without --force')
    .requiredOption('--data-dir <dir>', 'the data_dir to restore into')
    .option('--config-to <file>', 'also write the config file the backup carries here')
    .option('--force', 'restore over a non-empty data_dir (replaces its database and the files the backup holds)')
    .action((file: string, _o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<{ dataDir: string; configTo?: string; force?: boolean }>();
      done(
        (async () => {
          try {
            const r = await restoreBackup({ file, dataDir: o.dataDir, ...(o.force ? { force: true } : {}), ...(o.configTo ? { configTo: o.configTo } : {}) });
            out(`restored ${file} into ${o.dataDir}: ${r.files} files, backup of ${r.manifest.created_at} by opsfleet-controller ${r.manifest.controller_version} (schema version ${r.manifest.schema_version})`);
            out(`rows: ${Object.entries(r.database.counts).map(([t, n]) => `${t} ${n}`).join(', ')}; audit chain ok (${r.database.audit.rows} rows)`);
            if (r.configWritten) out(`config written to ${r.configWritten}`);
            else if (r.manifest.files.some((f) => f.path.startsWith('config/'))) out('the backup also holds the controller config: pass --config-to FILE to write it');
            out('start the controller on this data_dir; it applies newer migrations at start');
            return 0;
          } catch (err) {
            return fail(err);
          }
        })(),
      );
    });
  program
    .command('verify <file>')
    .description('check a controller backup: every entry against its sha-256, the database integrity, row counts and audit chain')
    .option('--json', 'print the report as JSON')
    .action((file: string, _o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<{ json?: boolean }>();
      done(
        (async () => {
          try {
            const r = await verifyBackup(file);
            if (o.json) out(JSON.stringify(r, null, 2));
            else if (r.ok) out(`backup ok: ${r.file}, ${r.manifest!.files.length} files checked, database integrity ok, audit chain ok (${r.database!.audit.rows} rows), row counts match`);
            else for (const p of r.problems) process.stderr.write(`backup DAMAGED: ${p}\n`);
            return r.ok ? 0 : 1;
          } catch (err) {
            return fail(err);
          }
        })(),
      );
    });
}
