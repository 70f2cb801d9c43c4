import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { controllerConfigSchema } from '../../shared/config/controller.js';
import { loadConfigFile } from '../../shared/config/load.js';
import { parseDuration } from '../../shared/duration.js';
import { errorLine, OpsError, printConfigError } from '../../shared/errors.js';
import { writeCredsFile } from '../../shared/nats/creds.js';
import { NatsAuthority } from './authority.js';
import type { ClusterOptions } from './server-config.js';

interface DirOpts {
  config?: string;
  dataDir?: string;
  authDir?: string;
}

/** The authority dir: --auth-dir, else <--data-dir>/nats-auth, else the config's nats_auth.dir / data_dir. */
function authorityDir(o: DirOpts, defaultConfig: string): string {
  if (o.authDir) return resolve(o.authDir);
  if (o.dataDir) return resolve(o.dataDir, 'nats-auth');
  const file = o.config ?? defaultConfig;
  if (!existsSync(file)) throw new OpsError('OPS_ERR_USAGE', `no --data-dir given and the config file ${file} does not exist`);
  const cfg = loadConfigFile(file, controllerConfigSchema);
  return resolve(cfg.nats_auth.dir ?? resolve(cfg.data_dir, 'nats-auth'));
}

function port(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new OpsError('OPS_ERR_USAGE', `${what}: expected a port 1-65535, got "${text}"`);
  return n;
}

/** The cluster block's options from the --server-name/--cluster-port/--route/--route-* flags. */
function clusterOptions(o: { serverName: string; clusterPort: string; route?: string[]; routeUser: string; routePasswordFile?: string }): ClusterOptions {
  if (!o.route?.length) throw new OpsError('OPS_ERR_USAGE', '--server-name needs --route for each other node (nats-route://host:6222)');
  for (const r of o.route) if (!/^nats-route:\/\/[^/]+:\d+$/.test(r)) throw new OpsError('OPS_ERR_USAGE', `--route: expected nats-route://host:port, got "${r}"`);
  if (!o.routePasswordFile) throw new OpsError('OPS_ERR_USAGE', '--server-name needs --route-password-file (routes carry every account\'s traffic: they must authenticate)');
  let password: string;
  try {
    password = readFileSync(o.routePasswordFile, 'utf8').trim();
  } catch (err) {
    throw new OpsError('OPS_ERR_USAGE', `--route-password-file: cannot read ${o.routePasswordFile}: ${(err as Error).message}`);
  }
  if (!password) throw new OpsError('OPS_ERR_USAGE', `--route-password-file: ${o.routePasswordFile} is empty`);
  return { serverName: o.serverName, port: port(o.clusterPort, '--cluster-port'), routes: o.route, authorization: { user: o.routeUser, password } };
}

/** Route flags without --server-name would be dropped without a word: refused instead. */
function noClusterFlags(o: { route?: string[]; routePasswordFile?: string }): Record<string, never> {
  if (o.route?.length || o.routePasswordFile) throw new OpsError('OPS_ERR_USAGE', '--route and --route-password-file make a cluster node: give --server-name too');
  return {};
}

async function guarded(fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    if ((err as OpsError).code?.startsWith('OPS_ERR_CONFIG')) return printConfigError(err);
    process.stderr.write(`${errorLine(err)}\n`);
    return (err as OpsError).code === 'OPS_ERR_USAGE' ? 2 : 1;
  }
}

/**
 * `opsfleet-controller nats-config`: creates the NATS authority when missing and prints the
 * nats-server config for it (installers and quickstart write it to nats.conf).
 * `opsfleet-controller nats-creds`: a .creds file for one host with a key made here, for hosts
 * set up by hand (enrollment makes the key on the host instead).
 */
export function registerNatsCommands(program: Command, done: (code: Promise<number>) => void, defaultConfig: string): void {
  program
    .command('nats-config')
    .description('print the nats-server config (operator mode, JWT auth) of this controller\'s NATS authority, creating it when missing')
    .option('--data-dir <dir>', 'the controller data_dir (default: from --config)')
    .option('--auth-dir <dir>', 'the authority folder itself (default: <data_dir>/nats-auth)')
    .option('--port <port>', 'client port', '4222')
    .option('--host <addr>', 'listen address', '127.0.0.1')
    .option('--http-port <port>', 'monitoring port (off when absent)')
    .option('--store-dir <dir>', 'JetStream store folder (the account JWTs go in <store-dir>/accounts)', '/var/lib/nats')
    .option('--max-file-store <size>', 'JetStream file storage limit', '10GB')
    .option('--server-name <name>', 'cluster node: this node\'s name, unique in the cluster (turns the cluster block on)')
    .option('--cluster-port <port>', 'cluster node: route port', '6222')
    .option('--route <url...>', 'cluster node: the other nodes, nats-route://host:6222 (repeat)')
    .option('--route-user <user>', 'cluster node: route credentials user, the same on every node', 'route')
    .option('--route-password-file <file>', 'cluster node: file holding the route password, the same on every node')
    .action((_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<
        DirOpts & { port: string; host: string; httpPort?: string; storeDir: string; maxFileStore: string; serverName?: string; clusterPort: string; route?: string[]; routeUser: string; routePasswordFile?: string }
      >();
      done(
        guarded(async () => {
          const a = await NatsAuthority.loadOrCreate(authorityDir(o, defaultConfig));
          process.stdout.write(
            a.serverConfig({
              port: port(o.port, '--port'),
              host: o.host,
              storeDir: resolve(o.storeDir),
              maxFileStore: o.maxFileStore,
              ...(o.httpPort ? { httpPort: port(o.httpPort, '--http-port') } : {}),
              ...(o.serverName ? { cluster: clusterOptions(o as typeof o & { serverName: string }) } : noClusterFlags(o)),
            }),
          );
          return 0;
        }),
      );
    });
  program
    .command('nats-creds')
    .description('write a NATS .creds file for one host (its key made here; enrollment makes it on the host instead)')
    .requiredOption('--host-id <id>', 'the agent\'s host.id')
    .requiredOption('--out <file>', 'where to write the .creds file (mode 0600)')
    .option('--data-dir <dir>', 'the controller data_dir (default: from --config)')
    .option('--auth-dir <dir>', 'the authority folder itself (default: <data_dir>/nats-auth)')
    .option('--ttl <duration>', 'lifetime of the user JWT', '24h')
    .action((_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<DirOpts & { hostId: string; out: string; ttl: string }>();
      done(
        guarded(async () => {
          const ttl = parseDuration(o.ttl);
          if (ttl === undefined || ttl < 60_000) throw new OpsError('OPS_ERR_USAGE', `--ttl: expected a duration of at least 1m like "24h", got "${o.ttl}"`);
          const a = await NatsAuthority.loadOrCreate(authorityDir(o, defaultConfig));
          const { creds, publicKey } = await a.issueAgentCreds(o.hostId, Math.floor(ttl / 1000));
          writeCredsFile(resolve(o.out), creds);
          process.stdout.write(`${resolve(o.out)}: NATS user ${publicKey} for host ${o.hostId}, valid ${o.ttl}\n`);
          return 0;
        }),
      );
    });
}
