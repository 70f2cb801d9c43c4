import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { OpsError } from '../shared/errors.js';
import { ControllerClient } from './client.js';
import { print, table, type ClientOf } from './format.js';
import { credentialsPath, normalizeControllerUrl, readCredentials, resolveTarget, writeCredentials } from './credentials.js';


interface Whoami {
  name: string;
  role: string;
  playbooks: string[] | null;
  target: string | null;
  expiresAt: string | null;
}

interface TokenView {
  name: string;
  role: string;
  playbooks: string[] | null;
  target: string | null;
  createdBy: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  state: string;
}


function readSecret(opts: { token?: string; tokenFile?: string }): string {
  if (opts.token) return opts.token.trim();
  if (opts.tokenFile) {
    try {
      return readFileSync(opts.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new OpsError('OPS_ERR_USAGE', `--token-file ${opts.tokenFile}: ${(err as Error).message}`);
    }
  }
  if (process.env.OPSFLEET_TOKEN) return process.env.OPSFLEET_TOKEN.trim();
  throw new OpsError('OPS_ERR_USAGE', 'give the token with --token-file FILE (e.g. <data_dir>/admin.token), --token or OPSFLEET_TOKEN');
}

/** login / logout / whoami and the admin's `tokens` commands. */
export function registerAuthCommands(program: Command, client: ClientOf): void {
  program
    .command('login')
    .description('check a token against a controller and keep it (and the CA) in the credentials file, 0600')
    .option('--token-file <file>', 'read the token from a file (the bootstrap <data_dir>/admin.token)')
    .addHelpText('after', '\nWith the global --controller URL (required), --token or --token-file, and --ca FILE for https with a private CA.')
    .action(async (opts: { tokenFile?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals<{ token?: string; controller?: string; ca?: string }>();
      if (!g.controller) throw new OpsError('OPS_ERR_USAGE', 'login needs --controller URL');
      const url = normalizeControllerUrl(g.controller);
      const ca = g.ca ? resolve(g.ca) : undefined;
      const token = readSecret({ ...(g.token ? { token: g.token } : {}), ...(opts.tokenFile ? { tokenFile: opts.tokenFile } : {}) });
      const me = await new ControllerClient(url, { token, ...(ca ? { ca } : {}) }).get<Whoami>('api/v1/whoami');
      const creds = readCredentials();
      creds.controllers[url] = { token, ...(ca ? { ca } : {}) };
      creds.current = url;
      writeCredentials(creds);
      print(`logged in to ${url} as ${me.name} (${me.role}); credentials in ${credentialsPath()}`);
    });

  program
    .command('logout')
    .description('forget the credentials kept for a controller')
    .action((_opts: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<{ controller?: string }>();
      const { url } = resolveTarget(g);
      const creds = readCredentials();
      delete creds.controllers[url];
      if (creds.current === url) delete creds.current;
      writeCredentials(creds);
      print(`logged out of ${url}`);
    });

  program
    .command('whoami')
    .description('the token this opsctl uses: name, role, scopes, expiry')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const c = client(cmd);
      const me = await c.get<Whoami>('api/v1/whoami');
      if (opts.json) return print(JSON.stringify(me, null, 2));
      print(`${me.name} (${me.role}) at ${c.baseUrl}`);
      if (me.playbooks) print(`playbooks: ${me.playbooks.join(', ')}`);
      if (me.target) print(`hosts:     ${me.target}`);
      print(`expires:   ${me.expiresAt ?? 'never'}`);
    });

  program
    .command('dashboard')
    .description('print a one-time login URL for the web dashboard (valid 60 s, one use, as this token)')
    .option('--json', 'print {"url", "expiresAt", "ttlSeconds"}')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const c = client(cmd);
      const t = await c.send<{ url: string; expiresAt: string; ttlSeconds: number }>('POST', 'api/v1/dashboard/tickets', {});
      // The controller names itself by the Host header we sent; keep the URL we were given (a proxy's name stays).
      const url = `${c.baseUrl.replace(/\/+$/, '')}${new URL(t.url).pathname}${new URL(t.url).search}`;
      if (opts.json) return print(JSON.stringify({ ...t, url }, null, 2));
      print(`open this URL within ${t.ttlSeconds} s (it works once):`);
      print(url);
    });

  const tokens = program.command('tokens').description('API tokens (admin)');
  tokens
    .command('create')
    .description('create a token; its secret is printed once')
    .requiredOption('--name <name>', 'who or what uses it (the audit log names it)')
    .requiredOption('--role <role>', 'viewer, operator, admin or intake')
    .option('--ttl <duration>', 'expires after this long, like 90d (default: never)')
    .option('--playbooks <list>', 'only these playbooks (comma-separated)')
    .option('--target <expr>', 'only hosts matching this target expression')
    .option('--json', 'print {"name", "role", "secret", ...}')
    .action(async (opts: { name: string; role: string; ttl?: string; playbooks?: string; target?: string; json?: boolean }, cmd: Command) => {
      const body = {
        name: opts.name,
        role: opts.role,
        ...(opts.ttl ? { ttl: opts.ttl } : {}),
        ...(opts.playbooks ? { playbooks: opts.playbooks.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
        ...(opts.target ? { target: opts.target } : {}),
      };
      const t = await client(cmd).send<TokenView & { secret: string }>('POST', 'api/v1/tokens', body);
      if (opts.json) return print(JSON.stringify(t, null, 2));
      print(`token "${t.name}" (${t.role}) created${t.expiresAt ? `, expires ${t.expiresAt}` : ''}. The secret is shown this once:`);
      print(t.secret);
    });
  tokens
    .command('list')
    .description('tokens with role, scope and state (never their secrets)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const list = await client(cmd).get<TokenView[]>('api/v1/tokens');
      if (opts.json) return print(JSON.stringify(list, null, 2));
      const t = table(['NAME', 'ROLE', 'STATE', 'EXPIRES', 'LAST USED', 'PLAYBOOKS', 'TARGET']);
      for (const x of list) t.push([x.name, x.role, x.state, x.expiresAt ?? 'never', x.lastUsedAt ?? '-', x.playbooks?.join(',') ?? '*', x.target ?? '*']);
      print(t.toString());
    });
  tokens
    .command('revoke <name>')
    .description('revoke a token at once (its name stays taken)')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await client(cmd).send('DELETE', `api/v1/tokens/${encodeURIComponent(name)}`);
      print(`token "${name}" revoked`);
    });
}
