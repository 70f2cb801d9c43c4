import type { Command } from 'commander';
import { agentConfigSchema } from '../../shared/config/agent.js';
import { loadConfigFile } from '../../shared/config/load.js';
import { errorLine, OpsError, printConfigError } from '../../shared/errors.js';
import { listSnapshots } from './catalog.js';
import { OVERWRITE_POLICIES, restoreSnapshot, type OverwritePolicy } from './restore.js';
import { reportLines } from './restore-report.js';
import { createTarget } from '../../shared/backup/targets/index.js';
import { verifySet } from './verify.js';
import { summarize } from './types.js';

interface RestoreOpts {
  config?: string;
  set?: string;
  host?: string;
  snapshot?: string;
  at?: string;
  to?: string;
  path?: string;
  list?: boolean;
  json?: boolean;
  overwrite?: string;
}

/** Parses --at: an ISO time ("2026-11-27T14:05:00Z", a date, or epoch milliseconds). */
export function parseAt(text: string): number {
  const n = /^\d{12,}$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(n)) throw new OpsError('OPS_ERR_USAGE', `--at: expected a time like 2026-11-27T14:05:00Z, got "${text}"`);
  return n;
}

/**
 * `opsfleet-agent restore`: works from the agent config alone (the target settings of the
 * set), with no controller and no running agent, so it also restores onto a new host.
 */
export function registerRestoreCommand(program: Command, done: (code: Promise<number>) => void, defaultConfig: string): void {
  program
    .command('restore')
    .description('list or restore snapshots of a backup set straight from its target (no controller needed)')
    .requiredOption('--set <name>', 'backup set name')
    .option('--host <id>', "restore another host's backups (default: this config's host id)")
    .option('--snapshot <id>', 'snapshot id (default: the newest)')
    .option('--at <time>', 'the newest snapshot taken at or before this time (ISO 8601)')
    .option('--to <dir>', 'folder to restore into (paths keep their absolute layout under it)')
    .option('--path <subpath>', 'restore only this path and what is under it')
    .option('--overwrite <policy>', 'a file or link already at its place: never (keep it), older (replace it when older), always', 'never')
    .option('--list', 'list the snapshots instead of restoring')
    .option('--json', 'with --list: print a JSON array, oldest first; when restoring: the report as JSON')
    .action((_opts: RestoreOpts, cmd: Command) => {
      // --config is the program's own option (commander hands it to the parent wherever it is written).
      const o = cmd.optsWithGlobals<RestoreOpts>();
      done(runRestore({ ...o, config: o.config ?? defaultConfig }));
    });
  program
    .command('verify')
    .description('check every snapshot of a backup set on its target: manifests, chains, archives (--read-data: every checksum)')
    .requiredOption('--set <name>', 'backup set name')
    .option('--host <id>', "verify another host's backups (default: this config's host id)")
    .option('--read-data', 'download every archive and check its sha256 and every file sha256')
    .option('--json', 'print the result as JSON')
    .action((_opts: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<{ config?: string; set: string; host?: string; readData?: boolean; json?: boolean }>();
      done(runVerify({ ...o, config: o.config ?? defaultConfig }));
    });
}

async function runVerify(o: { config: string; set: string; host?: string; readData?: boolean; json?: boolean }): Promise<number> {
  let cfg;
  try {
    cfg = loadConfigFile(o.config, agentConfigSchema);
  } catch (err) {
    printConfigError(err);
    return 2;
  }
  const set = cfg.backups.find((s) => s.name === o.set);
  if (!set) {
    process.stderr.write(`verify: no backup set "${o.set}" in ${o.config}\n`);
    return 2;
  }
  const target = await createTarget(set.target, { host: o.host ?? cfg.host.id, set: set.name });
  try {
    const r = await verifySet(target, { readData: o.readData });
    if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else {
      for (const p of r.problems) process.stdout.write(`PROBLEM ${p.snapshot}: ${p.problem}\n`);
      process.stdout.write(`${r.snapshots} snapshots, ${r.archivesRead} archives read, ${r.filesChecked} files checked: ${r.problems.length === 0 ? 'ok' : `${r.problems.length} problem(s)`}\n`);
    }
    return r.problems.length === 0 ? 0 : 1;
  } catch (err) {
    process.stderr.write(`verify: ${errorLine(err)}\n`);
    return 1;
  } finally {
    await target.close();
  }
}

async function runRestore(o: RestoreOpts): Promise<number> {
  let cfg;
  try {
    cfg = loadConfigFile(o.config!, agentConfigSchema);
  } catch (err) {
    printConfigError(err);
    return 2;
  }
  const set = cfg.backups.find((s) => s.name === o.set);
  if (!set) {
    process.stderr.write(`restore: no backup set "${o.set}" in ${o.config!} (sets: ${cfg.backups.map((s) => s.name).join(', ') || 'none'})\n`);
    return 2;
  }
  if (!o.list && !o.to) {
    process.stderr.write('restore: give --to DIR to restore, or --list to list snapshots\n');
    return 2;
  }
  if (o.snapshot && o.at) {
    process.stderr.write('restore: give --snapshot or --at, not both\n');
    return 2;
  }
  const overwrite = (o.overwrite ?? 'never') as OverwritePolicy;
  if (!OVERWRITE_POLICIES.includes(overwrite)) {
    process.stderr.write(`restore: --overwrite must be one of ${OVERWRITE_POLICIES.join(', ')}, got "${o.overwrite}"\n`);
    return 2;
  }
  const target = await createTarget(set.target, { host: o.host ?? cfg.host.id, set: set.name });
  try {
    if (o.list) {
      const all = (await listSnapshots(target)).map(summarize);
      if (o.json) process.stdout.write(`${JSON.stringify(all, null, 2)}\n`);
      else if (all.length === 0) process.stdout.write(`no snapshots on ${target.where}\n`);
      else for (const s of all) process.stdout.write(`${s.id}  ${s.time}  ${s.type.padEnd(11)}  ${String(s.files).padStart(7)} files  ${String(s.bytes).padStart(12)} bytes\n`);
      return 0;
    }
    const atMs = o.at ? parseAt(o.at) : undefined;
    const r = await restoreSnapshot(target, { snapshot: o.snapshot, atMs, to: o.to!, path: o.path, overwrite });
    if (o.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else {
      const lines = reportLines(r);
      for (const l of lines.out) process.stdout.write(`${l}\n`);
      for (const l of lines.err) process.stderr.write(`${l}\n`);
    }
    // Partly restored is a failure the operator must look at; what was kept by policy is not.
    return r.failed > 0 ? 1 : 0;
  } catch (err) {
    process.stderr.write(`restore: ${errorLine(err)}\n`);
    return err instanceof OpsError && err.code === 'OPS_ERR_USAGE' ? 2 : 1;
  } finally {
    await target.close();
  }
}
