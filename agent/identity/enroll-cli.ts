import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { agentConfigSchema, type AgentConfig } from '../../shared/config/agent.js';
import { loadConfigFile } from '../../shared/config/load.js';
import { parseDuration } from '../../shared/duration.js';
import { errorLine, OpsError, printConfigError } from '../../shared/errors.js';
import { enroll } from './enroll.js';
import { IdentityFiles } from './identity-files.js';

interface EnrollOpts {
  config?: string;
  controller?: string;
  token?: string;
  tokenFile?: string;
  tag?: string[];
  ca?: string;
  wait?: string;
  json?: boolean;
}

/** Exit codes of `enroll`: 0 enrolled (or already), 1 refused or failed, 2 usage, 3 still pending after --wait. */
export const ENROLL_EXIT = { OK: 0, FAILED: 1, USAGE: 2, PENDING: 3 } as const;

function parseTags(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of list) {
    const m = /^([A-Za-z0-9_.-]+)=(.*)$/.exec(t);
    if (!m) throw new OpsError('OPS_ERR_USAGE', `--tag: expected name=value, got "${t}"`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

/**
 * `opsfleet-agent enroll`: the installer's step (and an operator's). Enrolls this host with the
 * controller and stores its identity in <state_dir>/identity; run again it says the host is
 * already enrolled and changes nothing.
 */
export function registerEnrollCommand(program: Command, done: (code: Promise<number>) => void, defaultConfig: string): void {
  program
    .command('enroll')
    .description('enroll this host with the controller (key made here, certificate signed by the fleet CA); a no-op when already enrolled')
    .option('--controller <url>', 'controller URL (default: enroll.controller of the config)')
    .option('--token <token>', 'enrollment token (opsctl tokens create --enroll); default: enroll.token of the config')
    .option('--token-file <file>', 'read the enrollment token from a file')
    .option('--tag <name=value>', 'a tag for this host (repeatable; the token\'s tags win)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--ca <file>', 'CA of the controller\'s HTTPS certificate (private CA)')
    .option('--wait <duration>', 'how long to wait while an operator has to accept the host', '5m')
    .option('--json', 'print the identity as JSON')
    .action((_opts: EnrollOpts, cmd: Command) => {
      const o = cmd.optsWithGlobals<EnrollOpts>();
      done(runEnroll({ ...o, config: o.config ?? defaultConfig }));
    });
}

async function runEnroll(o: EnrollOpts): Promise<number> {
  let cfg: AgentConfig;
  try {
    cfg = loadConfigFile(o.config!, agentConfigSchema);
  } catch (err) {
    return printConfigError(err);
  }
  const fail = (code: number, msg: string) => {
    process.stderr.write(`enroll: ${msg}\n`);
    return code;
  };
  try {
    const controller = o.controller ?? cfg.enroll?.controller;
    let token = o.token ?? cfg.enroll?.token;
    if (o.tokenFile) token = readFileSync(o.tokenFile, 'utf8').trim();
    const waitMs = parseDuration(o.wait ?? '5m');
    if (waitMs === undefined) return fail(ENROLL_EXIT.USAGE, `--wait: expected a duration like "5m", got "${o.wait}"`);
    const files = new IdentityFiles(cfg.state_dir);
    const existing = files.read();
    if (!existing && (!controller || !token)) return fail(ENROLL_EXIT.USAGE, 'give --controller URL and --token TOKEN (or an enroll section in the config)');
    const r = await enroll({
      stateDir: cfg.state_dir,
      hostId: cfg.host.id,
      controllerUrl: controller ?? existing!.controller_url,
      token: token ?? '',
      tags: { ...cfg.host.tags, ...parseTags(o.tag ?? []) },
      ca: o.ca ?? cfg.enroll?.ca,
      waitMs,
      onPending: () => process.stdout.write(`host "${cfg.host.id}" waits for an operator: opsctl hosts accept ${cfg.host.id} (waiting up to ${o.wait ?? '5m'})\n`),
    });
    if (o.json) process.stdout.write(`${JSON.stringify({ ...r.meta, already: r.already, dir: files.dir }, null, 2)}\n`);
    else if (r.already) process.stdout.write(`host "${r.meta.host_id}" is already enrolled with ${r.meta.controller_url} (identity in ${files.dir}, certificate expires ${r.meta.not_after}); nothing changed\n`);
    else process.stdout.write(`enrolled host "${r.meta.host_id}" with ${r.meta.controller_url}; certificate expires ${r.meta.not_after} (renewed by the agent); identity in ${files.dir}\n`);
    return ENROLL_EXIT.OK;
  } catch (err) {
    if (err instanceof OpsError && err.code === 'OPS_ERR_ENROLL_PENDING') return fail(ENROLL_EXIT.PENDING, errorLine(err));
    if (err instanceof OpsError && err.code === 'OPS_ERR_USAGE') return fail(ENROLL_EXIT.USAGE, errorLine(err));
    return fail(ENROLL_EXIT.FAILED, errorLine(err));
  }
}
