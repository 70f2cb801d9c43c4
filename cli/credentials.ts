import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { OpsError } from '../shared/errors.js';
import { controllerUrl } from './terminal.js';

/** What `opsctl login` keeps per controller URL. */
export interface ControllerCredentials {
  token: string;
  /** Absolute path of the CA file that verifies this controller's HTTPS certificate. */
  ca?: string;
}

export interface CredentialsFile {
  /** The controller used when neither --controller nor OPSFLEET_CONTROLLER says. */
  current?: string;
  controllers: Record<string, ControllerCredentials>;
}

/** `$XDG_CONFIG_HOME/opsfleet/credentials`, else `~/.config/opsfleet/credentials`. */
export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'opsfleet', 'credentials');
}

/** "127.0.0.1:8080" → "http://127.0.0.1:8080"; no trailing slash, so one controller has one key. */
export function normalizeControllerUrl(u: string, from = '--controller'): string {
  return controllerUrl(u, from);
}

export function readCredentials(file = credentialsPath()): CredentialsFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { controllers: {} };
    throw new OpsError('OPS_ERR_CREDENTIALS', `cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    const v = JSON.parse(text) as CredentialsFile;
    if (typeof v !== 'object' || v === null || typeof v.controllers !== 'object' || v.controllers === null) throw new Error('expected {"controllers": {...}}');
    return v;
  } catch (err) {
    throw new OpsError('OPS_ERR_CREDENTIALS', `${file} is not an opsctl credentials file (${(err as Error).message}); fix or delete it and run opsctl login again`);
  }
}

/** Writes the file 0600 in a 0700 folder, via tmp + rename so a crash never leaves half a file. */
export function writeCredentials(c: CredentialsFile, file = credentialsPath()): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(c, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

export interface ResolvedTarget {
  url: string;
  token?: string;
  ca?: string;
}

/**
 * Which controller and credentials a command uses: flags, then environment
 * (OPSFLEET_CONTROLLER, OPSFLEET_TOKEN, OPSFLEET_CA), then the credentials file, then
 * http://127.0.0.1:8080 without a token.
 */
export function resolveTarget(flags: { controller?: string; token?: string; ca?: string }, env: NodeJS.ProcessEnv = process.env): ResolvedTarget {
  const creds = readCredentials(credentialsPath(env));
  // `||`: an empty variable (OPSFLEET_TOKEN= in a script) counts as unset.
  const url = flags.controller
    ? normalizeControllerUrl(flags.controller, '--controller')
    : env.OPSFLEET_CONTROLLER
      ? normalizeControllerUrl(env.OPSFLEET_CONTROLLER, 'OPSFLEET_CONTROLLER')
      : normalizeControllerUrl(creds.current || 'http://127.0.0.1:8080', credentialsPath(env));
  const saved = creds.controllers[url];
  const token = flags.token || env.OPSFLEET_TOKEN || saved?.token;
  const ca = flags.ca || env.OPSFLEET_CA || saved?.ca;
  return { url, ...(token ? { token } : {}), ...(ca ? { ca: resolve(ca) } : {}) };
}
