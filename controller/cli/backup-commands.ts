import Table from 'cli-table3';
import type { Command } from 'commander';
import type { BackupSetView, BackupSnapshotView } from '../backups/catalogue.js';
import type { ControllerClient } from './client.js';
import { ago, bytes } from './format.js';

function print(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

function query(o: { host?: string; set?: string; all?: boolean }): string {
  const q = new URLSearchParams();
  if (o.host) q.set('host', o.host);
  if (o.set) q.set('set', o.set);
  if (o.all) q.set('all', 'true');
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** `opsctl backup …`: the controller's backup catalogue. */
export function registerBackupCommands(program: Command, client: (cmd: Command) => ControllerClient): void {
  const backup = program.command('backup').description('backup snapshots reported by agents (restore: opsfleet-agent restore)');
  backup
    .command('list')
    .description('list snapshots, oldest first per host and set')
    .option('--host <id>', 'only this host')
    .option('--set <name>', 'only this backup set')
    .option('--all', 'include snapshots removed by retention')
    .option('--json', 'print a JSON array')
    .action(async (opts: { host?: string; set?: string; all?: boolean; json?: boolean }, cmd: Command) => {
      const c = client(cmd);
      const snaps = await c.get<BackupSnapshotView[]>(`api/v1/backups${query(opts)}`);
      if (opts.json) return print(JSON.stringify(snaps, null, 2));
      const sets = await c.get<BackupSetView[]>(`api/v1/backups/sets${query(opts)}`);
      if (snaps.length === 0 && sets.length === 0) return print('no backups have been reported yet');
      const t = new Table({ head: ['HOST', 'SET', 'SNAPSHOT', 'TYPE', 'TAKEN', 'FILES', 'SIZE', 'ARCHIVE', 'TOOK'], style: { head: [], border: [] } });
      for (const s of snaps) {
        t.push([s.host, s.set, s.id + (s.pruned ? ' (pruned)' : ''), s.type, ago(s.time), s.files, bytes(s.bytes), bytes(s.archiveBytes), `${(s.durationMs / 1000).toFixed(1)}s`]);
      }
      print(t.toString());
      for (const s of sets.filter((x) => x.status === 'failed')) print(`FAILING ${s.host}/${s.set}: ${s.lastError} (since ${s.lastEvent})`);
    });
}
