import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { backupSetSchema, type BackupSetConfig } from '../../shared/config/backup.js';

/** Runs a command, returns stdout; throws with stderr on a non-zero exit. */
export function sh(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `diff -r` of two trees ('' when equal, the diff otherwise); symlinks compared as links. */
export function diffTrees(a: string, b: string): string {
  try {
    execFileSync('diff', ['-r', '--no-dereference', a, b], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return '';
  } catch (err) {
    return `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}` || String(err);
  }
}

export function write(root: string, rel: string, content: string | Buffer): void {
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, content);
}

/** A fully defaulted set config as the agent would compile it. */
export function setConfig(raw: Record<string, unknown>): BackupSetConfig {
  return backupSetSchema.parse(raw);
}
