import { isAbsolute } from 'node:path';
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import type { BackupNowResponse, BackupRestoreResponse, BackupVerifyResponse } from '../shared/gen/opsfleet/v1/agent.js';
import { BACKUP_DEADLINES_MS } from '../shared/backup/action-deadlines.js';
import type { BackupSetView, BackupSnapshotView } from '../controller/api/wire.js';
import { ControllerClient } from './client.js';
import { ago, bytes, print, table } from './format.js';

function query(o: { host?: string; set?: string; all?: boolean }): string {
  const q = new URLSearchParams();
  if (o.host) q.set('host', o.host);
  if (o.set) q.set('set', o.set);
  if (o.all) q.set('all', 'true');
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** `opsctl backup …`: the controller's backup catalog. */
export function registerBackupCommands(program: Command, client: (cmd: Command) => ControllerClient): void {
  const backup = program.command('backup').description('backup snapshots reported by agents; snapshot, verify and restore on an agent');
  backup
    .command('list')
    .description('list snapshots, oldest first per host and set')
    .option('--host <id>', 'only this host')
    .option('--set <name>', 'only this backup set')
    .option('--all', 'include snapshots removed by retention')
    .option('--json', 'print { snapshots, sets } (sets: each set\'s status, e.g. a failing one with no snapshot yet)')
    .action(async (opts: { host?: string; set?: string; all?: boolean; json?: boolean }, cmd: Command) => {
      const c = client(cmd);
      const snaps = await c.get<BackupSnapshotView[]>(`api/v1/backups${query(opts)}`);
      const sets = await c.get<BackupSetView[]>(`api/v1/backups/sets${query(opts)}`);
      // The same content as the table: a failing set with no snapshot printed [] before.
      if (opts.json) return print(JSON.stringify({ snapshots: snaps, sets }, null, 2));
      if (snaps.length === 0 && sets.length === 0) return print('no backups have been reported yet');
      const t = table(['HOST', 'SET', 'SNAPSHOT', 'TYPE', 'TAKEN', 'FILES', 'SIZE', 'ARCHIVE', 'TOOK']);
      for (const s of snaps) {
        t.push([s.host, s.set, s.id + (s.pruned ? ' (pruned)' : ''), s.type, ago(s.time), s.files, bytes(s.bytes), bytes(s.archiveBytes), `${(s.durationMs / 1000).toFixed(1)}s`]);
      }
      print(t.toString());
      for (const s of sets.filter((x) => x.status === 'failed')) print(`FAILING ${s.host}/${s.set}: ${s.lastError} (since ${s.lastEvent})`);
    });
  registerBackupActions(backup, client);
}

function actor(): string {
  return process.env.OPSFLEET_ACTOR ?? process.env.SUDO_USER ?? process.env.USER ?? userInfo().username;
}

/** The agent's action can take long: the HTTP wait is bounded by the controller's gRPC deadline (plus a margin), not 15 s. */
function longClient(c: ControllerClient, ms: number): ControllerClient {
  return new ControllerClient(c.baseUrl, ms + 60_000);
}

function actionPath(host: string, set: string, what: string): string {
  return `api/v1/hosts/${encodeURIComponent(host)}/backups/${encodeURIComponent(set)}/${what}`;
}

/** An ISO time ("2026-11-27T14:05:00Z", a date) or epoch milliseconds, as `opsfleet-agent restore --at`. */
function parseAt(text: string): number {
  const n = /^\d{12,}$/.test(text) ? Number(text) : Date.parse(text);
  return Number.isFinite(n) ? n : NaN;
}

/**
 * `opsctl backup now|verify|restore --host H --set NAME`: the controller asks the agent over
 * gRPC; the agent runs the same snapshot, verify and restore code as its own CLI. Refusals and
 * failures print one line and exit 1; usage errors exit 2.
 */
function registerBackupActions(backup: Command, client: (cmd: Command) => ControllerClient): void {
  backup
    .command('now')
    .description('take a snapshot of a backup set on an agent now')
    .requiredOption('--host <id>', 'host id')
    .requiredOption('--set <name>', 'backup set name')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { host: string; set: string; json?: boolean }, cmd: Command) => {
      const c = longClient(client(cmd), BACKUP_DEADLINES_MS.now);
      const r = await c.send<BackupNowResponse & { host: string; set: string }>('POST', actionPath(opts.host, opts.set, 'now'), { actor: actor() });
      if (opts.json) return print(JSON.stringify(r, null, 2));
      if (!r.taken) return print(`${opts.host}/${opts.set}: nothing changed since ${r.lastId ? `snapshot ${r.lastId}` : 'the last snapshot'}; no snapshot taken`);
      print(`${opts.host}/${opts.set}: snapshot ${r.id} (${r.type}${r.parent ? `, parent ${r.parent}` : ''}): ${r.files} files, ${bytes(r.bytes)}, archive ${bytes(r.archiveBytes)}, took ${(r.durationMs / 1000).toFixed(1)}s`);
    });

  backup
    .command('verify')
    .description("check every snapshot of a set on its target, from the agent: manifests, chains, archives (--read-data: every checksum)")
    .requiredOption('--host <id>', 'host id')
    .requiredOption('--set <name>', 'backup set name')
    .option('--read-data', 'download every archive and check its sha256 and every file sha256')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { host: string; set: string; readData?: boolean; json?: boolean }, cmd: Command) => {
      const c = longClient(client(cmd), BACKUP_DEADLINES_MS.verify);
      const r = await c.send<BackupVerifyResponse & { host: string; set: string }>('POST', actionPath(opts.host, opts.set, 'verify'), { actor: actor(), read_data: opts.readData === true });
      if (opts.json) print(JSON.stringify(r, null, 2));
      else {
        for (const p of r.problems) print(`PROBLEM ${p.snapshot}: ${p.problem}`);
        print(`${opts.host}/${opts.set} on ${r.where}: ${r.snapshots} snapshots, ${r.archivesRead} archives read, ${r.filesChecked} files checked: ${r.problems.length === 0 ? 'ok' : `${r.problems.length} problem(s)`}`);
      }
      if (r.problems.length > 0) process.exitCode = 1;
    });

  backup
    .command('restore')
    .description("restore a snapshot into a folder on the agent's own host (checksums verified, escaping paths refused)")
    .requiredOption('--host <id>', 'host id')
    .requiredOption('--set <name>', 'backup set name')
    .requiredOption('--to <dir>', "absolute folder on the agent's host (paths keep their absolute layout under it)")
    .option('--snapshot <id>', 'snapshot id (default: the newest)')
    .option('--at <time>', 'the newest snapshot taken at or before this time (ISO 8601)')
    .option('--path <subpath>', 'restore only this path and what is under it')
    .option('--overwrite <policy>', 'a file or link already at its place: never (keep it), older (replace it when older), always', 'never')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { host: string; set: string; to: string; snapshot?: string; at?: string; path?: string; overwrite: string; json?: boolean }, cmd: Command) => {
      if (!['never', 'older', 'always'].includes(opts.overwrite)) cmd.error(`--overwrite must be one of never, older, always, got "${opts.overwrite}"`, { exitCode: 2, code: 'opsctl.usage' });
      if (!isAbsolute(opts.to)) cmd.error(`--to must be an absolute folder on the agent's host, got "${opts.to}"`, { exitCode: 2, code: 'opsctl.usage' });
      if (opts.snapshot && opts.at) cmd.error('give --snapshot or --at, not both', { exitCode: 2, code: 'opsctl.usage' });
      const atMs = opts.at ? parseAt(opts.at) : undefined;
      if (atMs !== undefined && !Number.isFinite(atMs)) cmd.error(`--at: expected a time like 2026-11-27T14:05:00Z, got "${opts.at}"`, { exitCode: 2, code: 'opsctl.usage' });
      const c = longClient(client(cmd), BACKUP_DEADLINES_MS.restore);
      const r = await c.send<BackupRestoreResponse & { host: string; set: string }>('POST', actionPath(opts.host, opts.set, 'restore'), {
        actor: actor(),
        to: opts.to,
        ...(opts.snapshot ? { snapshot: opts.snapshot } : {}),
        ...(atMs !== undefined ? { at_ms: atMs } : {}),
        ...(opts.path ? { path: opts.path } : {}),
        overwrite: opts.overwrite,
      });
      // Partly restored: say what was not, and fail; what the policy kept is said, not failed.
      if (r.failed > 0) process.exitCode = 1;
      if (opts.json) return print(JSON.stringify(r, null, 2));
      print(
        `${opts.host}/${opts.set}: restored snapshot ${r.snapshot} (${r.time}): ${r.files} files, ${r.dirs} folders, ${r.symlinks} symlinks, ${r.hardlinks} hard links, ${bytes(r.bytes)} into ${r.to} on ${opts.host}; checksums verified; ` +
          `overwrite ${r.overwrite || 'never'}: ${r.overwritten} replaced, ${r.kept} existing kept; ${r.failed} not restored`,
      );
      for (const p of r.keptPaths.slice(0, 50)) print(`KEPT ${JSON.stringify(p)}: exists (--overwrite ${r.overwrite || 'never'})`);
      if (r.kept > 50) print(`KEPT … and ${r.kept - 50} more`);
      for (const f of r.failures.slice(0, 50)) process.stderr.write(`NOT RESTORED ${f.path ? JSON.stringify(f.path) : '(archive)'}: ${f.code} ${f.reason}\n`);
      if (r.failed > 50) process.stderr.write(`NOT RESTORED … and ${r.failed - 50} more\n`);
    });
}
