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

interface EnrollTokenView {
  name: string;
  tags: Record<string, string>;
  approve: string;
  uses: number;
  maxUses: number;
  expiresAt: string;
  lastUsedAt: string | null;
  state: string;
}

/** `tokens create --enroll`: the secret is what install.sh --token and opsfleet-agent enroll --token take. */
async function createEnrollToken(opts: { name?: string; ttl?: string; tags?: string; uses?: string; approve?: string; json?: boolean; role?: string; playbooks?: string; target?: string }, c: ControllerClient): Promise<void> {
  if (opts.role || opts.playbooks || opts.target) throw new OpsError('OPS_ERR_USAGE', '--role, --playbooks and --target are for API tokens, not --enroll');
  const tags: Record<string, string> = {};
  for (const pair of (opts.tags ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([A-Za-z0-9_.-]+)=(.*)$/.exec(pair);
    if (!m) throw new OpsError('OPS_ERR_USAGE', `--tags: expected name=value[,name=value], got "${pair}"`);
    tags[m[1]!] = m[2]!;
  }
  let uses: number | undefined;
  if (opts.uses !== undefined) {
    uses = Number(opts.uses);
    if (!Number.isInteger(uses) || uses < 1) throw new OpsError('OPS_ERR_USAGE', `--uses: expected a whole number >= 1, got "${opts.uses}"`);
  }
  if (opts.approve !== undefined && opts.approve !== 'auto' && opts.approve !== 'manual') throw new OpsError('OPS_ERR_USAGE', `--approve: auto or manual, got "${opts.approve}"`);
  const body = { ...(opts.name ? { name: opts.name } : {}), tags, ...(opts.ttl ? { ttl: opts.ttl } : {}), ...(uses ? { uses } : {}), ...(opts.approve ? { approve: opts.approve } : {}) };
  const t = await c.send<EnrollTokenView & { secret: string }>('POST', 'api/v1/enroll-tokens', body);
  if (opts.json) return print(JSON.stringify(t, null, 2));
  print(`enrollment token "${t.name}" created: ${t.maxUses} host(s), ${t.approve === 'manual' ? 'each waits for opsctl hosts accept' : 'accepted at once'}, expires ${t.expiresAt}. The secret is shown this once:`);
  print(t.secret);
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

  const tokens = program.command('tokens').description('API tokens (admin)');
  tokens
    .command('create')
    .description('create a token; its secret is printed once')
    .option('--name <name>', 'who or what uses it (the audit log names it); required for API tokens')
    .option('--role <role>', 'viewer, operator, admin or intake; required for API tokens')
    .option('--ttl <duration>', 'expires after this long, like 90d (default: never; enrollment tokens: 24h)')
    .option('--playbooks <list>', 'only these playbooks (comma-separated)')
    .option('--target <expr>', 'only hosts matching this target expression')
    .option('--enroll', 'an enrollment token for agents (opsfleet-agent enroll / install.sh --token) instead of an API token')
    .option('--tags <list>', '--enroll: tags every host enrolled with it gets, like role=web,env=prod')
    .option('--uses <n>', '--enroll: how many hosts may enroll with it (default 1)')
    .option('--approve <mode>', '--enroll: auto (default) or manual (hosts wait in opsctl hosts pending)')
    .option('--json', 'print {"name", "role", "secret", ...}')
    .action(async (opts: { name?: string; role?: string; ttl?: string; playbooks?: string; target?: string; enroll?: boolean; tags?: string; uses?: string; approve?: string; json?: boolean }, cmd: Command) => {
      if (opts.enroll) return createEnrollToken(opts, client(cmd));
      if (opts.tags || opts.uses || opts.approve) throw new OpsError('OPS_ERR_USAGE', '--tags, --uses and --approve go with --enroll');
      if (!opts.name || !opts.role) throw new OpsError('OPS_ERR_USAGE', 'an API token needs --name and --role (or write --enroll for an enrollment token)');
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
    .option('--enroll', 'list enrollment tokens instead')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean; enroll?: boolean }, cmd: Command) => {
      if (opts.enroll) {
        const list = await client(cmd).get<EnrollTokenView[]>('api/v1/enroll-tokens');
        if (opts.json) return print(JSON.stringify(list, null, 2));
        const t = table(['NAME', 'STATE', 'USES', 'APPROVE', 'EXPIRES', 'LAST USED', 'TAGS']);
        for (const x of list) t.push([x.name, x.state, `${x.uses}/${x.maxUses}`, x.approve, x.expiresAt, x.lastUsedAt ?? '-', Object.entries(x.tags).map(([k, v]) => `${k}=${v}`).join(',') || '-']);
        return print(t.toString());
      }
      const list = await client(cmd).get<TokenView[]>('api/v1/tokens');
      if (opts.json) return print(JSON.stringify(list, null, 2));
      const t = table(['NAME', 'ROLE', 'STATE', 'EXPIRES', 'LAST USED', 'PLAYBOOKS', 'TARGET']);
      for (const x of list) t.push([x.name, x.role, x.state, x.expiresAt ?? 'never', x.lastUsedAt ?? '-', x.playbooks?.join(',') ?? '*', x.target ?? '*']);
      print(t.toString());
    });
  tokens
    .command('revoke <name>')
    .description('revoke a token at once (its name stays taken)')
    .option('--enroll', 'revoke an enrollment token (hosts enrolled with it stay enrolled)')
    .action(async (name: string, opts: { enroll?: boolean }, cmd: Command) => {
      await client(cmd).send('DELETE', `api/v1/${opts.enroll ? 'enroll-tokens' : 'tokens'}/${encodeURIComponent(name)}`);
      print(`${opts.enroll ? 'enrollment token' : 'token'} "${name}" revoked`);
    });
}
