import { existsSync } from 'node:fs';
import { join } from 'node:path';
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
 * A private nats-server with JetStream for one test file: random port, store in a temp dir,
 * stoppable and restartable on the same port with the same store. Its log is kept for failures.
 */
export class NatsServer {
  private child: Child | undefined;
  readonly dir = tempDir('opsfleet-nats-');
  port = 0;
  log = '';

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Extra server flags, e.g. ['--user', 'u', '--pass', 'p']. */
  args: string[] = [];

  static async start(opts: { args?: string[] } = {}): Promise<NatsServer> {
    const s = NatsServer.create(await freePort(), opts);
    await s.restart();
    return s;
  }

  /** A server object on `port` that is not started yet (for daemons started before their broker). */
  static create(port: number, opts: { args?: string[] } = {}): NatsServer {
    const s = new NatsServer();
    s.args = opts.args ?? [];
    s.port = port;
    return s;
  }

  /** Starts the server (again) on the same port and store dir. */
  async restart(): Promise<void> {
    if (this.child?.running) throw new Error('nats-server already running');
    this.child = new Child(natsServerBinary(), ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', join(this.dir.path, 'js'), ...this.args]);
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
