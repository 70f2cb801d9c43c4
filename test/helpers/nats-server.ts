import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { credsAuthenticator } from '@nats-io/transport-node';
import { join } from 'node:path';
import { NatsAuthority } from '../../controller/natsauth/authority.js';
import { writeCredsFile } from '../../shared/nats/creds.js';
import { Child } from './process.js';
import { freePort } from './ports.js';
import { tempDir } from './tmp.js';
import { waitFor } from './wait.js';
import { createConnection } from 'node:net';

/** Debian's path first, then PATH. */
export function natsServerBinary(): string {
  if (process.env.NATS_SERVER_BIN) return process.env.NATS_SERVER_BIN;
  return existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server';
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * What startController/startAgent need from an operator-mode broker a test started (one
 * server or a cluster): the NATS authority they share and per-host creds for hand-installed agents.
 */
export interface OperatorNats {
  readonly authority: NatsAuthority | undefined;
  agentCreds(hostId: string, opts?: { ttlSeconds?: number; file?: string }): Promise<{ file: string; publicKey: string }>;
}

const byUrl = new Map<string, OperatorNats>();

/** Makes `url` (a server URL, or a comma-separated list for a cluster) known to forUrl. */
export function registerOperatorNats(url: string, broker: OperatorNats): void {
  byUrl.set(url, broker);
}

/** Writes a .creds file for one agent host of `authority` (its key made here) and returns its path. */
export async function writeAgentCreds(authority: NatsAuthority, dir: string, hostId: string, opts: { ttlSeconds?: number; file?: string } = {}): Promise<{ file: string; publicKey: string }> {
  const { creds, publicKey } = await authority.issueAgentCreds(hostId, opts.ttlSeconds ?? 3600);
  const file = opts.file ?? join(dir, `agent-${hostId}-${publicKey.slice(0, 8)}.creds`);
  writeCredsFile(file, creds);
  return { file, publicKey };
}

/**
 * A private nats-server with JetStream for one test file: random port, store in a temp dir,
 * stoppable and restartable on the same port with the same store. Its log is kept for failures.
 */
export class NatsServer implements OperatorNats {
  private child: Child | undefined;
  readonly dir = tempDir('opsfleet-nats-');
  port = 0;
  log = '';

  /** The running server's PID (benchmarks read its CPU time from /proc). */
  get pid(): number | undefined {
    return this.child?.running ? this.child.pid : undefined;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Extra server flags, e.g. ['--user', 'u', '--pass', 'p']. */
  args: string[] = [];

  /**
   * Operator mode (decentralized JWT auth, what production runs): the authority lives in
   * `authorityDir` (a controller's `<data_dir>/nats-auth` when a test shares it, else this
   * server's temp dir) and the server config is rendered from it at every (re)start.
   */
  authority: NatsAuthority | undefined;
  /** Operator mode: start from this config file as it is instead of rendering a fresh one (stale-config tests). */
  configFile: string | undefined;

  /**
   * Starts a server for one test file. Operator mode (per-host JWT auth) is the default, so
   * the secure path is the tested path: startController shares the authority with the
   * controller and startAgent gets its creds by enrollment (or from `agentCreds`). Plain mode
   * when `operator: false`, when custom `args` are given (a test of another auth says why) or
   * with OPSFLEET_TEST_NATS_AUTH=0.
   */
  static async start(opts: { args?: string[]; operator?: boolean | { authorityDir: string } } = {}): Promise<NatsServer> {
    const s = NatsServer.create(await freePort(), opts);
    const operator = opts.operator ?? (!opts.args?.length && process.env.OPSFLEET_TEST_NATS_AUTH !== '0');
    if (operator) await s.useOperator(typeof operator === 'object' ? operator.authorityDir : undefined);
    await s.restart();
    return s;
  }

  /** The operator-mode server or cluster a test started on `url` (startController/startAgent look it up). */
  static forUrl(url: string): OperatorNats | undefined {
    const s = byUrl.get(url);
    return s?.authority ? s : undefined;
  }

  /** Options for a test's own nats.js connection: the controller's (unrestricted) creds in operator mode. */
  connectOptions(): { servers: string; authenticator?: ReturnType<typeof credsAuthenticator> } {
    return { servers: `127.0.0.1:${this.port}`, ...(this.authority ? { authenticator: credsAuthenticator(readFileSync(this.controllerCreds)) } : {}) };
  }

  /** A server object on `port` that is not started yet (for daemons started before their broker). */
  static create(port: number, opts: { args?: string[] } = {}): NatsServer {
    const s = new NatsServer();
    s.args = opts.args ?? [];
    s.port = port;
    registerOperatorNats(s.url, s);
    return s;
  }

  /** Switches a not-yet-started server to operator mode with the authority of `authorityDir`. */
  async useOperator(authorityDir = join(this.dir.path, 'nats-auth')): Promise<NatsAuthority> {
    this.authority = await NatsAuthority.loadOrCreate(authorityDir);
    return this.authority;
  }

  /** Operator mode: the controller's own (unrestricted) .creds file. */
  get controllerCreds(): string {
    if (!this.authority) throw new Error('nats-server is not in operator mode');
    return this.authority.controllerCredsFile();
  }

  /** Operator mode: writes a .creds file for one agent host (its key made here) and returns its path. */
  async agentCreds(hostId: string, opts: { ttlSeconds?: number; file?: string } = {}): Promise<{ file: string; publicKey: string }> {
    if (!this.authority) throw new Error('nats-server is not in operator mode');
    return writeAgentCreds(this.authority, this.dir.path, hostId, opts);
  }

  /** Starts the server (again) on the same port and store dir. */
  async restart(): Promise<void> {
    if (this.child?.running) throw new Error('nats-server already running');
    let args = ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', join(this.dir.path, 'js'), ...this.args];
    if (this.configFile) {
      args = ['-c', this.configFile, ...this.args];
    } else if (this.authority) {
      const conf = join(this.dir.path, 'nats.conf');
      writeFileSync(conf, this.authority.serverConfig({ port: this.port, storeDir: join(this.dir.path, 'js'), maxFileStore: '1GB', maxMemoryStore: '64MB' }));
      args = ['-c', conf, ...this.args];
    }
    this.child = new Child(natsServerBinary(), args);
    await waitFor(
      async () => {
        if (!this.child!.running) throw new Error(`nats-server exited: ${this.child!.stderr}`);
        return (this.child!.stderr.includes('Server is ready') || this.child!.stdout.includes('Server is ready')) && (await portOpen(this.port));
      },
      { timeout: 15_000, what: `nats-server on port ${this.port}` },
    );
  }

  /** Stops the server by its PID (SIGTERM, then SIGKILL) and waits for it to exit. */
  async stop(): Promise<void> {
    if (!this.child) return;
    this.log += this.child.stderr;
    await this.child.stop(5000);
  }

  async kill(): Promise<void> {
    if (!this.child) return;
    this.child.kill('SIGKILL');
    await this.child.exited;
  }

  async dispose(): Promise<void> {
    await this.stop();
    this.dir.cleanup();
  }
}
